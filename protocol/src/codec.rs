//! The window file's wire format and its size-bounded decoder.
//!
//! Little-endian throughout; a vector is a u32 element count followed by its elements.
//! ```text
//! file     = magic "GRAILWF\0" (8 B) | format version u32 (= 2) | header | u32 n | rollout * n
//! header   = protocol_version u32 | window u64 | hotkey 32 B | model_id: u32 len + bytes
//!            | beacon round u64 | beacon randomness 32 B | beacon signature: u32 len + bytes
//!            | first_block_hash 32 B | fingerprint 32 B | environment id: u32 len + UTF-8
//!            | environment version u32 | temperature f32 | max_new_tokens u32
//!            | eos_probability_floor f32 | signature 64 B
//! rollout  = problem_index u32 | rollout_index u32 | prompt
//!            | completion: u32 n + u32 * n | logprobs: u32 n + f32 * n
//!            | commitments: u32 n + u32 * n | merkle_root 32 B | reward f32
//!            | success u8 (0 or 1) | advantage f32 | signature 64 B
//! prompt   = u32 n + u32 * n | u32 0xFFFFFFFF (the previous rollout's prompt, repeated)
//! ```
//! A group's 16 rollouts share one prompt, so the encoder writes it once and repeats it with
//! the marker; the decoded rollouts (and what their signatures cover) are unchanged.
//!
//! The decoder checks each count against `Limits` before allocating, counts every byte against
//! the file-size limit, and rejects trailing bytes.

use std::io::Read;

use crate::error::ProtocolError;
use crate::keys::Hotkey;
use crate::params::{EnvironmentSpec, GenerationParams, GROUP_SIZE};
use crate::window_file::{BeaconRecord, Rollout, WindowFile, WindowHeader};

/// First 8 bytes of every window file.
pub const MAGIC: [u8; 8] = *b"GRAILWF\0";
/// Version of this wire format.
pub const FORMAT_VERSION: u32 = 2;
/// Prompt count meaning "the same prompt tokens as the previous rollout".
pub const REPEAT_PROMPT: u32 = u32::MAX;
/// File-name extension of window files.
pub const FILE_EXTENSION: &str = "grail";

/// Bounds the decoder enforces before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Whole file, in bytes. Default 64 MiB.
    pub max_file_bytes: u64,
    /// Rollouts per file. Default 4096.
    pub max_rollouts: u32,
    /// Prompt tokens per rollout. Default 4096.
    pub max_prompt_tokens: u32,
    /// Completion tokens per rollout. Default 2048.
    pub max_completion_tokens: u32,
    /// `model_id` CID bytes. Default 128.
    pub max_cid_bytes: u32,
    /// Beacon signature bytes. Default 192.
    pub max_beacon_signature_bytes: u32,
    /// Environment id bytes. Default 64.
    pub max_environment_id_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 << 20,
            max_rollouts: 4096,
            max_prompt_tokens: 4096,
            max_completion_tokens: 2048,
            max_cid_bytes: 128,
            max_beacon_signature_bytes: 192,
            max_environment_id_bytes: 64,
        }
    }
}

fn count(field: &str, len: usize) -> Result<u32, ProtocolError> {
    u32::try_from(len).map_err(|_| ProtocolError::TooLarge {
        field: field.into(),
        value: len as u64,
        limit: u64::from(u32::MAX),
    })
}

/// Encodes a window file. Fails only when a vector is longer than u32 counts allow or when
/// logprobs or commitments do not match the completion's length (which no decoder accepts).
pub fn encode(file: &WindowFile) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let h = &file.header;
    out.extend_from_slice(&h.protocol_version.to_le_bytes());
    out.extend_from_slice(&h.window.to_le_bytes());
    out.extend_from_slice(h.hotkey.as_bytes());
    put_bytes(&mut out, "model_id", &h.model_id)?;
    out.extend_from_slice(&h.beacon.round.to_le_bytes());
    out.extend_from_slice(&h.beacon.randomness);
    put_bytes(&mut out, "beacon_signature", &h.beacon.signature)?;
    out.extend_from_slice(&h.first_block_hash);
    out.extend_from_slice(&h.fingerprint);
    put_bytes(&mut out, "environment_id", h.environment.id.as_bytes())?;
    out.extend_from_slice(&h.environment.version.to_le_bytes());
    out.extend_from_slice(&h.generation.temperature.to_le_bytes());
    out.extend_from_slice(&h.generation.max_new_tokens.to_le_bytes());
    out.extend_from_slice(&h.generation.eos_probability_floor.to_le_bytes());
    out.extend_from_slice(&h.signature);
    out.extend_from_slice(&count("rollouts", file.rollouts.len())?.to_le_bytes());
    for (i, r) in file.rollouts.iter().enumerate() {
        let n = r.completion_tokens.len();
        for (field, len) in [("logprobs", r.logprobs.len()), ("commitments", r.commitments.len())] {
            if len != n {
                return Err(ProtocolError::LengthMismatch {
                    field: format!("{field} of rollout {i}"),
                    found: len as u64,
                    expected: n as u64,
                });
            }
        }
        out.extend_from_slice(&r.problem_index.to_le_bytes());
        out.extend_from_slice(&r.rollout_index.to_le_bytes());
        if i > 0 && file.rollouts[i - 1].prompt_tokens == r.prompt_tokens {
            out.extend_from_slice(&REPEAT_PROMPT.to_le_bytes());
        } else {
            let n = count("prompt_tokens", r.prompt_tokens.len())?;
            if n == REPEAT_PROMPT {
                return Err(ProtocolError::TooLarge {
                    field: format!("prompt_tokens of rollout {i}"),
                    value: u64::from(n),
                    limit: u64::from(REPEAT_PROMPT - 1),
                });
            }
            out.extend_from_slice(&n.to_le_bytes());
            r.prompt_tokens.iter().for_each(|t| out.extend_from_slice(&t.to_le_bytes()));
        }
        out.extend_from_slice(&count("completion_tokens", n)?.to_le_bytes());
        r.completion_tokens.iter().for_each(|t| out.extend_from_slice(&t.to_le_bytes()));
        out.extend_from_slice(&count("logprobs", n)?.to_le_bytes());
        r.logprobs.iter().for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
        out.extend_from_slice(&count("commitments", n)?.to_le_bytes());
        r.commitments.iter().for_each(|c| out.extend_from_slice(&c.to_le_bytes()));
        out.extend_from_slice(&r.merkle_root);
        out.extend_from_slice(&r.reward.to_le_bytes());
        out.push(u8::from(r.success));
        out.extend_from_slice(&r.advantage.to_le_bytes());
        out.extend_from_slice(&r.signature);
    }
    Ok(out)
}

fn put_bytes(out: &mut Vec<u8>, field: &str, bytes: &[u8]) -> Result<(), ProtocolError> {
    out.extend_from_slice(&count(field, bytes.len())?.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Decodes a window file from a byte slice.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<WindowFile, ProtocolError> {
    decode_from(bytes, limits)
}

/// Decodes a window file from any reader, never reading more than `max_file_bytes + 1` bytes
/// and never allocating for a count before checking it against its limit.
pub fn decode_from<R: Read>(reader: R, limits: &Limits) -> Result<WindowFile, ProtocolError> {
    let mut d = Decoder { reader, read: 0, limits };
    let magic: [u8; 8] = d.array("magic")?;
    if magic != MAGIC {
        return Err(ProtocolError::BadMagic { found: magic });
    }
    let version = d.u32("format version")?;
    if version != FORMAT_VERSION {
        return Err(ProtocolError::UnsupportedFormat { found: version, expected: FORMAT_VERSION });
    }
    let header = d.header()?;
    let n = d.len("rollouts", limits.max_rollouts)?;
    let mut rollouts: Vec<Rollout> = Vec::with_capacity(n);
    for i in 0..n {
        let previous = rollouts.last().map(|r| r.prompt_tokens.as_slice());
        let rollout = d.rollout(i, previous)?;
        rollouts.push(rollout);
    }
    d.expect_end()?;
    Ok(WindowFile { header, rollouts })
}

struct Decoder<'l, R> {
    reader: R,
    read: u64,
    limits: &'l Limits,
}

impl<R: Read> Decoder<'_, R> {
    fn fill(&mut self, field: &str, buf: &mut [u8]) -> Result<(), ProtocolError> {
        let end = self.read.saturating_add(buf.len() as u64);
        if end > self.limits.max_file_bytes {
            return Err(ProtocolError::TooLarge {
                field: format!("file size (reading {field})"),
                value: end,
                limit: self.limits.max_file_bytes,
            });
        }
        self.reader.read_exact(buf).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                ProtocolError::Truncated { field: field.into() }
            } else {
                ProtocolError::Read { field: field.into(), source }
            }
        })?;
        self.read = end;
        Ok(())
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], ProtocolError> {
        let mut buf = [0u8; N];
        self.fill(field, &mut buf)?;
        Ok(buf)
    }

    fn u32(&mut self, field: &str) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn f32(&mut self, field: &str) -> Result<f32, ProtocolError> {
        Ok(f32::from_le_bytes(self.array(field)?))
    }

    /// A u32 count, checked against `limit`.
    fn len(&mut self, field: &str, limit: u32) -> Result<usize, ProtocolError> {
        let n = self.u32(field)?;
        if n > limit {
            return Err(ProtocolError::TooLarge {
                field: field.into(),
                value: u64::from(n),
                limit: u64::from(limit),
            });
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, field: &str, limit: u32) -> Result<Vec<u8>, ProtocolError> {
        let n = self.len(field, limit)?;
        let mut buf = vec![0u8; n];
        self.fill(field, &mut buf)?;
        Ok(buf)
    }

    /// `n` fixed-width elements, read in one go after the count was checked.
    fn elements<const W: usize, T>(
        &mut self,
        field: &str,
        n: usize,
        parse: fn([u8; W]) -> T,
    ) -> Result<Vec<T>, ProtocolError> {
        let mut raw = vec![0u8; n * W];
        self.fill(field, &mut raw)?;
        Ok(raw
            .chunks_exact(W)
            .map(|c| {
                let mut a = [0u8; W];
                a.copy_from_slice(c);
                parse(a)
            })
            .collect())
    }

    fn header(&mut self) -> Result<WindowHeader, ProtocolError> {
        let l = self.limits;
        let protocol_version = self.u32("protocol_version")?;
        let window = self.u64("window")?;
        let hotkey = Hotkey(self.array("hotkey")?);
        let model_id = self.bytes("model_id", l.max_cid_bytes)?;
        let beacon = BeaconRecord {
            round: self.u64("beacon_round")?,
            randomness: self.array("beacon_randomness")?,
            signature: self.bytes("beacon_signature", l.max_beacon_signature_bytes)?,
        };
        let first_block_hash = self.array("first_block_hash")?;
        let fingerprint = self.array("fingerprint")?;
        let id = self.bytes("environment_id", l.max_environment_id_bytes)?;
        let id = String::from_utf8(id).map_err(|_| ProtocolError::InvalidValue {
            field: "environment_id".into(),
            reason: "not UTF-8".into(),
        })?;
        let environment = EnvironmentSpec { id, version: self.u32("environment_version")? };
        let generation = GenerationParams {
            temperature: self.f32("temperature")?,
            max_new_tokens: self.u32("max_new_tokens")?,
            eos_probability_floor: self.f32("eos_probability_floor")?,
        };
        let signature = self.array("header signature")?;
        Ok(WindowHeader {
            protocol_version,
            window,
            hotkey,
            model_id,
            beacon,
            first_block_hash,
            fingerprint,
            environment,
            generation,
            signature,
        })
    }

    fn rollout(&mut self, i: usize, previous: Option<&[u32]>) -> Result<Rollout, ProtocolError> {
        let l = self.limits;
        let f = |name: &str| format!("{name} of rollout {i}");
        let problem_index = self.u32(&f("problem_index"))?;
        let rollout_index = self.u32(&f("rollout_index"))?;
        if rollout_index >= GROUP_SIZE {
            return Err(ProtocolError::TooLarge {
                field: f("rollout_index"),
                value: u64::from(rollout_index),
                limit: u64::from(GROUP_SIZE - 1),
            });
        }
        let prompt_tokens = match self.u32(&f("prompt_tokens"))? {
            REPEAT_PROMPT => match previous {
                Some(p) => p.to_vec(),
                None => {
                    return Err(ProtocolError::InvalidValue {
                        field: f("prompt_tokens"),
                        reason: "repeats the previous prompt, but there is none".into(),
                    })
                }
            },
            n if n > l.max_prompt_tokens => {
                return Err(ProtocolError::TooLarge {
                    field: f("prompt_tokens"),
                    value: u64::from(n),
                    limit: u64::from(l.max_prompt_tokens),
                })
            }
            n => self.elements(&f("prompt_tokens"), n as usize, u32::from_le_bytes)?,
        };
        let n = self.len(&f("completion_tokens"), l.max_completion_tokens)?;
        let completion_tokens = self.elements(&f("completion_tokens"), n, u32::from_le_bytes)?;
        let logprobs = self.matching(&f("logprobs"), n, f32::from_le_bytes)?;
        let commitments = self.matching(&f("commitments"), n, u32::from_le_bytes)?;
        let merkle_root = self.array(&f("merkle_root"))?;
        let reward = self.f32(&f("reward"))?;
        let success = match self.array::<1>(&f("success"))? {
            [0] => false,
            [1] => true,
            [b] => {
                return Err(ProtocolError::InvalidValue {
                    field: f("success"),
                    reason: format!("byte {b}, expected 0 or 1"),
                })
            }
        };
        let advantage = self.f32(&f("advantage"))?;
        let signature = self.array(&f("signature"))?;
        Ok(Rollout {
            problem_index,
            rollout_index,
            prompt_tokens,
            completion_tokens,
            logprobs,
            commitments,
            merkle_root,
            reward,
            success,
            advantage,
            signature,
        })
    }

    /// A vector whose count must equal the completion's length `n`.
    fn matching<const W: usize, T>(
        &mut self,
        field: &str,
        n: usize,
        parse: fn([u8; W]) -> T,
    ) -> Result<Vec<T>, ProtocolError> {
        let found = self.u32(field)?;
        if found as usize != n {
            return Err(ProtocolError::LengthMismatch {
                field: field.into(),
                found: u64::from(found),
                expected: n as u64,
            });
        }
        self.elements(field, n, parse)
    }

    fn expect_end(&mut self) -> Result<(), ProtocolError> {
        let mut one = [0u8; 1];
        loop {
            return match self.reader.read(&mut one) {
                Ok(0) => Ok(()),
                Ok(_) => Err(ProtocolError::TrailingBytes),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => Err(ProtocolError::Read { field: "end of file".into(), source }),
            };
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;

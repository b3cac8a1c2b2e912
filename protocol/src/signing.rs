//! The exact bytes each window-file signature covers (DESIGN.md 3.7).
//!
//! Both digests are `H(domain, parts...)`; the signed message is the 32-byte digest, signed
//! with sr25519 under the context `substrate`. Integers enter as 8-byte big-endian parts
//! (`u32` values zero-extended, `f32` values as their bit patterns, `bool` as 0 or 1); a token,
//! logprob or commitment vector enters as one part, the concatenation of each element's
//! big-endian bytes (4 each: tokens and commitments are u32, logprobs f32 bits).

use crate::error::ProtocolError;
use crate::hash::{DomainHasher, Hash32};
use crate::keys::HotkeyPair;
use crate::window_file::{Rollout, WindowFile, WindowHeader};

/// Domain of the header digest.
pub const DOMAIN_HEADER_SIG: &str = "grail/v1/header-sig";
/// Domain of a rollout digest.
pub const DOMAIN_ROLLOUT_SIG: &str = "grail/v1/rollout-sig";

/// Digest of every header field except its signature, in declaration order.
pub fn header_digest(h: &WindowHeader) -> Hash32 {
    DomainHasher::new(DOMAIN_HEADER_SIG)
        .u64(u64::from(h.protocol_version))
        .u64(h.window)
        .bytes(h.hotkey.as_bytes())
        .bytes(&h.model_id)
        .u64(h.beacon.round)
        .bytes(&h.beacon.randomness)
        .bytes(&h.beacon.signature)
        .bytes(&h.first_block_hash)
        .bytes(&h.fingerprint)
        .bytes(h.environment.id.as_bytes())
        .u64(u64::from(h.environment.version))
        .u64(u64::from(h.generation.temperature.to_bits()))
        .u64(u64::from(h.generation.max_new_tokens))
        .u64(u64::from(h.generation.eos_probability_floor.to_bits()))
        .finish()
}

fn be_u32s(values: impl Iterator<Item = u32>) -> Vec<u8> {
    values.flat_map(u32::to_be_bytes).collect()
}

/// Digest of the header digest, the rollout's index in its file and the file's rollout count,
/// and every rollout field except its signature, in declaration order. The index and count
/// make the signed rollouts one list: none can be dropped, added or moved without the
/// miner's key.
pub fn rollout_digest(
    header_digest: &Hash32,
    file_index: usize,
    rollout_count: usize,
    r: &Rollout,
) -> Hash32 {
    DomainHasher::new(DOMAIN_ROLLOUT_SIG)
        .bytes(header_digest)
        .u64(file_index as u64)
        .u64(rollout_count as u64)
        .u64(u64::from(r.problem_index))
        .u64(u64::from(r.rollout_index))
        .bytes(&be_u32s(r.prompt_tokens.iter().copied()))
        .bytes(&be_u32s(r.completion_tokens.iter().copied()))
        .bytes(&be_u32s(r.logprobs.iter().map(|l| l.to_bits())))
        .bytes(&be_u32s(r.commitments.iter().copied()))
        .bytes(&r.merkle_root)
        .u64(u64::from(r.reward.to_bits()))
        .u64(u64::from(r.success))
        .u64(u64::from(r.advantage.to_bits()))
        .finish()
}

/// Signs the header, then every rollout, in place. The header's hotkey must be the pair's.
pub fn sign_window_file(pair: &HotkeyPair, file: &mut WindowFile) -> Result<(), ProtocolError> {
    if file.header.hotkey != pair.hotkey() {
        return Err(ProtocolError::InvalidValue {
            field: "hotkey".into(),
            reason: format!("header names {}, the key is {}", file.header.hotkey, pair.hotkey()),
        });
    }
    let hd = header_digest(&file.header);
    file.header.signature = pair.sign(&hd);
    let count = file.rollouts.len();
    for (i, r) in file.rollouts.iter_mut().enumerate() {
        r.signature = pair.sign(&rollout_digest(&hd, i, count, r));
    }
    Ok(())
}

/// Verifies the header signature under the header's hotkey; returns the header digest.
pub fn verify_header(h: &WindowHeader) -> Result<Hash32, ProtocolError> {
    let hd = header_digest(h);
    h.hotkey.verify(&hd, &h.signature).map_err(|e| rename(e, "header"))?;
    Ok(hd)
}

/// Verifies the signature of the rollout at `file_index` of a file of `rollout_count`
/// rollouts under the header's hotkey.
pub fn verify_rollout(
    header: &WindowHeader,
    header_digest: &Hash32,
    file_index: usize,
    rollout_count: usize,
    r: &Rollout,
) -> Result<(), ProtocolError> {
    header
        .hotkey
        .verify(&rollout_digest(header_digest, file_index, rollout_count, r), &r.signature)
        .map_err(|e| rename(e, &format!("rollout {file_index}")))
}

/// Verifies the header and every rollout.
pub fn verify_window_file(file: &WindowFile) -> Result<(), ProtocolError> {
    let hd = verify_header(&file.header)?;
    let count = file.rollouts.len();
    for (i, r) in file.rollouts.iter().enumerate() {
        verify_rollout(&file.header, &hd, i, count, r)?;
    }
    Ok(())
}

fn rename(e: ProtocolError, what: &str) -> ProtocolError {
    match e {
        ProtocolError::BadSignature { hotkey, .. } => {
            ProtocolError::BadSignature { what: what.into(), hotkey }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window_file::sample_file;

    type Mutation = (&'static str, fn(&mut WindowFile));

    fn signed() -> (HotkeyPair, WindowFile) {
        let pair = HotkeyPair::from_mini_secret(&[11u8; 32]).unwrap();
        let mut file = sample_file(pair.hotkey());
        sign_window_file(&pair, &mut file).unwrap();
        (pair, file)
    }

    const HEADER_MUTATIONS: &[Mutation] = &[
        ("protocol_version", |f| f.header.protocol_version += 1),
        ("window", |f| f.header.window += 1),
        ("hotkey", |f| f.header.hotkey.0[0] ^= 1),
        ("model_id", |f| f.header.model_id[5] ^= 1),
        ("beacon round", |f| f.header.beacon.round += 1),
        ("beacon randomness", |f| f.header.beacon.randomness[0] ^= 1),
        ("beacon signature", |f| f.header.beacon.signature[0] ^= 1),
        ("first_block_hash", |f| f.header.first_block_hash[31] ^= 1),
        ("fingerprint", |f| f.header.fingerprint[0] ^= 1),
        ("environment id", |f| f.header.environment.id.push('x')),
        ("environment version", |f| f.header.environment.version += 1),
        ("temperature", |f| f.header.generation.temperature += 0.1),
        ("max_new_tokens", |f| f.header.generation.max_new_tokens += 1),
        ("eos floor", |f| f.header.generation.eos_probability_floor += 0.01),
        ("header signature", |f| f.header.signature[0] ^= 1),
    ];

    const ROLLOUT_MUTATIONS: &[Mutation] = &[
        ("problem_index", |f| f.rollouts[2].problem_index += 1),
        ("rollout_index", |f| f.rollouts[2].rollout_index += 1),
        ("prompt_tokens", |f| f.rollouts[2].prompt_tokens[0] += 1),
        ("prompt length", |f| f.rollouts[2].prompt_tokens.push(0)),
        ("completion_tokens", |f| f.rollouts[2].completion_tokens[3] += 1),
        ("logprobs", |f| f.rollouts[2].logprobs[1] -= 0.5),
        ("commitments", |f| f.rollouts[2].commitments[6] ^= 1 << 31),
        ("merkle_root", |f| f.rollouts[2].merkle_root[0] ^= 1),
        ("reward", |f| f.rollouts[2].reward += 1.0),
        ("success", |f| f.rollouts[2].success ^= true),
        ("advantage", |f| f.rollouts[2].advantage = -f.rollouts[2].advantage),
        ("rollout signature", |f| f.rollouts[2].signature[1] ^= 1),
    ];

    #[test]
    fn signed_file_verifies() {
        let (_, file) = signed();
        verify_window_file(&file).unwrap();
    }

    #[test]
    fn every_header_field_is_signed() {
        let (_, file) = signed();
        for (name, mutate) in HEADER_MUTATIONS {
            let mut f = file.clone();
            mutate(&mut f);
            assert_ne!(f, file, "{name} did not change the file");
            assert!(verify_header(&f.header).is_err(), "header verifies after changing {name}");
            // The rollouts' signatures cover the header digest too (which excludes the
            // header's own signature).
            let hd = header_digest(&f.header);
            let rollout_ok =
                verify_rollout(&f.header, &hd, 0, f.rollouts.len(), &f.rollouts[0]).is_ok();
            assert_eq!(rollout_ok, *name == "header signature", "{name}");
        }
    }

    #[test]
    fn every_rollout_field_is_signed() {
        let (_, file) = signed();
        let hd = verify_header(&file.header).unwrap();
        for (name, mutate) in ROLLOUT_MUTATIONS {
            let mut f = file.clone();
            mutate(&mut f);
            assert_ne!(f, file, "{name} did not change the file");
            let err =
                verify_rollout(&f.header, &hd, 2, f.rollouts.len(), &f.rollouts[2]).unwrap_err();
            assert!(err.to_string().contains("rollout 2"), "{name}: {err}");
            // The other rollouts are untouched.
            verify_rollout(&f.header, &hd, 0, f.rollouts.len(), &f.rollouts[0]).unwrap();
        }
    }

    #[test]
    fn signing_with_another_key_is_refused() {
        let (_, mut file) = signed();
        let other = HotkeyPair::from_mini_secret(&[12u8; 32]).unwrap();
        assert!(sign_window_file(&other, &mut file).is_err());
    }
}

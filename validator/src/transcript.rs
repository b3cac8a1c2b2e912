//! Transcripts (DESIGN.md 3.10): one JSON file per window holding every input of
//! [`verify_window`] and of the window's weights, and the outputs the validator reached.
//! [`Transcript::replay`] recomputes both with the code the live validator runs and lists every
//! difference.
//!
//! Format `grail-transcript/1` (one object, fields in this order):
//!
//! | field | content |
//! |---|---|
//! | `format` | `"grail-transcript/1"` |
//! | `window` | the window |
//! | `network`, `verify` | `NetworkParams`, `VerifyParams` (protocol crate, serde) |
//! | `clock` | `{"genesis_unix", "block_time_s"}` of the chain |
//! | `drand` | the drand chain's `/info` JSON (key, genesis, period, scheme, hash) |
//! | `mining_beacon`, `challenge_beacon` | drand beacons `{"round", "randomness", "signature"}` (hex) |
//! | `first_block_hash` | hex of the window's first block hash |
//! | `model_id` | the network's `model_id` for the window (CID string) |
//! | `checkpoint` | the trainer's signed manifest the window ran under; absent under the validator's own model |
//! | `metagraph` | `{"netuid", "burn_uid", "neurons": [{"uid", "hotkey"}]}` |
//! | `excluded` | SS58 hotkeys under an exclusion covering the window, as the state had them |
//! | `processed_at_unix` | the outcome's processing time (an input, so replays match) |
//! | `objects` | the miners' files the validator's store watcher held before the cutoff (only bytes attributed to a registered miner): `key`, `size`, `uploaded_unix` (when the validator first held them), `cid` (CID string of the bytes) and `bytes` (base64); a transcript may hold an object with both null, which counts as absent |
//! | `weights_config` | `WeightsConfig` |
//! | `prior_records` | per miner, its window records in the span before this window (from the validator's earlier verdicts) |
//! | `outcome` | `beacon_round`, `randomness` (hex), `files`, `verdicts`, `exclusions` |
//! | `weights` | the weights computed at this window (chain format plus scores) |

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use grail_drand::{dev, verify_beacon, Beacon, ChainInfo};
use grail_protocol::checkpoint::{verify_manifest, CheckpointManifest};
use grail_protocol::cid::cid_of_bytes;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window::ChainClock;
use grail_weights::{MinerRecord, Weights, WeightsConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use grail_storage::durable::{self, Access};

use crate::error::{io, Result, ValidatorError};
use crate::metagraph::Metagraph;
use crate::pipeline::{verify_window, FetchedObject, ModelVerifier, WindowInputs, WindowReport};
use crate::scoring::window_weights;
use crate::state::{Exclusion, Verdict, WindowOutcome};

/// The `format` tag of this version.
pub const FORMAT: &str = "grail-transcript/1";
/// Folder under the data folder that the live validator writes transcripts to.
pub const TRANSCRIPTS_DIR: &str = "transcripts";

/// One window's transcript; see the module docs for the format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    pub format: String,
    pub window: u64,
    pub network: NetworkParams,
    pub verify: VerifyParams,
    pub clock: ChainClock,
    pub drand: Value,
    pub mining_beacon: Beacon,
    pub challenge_beacon: Beacon,
    pub first_block_hash: String,
    pub model_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointManifest>,
    pub metagraph: Metagraph,
    pub excluded: Vec<Hotkey>,
    pub processed_at_unix: u64,
    pub objects: Vec<TranscriptObject>,
    pub weights_config: WeightsConfig,
    pub prior_records: Vec<MinerRecord>,
    pub outcome: TranscriptOutcome,
    pub weights: Weights,
}

/// A miner's file as the validator held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptObject {
    pub key: String,
    pub size: u64,
    pub uploaded_unix: u64,
    /// CID string of `bytes`; null when the object was not downloaded.
    pub cid: Option<String>,
    /// The exact bytes, base64; null when the object was never read (absent).
    pub bytes: Option<String>,
}

/// The verdicts part of a [`WindowOutcome`] (its time is the transcript's `processed_at_unix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptOutcome {
    pub beacon_round: u64,
    pub randomness: String,
    pub files: u64,
    pub verdicts: Vec<Verdict>,
    pub exclusions: Vec<Exclusion>,
}

impl From<&WindowOutcome> for TranscriptOutcome {
    fn from(o: &WindowOutcome) -> Self {
        TranscriptOutcome {
            beacon_round: o.beacon_round,
            randomness: hex::encode(o.randomness),
            files: o.files,
            verdicts: o.verdicts.clone(),
            exclusions: o.exclusions.clone(),
        }
    }
}

/// Everything besides the [`WindowInputs`] that a transcript records.
#[derive(Debug, Clone, Copy)]
pub struct TranscriptParts<'a> {
    pub metagraph: &'a Metagraph,
    /// The checkpoint the window ran under, if any.
    pub checkpoint: Option<&'a CheckpointManifest>,
    pub weights_config: &'a WeightsConfig,
    pub prior_records: &'a [MinerRecord],
    pub report: &'a WindowReport,
    pub weights: &'a Weights,
}

/// What [`Transcript::replay`] recomputed, and how it differs from the transcript.
#[derive(Debug, Clone)]
pub struct Replay {
    pub outcome: WindowOutcome,
    pub weights: Weights,
    /// One line per difference, naming the miner or object and the field; empty on a match.
    pub differences: Vec<String>,
}

impl Transcript {
    /// The transcript of a window verified with `inputs`.
    pub fn new(inputs: &WindowInputs<'_>, parts: TranscriptParts<'_>) -> Result<Transcript> {
        let model_id = cid_string(inputs.model_id)
            .map_err(|reason| ValidatorError::Transcript { field: "model_id".into(), reason })?;
        let objects = inputs
            .objects
            .iter()
            .map(|o| TranscriptObject {
                key: o.key.clone(),
                size: o.size,
                uploaded_unix: o.uploaded_unix,
                cid: o.bytes.as_deref().map(|b| cid_of_bytes(b).to_string()),
                bytes: o.bytes.as_deref().map(|b| BASE64.encode(b)),
            })
            .collect();
        Ok(Transcript {
            format: FORMAT.into(),
            window: inputs.window,
            network: inputs.network.clone(),
            verify: *inputs.verify,
            clock: inputs.clock,
            drand: inputs.drand.to_json(),
            mining_beacon: inputs.mining_beacon.beacon().clone(),
            challenge_beacon: inputs.challenge_beacon.beacon().clone(),
            first_block_hash: hex::encode(inputs.first_block_hash),
            model_id,
            checkpoint: parts.checkpoint.cloned(),
            metagraph: parts.metagraph.clone(),
            excluded: inputs.excluded.iter().copied().collect(),
            processed_at_unix: inputs.processed_at_unix,
            objects,
            weights_config: *parts.weights_config,
            prior_records: parts.prior_records.to_vec(),
            outcome: TranscriptOutcome::from(&parts.report.outcome),
            weights: parts.weights.clone(),
        })
    }

    /// Reads a transcript file.
    pub fn read(path: &Path) -> Result<Transcript> {
        let bytes = std::fs::read(path).map_err(io("read transcript", path))?;
        Transcript::from_json(&bytes)
    }

    /// Parses and checks the format of a transcript's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Transcript> {
        let t: Transcript = serde_json::from_slice(bytes)
            .map_err(|source| ValidatorError::Json { what: "transcript", source })?;
        if t.format != FORMAT {
            return Err(bad("format", format!("{:?}, this validator reads {FORMAT:?}", t.format)));
        }
        Ok(t)
    }

    /// The file of `window` under `data_dir/transcripts`.
    pub fn path_in(data_dir: &Path, window: u64) -> PathBuf {
        data_dir.join(TRANSCRIPTS_DIR).join(format!("{window}.json"))
    }

    /// Writes `data_dir/transcripts/{window}.json` durably ([`grail_storage::durable`]): a
    /// crash leaves the old file or the whole new one, and a returned write is on disk.
    pub fn write_to(&self, data_dir: &Path) -> Result<PathBuf> {
        let path = Transcript::path_in(data_dir, self.window);
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|source| ValidatorError::Json { what: "transcript", source })?;
        bytes.push(b'\n');
        durable::write_file(&path, &bytes, Access::Default)
            .map_err(|e| ValidatorError::Durable(Box::new(e)))?;
        Ok(path)
    }

    /// Which pinned drand key the transcript's chain uses: `quicknet`, `mainnet`, `local-dev`
    /// (the insecure development key), or `unpinned` (an auditor must check it by other means).
    pub fn drand_key_name(&self) -> Result<&'static str> {
        let chain = self.chain_info()?;
        let named = [
            ("quicknet", ChainInfo::quicknet().key()),
            ("mainnet", ChainInfo::mainnet().key()),
            ("local-dev", dev::dev_chain_key()),
        ];
        Ok(named
            .into_iter()
            .find(|(_, k)| k.public_key() == chain.public_key() && k.scheme() == chain.scheme())
            .map_or("unpinned", |(name, _)| name))
    }

    fn chain_info(&self) -> Result<ChainInfo> {
        let json = serde_json::to_vec(&self.drand)
            .map_err(|source| ValidatorError::Json { what: "transcript drand", source })?;
        ChainInfo::from_json(&json).map_err(|e| bad("drand", e.to_string()))
    }

    /// The recorded objects, bytes decoded.
    pub fn fetched_objects(&self) -> Result<Vec<FetchedObject>> {
        self.objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let bytes = match &o.bytes {
                    None => None,
                    Some(b64) => Some(
                        BASE64
                            .decode(b64)
                            .map_err(|e| bad(&format!("objects[{i}].bytes"), e.to_string()))?,
                    ),
                };
                Ok(FetchedObject {
                    key: o.key.clone(),
                    size: o.size,
                    uploaded_unix: o.uploaded_unix,
                    bytes,
                })
            })
            .collect()
    }

    /// Recomputes the verdicts with `verifier` (the model named by `model_id`) and the weights
    /// with the live validator's weights path, and lists every difference from the transcript:
    /// each object's bytes against its recorded CID, the outcome (verdicts by miner, field by
    /// field; exclusions; beacon round; files), and the weights.
    pub fn replay(&self, verifier: &mut ModelVerifier) -> Result<Replay> {
        let drand = self.chain_info()?;
        let key = drand.key();
        let verified = |field: &str, b: &Beacon| {
            verify_beacon(&key, b).map_err(|e| bad(field, format!("does not verify: {e}")))
        };
        let mining_beacon = verified("mining_beacon", &self.mining_beacon)?;
        let challenge_beacon = verified("challenge_beacon", &self.challenge_beacon)?;
        let first_block_hash = hash32(&self.first_block_hash, "first_block_hash")?;
        let model_id = cid::Cid::try_from(self.model_id.as_str())
            .map_err(|e| bad("model_id", e.to_string()))?
            .to_bytes();
        self.metagraph.check()?;
        let miners = self.metagraph.miners();
        let excluded: BTreeSet<Hotkey> = self.excluded.iter().copied().collect();
        let objects = self.fetched_objects()?;
        let mut differences = Vec::new();
        for (o, recorded) in objects.iter().zip(&self.objects) {
            let got = o.bytes.as_deref().map(|b| cid_of_bytes(b).to_string());
            if got != recorded.cid {
                differences.push(format!(
                    "object {}: cid: transcript {}, its bytes hash to {}",
                    o.key,
                    recorded.cid.as_deref().unwrap_or("null"),
                    got.as_deref().unwrap_or("null")
                ));
            }
        }
        let inputs = WindowInputs {
            window: self.window,
            network: &self.network,
            verify: &self.verify,
            clock: self.clock,
            drand: &drand,
            mining_beacon: &mining_beacon,
            challenge_beacon: &challenge_beacon,
            first_block_hash,
            model_id: &model_id,
            miners: &miners,
            excluded: &excluded,
            objects: &objects,
            processed_at_unix: self.processed_at_unix,
        };
        if let Some(m) = &self.checkpoint {
            self.check_checkpoint(m, &mut differences);
        }
        let report = verify_window(verifier, &inputs)?;
        let (_, weights) = window_weights(
            &self.weights_config,
            self.window,
            &self.prior_records,
            &report.outcome.verdicts,
        )?;
        let recorded = outcome_json(&self.outcome)?;
        let recomputed = outcome_json(&TranscriptOutcome::from(&report.outcome))?;
        diff_json("outcome", &recorded, &recomputed, &mut differences);
        diff_json(
            "weights",
            &weights_json(&self.weights)?,
            &weights_json(&weights)?,
            &mut differences,
        );
        Ok(Replay { outcome: report.outcome, weights, differences })
    }
}

impl Transcript {
    /// The recorded checkpoint must be signed by the trainer it names and name this window's
    /// model and parameters, from this window or earlier.
    fn check_checkpoint(&self, m: &CheckpointManifest, differences: &mut Vec<String>) {
        let signed = Hotkey::from_ss58(&m.trainer)
            .map_err(|e| e.to_string())
            .and_then(|trainer| verify_manifest(m, &trainer).map_err(|e| e.to_string()));
        if let Err(e) = signed {
            differences.push(format!("checkpoint: {e}"));
        }
        if m.model_id != self.model_id {
            differences.push(format!(
                "checkpoint: model_id {} is not the transcript's {}",
                m.model_id, self.model_id
            ));
        }
        if m.from_window > self.window {
            differences.push(format!(
                "checkpoint: from window {}, after the transcript's window {}",
                m.from_window, self.window
            ));
        }
        if m.environment != self.network.environment || m.generation != self.network.generation {
            differences.push(
                "checkpoint: its environment or generation parameters are not the transcript's \
                 network parameters"
                    .into(),
            );
        }
    }
}

fn bad(field: &str, reason: String) -> ValidatorError {
    ValidatorError::Transcript { field: field.into(), reason }
}

fn cid_string(bytes: &[u8]) -> std::result::Result<String, String> {
    cid::Cid::try_from(bytes).map(|c| c.to_string()).map_err(|e| e.to_string())
}

fn hash32(text: &str, field: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text).map_err(|e| bad(field, e.to_string()))?;
    bytes.try_into().map_err(|b: Vec<u8>| bad(field, format!("{} bytes, not 32", b.len())))
}

fn to_value<T: Serialize>(what: &'static str, v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|source| ValidatorError::Json { what, source })
}

/// The outcome with verdicts and exclusions keyed by miner, so differences name the miner.
fn outcome_json(o: &TranscriptOutcome) -> Result<Value> {
    let miner = |hotkey: &Hotkey, uid: Option<u16>| match uid {
        Some(uid) => format!("miner {hotkey} (uid {uid})"),
        None => format!("miner {hotkey}"),
    };
    let mut verdicts = serde_json::Map::new();
    for v in &o.verdicts {
        verdicts.insert(miner(&v.hotkey, Some(v.uid)), to_value("verdict", v)?);
    }
    let mut exclusions = serde_json::Map::new();
    for e in &o.exclusions {
        exclusions.insert(miner(&e.hotkey, None), to_value("exclusion", e)?);
    }
    Ok(serde_json::json!({
        "beacon_round": o.beacon_round,
        "randomness": o.randomness,
        "files": o.files,
        "verdicts": verdicts,
        "exclusions": exclusions,
    }))
}

/// The weights with the per-miner scores keyed by uid.
fn weights_json(w: &Weights) -> Result<Value> {
    let mut value = to_value("weights", w)?;
    let mut miners = serde_json::Map::new();
    for m in &w.miners {
        miners.insert(format!("uid {} ({})", m.uid, m.hotkey), to_value("miner score", m)?);
    }
    value["miners"] = Value::Object(miners);
    Ok(value)
}

/// Appends one line per leaf where `a` (the transcript) and `b` (recomputed) differ.
fn diff_json(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let sub = format!("{path}: {k}");
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff_json(&sub, p, q, out),
                    (Some(_), None) => out.push(format!("{sub}: in the transcript only")),
                    (None, Some(_)) => out.push(format!("{sub}: recomputed only")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_json(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{path}: transcript {a}, recomputed {b}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_paths_and_keys() {
        let a = json!({"verdicts": {"miner A": {"stage": "file", "n": 1}}, "w": [1, 2]});
        let b = json!({"verdicts": {"miner A": {"stage": "sampling", "n": 1}, "miner B": {}},
            "w": [1, 3]});
        let mut out = Vec::new();
        diff_json("outcome", &a, &b, &mut out);
        assert_eq!(
            out,
            vec![
                "outcome: verdicts: miner A: stage: transcript \"file\", recomputed \"sampling\"",
                "outcome: verdicts: miner B: recomputed only",
                "outcome: w[1]: transcript 2, recomputed 3",
            ]
        );
        let mut none = Vec::new();
        diff_json("x", &a, &a, &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn hashes_and_cids_decode_or_name_the_field() {
        assert_eq!(hash32(&"ab".repeat(32), "h").expect("32 bytes"), [0xab; 32]);
        let err = hash32("abcd", "first_block_hash").unwrap_err().to_string();
        assert!(err.contains("first_block_hash") && err.contains("2 bytes"), "{err}");
        let cid = cid_of_bytes(b"x");
        assert_eq!(cid_string(&cid.to_bytes()).expect("cid"), cid.to_string());
        assert!(cid_string(b"not a cid").is_err());
    }
}

//! Where emitted weights go. [`FileSink`] writes one JSON file per window; a sink that submits
//! to subtensor fits behind the same [`WeightsSink`] trait.
//!
//! The file format (also the body of `GET /weights`) is the arguments of the chain's
//! `set_weights` call plus the window they were computed for:
//!
//! ```json
//! {"window": 42, "netuid": 81, "uids": [0, 3, 7], "weights": [65535, 4096, 120], "version_key": 1}
//! ```
//!
//! - `window` (u64): the window whose span the weights score;
//! - `netuid` (u16): the subnet; left out when the validator is not configured with one;
//! - `uids` (u16, ascending) and `weights` (u16, aligned with `uids`): max-upscaled so the
//!   largest is 65535, zero weights left out (the chain's `dests` and `weights`);
//! - `version_key` (u64): the chain's weights version key.

use std::path::{Path, PathBuf};

use grail_weights::Weights;
use serde::{Deserialize, Serialize};

use grail_storage::durable::{self, Access};

use crate::error::{Result, ValidatorError};

/// Folder under the data folder that [`FileSink`] writes to.
pub const WEIGHTS_DIR: &str = "weights";

/// A destination for each window's weights.
pub trait WeightsSink: Send {
    /// Emits the weights computed at `window`. Emitting the same window again replaces it.
    fn emit(&mut self, window: u64, weights: &Weights) -> Result<()>;
}

/// Weights in the chain's format; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainWeights {
    pub window: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netuid: Option<u16>,
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    pub version_key: u64,
}

impl ChainWeights {
    /// The chain's part of `weights`, computed at `window`.
    pub fn new(window: u64, netuid: Option<u16>, weights: &Weights) -> ChainWeights {
        ChainWeights {
            window,
            netuid,
            uids: weights.uids.clone(),
            weights: weights.weights.clone(),
            version_key: weights.version_key,
        }
    }
}

/// Writes `{data}/weights/{window}.json` durably ([`grail_storage::durable`]): a reader sees
/// the old file or the whole new one, never a partial write, even if the validator is killed
/// mid-write.
#[derive(Debug, Clone)]
pub struct FileSink {
    dir: PathBuf,
    netuid: Option<u16>,
}

impl FileSink {
    /// A sink writing under `data_dir/weights`, tagging files with `netuid` if given.
    pub fn new(data_dir: &Path, netuid: Option<u16>) -> FileSink {
        FileSink { dir: data_dir.join(WEIGHTS_DIR), netuid }
    }

    /// The file that `window`'s weights go to.
    pub fn path(&self, window: u64) -> PathBuf {
        self.dir.join(format!("{window}.json"))
    }
}

impl WeightsSink for FileSink {
    fn emit(&mut self, window: u64, weights: &Weights) -> Result<()> {
        let chain = ChainWeights::new(window, self.netuid, weights);
        let mut bytes = serde_json::to_vec(&chain)
            .map_err(|source| ValidatorError::Json { what: "chain weights", source })?;
        bytes.push(b'\n');
        durable::write_file(&self.path(window), &bytes, Access::Default)
            .map_err(|e| ValidatorError::Durable(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grail_weights::{compute_weights, MinerRecord, WeightsConfig, WindowRecord};

    fn weights() -> Weights {
        let miner = |uid: u16, unique| MinerRecord {
            uid,
            hotkey: format!("hk{uid}"),
            windows: vec![WindowRecord { window: 5, unique, hard_failure: false, checked: true }],
        };
        compute_weights(&WeightsConfig::default(), 5, &[miner(3, 100), miner(7, 50)])
            .expect("valid records")
    }

    #[test]
    fn writes_chain_format_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = weights();
        let mut sink = FileSink::new(dir.path(), Some(81));
        sink.emit(5, &w).expect("emit");
        let path = dir.path().join("weights").join("5.json");
        assert_eq!(sink.path(5), path);
        let text = std::fs::read_to_string(&path).expect("written");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["netuid"], 81);
        assert_eq!(value["window"], 5);
        assert_eq!(value["uids"], serde_json::json!(w.uids));
        assert_eq!(value["weights"], serde_json::json!(w.weights));
        assert_eq!(value["version_key"], w.version_key);
        let back: ChainWeights = serde_json::from_str(&text).expect("round trip");
        assert_eq!(back, ChainWeights::new(5, Some(81), &w));
        // Only the final file is left: the temporary was renamed, not copied.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("weights"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("5.json")]);
    }

    #[test]
    fn netuid_is_optional_and_reemit_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = FileSink::new(dir.path(), None);
        let mut w = weights();
        sink.emit(9, &w).expect("emit");
        w.version_key = 77;
        sink.emit(9, &w).expect("emit again");
        let text = std::fs::read_to_string(sink.path(9)).expect("written");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(value.get("netuid").is_none(), "{text}");
        assert_eq!(value["version_key"], 77);
    }
}

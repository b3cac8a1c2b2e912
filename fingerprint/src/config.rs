//! The model folder's `config.json`: the few facts the engine needs beside the ONNX graph.
//!
//! Stop tokens come from `stop_token_ids` when present, else from `eos_token_id` (a number or a
//! list, as in Hugging Face configs). `vocab_size` and `hidden_size` are optional here; when
//! present the engine checks them against the graph.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// File name of the config inside a model folder.
pub const CONFIG_FILE: &str = "config.json";

/// What the engine reads from a model folder's `config.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    /// Tokens that end a completion (included in it).
    pub stop_token_ids: Vec<u32>,
    /// Declared vocabulary size, if any.
    pub vocab_size: Option<usize>,
    /// Declared hidden size, if any.
    pub hidden_size: Option<usize>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

#[derive(Deserialize)]
struct RawConfig {
    stop_token_ids: Option<Vec<u32>>,
    eos_token_id: Option<OneOrMany>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
}

impl ModelConfig {
    /// Reads `DIR/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let bytes =
            std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        Self::parse(&path, &bytes)
    }

    /// Parses the bytes of a config file (`path` only names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let err = |problem: String| Error::Config { path: PathBuf::from(path), problem };
        let raw: RawConfig =
            serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let stop_token_ids = match (raw.stop_token_ids, raw.eos_token_id) {
            (Some(ids), _) => ids,
            (None, Some(OneOrMany::One(id))) => vec![id],
            (None, Some(OneOrMany::Many(ids))) => ids,
            (None, None) => Vec::new(),
        };
        if stop_token_ids.is_empty() {
            return Err(err(
                "no `stop_token_ids` or `eos_token_id`: generation could not stop".into()
            ));
        }
        Ok(Self { stop_token_ids, vocab_size: raw.vocab_size, hidden_size: raw.hidden_size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ModelConfig> {
        ModelConfig::parse(Path::new("config.json"), json.as_bytes())
    }

    #[test]
    fn stop_ids_prefer_the_explicit_list() {
        let c = parse(r#"{"eos_token_id": 2, "stop_token_ids": [2, 0], "vocab_size": 9}"#).unwrap();
        assert_eq!(c.stop_token_ids, vec![2, 0]);
        assert_eq!(c.vocab_size, Some(9));
        assert_eq!(parse(r#"{"eos_token_id": 2}"#).unwrap().stop_token_ids, vec![2]);
        assert_eq!(parse(r#"{"eos_token_id": [5, 7]}"#).unwrap().stop_token_ids, vec![5, 7]);
    }

    #[test]
    fn missing_stop_tokens_and_bad_json_are_named() {
        let e = parse(r#"{"vocab_size": 9}"#).unwrap_err().to_string();
        assert!(e.contains("stop_token_ids") && e.contains("config.json"), "{e}");
        let e = parse("{").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = parse(r#"{"stop_token_ids": []}"#).unwrap_err().to_string();
        assert!(e.contains("could not stop"), "{e}");
    }

    #[test]
    fn reads_the_tiny_fixture() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny");
        let c = ModelConfig::load(&dir).unwrap();
        assert_eq!(c.stop_token_ids, vec![0, 2]);
        assert_eq!((c.vocab_size, c.hidden_size), (Some(512), Some(64)));
    }
}

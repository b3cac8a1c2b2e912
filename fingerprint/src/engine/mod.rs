//! The generation engine shared by miner and validator: a model folder loaded into ONNX Runtime,
//! batched KV-cache decoding of a whole group ([`Engine::generate_group`]) or of several groups
//! sharing one batch ([`Engine::generate_groups`]), and the validator's
//! batched prefill over prompt + completion ([`Engine::prefill`]), or over the completions of
//! one group after its shared prompt, run once ([`Engine::prefill_shared`]).
//!
//! # Which hidden state commits to which token
//! Completion token `t` is sampled from the logits row of the input position that predicted it:
//! the last prompt position for `t = 0`, and the position of token `t − 1` for `t >= 1`. Its
//! commitment `c_t` is made from `last_hidden_state` at that same position, in the same forward
//! pass (the logits are the LM head applied to it). The validator's prefill hands out exactly
//! these rows: for a prompt of length `P`, absolute positions `P − 1 + t`.
//!
//! # Speed
//! The prompt is run once at batch 1 and its cache repeated for the group. Each decoding step
//! feeds ONNX Runtime's `present.*` values straight back as the next `past_key_values.*` (no
//! copy through Rust), reads logits and hidden states in place, and samples without copying a
//! row, spreading the rows over the session's thread count (ONNX Runtime's threads are idle
//! between passes; each rollout touches only its own stream). Finished rows are dropped from the
//! batch once enough of them pile up ([`EngineOptions::drop_finished`]), and with
//! [`Engine::generate_groups`] the next group's rows take their place. [`baseline`] is the plain
//! loop it is measured against.

pub mod baseline;
mod batch;
pub mod bench;
mod decode;
mod prefill;
mod rollout;
mod shared_prefill;
mod tensors;

use std::path::{Path, PathBuf};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::session::{past_name, present_name, Device, ModelSession, ModelSpec, SessionOptions};

pub use batch::{BatchStats, GroupJob, GroupSettings};
pub use prefill::{PrefillRows, Sequence};
pub use rollout::{GeneratedRollout, GroupRequest, StopReason};

/// File names inside a model folder.
pub const MODEL_FILE: &str = "model.onnx";
/// The tokenizer, checked against the logits' vocabulary when present.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// How to load an [`Engine`].
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Execution provider; CUDA only when asked for, and then never a silent CPU fallback.
    pub device: Device,
    /// ONNX Runtime intra-op threads; `None` lets it choose.
    pub intra_threads: Option<usize>,
    /// Drop finished rows from the decoding batch once at least this many have finished
    /// since the last compaction (0 = keep every row to the end, padding finished ones).
    pub drop_finished: usize,
    /// A group joins a running batch only where its rows' left padding is a multiple of this
    /// many positions (see [`Engine::generate_groups`]). `fixtures/scripts/
    /// check_batch_invariance.py` finds 4 enough on ONNX Runtime 1.31.1's AVX-512 kernels; 16
    /// leaves room for wider ones.
    pub pad_alignment: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            intra_threads: None,
            drop_finished: DEFAULT_DROP_FINISHED,
            pad_alignment: DEFAULT_PAD_ALIGNMENT,
        }
    }
}

/// Default for [`EngineOptions::drop_finished`]: compacting copies the cache once, which costs
/// about what one step of four rows does, so it pays once a few rows are idle.
pub const DEFAULT_DROP_FINISHED: usize = 4;

/// Default for [`EngineOptions::pad_alignment`].
pub const DEFAULT_PAD_ALIGNMENT: usize = 16;

/// A loaded, checked model folder.
#[derive(Debug)]
pub struct Engine {
    model: ModelSession,
    config: ModelConfig,
    options: EngineOptions,
    dir: PathBuf,
    /// `(key, value)` input names per layer.
    past_names: Vec<(String, String)>,
    /// `(key, value)` output names per layer.
    present_names: Vec<(String, String)>,
}

impl Engine {
    /// Loads `DIR/model.onnx` with `DIR/config.json`, checking the model contract, the config
    /// and (when `DIR/tokenizer.json` exists) that every token id fits the logits.
    pub fn load(dir: &Path, options: &EngineOptions) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model folder"),
            });
        }
        let config = ModelConfig::load(dir)?;
        let session_options = SessionOptions { intra_threads: options.intra_threads };
        let model = ModelSession::load_on(&dir.join(MODEL_FILE), &session_options, options.device)?;
        let spec = *model.spec();
        check_config(dir, &config, &spec)?;
        let tokenizer = dir.join(TOKENIZER_FILE);
        if tokenizer.is_file() {
            check_tokenizer(&tokenizer, spec.vocab_size)?;
        }
        let names = |f: fn(usize, &str) -> String| {
            (0..spec.num_layers).map(|i| (f(i, "key"), f(i, "value"))).collect::<Vec<_>>()
        };
        Ok(Self {
            past_names: names(past_name),
            present_names: names(present_name),
            model,
            config,
            options: *options,
            dir: dir.to_path_buf(),
        })
    }

    /// The model's dimensions.
    pub fn spec(&self) -> &ModelSpec {
        self.model.spec()
    }

    /// The folder's config (stop tokens).
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was loaded with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Changes how eagerly finished rows leave the batch (see [`EngineOptions::drop_finished`]).
    pub fn set_drop_finished(&mut self, rows: usize) {
        self.options.drop_finished = rows;
    }

    /// The underlying session (the baseline loop steps it directly).
    pub fn session_mut(&mut self) -> &mut ModelSession {
        &mut self.model
    }
}

fn check_config(dir: &Path, config: &ModelConfig, spec: &ModelSpec) -> Result<()> {
    let err =
        |problem: String| Error::Config { path: dir.join(crate::config::CONFIG_FILE), problem };
    if let Some(v) = config.vocab_size.filter(|&v| v != spec.vocab_size) {
        return Err(err(format!("vocab_size {v} but the model's logits have {}", spec.vocab_size)));
    }
    if let Some(d) = config.hidden_size.filter(|&d| d != spec.hidden_size) {
        return Err(err(format!(
            "hidden_size {d} but the model's last_hidden_state has {}",
            spec.hidden_size
        )));
    }
    if let Some(&t) = config.stop_token_ids.iter().find(|&&t| t as usize >= spec.vocab_size) {
        return Err(err(format!(
            "stop token {t} is outside the vocabulary of {}",
            spec.vocab_size
        )));
    }
    Ok(())
}

/// Every id the tokenizer can produce must index a logit.
fn check_tokenizer(path: &Path, vocab: usize) -> Result<()> {
    let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| Error::Tokenizer {
        path: path.to_path_buf(),
        problem: format!("cannot load: {e}"),
    })?;
    let ids = tokenizer.get_vocab(true);
    let needed = ids.values().map(|&id| id as usize + 1).max().unwrap_or(0);
    if needed > vocab {
        return Err(Error::Tokenizer {
            path: path.to_path_buf(),
            problem: format!(
                "token ids go up to {} but the model's logits have only {vocab} entries",
                needed - 1
            ),
        });
    }
    Ok(())
}

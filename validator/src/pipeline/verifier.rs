//! The validator's model: the engine for the forward pass, the tokenizer and chat template,
//! the model's identity, and the weights' fingerprint for the current mining beacon (computed
//! once per window; it reads every weight).

use std::path::{Path, PathBuf};

use grail_challenges::prompt::PromptRenderer;
use grail_fingerprint::engine::MODEL_FILE;
use grail_fingerprint::{Engine, EngineOptions};

use crate::error::PipelineError;
use crate::ValidatorError;

/// Completions per shared-prompt prefill call (each group's prompt runs once per call). ONNX
/// Runtime holds `batch × completion length × V` logits per call. On SmolLM2-135M, 2 cores,
/// `grail-audit bench validator` peaks at 1.38 GB at 2 and at 8, 1.78 GB at 16; 8 verifies about
/// 1.6× faster than 2 there (a prompt shared by more completions) and as fast as 16.
pub const DEFAULT_PREFILL_BATCH: usize = 8;

/// A loaded model folder, ready to verify windows.
#[derive(Debug)]
pub struct ModelVerifier {
    engine: Engine,
    renderer: PromptRenderer,
    model_file: PathBuf,
    model_id: Vec<u8>,
    stop_ids: Vec<u32>,
    prefill_batch: usize,
    /// `(mining beacon randomness, fingerprint)` of the last window asked for.
    fingerprint: Option<([u8; 32], [u8; 32])>,
}

impl ModelVerifier {
    /// Loads `dir` (model.onnx, config.json, tokenizer.json, chat template) and computes its
    /// `model_id`.
    pub fn load(dir: &Path, options: &EngineOptions) -> Result<Self, ValidatorError> {
        let engine = Engine::load(dir, options)
            .map_err(|source| PipelineError::Model { op: "loading", source })?;
        let renderer = PromptRenderer::from_model_dir(dir).map_err(|e| PipelineError::Setup {
            reason: format!("tokenizer or chat template of {}: {e}", dir.display()),
        })?;
        let model_file = dir.join(MODEL_FILE);
        let model_id = grail_fingerprint::model_id(&model_file)
            .map_err(|source| PipelineError::Model { op: "model_id", source })?
            .to_bytes();
        let stop_ids = engine.config().stop_token_ids.clone();
        Ok(Self {
            engine,
            renderer,
            model_file,
            model_id,
            stop_ids,
            prefill_batch: DEFAULT_PREFILL_BATCH,
            fingerprint: None,
        })
    }

    /// Binary CIDv1 of the loaded weights.
    pub fn model_id(&self) -> &[u8] {
        &self.model_id
    }

    /// The model's stop tokens.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// The tokenizer and chat template.
    pub fn renderer(&self) -> &PromptRenderer {
        &self.renderer
    }

    /// The engine.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Vocabulary size (the logits' width).
    pub fn vocab_size(&self) -> usize {
        self.engine.spec().vocab_size
    }

    /// Hidden size (the commitment key's length).
    pub fn hidden_size(&self) -> usize {
        self.engine.spec().hidden_size
    }

    /// Rollouts per prefill call.
    pub fn prefill_batch(&self) -> usize {
        self.prefill_batch
    }

    /// Sets rollouts per prefill call (at least 1). Verdicts do not depend on it beyond the
    /// drift the tolerances absorb.
    pub fn set_prefill_batch(&mut self, rollouts: usize) {
        self.prefill_batch = rollouts.max(1);
    }

    /// The weights' fingerprint under `randomness`, computed once and cached.
    pub fn fingerprint(&mut self, randomness: &[u8; 32]) -> Result<[u8; 32], ValidatorError> {
        if let Some((r, f)) = self.fingerprint {
            if r == *randomness {
                return Ok(f);
            }
        }
        let f = grail_fingerprint::fingerprint(&self.model_file, randomness)
            .map_err(|source| PipelineError::Model { op: "fingerprint", source })?;
        self.fingerprint = Some((*randomness, f));
        Ok(f)
    }
}

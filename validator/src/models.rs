//! The model of each window: the validator's own (`--model`) until the first checkpoint the
//! trainer published and this validator accepted ([`grail_checkpoint`]), then each checkpoint
//! from its window on, with the environment and generation parameters its manifest names.

use std::path::PathBuf;

use grail_checkpoint::{Checkpoint, Checkpoints};
use grail_fingerprint::EngineOptions;
use grail_protocol::params::NetworkParams;

use crate::error::{PipelineError, ValidatorError};
use crate::pipeline::ModelVerifier;

/// Which model folder each window runs under, and the one loaded.
#[derive(Debug)]
pub struct WindowModels {
    base_dir: PathBuf,
    options: EngineOptions,
    checkpoints: Option<Checkpoints>,
    /// The folder the loaded verifier came from.
    loaded: PathBuf,
}

/// The model a window runs under.
#[derive(Debug, Clone)]
pub struct WindowModel {
    /// The network's parameters for the window (a checkpoint's environment and generation).
    pub network: NetworkParams,
    /// The checkpoint, `None` under the validator's own model.
    pub checkpoint: Option<Checkpoint>,
}

impl WindowModels {
    /// `base_dir` is loaded already; `checkpoints`, when set, name the later models.
    pub fn new(
        base_dir: PathBuf,
        options: EngineOptions,
        checkpoints: Option<Checkpoints>,
    ) -> Self {
        Self { loaded: base_dir.clone(), base_dir, options, checkpoints }
    }

    /// Fetches any new checkpoint, and loads `window`'s model into `verifier` when another is
    /// loaded. A store that cannot be listed, or a manifest that could name this window but
    /// could not be read whole, is a retryable error: the window's model is not known yet.
    pub async fn prepare(
        &mut self,
        window: u64,
        base: &NetworkParams,
        verifier: &mut ModelVerifier,
    ) -> Result<WindowModel, ValidatorError> {
        let checkpoint = match &mut self.checkpoints {
            None => None,
            Some(checkpoints) => {
                let refresh =
                    checkpoints.refresh().await.map_err(|e| PipelineError::Checkpoint {
                        reason: format!("listing the trainer's checkpoints: {e}"),
                    })?;
                let chosen = checkpoints.for_window(window).cloned();
                let from = chosen.as_ref().map(|c| c.manifest.from_window);
                let unread = refresh
                    .retry
                    .iter()
                    .find(|r| r.window.is_some_and(|w| w <= window && from.is_none_or(|f| w > f)));
                if let Some(r) = unread {
                    return Err(PipelineError::Checkpoint {
                        reason: format!(
                            "{} could name window {window}'s model: {}",
                            r.key, r.reason
                        ),
                    }
                    .into());
                }
                chosen
            }
        };
        let dir = checkpoint.as_ref().map_or_else(|| self.base_dir.clone(), |c| c.dir.clone());
        if dir != self.loaded {
            let options = &self.options;
            *verifier = tokio::task::block_in_place(|| ModelVerifier::load(&dir, options))?;
            tracing::info!(
                window,
                model = %dir.display(),
                from_window = checkpoint.as_ref().map(|c| c.manifest.from_window),
                "model switched"
            );
            self.loaded = dir;
        }
        let network = checkpoint.as_ref().map_or_else(|| base.clone(), |c| c.network(base));
        Ok(WindowModel { network, checkpoint })
    }
}

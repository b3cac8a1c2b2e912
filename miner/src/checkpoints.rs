//! The miner's side of checkpoints: while it waits for a window, and again at its start, it
//! fetches any new checkpoint of the trainer's store and, when the window's checkpoint is another model than the loaded one,
//! loads it with the environment and generation parameters its manifest names. A store that
//! cannot be listed leaves the loaded model in place (the window is mined under it, and a
//! validator that knows better rejects the file at its header).

use std::path::PathBuf;

use anyhow::Context;
use grail_chain::ChainSource;
use grail_challenges::env::environment_by_id;
use grail_challenges::prompt::PromptRenderer;
use grail_checkpoint::Checkpoints;
use grail_fingerprint::{Engine, EngineOptions};
use grail_protocol::params::NetworkParams;

use crate::window_loop::{check_environment, Miner};

/// The trainer's checkpoints, and what the miner falls back to before the first.
#[derive(Debug)]
pub struct MinerCheckpoints {
    /// The checkpoints fetched so far.
    pub checkpoints: Checkpoints,
    /// `--model`: the model before the first checkpoint.
    pub base_dir: PathBuf,
    /// The network's parameters from the flags (a checkpoint replaces their environment and
    /// generation).
    pub base_params: NetworkParams,
    /// How models are loaded.
    pub options: EngineOptions,
    /// The folder the loaded model came from.
    pub loaded: PathBuf,
}

impl<C: ChainSource> Miner<C> {
    /// Fetches any new checkpoint now; a failure is logged (the next window tries again).
    pub fn prefetch_checkpoints(&mut self) {
        if let Some(models) = &mut self.checkpoints {
            if let Err(e) = self.runtime.block_on(models.checkpoints.refresh()) {
                tracing::warn!(error = %e, "the trainer's checkpoints could not be listed");
            }
        }
    }

    /// Loads the model of `window`'s checkpoint if another is loaded; see the module docs.
    pub fn switch_model(&mut self, window: u64) -> anyhow::Result<()> {
        let Some(models) = &mut self.checkpoints else {
            return Ok(());
        };
        if let Err(e) = self.runtime.block_on(models.checkpoints.refresh()) {
            tracing::warn!(
                window,
                error = %e,
                "the trainer's checkpoints could not be listed; mining under the loaded model"
            );
        }
        let chosen = models.checkpoints.for_window(window).cloned();
        let dir = chosen.as_ref().map_or_else(|| models.base_dir.clone(), |c| c.dir.clone());
        if dir == models.loaded {
            return Ok(());
        }
        let params = chosen
            .as_ref()
            .map_or_else(|| models.base_params.clone(), |c| c.network(&models.base_params));
        let env =
            environment_by_id(&params.environment.id).context("the checkpoint's environment")?;
        check_environment(env.as_ref(), &params)?;
        let engine = Engine::load(&dir, &models.options)
            .with_context(|| format!("loading the model {}", dir.display()))?;
        let renderer = PromptRenderer::from_model_dir(&dir)
            .with_context(|| format!("loading the tokenizer of {}", dir.display()))?;
        let model_file = dir.join(grail_fingerprint::engine::MODEL_FILE);
        let model_id = grail_fingerprint::model_id(&model_file)
            .with_context(|| format!("computing the model_id of {}", model_file.display()))?;
        tracing::info!(
            window,
            model = %dir.display(),
            model_id = %model_id,
            from_window = chosen.as_ref().map(|c| c.manifest.from_window),
            environment = %params.environment.id,
            "model switched"
        );
        self.engine = engine;
        self.renderer = renderer;
        self.model_file = model_file;
        self.model_id = model_id.to_bytes();
        self.env = env;
        self.params = params;
        models.loaded = dir;
        Ok(())
    }
}

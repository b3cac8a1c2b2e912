//! `--checkpoint.*`: where the trainer publishes checkpoints, and whose signature counts.

use std::path::{Path, PathBuf};

use grail_checkpoint::{CheckpointSource, DEFAULT_MAX_FILE_BYTES};
use grail_protocol::keys::Hotkey;
use grail_storage::{StorageConfig, WindowStore, DEFAULT_STORE_TIMEOUT_S};

/// The trainer's checkpoint store, read without credentials.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Checkpoints")]
pub struct CheckpointArgs {
    /// The trainer's store, `s3://bucket[/prefix]` or `file:///path`, read without credentials;
    /// unset: no checkpoints, --model holds for every window.
    #[arg(id = "checkpoint.url", long = "checkpoint.url", env = "GRAIL_CHECKPOINT_URL")]
    pub url: Option<String>,
    /// The trainer's hotkey (SS58): only manifests it signed are accepted. Needed with
    /// --checkpoint.url.
    #[arg(
        id = "checkpoint.trainer",
        long = "checkpoint.trainer",
        env = "GRAIL_CHECKPOINT_TRAINER"
    )]
    pub trainer: Option<String>,
    /// S3 endpoint URL of the trainer's store; unset: AWS.
    #[arg(
        id = "checkpoint.endpoint",
        long = "checkpoint.endpoint",
        env = "GRAIL_CHECKPOINT_ENDPOINT"
    )]
    pub endpoint: Option<String>,
    /// S3 region of the trainer's store.
    #[arg(
        id = "checkpoint.region",
        long = "checkpoint.region",
        env = "GRAIL_CHECKPOINT_REGION",
        default_value = "us-east-1"
    )]
    pub region: String,
    /// Allow a plain-HTTP endpoint (local servers only).
    #[arg(
        id = "checkpoint.allow_http",
        long = "checkpoint.allow-http",
        env = "GRAIL_CHECKPOINT_ALLOW_HTTP",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_http: bool,
    /// Local folder of fetched checkpoint files, one folder per model_id [default: the
    /// validator's DATA/checkpoints, the miner's grail-checkpoints].
    #[arg(id = "checkpoint.cache", long = "checkpoint.cache", env = "GRAIL_CHECKPOINT_CACHE")]
    pub cache: Option<PathBuf>,
    /// Largest checkpoint file fetched, in bytes.
    #[arg(
        id = "checkpoint.max_file_bytes",
        long = "checkpoint.max-file-bytes",
        env = "GRAIL_CHECKPOINT_MAX_FILE_BYTES",
        default_value_t = DEFAULT_MAX_FILE_BYTES,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_file_bytes: u64,
}

/// A checkpoint setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointArgsError {
    /// The URL is set without the trainer, or the other way round.
    #[error("--checkpoint.{0}")]
    Missing(&'static str),
    /// The trainer is not an SS58 hotkey.
    #[error("--checkpoint.trainer: {0}")]
    Trainer(#[from] grail_protocol::ProtocolError),
    /// The store cannot be opened.
    #[error("--checkpoint.url: {0}")]
    Store(#[from] grail_storage::StoreError),
}

impl CheckpointArgs {
    /// The checkpoint source, `None` without `--checkpoint.url`; files are cached under
    /// `--checkpoint.cache` or else `default_cache`.
    pub fn source(
        &self,
        default_cache: &Path,
    ) -> Result<Option<CheckpointSource>, CheckpointArgsError> {
        let (url, trainer) = match (&self.url, &self.trainer) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(CheckpointArgsError::Missing("trainer is needed with --checkpoint.url"))
            }
            (None, Some(_)) => {
                return Err(CheckpointArgsError::Missing("url is needed with --checkpoint.trainer"))
            }
            (Some(url), Some(trainer)) => (url, trainer),
        };
        let trainer = Hotkey::from_ss58(trainer.trim())?;
        let config = StorageConfig {
            url: Some(url.clone()),
            path: None,
            endpoint: self.endpoint.clone(),
            region: Some(self.region.clone()),
            access_key_id: None,
            secret_access_key: None,
            allow_http: Some(self.allow_http),
        };
        let store = WindowStore::open_isolated(&config)?
            .with_timeout(std::time::Duration::from_secs(DEFAULT_STORE_TIMEOUT_S));
        Ok(Some(CheckpointSource {
            store,
            config,
            trainer,
            cache: self.cache.clone().unwrap_or_else(|| default_cache.to_owned()),
            max_file_bytes: self.max_file_bytes,
        }))
    }
}

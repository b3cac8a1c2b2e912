//! Checkpoints (DESIGN.md 3.11): the trainer publishes a model folder as files and a signed
//! manifest ([`publish`]); miners and validators fetch every manifest of the trainer's store,
//! check its signature, each file's content id and the recomputed `model_id`, keep the files in
//! a local cache, and run each window under the checkpoint that holds for it
//! ([`Checkpoints::for_window`]). A manifest that fails any check is refused with its reason and
//! never used: the windows it would have named keep the previous checkpoint's model.
//!
//! Store layout: `checkpoints/manifests/{from_window}.json` and, by default,
//! `checkpoints/{model_id}/{file}`.

mod fetch;
mod publish;

pub use fetch::{
    Checkpoint, CheckpointSource, Checkpoints, Refresh, Refused, DEFAULT_MAX_FILE_BYTES,
};
pub use publish::{publish, Published};

/// Prefix of the manifests in a trainer's store.
pub const MANIFESTS_PREFIX: &str = "checkpoints/manifests/";

/// The key of the manifest of `from_window`.
pub fn manifest_key(from_window: u64) -> String {
    format!("{MANIFESTS_PREFIX}{from_window}.json")
}

/// The default key prefix of a model's files.
pub fn files_prefix(model_id: &str) -> String {
    format!("checkpoints/{model_id}/")
}

/// What went wrong with a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store failed or timed out: try again later.
    #[error(transparent)]
    Store(#[from] grail_storage::StoreError),
    /// The manifest or a file is not what it must be.
    #[error("{0}")]
    Invalid(String),
    /// A local file or folder could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A durable write failed.
    #[error(transparent)]
    Write(#[from] grail_storage::durable::DurableWriteError),
    /// The protocol refused a field.
    #[error(transparent)]
    Protocol(#[from] grail_protocol::ProtocolError),
    /// The model's weights could not be read.
    #[error("model_id of {path}: {source}")]
    Model {
        /// The model file.
        path: std::path::PathBuf,
        /// The error.
        source: grail_fingerprint::Error,
    },
}

impl CheckpointError {
    /// Whether trying again later may succeed (the store failed), rather than the content
    /// being wrong.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Io { .. } | Self::Write(_))
    }
}

//! The validator library's error type. Each variant names what failed and where; other
//! subsystems (fetch, stages, replay) add their own variants here.

use std::path::PathBuf;

/// Errors of the validator library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidatorError {
    /// A SQLite call failed; `op` says which state operation was running.
    #[error("state database: {op}: {source}")]
    Sqlite {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer validator with a schema this one does not know.
    #[error("state database schema version {found} is newer than the supported {supported}")]
    SchemaTooNew { found: u32, supported: u32 },
    /// No watcher polled the store through before the window's cutoff, and store times are not
    /// trusted: the window cannot be verified (the loop goes on to the next).
    #[error("window {window} not verified: {reason}")]
    Unwatched { window: u64, reason: String },
    /// The chain node has pruned the state at a window's first block (its clock and
    /// metagraph are read there): the window cannot be verified from this node, and retrying
    /// does not help (the loop goes on to the next); an archive node can verify it.
    #[error("the chain node no longer holds the state at block {block}: {reason}")]
    StatePruned { block: u64, reason: String },
    /// A window range asked for is empty or out of bounds.
    #[error("{field}: {reason}")]
    InvalidRange { field: &'static str, reason: String },
    /// Writing an export failed.
    #[error("export: {reason}")]
    Export { reason: String },
    /// A kept window file (`DATA/verified/`) is missing, unreadable or not its CID's bytes.
    #[error("kept file {cid}: {reason}")]
    Archive { cid: String, reason: String },
    /// A restart must never count a window twice.
    #[error("window {window} is already recorded in the state database")]
    WindowAlreadyRecorded { window: u64 },
    /// An outcome contradicts itself (e.g. an exclusion that ends before it starts).
    #[error("window {window} outcome: {field}: {reason}")]
    InvalidOutcome { window: u64, field: &'static str, reason: String },
    /// A stored value does not decode (the database was edited or damaged).
    #[error("state database: {table}.{column}: {reason}")]
    Corrupt { table: &'static str, column: &'static str, reason: String },
    /// A file or folder could not be read or written.
    #[error("{op} {path}: {source}", path = .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A weights file or transcript could not be written durably.
    #[error(transparent)]
    Durable(Box<grail_storage::durable::DurableWriteError>),
    /// The verification pipeline could not run (its own inputs or machinery, not a miner).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The metagraph lists a uid or hotkey twice, or a miner on the burn uid.
    #[error("metagraph: {reason}")]
    Metagraph { reason: String },
    /// A transcript field is missing or does not decode (bad base64, a CID that does not
    /// parse, a hotkey that is not SS58).
    #[error("transcript: {field}: {reason}")]
    Transcript { field: String, reason: String },
    /// The weights computation rejected its input records or configuration.
    #[error("weights: {0}")]
    Weights(#[from] grail_weights::WeightsError),
    /// A value could not be encoded to or decoded from JSON.
    #[error("JSON for {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Adds what the pipeline was doing to an error of another crate (the model, the store, a
/// beacon): these are the validator's own failures, never a miner's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The window's own beacon (fetched by this validator) is wrong or does not verify.
    #[error("{which} beacon of window {window}: {reason}")]
    Beacon { which: &'static str, window: u64, reason: String },
    /// The model failed (loading, fingerprinting, the forward pass).
    #[error("model: {op}: {source}")]
    Model {
        op: &'static str,
        #[source]
        source: grail_fingerprint::Error,
    },
    /// The chain source could not give a block hash.
    #[error("chain: {reason}")]
    Chain { reason: String },
    /// The object store failed (listing, head, get).
    #[error("window files: {source}")]
    Store {
        #[source]
        source: grail_storage::StoreError,
    },
    /// The trainer's checkpoints could not be read: the window's model is not known yet.
    #[error("checkpoint: {reason}")]
    Checkpoint { reason: String },
    /// The validator's configuration cannot verify this window (unknown environment, a
    /// `model_id` other than the loaded model's, a bad parameter).
    #[error("cannot verify: {reason}")]
    Setup { reason: String },
    /// The validator's own forward pass gave values the checks cannot use (a non-finite logit
    /// or hidden state).
    #[error("forward pass output: {reason}")]
    Forward { reason: String },
}

/// Result with [`ValidatorError`].
pub type Result<T, E = ValidatorError> = std::result::Result<T, E>;

/// Adds the state operation's name to a SQLite error.
pub(crate) fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> ValidatorError {
    move |source| ValidatorError::Sqlite { op, source }
}

/// Adds the operation and path to an I/O error.
pub(crate) fn io(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> ValidatorError {
    let path = path.into();
    move |source| ValidatorError::Io { op, path, source }
}

/// The engine's prefill reports its own errors through the visitor's error type.
impl From<grail_fingerprint::Error> for ValidatorError {
    fn from(source: grail_fingerprint::Error) -> Self {
        PipelineError::Model { op: "forward pass", source }.into()
    }
}

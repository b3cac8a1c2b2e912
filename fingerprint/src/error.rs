//! The one error type of `grail-fingerprint`.

use std::path::PathBuf;

/// Everything that can go wrong while finding ONNX Runtime, reading a model or running it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a parseable ONNX protobuf.
    #[error("{path} is not a valid ONNX model: {reason}")]
    Protobuf {
        /// The model file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A weight tensor is malformed; `problem` names the field and the limit.
    #[error("{path}: tensor `{tensor}`: {problem}")]
    Tensor {
        /// The model file.
        path: PathBuf,
        /// The tensor's canonical name.
        tensor: String,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// Two weight tensors share a name, so the canonical order would be ambiguous.
    #[error("{path}: two weight tensors are named `{tensor}`")]
    DuplicateTensor {
        /// The model file.
        path: PathBuf,
        /// The repeated name.
        tensor: String,
    },
    /// No ONNX Runtime library was found.
    #[error(
        "ONNX Runtime library not found (looked for {searched}); run scripts/setup-ort.sh, \
         or set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.31"
    )]
    RuntimeMissing {
        /// Every path that was tried.
        searched: String,
    },
    /// The library was found but could not be loaded or initialized.
    #[error("cannot initialize ONNX Runtime from {path}: {reason}")]
    RuntimeLoad {
        /// The library file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The model's inputs or outputs do not follow DESIGN.md section 4.
    #[error("{path} does not follow the model contract: {problem}")]
    Contract {
        /// The model file.
        path: PathBuf,
        /// The missing or mistyped input/output.
        problem: String,
    },
    /// The model folder's `config.json` is missing a field or malformed.
    #[error("{path}: {problem}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// The tokenizer does not fit the model (or cannot be read).
    #[error("{path}: {problem}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What is wrong, naming both sizes on a mismatch.
        problem: String,
    },
    /// The requested execution provider could not be used; there is no silent CPU fallback.
    #[error("device {device} is unavailable: {reason}")]
    DeviceUnavailable {
        /// The device asked for, e.g. `cuda:0`.
        device: String,
        /// ONNX Runtime's message, and what to do.
        reason: String,
    },
    /// A generation or prefill request is malformed; `problem` names the field and the limit.
    #[error("bad request: {problem}")]
    Request {
        /// What is wrong.
        problem: String,
    },
    /// The sampler or the commitment rejected a value.
    #[error(transparent)]
    Protocol(#[from] grail_protocol::error::ProtocolError),
    /// ONNX Runtime failed while building a session or running it.
    #[error("ONNX Runtime: {0}")]
    Ort(#[from] ort::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

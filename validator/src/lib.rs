//! grail-validator: the verification pipeline, its state, scoring, weights, the live loop,
//! transcripts and replay, and the validator's command line.

pub mod archive;
pub mod cli;
pub mod error;
pub mod export;
pub mod http;
pub mod intake;
pub mod live;
pub mod metagraph;
pub mod metrics;
pub mod models;
pub mod onchain;
pub mod pace;
pub mod pipeline;
pub mod scoring;
pub mod sink;
pub mod state;
pub mod transcript;

pub use error::{PipelineError, Result, ValidatorError};

//! grail-validator library.

pub mod calibrate;
pub mod error;
pub mod http;
pub mod live;
pub mod metagraph;
pub mod metrics;
pub mod pipeline;
pub mod sink;
pub mod state;
pub mod transcript;

pub use error::{PipelineError, Result, ValidatorError};

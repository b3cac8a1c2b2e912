//! The calibration's error type. Each variant names what failed and where (the model folder,
//! the group and rollout, the forger and batch, the option and its limit).

use std::path::PathBuf;

use crate::workload::WorkloadError;
use grail_challenges::assembly::AssemblyError;
use grail_challenges::prompt::PromptError;
use grail_protocol::ProtocolError;

use grail_validator::ValidatorError;

/// Errors of [`super::calibrate`] and [`super::generate_workload_group`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrateError {
    /// An option is outside what the calibration can run.
    #[error("{field} = {value} is out of range: at most {limit}")]
    OutOfRange { field: &'static str, value: u64, limit: u64 },
    /// The true model's folder could not be loaded.
    #[error("loading the model folder {path}: {source}", path = .path.display())]
    LoadModel {
        path: PathBuf,
        #[source]
        source: grail_fingerprint::Error,
    },
    /// A forger model's folder could not be loaded.
    #[error("loading forger model {name} from {path}: {source}", path = .path.display())]
    LoadForger {
        name: String,
        path: PathBuf,
        #[source]
        source: grail_fingerprint::Error,
    },
    /// The model folder's chat template could not be loaded.
    #[error("loading the chat template of {path}: {source}", path = .path.display())]
    ChatTemplate {
        path: PathBuf,
        #[source]
        source: PromptError,
    },
    /// The calibration workload (keys, environment, prompts) could not be built.
    #[error("building the workload: {0}")]
    Workload(#[from] WorkloadError),
    /// A generated group could not be assembled as a miner assembles it.
    #[error("assembling a group: {0}")]
    Assembly(#[from] AssemblyError),
    /// The engine failed to generate a group.
    #[error("generating group {group}: {source}")]
    Generate {
        group: usize,
        #[source]
        source: grail_fingerprint::Error,
    },
    /// The engine failed to generate one rollout of a group alone (a batch of one).
    #[error("generating rollout {rollout} of group {group} alone: {source}")]
    GenerateAlone {
        group: usize,
        rollout: usize,
        #[source]
        source: grail_fingerprint::Error,
    },
    /// Generating one rollout alone returned none.
    #[error("generating rollout {rollout} of group {group} alone: no rollout generated")]
    NoRollout { group: usize, rollout: usize },
    /// The engine's prefill failed (a verification pass or a forger's proof).
    #[error("prefill: {0}")]
    Prefill(#[from] grail_fingerprint::Error),
    /// The left-padded prefill pass failed.
    #[error("left-padded prefill: {source}")]
    LeftPadded {
        #[source]
        source: grail_fingerprint::Error,
    },
    /// The left-padded pass returned an output that is not one contiguous slice.
    #[error("left-padded prefill: the {what} are not contiguous")]
    NotContiguous { what: &'static str },
    /// A prefill returned no row for a completion position of a rollout.
    #[error("rollout {rollout}: no {what} row at completion position {position}")]
    NoRow { rollout: usize, position: usize, what: &'static str },
    /// A sampling or commitment computation rejected a row.
    #[error("rollout {rollout}: {op} at completion position {position}: {source}")]
    Protocol {
        rollout: usize,
        position: usize,
        op: &'static str,
        #[source]
        source: ProtocolError,
    },
    /// The validator's own forward checks could not run on a rollout.
    #[error("checking rollout {rollout}: {source}")]
    Check {
        rollout: usize,
        #[source]
        source: ValidatorError,
    },
    /// Forged sets meant to share one prefill carry different prompts or tokens (a bug of the
    /// calibration itself).
    #[error("forger {forger}: forged sets sharing one prefill differ in their tokens")]
    ForgedTokensDiffer { forger: String },
    /// A forger's prefill of a batch failed.
    #[error("forger {forger}: prefill of batch {batch}: {source}")]
    ForgerPrefill {
        forger: String,
        batch: usize,
        #[source]
        source: Box<CalibrateError>,
    },
}

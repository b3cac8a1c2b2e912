//! The verification pipeline of one window (DESIGN.md 3.8), one stage per file:
//!
//! | stage | file | checks |
//! |---|---|---|
//! | 1 `file` | [`fetch`] | read by the cutoff, within the size limit, parses, this window's and this miner's, signed by it (else the miner is absent, not failed) |
//! | 2 `header` | [`header`] | version, window, hotkey = file name, `model_id`, mining beacon, block hash, fingerprint, environment, generation |
//! | 3 `signatures` | [`signatures`] | header and every rollout (already true of an attributed file; kept as its own stage) |
//! | 4 `rollouts` | [`structure`] | complete groups, problems re-derived, prompts, vocabulary, lengths, logprobs finite, Merkle roots, advantages (every rollout) |
//! | 5 `sampling`, `logprobs`, `commitments`, `termination` | [`forward`] | the rollouts [`select`] picks, each prompt run once and its completions batched against its cache |
//! | 6 `reward` | [`reward`] | reward and success recomputed from the decoded text (every rollout) |
//! | 7 `duplicates` | [`duplicates`] | a completion counts only for its earliest upload |
//!
//! [`window::verify_window`] runs them for every miner and builds the
//! [`crate::state::WindowOutcome`]. The first failure stops a miner's window and becomes a
//! [`Failure`] naming the stage and the reason.
//!
//! Everything a verdict depends on is an input (the files with their upload times, the
//! beacons, the block hash, the model, the parameters): the window function reads no clock and
//! iterates miners in hotkey byte order, so anyone holding those inputs recomputes the same
//! verdicts.

pub mod duplicates;
pub mod fetch;
pub mod forward;
pub mod header;
mod progress;
pub mod reward;
pub mod select;
pub mod signatures;
pub mod structure;
pub mod verifier;
pub mod window;

#[cfg(test)]
pub(crate) mod testutil;

use crate::state::Stage;

pub use fetch::{attribute, FetchedObject, ParsedFile};
pub use verifier::ModelVerifier;
pub use window::{
    upload_deadline, verify_window, verify_window_observed, window_schedule, IgnoredObject,
    WindowInputs, WindowReport,
};

/// A miner's hard failure: the stage and a reason naming the field and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The failing stage.
    pub stage: Stage,
    /// Why, e.g. `rollout 3 position 7: token 41 is not the sample of u = 0.52`.
    pub reason: String,
    /// A signed file made under other network parameters (a misconfiguration, not a forgery):
    /// the verdict is `mismatch` and no exclusion follows.
    pub mismatch: bool,
}

impl Failure {
    /// A failure at `stage`.
    pub fn new(stage: Stage, reason: impl Into<String>) -> Self {
        Self { stage, reason: reason.into(), mismatch: false }
    }

    /// A parameter mismatch at `stage`.
    pub fn mismatch(stage: Stage, reason: impl Into<String>) -> Self {
        Self { stage, reason: reason.into(), mismatch: true }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.stage.as_str(), self.reason)
    }
}

/// The outcome of one stage for one miner.
pub type StageResult<T> = std::result::Result<T, Failure>;

//! What the validator records per window: the outcome, one verdict per miner, exclusions.

use grail_protocol::keys::Hotkey;
use serde::{Deserialize, Serialize};

/// The validator's stages (DESIGN.md 3.8), in the order they run. A verdict names the stage
/// a miner's window reached: the failing stage on a failure, the last stage run otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The miner is excluded after an earlier failure; its file was not checked.
    Excluded,
    /// 1: file present before the deadline, within size limits, parses.
    File,
    /// 2: version, window, hotkey, `model_id`, beacon rounds, fingerprint.
    Header,
    /// 3: signatures on the header and the rollouts.
    Signatures,
    /// 4: problem re-derived, prompt tokens, vocabulary, length cap, Merkle root.
    Rollouts,
    /// 5a: the sampling check at every completion position.
    Sampling,
    /// 5b: the logprob statistic over positions.
    Logprobs,
    /// 5c: hidden-state commitments at the challenged positions.
    Commitments,
    /// 5d: termination (EOS probability).
    Termination,
    /// 6: reward and success recomputed from the decoded completion.
    Reward,
    /// 7: completions already in an earlier upload count only there.
    Duplicates,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 11] = [
        Stage::Excluded,
        Stage::File,
        Stage::Header,
        Stage::Signatures,
        Stage::Rollouts,
        Stage::Sampling,
        Stage::Logprobs,
        Stage::Commitments,
        Stage::Termination,
        Stage::Reward,
        Stage::Duplicates,
    ];

    /// The stable name used in the database, JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Excluded => "excluded",
            Stage::File => "file",
            Stage::Header => "header",
            Stage::Signatures => "signatures",
            Stage::Rollouts => "rollouts",
            Stage::Sampling => "sampling",
            Stage::Logprobs => "logprobs",
            Stage::Commitments => "commitments",
            Stage::Termination => "termination",
            Stage::Reward => "reward",
            Stage::Duplicates => "duplicates",
        }
    }

    /// The stage with this [`Stage::as_str`] name.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// How a miner's window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictResult {
    /// Every stage passed; `unique_estimated` counts.
    Pass,
    /// A hard failure at `stage`: zeroes the miner's score over the span.
    Fail,
    /// A signed file made under other network parameters (environment, generation): a
    /// misconfiguration, scored zero for this window with no exclusion and no span penalty.
    Mismatch,
    /// The file was present and on time but not selected for checking.
    Unchecked,
    /// No file of this miner this window (none, or bytes under its name it did not sign): not
    /// a failure, the window just does not count as active.
    Absent,
}

impl VerdictResult {
    /// Every result.
    pub const ALL: [VerdictResult; 5] = [
        VerdictResult::Pass,
        VerdictResult::Fail,
        VerdictResult::Mismatch,
        VerdictResult::Unchecked,
        VerdictResult::Absent,
    ];

    /// The stable name used in the database, JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictResult::Pass => "pass",
            VerdictResult::Fail => "fail",
            VerdictResult::Mismatch => "mismatch",
            VerdictResult::Unchecked => "unchecked",
            VerdictResult::Absent => "absent",
        }
    }

    /// The result with this [`VerdictResult::as_str`] name.
    pub fn from_name(name: &str) -> Option<VerdictResult> {
        VerdictResult::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// One miner's verdict for one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub hotkey: Hotkey,
    /// The miner's uid when the window was processed (scores use the current metagraph).
    pub uid: u16,
    pub stage: Stage,
    pub result: VerdictResult,
    /// Why it failed (or any note); `None` on a plain pass.
    pub reason: Option<String>,
    pub rollouts_in_file: u64,
    pub rollouts_checked: u64,
    /// Unique completions verified among the checked rollouts.
    pub unique_verified: u64,
    /// Verified unique completions extrapolated to the whole file: the score input.
    pub unique_estimated: u64,
}

/// A miner excluded for windows `from_window <= w < until_window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    pub hotkey: Hotkey,
    pub from_window: u64,
    pub until_window: u64,
    pub reason: String,
}

/// Everything one processed window adds to the state; recorded in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowOutcome {
    pub window: u64,
    /// The challenge beacon's round and randomness that drove the selection.
    pub beacon_round: u64,
    pub randomness: [u8; 32],
    /// When the verdicts were final (seconds since the Unix epoch).
    pub processed_at_unix: u64,
    /// Window files found for this window.
    pub files: u64,
    /// At most one verdict per hotkey.
    pub verdicts: Vec<Verdict>,
    /// Exclusions that this window's failures start.
    pub exclusions: Vec<Exclusion>,
}

//! Scoring and weights (DESIGN.md 3.9): per-miner verified unique completions over a rolling
//! span of windows, capped, raised to a superlinear exponent, shared proportionally, the rest
//! burned, and quantized to the chain's u16 format.
//!
//! Pure functions, exact integer arithmetic: an auditor recomputes the same weights bit for
//! bit from the same records. See [`score`] for a miner's span score and [`normalize`] for
//! shares, burn and quantization. Golden vectors: `weights/vectors/weights.json`.

pub mod config;
pub mod normalize;
pub mod score;

#[cfg(test)]
mod tests;

pub use config::{
    WeightsConfig, DEFAULT_BURN_BPS, DEFAULT_CAP_PER_WINDOW, DEFAULT_EXPONENT,
    DEFAULT_SPAN_WINDOWS, DEFAULT_VERSION_KEY,
};
pub use normalize::{compute_weights, MinerScore, Weights};
pub use score::{MinerRecord, MinerStatus, WindowRecord};

/// Errors of weight computation; each names the offending field or record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    #[error("weights config: {field} must be {limit}")]
    Config { field: &'static str, limit: String },
    #[error("uid {uid} appears more than once in the miner records")]
    DuplicateUid { uid: u16 },
    #[error("hotkey {hotkey} appears under more than one uid")]
    DuplicateHotkey { hotkey: String },
    #[error("miner {hotkey} has the burn uid {uid}")]
    MinerOnBurnUid { uid: u16, hotkey: String },
    #[error("uid {uid} has two records for window {window}")]
    DuplicateWindow { uid: u16, window: u64 },
    #[error(
        "uid {uid} has a record for window {window}, after the current window {current_window}"
    )]
    FutureWindow { uid: u16, window: u64, current_window: u64 },
    #[error("uid {uid}: score does not fit the integer range")]
    Overflow { uid: u16 },
}

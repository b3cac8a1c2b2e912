//! The validator's verification parameters (DESIGN.md 3.8): how much it checks and how much
//! honest numerical drift it tolerates. Every validator of a network should use the same values
//! so that their verdicts agree; transcripts record them so an auditor replays with them too.

use serde::{Deserialize, Serialize};

use crate::codec::Limits;
use crate::commitment::DEFAULT_COMMIT_TOLERANCE;
use crate::error::ProtocolError;
use crate::params::CHALLENGE_POSITIONS;
use crate::sampler::DEFAULT_SAMPLING_TOLERANCE;

/// Default rollouts checked per file: one batch-16 prefill. A miner that forges a fraction `f`
/// of its rollouts escapes one window with probability `(1 − f)^16` (0.19 at `f` = 0.1), and a
/// failure costs it [`DEFAULT_EXCLUSION_WINDOWS`] windows, so forging does not pay.
pub const DEFAULT_ROLLOUTS_CHECKED: u32 = 16;
/// Default miners fully checked per window (the others get an `unchecked` verdict).
pub const DEFAULT_MINERS_CHECKED: u32 = 256;
/// Default sampling misses (a token whose widened CDF interval does not hold `u_t`) allowed per
/// rollout. An honest miss needs drift to move a boundary by more than the tolerance, which
/// fp32 drift (under 1e-6 in probability, measured) does not do; an allowed miss is a free
/// token choice near a boundary for a forger (docs/SECURITY.md), so none is allowed.
pub const DEFAULT_MAX_SAMPLING_MISSES: u32 = 0;
/// Default bound on `|u_t − interval|` of any miss: a miss farther than this from its token's
/// interval is not drift but another token, and fails at once.
pub const DEFAULT_MAX_MISS_DISTANCE: f64 = 1e-3;
/// Default bound on the median over positions of `|claimed − recomputed|` logprob (nats).
/// fp32 drift across batch shapes and threads is about 1e-5; a model that differs (an int8
/// copy) is off by 1e-2 and more at most positions.
pub const DEFAULT_LOGPROB_MEDIAN_MAX: f64 = 1e-3;
/// Default quantile of `|claimed − recomputed|` bounded by [`DEFAULT_LOGPROB_QUANTILE_MAX`].
pub const DEFAULT_LOGPROB_QUANTILE: f64 = 0.95;
/// Default bound on that quantile (nats): allows a few positions of larger drift (CPU vs
/// CUDA near-ties) while a systematically different model still fails.
pub const DEFAULT_LOGPROB_QUANTILE_MAX: f64 = 1e-2;
/// Default windows a failing miner is excluded for, starting with the next window: one
/// scoring span (12 windows), so a failure costs a whole span of score.
pub const DEFAULT_EXCLUSION_WINDOWS: u64 = 12;
/// Default largest window file, in bytes (the decoder's default limit).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;
/// Default seconds after the network's upload deadline that a file still counts as on time
/// (the store's clock against the chain's). Zero: the network's grace period already covers
/// upload latency, and any slack here must be the same on every validator.
pub const DEFAULT_UPLOAD_GRACE_S: u64 = 0;

/// Largest accepted [`VerifyParams::sampling_tolerance`].
pub const MAX_SAMPLING_TOLERANCE: f64 = 10.0 * DEFAULT_SAMPLING_TOLERANCE;
/// Largest accepted [`VerifyParams::max_miss_distance`].
pub const MAX_MISS_DISTANCE_LIMIT: f64 = 10.0 * DEFAULT_MAX_MISS_DISTANCE;
/// Largest accepted [`VerifyParams::logprob_median_max`].
pub const MAX_LOGPROB_MEDIAN: f64 = 10.0 * DEFAULT_LOGPROB_MEDIAN_MAX;
/// Largest accepted [`VerifyParams::logprob_quantile_max`].
pub const MAX_LOGPROB_QUANTILE: f64 = 10.0 * DEFAULT_LOGPROB_QUANTILE_MAX;
/// Largest accepted [`VerifyParams::commit_tolerance`].
pub const MAX_COMMIT_TOLERANCE: f64 = 10.0 * DEFAULT_COMMIT_TOLERANCE;

/// How a validator verifies a window (serde with defaults; see each field).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyParams {
    /// Rollouts per file whose forward pass is checked. Default [`DEFAULT_ROLLOUTS_CHECKED`].
    pub rollouts_checked: u32,
    /// Miners fully checked per window. Default [`DEFAULT_MINERS_CHECKED`].
    pub miners_checked: u32,
    /// `K`: positions per checked rollout whose commitments are checked. Default
    /// [`CHALLENGE_POSITIONS`].
    pub challenge_positions: u32,
    /// Probability mass by which a token's CDF interval is widened. Default
    /// [`DEFAULT_SAMPLING_TOLERANCE`].
    pub sampling_tolerance: f64,
    /// Misses allowed per rollout. Default [`DEFAULT_MAX_SAMPLING_MISSES`].
    pub max_sampling_misses: u32,
    /// Largest distance of a tolerated miss from its interval. Default
    /// [`DEFAULT_MAX_MISS_DISTANCE`].
    pub max_miss_distance: f64,
    /// Bound on the median `|claimed − recomputed|` logprob. Default
    /// [`DEFAULT_LOGPROB_MEDIAN_MAX`].
    pub logprob_median_max: f64,
    /// Quantile (in `(0, 1]`) bounded by `logprob_quantile_max`. Default
    /// [`DEFAULT_LOGPROB_QUANTILE`].
    pub logprob_quantile: f64,
    /// Bound on that quantile. Default [`DEFAULT_LOGPROB_QUANTILE_MAX`].
    pub logprob_quantile_max: f64,
    /// Relative commitment tolerance `τ` (see `commitment`). Default
    /// [`DEFAULT_COMMIT_TOLERANCE`].
    pub commit_tolerance: f64,
    /// Windows a failing miner is excluded for when every candidate is checked; times
    /// `⌈candidates / checked⌉` when fewer are. Default [`DEFAULT_EXCLUSION_WINDOWS`].
    pub exclusion_windows: u64,
    /// Largest window file. Default [`DEFAULT_MAX_FILE_BYTES`].
    pub max_file_bytes: u64,
    /// Slack after the upload deadline, in seconds. Default [`DEFAULT_UPLOAD_GRACE_S`].
    pub upload_grace_s: u64,
}

impl Default for VerifyParams {
    fn default() -> Self {
        Self {
            rollouts_checked: DEFAULT_ROLLOUTS_CHECKED,
            miners_checked: DEFAULT_MINERS_CHECKED,
            challenge_positions: CHALLENGE_POSITIONS as u32,
            sampling_tolerance: DEFAULT_SAMPLING_TOLERANCE,
            max_sampling_misses: DEFAULT_MAX_SAMPLING_MISSES,
            max_miss_distance: DEFAULT_MAX_MISS_DISTANCE,
            logprob_median_max: DEFAULT_LOGPROB_MEDIAN_MAX,
            logprob_quantile: DEFAULT_LOGPROB_QUANTILE,
            logprob_quantile_max: DEFAULT_LOGPROB_QUANTILE_MAX,
            commit_tolerance: DEFAULT_COMMIT_TOLERANCE,
            exclusion_windows: DEFAULT_EXCLUSION_WINDOWS,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            upload_grace_s: DEFAULT_UPLOAD_GRACE_S,
        }
    }
}

impl VerifyParams {
    /// Rejects values that would check nothing or accept anything.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |field: &str, reason: String| ProtocolError::InvalidValue {
            field: field.into(),
            reason,
        };
        for (name, v) in [
            ("rollouts_checked", u64::from(self.rollouts_checked)),
            ("miners_checked", u64::from(self.miners_checked)),
            ("challenge_positions", u64::from(self.challenge_positions)),
            ("exclusion_windows", self.exclusion_windows),
            ("max_file_bytes", self.max_file_bytes),
        ] {
            if v == 0 {
                return Err(bad(name, "must be positive".into()));
            }
        }
        for (name, v) in [
            ("sampling_tolerance", self.sampling_tolerance),
            ("max_miss_distance", self.max_miss_distance),
            ("logprob_median_max", self.logprob_median_max),
            ("logprob_quantile_max", self.logprob_quantile_max),
            ("commit_tolerance", self.commit_tolerance),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(name, format!("{v} is not a finite non-negative number")));
            }
        }
        // Ten times each calibrated default: beyond it a tolerance stops separating the true
        // model from a cheaper one (docs/SECURITY.md measures both sides).
        for (name, v, max) in [
            ("sampling_tolerance", self.sampling_tolerance, MAX_SAMPLING_TOLERANCE),
            ("max_miss_distance", self.max_miss_distance, MAX_MISS_DISTANCE_LIMIT),
            ("logprob_median_max", self.logprob_median_max, MAX_LOGPROB_MEDIAN),
            ("logprob_quantile_max", self.logprob_quantile_max, MAX_LOGPROB_QUANTILE),
            ("commit_tolerance", self.commit_tolerance, MAX_COMMIT_TOLERANCE),
        ] {
            if v > max {
                return Err(bad(
                    name,
                    format!("{v} is above the safe limit {max} (ten times the calibrated default)"),
                ));
            }
        }
        if u64::from(self.challenge_positions) > CHALLENGE_POSITIONS as u64 * 64 {
            return Err(bad(
                "challenge_positions",
                format!(
                    "{} is above the limit {}",
                    self.challenge_positions,
                    CHALLENGE_POSITIONS as u64 * 64
                ),
            ));
        }
        if !(self.logprob_quantile > 0.0 && self.logprob_quantile <= 1.0) {
            return Err(bad(
                "logprob_quantile",
                format!("{} is outside (0, 1]", self.logprob_quantile),
            ));
        }
        Ok(())
    }

    /// The decoder's limits with this file-size bound (the other bounds at their defaults).
    pub fn limits(&self) -> Limits {
        Limits { max_file_bytes: self.max_file_bytes, ..Limits::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fill_missing_fields() {
        VerifyParams::default().validate().unwrap();
        let p: VerifyParams = serde_json::from_str(r#"{"rollouts_checked": 4}"#).unwrap();
        assert_eq!(p.rollouts_checked, 4);
        assert_eq!(p.challenge_positions, 32);
        assert_eq!(p.commit_tolerance, DEFAULT_COMMIT_TOLERANCE);
        assert_eq!(p.limits().max_file_bytes, Limits::default().max_file_bytes);
        assert!(serde_json::from_str::<VerifyParams>(r#"{"positions": 3}"#).is_err());
    }

    #[test]
    fn bad_values_are_rejected() {
        let d = VerifyParams::default();
        for p in [
            VerifyParams { rollouts_checked: 0, ..d },
            VerifyParams { challenge_positions: 0, ..d },
            VerifyParams { sampling_tolerance: f64::NAN, ..d },
            VerifyParams { commit_tolerance: -1.0, ..d },
            VerifyParams { logprob_quantile: 0.0, ..d },
            VerifyParams { logprob_quantile: 1.5, ..d },
            VerifyParams { exclusion_windows: 0, ..d },
            VerifyParams { sampling_tolerance: 0.5, ..d },
            VerifyParams { commit_tolerance: 1.0, ..d },
            VerifyParams { logprob_median_max: 1.0, ..d },
        ] {
            assert!(p.validate().is_err(), "{p:?}");
        }
        let err = VerifyParams { sampling_tolerance: 0.5, ..d }.validate().unwrap_err();
        assert!(err.to_string().contains("sampling_tolerance"), "{err}");
        assert!(err.to_string().contains("0.0001"), "{err}");
    }
}

//! Scoring parameters, with defaults and the limits that keep the integer arithmetic exact.

use serde::{Deserialize, Serialize};

use crate::WeightsError;

/// The burn fraction is given in basis points: `burn_bps / 10_000`.
pub const BPS_DENOMINATOR: u32 = 10_000;
/// Largest u16 weight on chain; the largest emitted weight is always exactly this.
pub const U16_MAX_WEIGHT: u16 = u16::MAX;
/// The most miners a subnet can hold (u16 uids), which bounds the sums.
pub(crate) const MAX_MINERS: u128 = 1 << 16;

/// Default windows in the rolling span.
pub const DEFAULT_SPAN_WINDOWS: u64 = 12;
/// Default unique completions that count per window.
pub const DEFAULT_CAP_PER_WINDOW: u64 = 5000;
/// Default superlinear exponent.
pub const DEFAULT_EXPONENT: u32 = 4;
/// Default burned fraction, in basis points (90 %).
pub const DEFAULT_BURN_BPS: u32 = 9000;
/// Default weights version key.
pub const DEFAULT_VERSION_KEY: u64 = 1;

/// Parameters of scoring and weights (DESIGN.md 3.9).
///
/// Defaults follow the reference subnet (grail-notes section 5): a 12-window span, a cap of
/// 5000 unique completions per window, exponent 4, 90 % burned to uid 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeightsConfig {
    /// Windows in the rolling span, ending with (and including) the current window.
    pub span_windows: u64,
    /// Verified unique completions that count per window; more in one window count as this.
    pub cap_per_window: u64,
    /// Superlinear exponent `p`: a miner's raw score is `U^p`, so `k` hotkeys that split
    /// one miner's volume earn `k^(1-p)` of what it would alone.
    pub exponent: u32,
    /// The uid that receives the burned share.
    pub burn_uid: u16,
    /// Burned fraction in basis points (9000 = 90 %).
    pub burn_bps: u32,
    /// Passed to the chain with the weights.
    pub version_key: u64,
}

impl Default for WeightsConfig {
    fn default() -> Self {
        Self {
            span_windows: DEFAULT_SPAN_WINDOWS,
            cap_per_window: DEFAULT_CAP_PER_WINDOW,
            exponent: DEFAULT_EXPONENT,
            burn_uid: 0,
            burn_bps: DEFAULT_BURN_BPS,
            version_key: DEFAULT_VERSION_KEY,
        }
    }
}

impl WeightsConfig {
    /// `(cap_per_window * span_windows)^exponent`: the raw score of a miner at the cap in
    /// every window, which is also the smallest denominator the shares use.
    pub(crate) fn cap_raw(&self) -> Option<u128> {
        let cap_total =
            u128::from(self.cap_per_window).checked_mul(u128::from(self.span_windows))?;
        cap_total.checked_pow(self.exponent)
    }

    /// Checks every field, and that the largest intermediate of the share and quantization
    /// arithmetic (`2 * 65535 * 10_000 * 65536 * cap_raw`) fits in a u128, so computing weights
    /// can never overflow whatever the miners report.
    pub fn validate(&self) -> Result<(), WeightsError> {
        let bad = |field: &'static str, limit: String| WeightsError::Config { field, limit };
        if self.span_windows == 0 {
            return Err(bad("span_windows", "at least 1".into()));
        }
        if self.cap_per_window == 0 {
            return Err(bad("cap_per_window", "at least 1".into()));
        }
        if self.exponent == 0 {
            return Err(bad("exponent", "at least 1".into()));
        }
        if self.burn_bps > BPS_DENOMINATOR {
            return Err(bad("burn_bps", format!("at most {BPS_DENOMINATOR}")));
        }
        let headroom = 2 * u128::from(U16_MAX_WEIGHT) * u128::from(BPS_DENOMINATOR) * MAX_MINERS;
        if self.cap_raw().and_then(|c| c.checked_mul(headroom)).is_none() {
            return Err(bad(
                "(cap_per_window * span_windows)^exponent",
                format!("at most {} (u128::MAX / {headroom})", u128::MAX / headroom),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        let c = WeightsConfig::default();
        c.validate().expect("defaults are valid");
        assert_eq!(c.cap_raw(), Some(60_000u128.pow(4)));
    }

    #[test]
    fn rejects_bad_fields() {
        let d = WeightsConfig::default();
        for (c, field) in [
            (WeightsConfig { span_windows: 0, ..d }, "span_windows"),
            (WeightsConfig { cap_per_window: 0, ..d }, "cap_per_window"),
            (WeightsConfig { exponent: 0, ..d }, "exponent"),
            (WeightsConfig { burn_bps: 10_001, ..d }, "burn_bps"),
            (WeightsConfig { exponent: 8, ..d }, "(cap_per_window * span_windows)^exponent"),
        ] {
            match c.validate() {
                Err(WeightsError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        WeightsConfig { burn_bps: 10_000, exponent: 5, ..d }.validate().expect("limits ok");
    }

    #[test]
    fn reads_partial_toml_like_json_with_defaults() {
        let c: WeightsConfig = serde_json::from_str(r#"{"burn_bps": 5000}"#).expect("parses");
        assert_eq!(c, WeightsConfig { burn_bps: 5000, ..WeightsConfig::default() });
        assert!(serde_json::from_str::<WeightsConfig>(r#"{"burn": 1}"#).is_err());
    }
}

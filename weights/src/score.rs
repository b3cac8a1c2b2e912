//! A miner's score over the rolling span: gates, per-window cap, extrapolation, exponent.
//!
//! For the span `current - span_windows < w <= current`, with the miner's records in it:
//! - any record with `hard_failure` gives `U = 0` (status `failed`);
//! - no checked record gives `U = 0` (status `unchecked`); no record at all, `inactive`;
//! - otherwise `S = sum over checked records of min(unique, cap_per_window)`, and
//!   `U = floor(S * active / checked)` in integers, where `active` counts the records (files
//!   present) and `checked` the checked ones: checked windows stand in for unchecked ones, and
//!   which windows are checked is unpredictable (DESIGN.md 3.8);
//! - `raw = U^exponent`, an exact u128.
//!
//! `U <= cap_per_window * span_windows` always, so the cap over the span follows.

use serde::{Deserialize, Serialize};

use crate::{WeightsConfig, WeightsError};

/// What the validator recorded for one miner in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRecord {
    pub window: u64,
    /// Verified unique completions, extrapolated from the checked sample to the file.
    pub unique: u64,
    /// A hard verification failure in this window (zeroes the whole span).
    pub hard_failure: bool,
    /// Whether this window's file was checked; `unique` is ignored when it was not.
    pub checked: bool,
}

/// A miner and its window records (a record means its file was present and on time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerRecord {
    pub uid: u16,
    pub hotkey: String,
    pub windows: Vec<WindowRecord>,
}

/// Why a miner got the score it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinerStatus {
    Scored,
    Failed,
    Unchecked,
    Inactive,
}

/// One miner's span score, before normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpanScore {
    pub(crate) status: MinerStatus,
    pub(crate) windows_active: u64,
    pub(crate) windows_checked: u64,
    /// `U`, the extrapolated, capped unique completions over the span.
    pub(crate) unique: u64,
    /// `U^exponent`.
    pub(crate) raw: u128,
}

/// Scores one miner over the span ending at `current_window`. `config` must be validated.
pub(crate) fn span_score(
    miner: &MinerRecord,
    current_window: u64,
    config: &WeightsConfig,
) -> Result<SpanScore, WeightsError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut in_span = Vec::new();
    for rec in &miner.windows {
        if rec.window > current_window {
            return Err(WeightsError::FutureWindow {
                uid: miner.uid,
                window: rec.window,
                current_window,
            });
        }
        if !seen.insert(rec.window) {
            return Err(WeightsError::DuplicateWindow { uid: miner.uid, window: rec.window });
        }
        if current_window - rec.window < config.span_windows {
            in_span.push(rec);
        }
    }
    let active = in_span.len() as u64;
    let checked: Vec<&&WindowRecord> = in_span.iter().filter(|r| r.checked).collect();
    let n_checked = checked.len() as u64;
    let zero = |status| SpanScore {
        status,
        windows_active: active,
        windows_checked: n_checked,
        unique: 0,
        raw: 0,
    };
    if in_span.iter().any(|r| r.hard_failure) {
        return Ok(zero(MinerStatus::Failed));
    }
    if active == 0 {
        return Ok(zero(MinerStatus::Inactive));
    }
    if n_checked == 0 {
        return Ok(zero(MinerStatus::Unchecked));
    }
    // Each term <= cap and there are at most span terms; validate() bounds cap * span.
    let sum: u128 = checked.iter().map(|r| u128::from(r.unique.min(config.cap_per_window))).sum();
    let unique = sum * u128::from(active) / u128::from(n_checked);
    let unique = u64::try_from(unique).map_err(|_| WeightsError::Overflow { uid: miner.uid })?;
    let raw = u128::from(unique)
        .checked_pow(config.exponent)
        .ok_or(WeightsError::Overflow { uid: miner.uid })?;
    Ok(SpanScore {
        status: MinerStatus::Scored,
        windows_active: active,
        windows_checked: n_checked,
        unique,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(window: u64, unique: u64, checked: bool) -> WindowRecord {
        WindowRecord { window, unique, hard_failure: false, checked }
    }

    fn miner(windows: Vec<WindowRecord>) -> MinerRecord {
        MinerRecord { uid: 3, hotkey: "hk".into(), windows }
    }

    fn score(windows: Vec<WindowRecord>) -> SpanScore {
        span_score(&miner(windows), 100, &WeightsConfig::default()).expect("valid")
    }

    #[test]
    fn caps_each_window() {
        let s = score(vec![rec(100, 9000, true), rec(99, 100, true)]);
        assert_eq!(s.unique, 5000 + 100);
        assert_eq!(s.raw, 5100u128.pow(4));
        let full: Vec<WindowRecord> = (89..=100).map(|w| rec(w, u64::MAX, true)).collect();
        assert_eq!(score(full).unique, 60_000, "the span total is capped too");
    }

    #[test]
    fn span_excludes_old_windows() {
        let s = score(vec![rec(88, 4000, true), rec(89, 10, true)]);
        assert_eq!((s.unique, s.windows_active), (10, 1));
    }

    #[test]
    fn extrapolates_checked_to_active_windows_with_floor() {
        // 3 active, 2 checked: (100 + 201) * 3 / 2 = 451.5 -> 451.
        let s = score(vec![rec(100, 100, true), rec(99, 201, true), rec(98, 5000, false)]);
        assert_eq!((s.unique, s.windows_checked, s.windows_active), (451, 2, 3));
    }

    #[test]
    fn failure_anywhere_in_span_zeroes() {
        let mut windows: Vec<WindowRecord> = (89..=100).map(|w| rec(w, 5000, true)).collect();
        windows[0].hard_failure = true;
        let s = score(windows.clone());
        assert_eq!((s.status, s.unique, s.raw), (MinerStatus::Failed, 0, 0));
        windows[0].window = 88;
        assert_eq!(score(windows).status, MinerStatus::Scored, "old failures expire");
    }

    #[test]
    fn gates() {
        assert_eq!(score(vec![]).status, MinerStatus::Inactive);
        assert_eq!(score(vec![rec(100, 50, false)]).status, MinerStatus::Unchecked);
        assert_eq!(score(vec![rec(100, 0, true)]).status, MinerStatus::Scored);
    }

    #[test]
    fn rejects_bad_records() {
        let c = WeightsConfig::default();
        let err = span_score(&miner(vec![rec(101, 1, true)]), 100, &c).expect_err("future");
        assert!(matches!(err, WeightsError::FutureWindow { window: 101, .. }));
        let err = span_score(&miner(vec![rec(9, 1, true), rec(9, 2, true)]), 100, &c)
            .expect_err("duplicate");
        assert!(matches!(err, WeightsError::DuplicateWindow { window: 9, .. }));
    }
}

//! Shares, burn and u16 quantization, in exact integer arithmetic.
//!
//! With `raw_i = U_i^p` (see [`crate::score`]), `cap_raw = (cap_per_window * span)^p`,
//! `B = 10_000` and `keep = B - burn_bps`, every share is a fraction over one denominator
//! `B * D`, `D = max(sum raw_i, cap_raw)`:
//! - miner `i`: `n_i = keep * raw_i` (its relative score `raw_i / cap_raw`, scaled down when
//!   the relative scores sum above 1, times the miners' part `keep / B`);
//! - burn uid: `n_burn = B * D - keep * sum raw_i` (the burn fraction, plus whatever the
//!   miners leave unclaimed; everything when no miner scores).
//!
//! Chain weights are max-upscaled: with `M = max n_j`, `w_j = floor((2 * 65535 * n_j + M) /
//! (2 * M))`, i.e. `65535 * n_j / M` rounded half up, so the largest weight is exactly 65535.
//! Entries whose weight rounds to 0 are left out (as the chain's own client does), and the
//! rest are sorted by uid. Every step is u128 integer arithmetic; [`WeightsConfig::validate`]
//! proves it cannot overflow. The f64 shares are for display: `n_j / (B * D)` reduced by
//! their gcd, each side rounded to the nearest f64, then one division.

use serde::{Deserialize, Serialize};

use crate::config::{BPS_DENOMINATOR, U16_MAX_WEIGHT};
use crate::score::{span_score, MinerRecord, MinerStatus};
use crate::{WeightsConfig, WeightsError};

/// One miner's score and share, for display and audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinerScore {
    pub uid: u16,
    pub hotkey: String,
    pub status: MinerStatus,
    pub windows_active: u64,
    pub windows_checked: u64,
    /// `U`: extrapolated, capped unique completions over the span.
    pub unique: u64,
    /// Share of emissions in `[0, 1]` (display only; `weights` is authoritative).
    pub share: f64,
}

/// Weights in the chain's format, plus what led to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// Uids with a nonzero weight, ascending.
    pub uids: Vec<u16>,
    /// u16 weights, max-upscaled so the largest is 65535, aligned with `uids`.
    pub weights: Vec<u16>,
    pub version_key: u64,
    /// The burn uid's share of emissions (display only).
    pub burn_share: f64,
    /// Every input miner, ascending by uid.
    pub miners: Vec<MinerScore>,
}

/// Computes the weights for the span ending at `current_window`.
///
/// Fails on an invalid config, on duplicate uids or hotkeys, on a miner at the burn uid, and on
/// window records that are duplicated or later than `current_window`.
pub fn compute_weights(
    config: &WeightsConfig,
    current_window: u64,
    miners: &[MinerRecord],
) -> Result<Weights, WeightsError> {
    config.validate()?;
    let mut sorted: Vec<&MinerRecord> = miners.iter().collect();
    sorted.sort_by_key(|m| m.uid);
    check_unique(&sorted, config.burn_uid)?;

    let scores = sorted
        .iter()
        .map(|m| span_score(m, current_window, config))
        .collect::<Result<Vec<_>, _>>()?;
    // validate() bounds cap_raw * 2^16 * B * 2 * 65535 within u128, and raw_i <= cap_raw.
    let cap_raw = config.cap_raw().ok_or(WeightsError::Config {
        field: "(cap_per_window * span_windows)^exponent",
        limit: "fits in u128".into(),
    })?;
    let b = u128::from(BPS_DENOMINATOR);
    let keep = b - u128::from(config.burn_bps);
    let sum_raw: u128 = scores.iter().map(|s| s.raw).sum();
    let denom = b * sum_raw.max(cap_raw);
    let n_burn = denom - keep * sum_raw;
    let n_miners: Vec<u128> = scores.iter().map(|s| keep * s.raw).collect();

    let max = n_miners.iter().copied().fold(n_burn, u128::max);
    let quantize = |n: u128| -> u16 {
        let w = (2 * u128::from(U16_MAX_WEIGHT) * n + max) / (2 * max);
        // w <= 65535 because n <= max.
        u16::try_from(w).unwrap_or(U16_MAX_WEIGHT)
    };
    let mut entries: Vec<(u16, u16)> = sorted
        .iter()
        .zip(&n_miners)
        .map(|(m, &n)| (m.uid, quantize(n)))
        .chain(std::iter::once((config.burn_uid, quantize(n_burn))))
        .filter(|&(_, w)| w > 0)
        .collect();
    entries.sort_by_key(|&(uid, _)| uid);

    let share = |n: u128| {
        // Reduce first, so that shares like 9/10 come out as the nearest f64 to 0.9.
        let g = gcd(n, denom);
        (n / g) as f64 / (denom / g) as f64
    };
    let miners = sorted
        .iter()
        .zip(scores)
        .zip(&n_miners)
        .map(|((m, s), &n)| MinerScore {
            uid: m.uid,
            hotkey: m.hotkey.clone(),
            status: s.status,
            windows_active: s.windows_active,
            windows_checked: s.windows_checked,
            unique: s.unique,
            share: share(n),
        })
        .collect();
    Ok(Weights {
        uids: entries.iter().map(|e| e.0).collect(),
        weights: entries.iter().map(|e| e.1).collect(),
        version_key: config.version_key,
        burn_share: share(n_burn),
        miners,
    })
}

fn check_unique(sorted: &[&MinerRecord], burn_uid: u16) -> Result<(), WeightsError> {
    if let Some(w) = sorted.windows(2).find(|w| w[0].uid == w[1].uid) {
        return Err(WeightsError::DuplicateUid { uid: w[0].uid });
    }
    let mut hotkeys = std::collections::BTreeSet::new();
    for m in sorted {
        if m.uid == burn_uid {
            return Err(WeightsError::MinerOnBurnUid { uid: m.uid, hotkey: m.hotkey.clone() });
        }
        if !hotkeys.insert(m.hotkey.as_str()) {
            return Err(WeightsError::DuplicateHotkey { hotkey: m.hotkey.clone() });
        }
    }
    Ok(())
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

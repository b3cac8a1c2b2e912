//! How many miners the validator fully checks per window, sized so that verifying a window
//! takes at most a fraction of the window's length on the machine it runs on.
//!
//! Verifying a window costs a fixed part (the weights' fingerprint, reading every file, the
//! cheap checks of unselected ones) plus a part per fully checked miner. Both are measured on
//! every window: the next window checks
//! `clamp(floor((fraction · window_s − fixed_s) / per_miner_s), floor, cap)` miners, where `cap`
//! is `--verify.miners` and `floor` is `--verify.min-miners`. A slower window raises an
//! estimate at once; a faster one lowers it by half the difference, so a validator that slowed
//! down stops falling behind on the next window and one that sped up takes on more gradually.
//! Before anything is measured (the first window after a start) the cap is checked, so a
//! restart never checks fewer miners than the machine can; on a machine too slow for the cap
//! that one window runs long, and the windows after it, sized to the budget, catch up.
//!
//! Which miners are checked still comes from the challenge beacon alone
//! ([`crate::pipeline::select`]); the count each window used is in its transcript's
//! `verify.miners_checked`, so a replay checks the same miners.

use serde::Serialize;

/// Default fraction of the window's length that verifying a window may take. The rest is
/// headroom for waiting on the store, the chain and the beacons, and for windows slower
/// than the estimate.
pub const DEFAULT_PACE_FRACTION: f64 = 0.75;

/// Default fewest miners fully checked per window, however slow the machine.
pub const DEFAULT_MIN_MINERS: u32 = 16;

/// How the count is sized; see `grail-validator run --help`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceConfig {
    /// Fraction of the window's length verification may take; 0 turns pacing off (every window
    /// checks `cap`).
    pub fraction: f64,
    /// Fewest miners checked.
    pub floor: u32,
    /// Most miners checked (`VerifyParams::miners_checked` of the configuration).
    pub cap: u32,
    /// The window's length in seconds (`blocks_per_window × block_time_s`).
    pub window_s: f64,
}

/// The miners a budget of `budget_s` seconds affords, at `fixed_s` per window and `per_miner_s`
/// per checked miner (0 when the fixed part alone exceeds the budget).
pub fn miners_affordable(budget_s: f64, fixed_s: f64, per_miner_s: f64) -> u64 {
    let spare = budget_s - fixed_s.max(0.0);
    if !spare.is_finite() || spare <= 0.0 {
        return 0;
    }
    if !per_miner_s.is_finite() || per_miner_s <= 0.0 {
        return u64::MAX;
    }
    // Float to integer casts saturate.
    (spare / per_miner_s).floor() as u64
}

/// The estimates so far and the count they give.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PaceEstimate {
    /// Miners the next window checks.
    pub miners: u32,
    /// Estimated seconds per fully checked miner (none before a window checked one).
    pub per_miner_s: Option<f64>,
    /// Estimated fixed seconds per window (none before a window was verified).
    pub fixed_s: Option<f64>,
    /// Seconds verification may take (`fraction × window_s`).
    pub budget_s: f64,
}

/// The running estimates of one validator.
#[derive(Debug, Clone)]
pub struct Pace {
    config: PaceConfig,
    per_miner_s: Option<f64>,
    fixed_s: Option<f64>,
}

/// Moves `estimate` to `seen`: at once when `seen` is larger, by half the way when smaller.
fn track(estimate: Option<f64>, seen: f64) -> f64 {
    match estimate {
        Some(e) if seen < e => e - (e - seen) / 2.0,
        _ => seen,
    }
}

impl Pace {
    pub fn new(config: PaceConfig) -> Self {
        Self { config, per_miner_s: None, fixed_s: None }
    }

    /// Miners the next window fully checks.
    pub fn miners(&self) -> u32 {
        self.estimate().miners
    }

    /// The count with the estimates behind it.
    pub fn estimate(&self) -> PaceEstimate {
        let c = &self.config;
        let budget_s = c.fraction * c.window_s;
        let floor = c.floor.min(c.cap);
        let miners = if c.fraction <= 0.0 {
            c.cap
        } else {
            match self.per_miner_s {
                None => c.cap,
                Some(per) => {
                    let n = miners_affordable(budget_s, self.fixed_s.unwrap_or(0.0), per);
                    u32::try_from(n).unwrap_or(u32::MAX).clamp(floor, c.cap)
                }
            }
        };
        PaceEstimate { miners, per_miner_s: self.per_miner_s, fixed_s: self.fixed_s, budget_s }
    }

    /// Takes in a verified window: `total_s` seconds in all, `checked_s` of them on the
    /// `checked` fully checked miners. Values that are not finite are ignored.
    pub fn observe(&mut self, checked: usize, checked_s: f64, total_s: f64) {
        if !(checked_s.is_finite() && total_s.is_finite()) {
            return;
        }
        let checked_s = checked_s.max(0.0);
        self.fixed_s = Some(track(self.fixed_s, (total_s - checked_s).max(0.0)));
        if checked > 0 {
            self.per_miner_s = Some(track(self.per_miner_s, checked_s / checked as f64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(fraction: f64, floor: u32, cap: u32) -> Pace {
        Pace::new(PaceConfig { fraction, floor, cap, window_s: 360.0 })
    }

    #[test]
    fn affordable_counts_the_spare_budget() {
        assert_eq!(miners_affordable(270.0, 10.0, 2.6), 100);
        assert_eq!(miners_affordable(270.0, 270.0, 1.0), 0);
        assert_eq!(miners_affordable(270.0, 300.0, 1.0), 0);
        assert_eq!(miners_affordable(270.0, 0.0, 0.0), u64::MAX);
        assert_eq!(miners_affordable(f64::NAN, 0.0, 1.0), 0);
        assert_eq!(miners_affordable(270.0, -5.0, 27.0), 10);
    }

    #[test]
    fn starts_at_the_cap_then_follows_measurements_within_bounds() {
        let mut p = pace(0.75, 16, 256);
        assert_eq!(p.miners(), 256);
        // 16 miners in 40 s plus 10 s fixed: 2.5 s each, (270 − 10) / 2.5 = 104.
        p.observe(16, 40.0, 50.0);
        assert_eq!(p.miners(), 104);
        let e = p.estimate();
        assert_eq!((e.per_miner_s, e.fixed_s, e.budget_s), (Some(2.5), Some(10.0), 270.0));
        // Much faster: the cap.
        p.observe(104, 0.104, 10.104);
        p.observe(104, 0.104, 10.104);
        p.observe(104, 0.104, 10.104);
        assert!(p.estimate().per_miner_s.is_some_and(|s| s < 0.5));
        // A slow machine: never below the floor.
        p.observe(16, 16_000.0, 16_010.0);
        assert_eq!(p.miners(), 16);
        p.observe(1, 1e9, 1e9);
        assert_eq!(p.miners(), 16);
    }

    #[test]
    fn slows_down_at_once_and_speeds_up_by_halves() {
        let mut p = pace(0.75, 1, 1000);
        p.observe(10, 20.0, 20.0);
        assert_eq!(p.miners(), 135);
        p.observe(10, 40.0, 40.0);
        assert_eq!(p.estimate().per_miner_s, Some(4.0));
        p.observe(10, 20.0, 20.0);
        assert_eq!(p.estimate().per_miner_s, Some(3.0));
        assert_eq!(p.miners(), 90);
        // A window that checked nobody changes only the fixed part.
        p.observe(0, 0.0, 5.0);
        assert_eq!(p.estimate().per_miner_s, Some(3.0));
        assert_eq!(p.estimate().fixed_s, Some(5.0));
        p.observe(10, f64::NAN, 1.0);
        assert_eq!(p.estimate().per_miner_s, Some(3.0));
    }

    #[test]
    fn off_checks_the_cap_and_a_floor_above_the_cap_is_the_cap() {
        let mut p = pace(0.0, 16, 256);
        p.observe(16, 1e6, 1e6);
        assert_eq!(p.miners(), 256);
        let mut p = pace(0.75, 64, 8);
        assert_eq!(p.miners(), 8);
        p.observe(8, 1e6, 1e6);
        assert_eq!(p.miners(), 8);
    }
}

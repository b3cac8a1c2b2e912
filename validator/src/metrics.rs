//! The validator's Prometheus metrics, recorded through the `metrics` crate into a recorder of
//! its own (`metrics-exporter-prometheus`, not installed globally, so two validators in one
//! process keep apart) and rendered for `GET /metrics` with the process's own metrics.
//!
//! Counters restart from zero with the process, as Prometheus expects; history lives in the
//! state database. Per-miner gauges carry `uid` and `hotkey` labels and describe the latest
//! window (verdict, stage) and the latest weights (share, u16 weight).

use std::collections::BTreeSet;

use metrics::{counter, gauge, histogram, Label, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::state::{Stage, SubmissionStatus, VerdictResult, WindowOutcome};
use grail_weights::Weights;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the window verification histogram. A window lasts about 6
/// minutes and the target is 5 % of it, so the interesting range is 1 s to a few minutes.
const WINDOW_BUCKETS: [f64; 12] =
    [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0];

/// Upper bounds (seconds) of the per-stage histogram: one miner's file through one stage.
const STAGE_BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

const WINDOW_SECONDS: &str = "grail_validator_window_verification_seconds";
const STAGE_SECONDS: &str = "grail_validator_stage_seconds";

/// Every verdict result, for the one-hot per-miner gauge.
const RESULTS: [VerdictResult; 5] = [
    VerdictResult::Pass,
    VerdictResult::Fail,
    VerdictResult::Mismatch,
    VerdictResult::Unchecked,
    VerdictResult::Absent,
];

/// What the validator counts, and the recorder that holds it.
pub struct Metrics {
    recorder: PrometheusRecorder,
    process: metrics_process::Collector,
    /// `(uid, hotkey)` of every miner given per-miner gauges, to zero those that leave.
    miners: BTreeSet<(u16, String)>,
    last_window: Option<u64>,
    chain_window: Option<u64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("miners", &self.miners.len())
            .field("last_window", &self.last_window)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family declared, no sample yet.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(WINDOW_SECONDS.into()), &WINDOW_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(STAGE_SECONDS.into()), &STAGE_BUCKETS)
            })
            .map(PrometheusBuilder::build_recorder)
            // Only an empty bucket list is refused, and these are constants.
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let process = metrics_process::Collector::default();
        let m = Self {
            recorder,
            process,
            miners: BTreeSet::new(),
            last_window: None,
            chain_window: None,
        };
        m.with(|| {
            describe();
            m.process.describe();
            // Every label of the counters that may stay at zero, so that their series exist
            // (and `increase()` works) before the first event.
            for source in ["beacon", "store", "chain", "disk"] {
                counter!("grail_validator_errors_total", "source" => source).absolute(0);
            }
            for status in ["sent", "included", "failed", "dropped"] {
                counter!("grail_validator_weight_submissions_total", "status" => status)
                    .absolute(0);
            }
            for reason in ["not_attributable", "unreadable", "after_cutoff", "read_budget"] {
                counter!("grail_validator_store_objects_ignored_total", "reason" => reason)
                    .absolute(0);
            }
        });
        m
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Counts a committed window, its verdicts and checked rollouts, and how long verifying
    /// it took (wall seconds; negative or NaN values count as 0); sets each miner's verdict
    /// gauges (miners no longer in the window go to 0).
    pub fn observe_window(&mut self, outcome: &WindowOutcome, verification_seconds: f64) {
        let secs = if verification_seconds >= 0.0 { verification_seconds } else { 0.0 };
        self.last_window = Some(self.last_window.map_or(outcome.window, |w| w.max(outcome.window)));
        let now: BTreeSet<(u16, String)> =
            outcome.verdicts.iter().map(|v| (v.uid, v.hotkey.to_ss58())).collect();
        let gone: Vec<(u16, String)> = self.miners.difference(&now).cloned().collect();
        self.with(|| {
            counter!("grail_validator_windows_processed_total").increment(1);
            histogram!(WINDOW_SECONDS).record(secs);
            for v in &outcome.verdicts {
                counter!("grail_validator_rollouts_checked_total").increment(v.rollouts_checked);
                counter!(
                    "grail_validator_verdicts_total",
                    "stage" => v.stage.as_str(),
                    "result" => v.result.as_str()
                )
                .increment(1);
                let hotkey = v.hotkey.to_ss58();
                let of = |extra| miner_labels(v.uid, &hotkey, extra);
                for r in RESULTS {
                    let on = if r == v.result { 1.0 } else { 0.0 };
                    gauge!("grail_validator_miner_verdict", of(Some(("result", r.as_str()))))
                        .set(on);
                }
                for s in Stage::ALL {
                    let on = if s == v.stage { 1.0 } else { 0.0 };
                    gauge!("grail_validator_miner_stage", of(Some(("stage", s.as_str())))).set(on);
                }
                gauge!("grail_validator_miner_rollouts_checked", of(None))
                    .set(v.rollouts_checked as f64);
                gauge!("grail_validator_miner_unique_rollouts", of(None))
                    .set(v.unique_estimated as f64);
            }
            for (uid, hotkey) in &gone {
                let of = |extra| miner_labels(*uid, hotkey, extra);
                for r in RESULTS {
                    gauge!("grail_validator_miner_verdict", of(Some(("result", r.as_str()))))
                        .set(0.0);
                }
                for s in Stage::ALL {
                    gauge!("grail_validator_miner_stage", of(Some(("stage", s.as_str())))).set(0.0);
                }
            }
        });
        self.miners.extend(now);
        self.set_windows();
    }

    /// Counts completion positions checked by the forward pass.
    pub fn observe_tokens(&mut self, tokens: u64) {
        self.with(|| counter!("grail_validator_tokens_checked_total").increment(tokens));
    }

    /// Records how long one miner's file took through `stage` (`header`, `signatures`,
    /// `rollouts`, `forward`, `reward`).
    pub fn observe_stage(&mut self, stage: &'static str, seconds: f64) {
        self.with(|| histogram!(STAGE_SECONDS, "stage" => stage).record(seconds.max(0.0)));
    }

    /// Sets each miner's share and u16 weight, and the burn share, from the latest weights.
    pub fn observe_weights(&mut self, weights: &Weights) {
        self.with(|| {
            gauge!("grail_validator_burn_share").set(weights.burn_share);
            for m in &weights.miners {
                let u16_weight = weights
                    .uids
                    .iter()
                    .position(|&u| u == m.uid)
                    .and_then(|i| weights.weights.get(i))
                    .copied()
                    .unwrap_or(0);
                gauge!("grail_validator_miner_share", miner_labels(m.uid, &m.hotkey, None))
                    .set(m.share);
                gauge!("grail_validator_miner_weight", miner_labels(m.uid, &m.hotkey, None))
                    .set(f64::from(u16_weight));
            }
        });
    }

    /// Counts an object under a registered miner's key that was not taken as its file.
    pub fn observe_ignored(&mut self, reason: &'static str) {
        self.with(|| {
            counter!("grail_validator_store_objects_ignored_total", "reason" => reason).increment(1)
        });
    }

    /// Counts an attempt at putting weights on chain by its status (`sent` when it left).
    pub fn observe_submission(&mut self, status: SubmissionStatus) {
        let label = match status {
            SubmissionStatus::Sent => "sent",
            SubmissionStatus::Included => "included",
            SubmissionStatus::Failed => "failed",
            SubmissionStatus::Dropped => "dropped",
        };
        self.with(|| {
            counter!("grail_validator_weight_submissions_total", "status" => label).increment(1)
        });
    }

    /// Counts an error the validator retries, by where it came from (`beacon`, `store`,
    /// `chain`, `disk`).
    pub fn observe_error(&mut self, source: &'static str) {
        self.with(|| counter!("grail_validator_errors_total", "source" => source).increment(1));
    }

    /// Sets the pacing gauges: miners the next window checks, and the estimated seconds per
    /// checked miner (left unset before one was measured).
    pub fn observe_pace(&mut self, miners: u32, per_miner_s: Option<f64>) {
        self.with(|| {
            gauge!("grail_validator_miners_to_check").set(f64::from(miners));
            if let Some(s) = per_miner_s {
                gauge!("grail_validator_seconds_per_checked_miner").set(s);
            }
        });
    }

    /// Records the chain's current window.
    pub fn observe_chain_window(&mut self, window: u64) {
        self.chain_window = Some(window);
        self.set_windows();
    }

    fn set_windows(&self) {
        self.with(|| {
            if let Some(w) = self.chain_window {
                gauge!("grail_validator_chain_window").set(w as f64);
            }
            if let Some(w) = self.last_window {
                gauge!("grail_validator_last_processed_window").set(w as f64);
            }
            if let (Some(chain), Some(last)) = (self.chain_window, self.last_window) {
                gauge!("grail_validator_lag_windows").set(chain.saturating_sub(last) as f64);
            }
        });
    }

    /// The text exposition of every metric, the process's read now.
    pub fn render(&self) -> String {
        self.with(|| self.process.collect());
        self.recorder.handle().render()
    }
}

/// `uid` and `hotkey`, and `extra` if given.
fn miner_labels(uid: u16, hotkey: &str, extra: Option<(&'static str, &'static str)>) -> Vec<Label> {
    let mut labels =
        vec![Label::new("uid", uid.to_string()), Label::new("hotkey", hotkey.to_owned())];
    labels.extend(extra.map(|(k, v)| Label::new(k, v)));
    labels
}

/// The help text and unit of every family.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "grail_validator_windows_processed_total",
        "Windows whose verdicts were committed."
    );
    describe_counter!(
        "grail_validator_rollouts_checked_total",
        "Rollouts checked, over all miners and windows."
    );
    describe_counter!(
        "grail_validator_tokens_checked_total",
        "Completion positions checked by the forward pass."
    );
    describe_counter!(
        "grail_validator_verdicts_total",
        "Per-miner window verdicts, by the stage reached and the result."
    );
    describe_counter!(
        "grail_validator_store_objects_ignored_total",
        "Reads of a registered miner's key not taken as its file, by reason."
    );
    describe_counter!(
        "grail_validator_weight_submissions_total",
        "Attempts at putting weights on chain, by status: sent, then included, failed or dropped."
    );
    describe_counter!(
        "grail_validator_errors_total",
        "Errors retried, by source: beacon, store, chain, disk."
    );
    describe_gauge!(
        "grail_validator_miners_to_check",
        "Miners the next window fully checks, sized from the measured pace."
    );
    describe_gauge!(
        "grail_validator_seconds_per_checked_miner",
        Unit::Seconds,
        "Estimated wall seconds to fully check one miner's file."
    );
    describe_histogram!(
        WINDOW_SECONDS,
        Unit::Seconds,
        "Wall seconds to verify one window, all miners."
    );
    describe_histogram!(
        STAGE_SECONDS,
        Unit::Seconds,
        "Wall seconds of one miner's file through one stage."
    );
    describe_gauge!(
        "grail_validator_last_processed_window",
        "The latest window committed since the process started."
    );
    describe_gauge!("grail_validator_chain_window", "The chain's current window, as last read.");
    describe_gauge!(
        "grail_validator_lag_windows",
        "Windows between the chain's current window and the latest committed."
    );
    describe_gauge!("grail_validator_burn_share", "The burn uid's share in the latest weights.");
    describe_gauge!(
        "grail_validator_miner_verdict",
        "1 for the miner's verdict result in the latest window, 0 for the others."
    );
    describe_gauge!(
        "grail_validator_miner_stage",
        "1 for the stage the miner's latest verdict reached, 0 for the others."
    );
    describe_gauge!(
        "grail_validator_miner_rollouts_checked",
        "Rollouts of the miner checked in the latest window."
    );
    describe_gauge!(
        "grail_validator_miner_unique_rollouts",
        "The miner's estimated unique rollouts in the latest window."
    );
    describe_gauge!(
        "grail_validator_miner_share",
        "The miner's share of emissions in the latest weights."
    );
    describe_gauge!(
        "grail_validator_miner_weight",
        "The miner's u16 weight in the latest weights (65535 the largest)."
    );
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;

//! The validator's Prometheus metrics, rendered by hand in the text exposition format 0.0.4
//! (`# HELP` and `# TYPE` before each family's samples).
//!
//! Counters restart from zero with the process, as Prometheus expects; history lives in the
//! state database.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::state::{Stage, SubmissionStatus, VerdictResult, WindowOutcome};

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the verification-time histogram. A window lasts about 6 minutes
/// and the target is 5 % of it, so the interesting range is 1 s to a few minutes.
const SECONDS_BUCKETS: [f64; 12] =
    [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0];

/// Counters and a histogram, fed once per committed window.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    windows_processed: u64,
    rollouts_checked: u64,
    verdicts: BTreeMap<(Stage, VerdictResult), u64>,
    /// Per bucket, not cumulative; the last is `+Inf`.
    seconds_counts: [u64; SECONDS_BUCKETS.len() + 1],
    seconds_sum: f64,
    last_window: Option<u64>,
    ignored: BTreeMap<&'static str, u64>,
    submissions: BTreeMap<&'static str, u64>,
}

impl Metrics {
    /// Counts a committed window, its verdicts and checked rollouts, and how long verifying
    /// it took (wall seconds; negative or NaN values count as 0).
    pub fn observe_window(&mut self, outcome: &WindowOutcome, verification_seconds: f64) {
        self.windows_processed += 1;
        for v in &outcome.verdicts {
            self.rollouts_checked += v.rollouts_checked;
            *self.verdicts.entry((v.stage, v.result)).or_default() += 1;
        }
        let secs = if verification_seconds >= 0.0 { verification_seconds } else { 0.0 };
        let bucket = SECONDS_BUCKETS.iter().position(|&le| secs <= le);
        self.seconds_counts[bucket.unwrap_or(SECONDS_BUCKETS.len())] += 1;
        self.seconds_sum += secs;
        self.last_window = Some(self.last_window.map_or(outcome.window, |w| w.max(outcome.window)));
    }

    /// Counts an object under a registered miner's key that was not taken as its file.
    pub fn observe_ignored(&mut self, reason: &'static str) {
        *self.ignored.entry(reason).or_default() += 1;
    }

    /// Counts an attempt at putting weights on chain by its status (`sent` when it left).
    pub fn observe_submission(&mut self, status: SubmissionStatus) {
        let label = match status {
            SubmissionStatus::Sent => "sent",
            SubmissionStatus::Included => "included",
            SubmissionStatus::Failed => "failed",
            SubmissionStatus::Dropped => "dropped",
        };
        *self.submissions.entry(label).or_default() += 1;
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "grail_validator_windows_processed_total",
            "counter",
            "Windows whose verdicts were committed.",
        );
        sample(&mut out, "grail_validator_windows_processed_total", "", self.windows_processed);
        family(
            &mut out,
            "grail_validator_rollouts_checked_total",
            "counter",
            "Rollouts checked, over all miners and windows.",
        );
        sample(&mut out, "grail_validator_rollouts_checked_total", "", self.rollouts_checked);
        family(
            &mut out,
            "grail_validator_verdicts_total",
            "counter",
            "Per-miner window verdicts, by the stage reached and the result.",
        );
        for ((stage, result), n) in &self.verdicts {
            let labels = format!("{{stage=\"{}\",result=\"{}\"}}", stage.as_str(), result.as_str());
            sample(&mut out, "grail_validator_verdicts_total", &labels, n);
        }
        family(
            &mut out,
            "grail_validator_store_objects_ignored_total",
            "counter",
            "Reads of a registered miner's key not taken as its file, by reason.",
        );
        for (reason, n) in &self.ignored {
            let labels = format!("{{reason=\"{reason}\"}}");
            sample(&mut out, "grail_validator_store_objects_ignored_total", &labels, n);
        }
        family(
            &mut out,
            "grail_validator_weight_submissions_total",
            "counter",
            "Attempts at putting weights on chain, by status: sent, then included, failed or dropped.",
        );
        for (status, n) in &self.submissions {
            let labels = format!("{{status=\"{status}\"}}");
            sample(&mut out, "grail_validator_weight_submissions_total", &labels, n);
        }
        self.render_histogram(&mut out);
        family(
            &mut out,
            "grail_validator_last_processed_window",
            "gauge",
            "The latest window committed since the process started.",
        );
        if let Some(w) = self.last_window {
            sample(&mut out, "grail_validator_last_processed_window", "", w);
        }
        out
    }

    fn render_histogram(&self, out: &mut String) {
        let name = "grail_validator_window_verification_seconds";
        family(out, name, "histogram", "Wall seconds to verify one window, all miners.");
        let mut cumulative = 0u64;
        for (i, n) in self.seconds_counts.iter().enumerate() {
            cumulative += n;
            let le = SECONDS_BUCKETS.get(i).map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            sample(out, &format!("{name}_bucket"), &format!("{{le=\"{le}\"}}"), cumulative);
        }
        sample(out, &format!("{name}_sum"), "", self.seconds_sum);
        sample(out, &format!("{name}_count"), "", cumulative);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Verdict;
    use grail_protocol::keys::Hotkey;

    fn outcome(window: u64, verdicts: &[(Stage, VerdictResult, u64)]) -> WindowOutcome {
        let verdicts = verdicts
            .iter()
            .enumerate()
            .map(|(i, &(stage, result, checked))| Verdict {
                hotkey: Hotkey([i as u8; 32]),
                uid: i as u16 + 1,
                stage,
                result,
                reason: None,
                rollouts_in_file: 64,
                rollouts_checked: checked,
                unique_verified: 0,
                unique_estimated: 0,
            })
            .collect();
        WindowOutcome {
            window,
            beacon_round: 1,
            randomness: [0; 32],
            processed_at_unix: 0,
            files: 0,
            verdicts,
            exclusions: vec![],
        }
    }

    /// Sample lines as (name with labels, value).
    fn samples(text: &str) -> BTreeMap<String, String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("name value");
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn counts_windows_verdicts_and_rollouts() {
        let mut m = Metrics::default();
        use {Stage as S, VerdictResult as R};
        m.observe_window(
            &outcome(7, &[(S::Duplicates, R::Pass, 8), (S::Logprobs, R::Fail, 8)]),
            0.3,
        );
        m.observe_window(
            &outcome(8, &[(S::Duplicates, R::Pass, 5), (S::File, R::Absent, 0)]),
            42.0,
        );
        let s = samples(&m.render());
        assert_eq!(s["grail_validator_windows_processed_total"], "2");
        assert_eq!(s["grail_validator_rollouts_checked_total"], "21");
        assert_eq!(s["grail_validator_verdicts_total{stage=\"duplicates\",result=\"pass\"}"], "2");
        assert_eq!(s["grail_validator_verdicts_total{stage=\"logprobs\",result=\"fail\"}"], "1");
        assert_eq!(s["grail_validator_verdicts_total{stage=\"file\",result=\"absent\"}"], "1");
        assert_eq!(s["grail_validator_last_processed_window"], "8");
        let h = "grail_validator_window_verification_seconds";
        assert_eq!(s[&format!("{h}_bucket{{le=\"0.25\"}}")], "0");
        assert_eq!(s[&format!("{h}_bucket{{le=\"0.5\"}}")], "1");
        assert_eq!(s[&format!("{h}_bucket{{le=\"25\"}}")], "1");
        assert_eq!(s[&format!("{h}_bucket{{le=\"50\"}}")], "2");
        assert_eq!(s[&format!("{h}_bucket{{le=\"+Inf\"}}")], "2");
        assert_eq!(s[&format!("{h}_count")], "2");
        assert_eq!(s[&format!("{h}_sum")], "42.3");
    }

    #[test]
    fn every_family_is_declared_once_before_its_samples() {
        let mut m = Metrics::default();
        m.observe_window(&outcome(1, &[(Stage::Reward, VerdictResult::Fail, 3)]), f64::NAN);
        m.observe_ignored("not_attributable");
        m.observe_ignored("not_attributable");
        m.observe_submission(SubmissionStatus::Sent);
        m.observe_submission(SubmissionStatus::Included);
        let text = m.render();
        assert!(
            text.contains("grail_validator_weight_submissions_total{status=\"included\"} 1"),
            "{text}"
        );
        let mut declared: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("name kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(!declared.contains(&name.to_string()), "declared twice: {name}");
                declared.push(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().expect("name");
                assert!(!declared.contains(&name.to_string()), "HELP after TYPE: {name}");
            } else {
                let name = line.split(['{', ' ']).next().expect("name");
                let family = declared.last().expect("a family is declared first");
                let base = name
                    .strip_suffix("_bucket")
                    .or_else(|| name.strip_suffix("_sum"))
                    .or_else(|| name.strip_suffix("_count"))
                    .filter(|b| b == family)
                    .unwrap_or(name);
                assert_eq!(base, family, "{line}");
                let value = line.rsplit(' ').next().expect("value");
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        assert_eq!(declared.len(), 7);
        let ignored = "grail_validator_store_objects_ignored_total{reason=\"not_attributable\"}";
        assert_eq!(samples(&text)[ignored], "2");
        // NaN seconds count as 0, so the sum stays a number.
        assert_eq!(samples(&text)["grail_validator_window_verification_seconds_sum"], "0");
    }
}

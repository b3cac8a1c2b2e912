use std::collections::BTreeMap;

use super::*;
use crate::state::Verdict;
use grail_protocol::keys::Hotkey;
use grail_weights::{MinerScore, MinerStatus};

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
            unique_estimated: checked * 2,
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
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("name value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn miner_labels(i: u8) -> String {
    format!("uid=\"{}\",hotkey=\"{}\"", u16::from(i) + 1, Hotkey([i; 32]).to_ss58())
}

#[test]
fn counts_windows_verdicts_and_rollouts() {
    let mut m = Metrics::default();
    use {Stage as S, VerdictResult as R};
    m.observe_window(&outcome(7, &[(S::Duplicates, R::Pass, 8), (S::Logprobs, R::Fail, 8)]), 0.3);
    m.observe_window(&outcome(8, &[(S::Duplicates, R::Pass, 5)]), 42.0);
    m.observe_tokens(300);
    m.observe_stage("forward", 0.02);
    m.observe_chain_window(11);
    let s = samples(&m.render());
    assert_eq!(s["grail_validator_windows_processed_total"], "2");
    assert_eq!(s["grail_validator_rollouts_checked_total"], "21");
    assert_eq!(s["grail_validator_tokens_checked_total"], "300");
    assert_eq!(s["grail_validator_verdicts_total{stage=\"duplicates\",result=\"pass\"}"], "2");
    assert_eq!(s["grail_validator_verdicts_total{stage=\"logprobs\",result=\"fail\"}"], "1");
    assert_eq!(s["grail_validator_last_processed_window"], "8");
    assert_eq!(s["grail_validator_chain_window"], "11");
    assert_eq!(s["grail_validator_lag_windows"], "3");
    let h = WINDOW_SECONDS;
    assert_eq!(s[&format!("{h}_bucket{{le=\"0.25\"}}")], "0");
    assert_eq!(s[&format!("{h}_bucket{{le=\"0.5\"}}")], "1");
    assert_eq!(s[&format!("{h}_bucket{{le=\"25\"}}")], "1");
    assert_eq!(s[&format!("{h}_bucket{{le=\"50\"}}")], "2");
    assert_eq!(s[&format!("{h}_bucket{{le=\"+Inf\"}}")], "2");
    assert_eq!(s[&format!("{h}_count")], "2");
    assert_eq!(s[&format!("{h}_sum")], "42.3");
    assert_eq!(s[&format!("{STAGE_SECONDS}_bucket{{stage=\"forward\",le=\"0.025\"}}")], "1");

    // Per miner: the latest window's verdict and stage, one-hot; uid 2 left in window 8.
    let (one, two) = (miner_labels(0), miner_labels(1));
    assert_eq!(s[&format!("grail_validator_miner_verdict{{{one},result=\"pass\"}}")], "1");
    assert_eq!(s[&format!("grail_validator_miner_verdict{{{one},result=\"fail\"}}")], "0");
    assert_eq!(s[&format!("grail_validator_miner_stage{{{one},stage=\"duplicates\"}}")], "1");
    assert_eq!(s[&format!("grail_validator_miner_rollouts_checked{{{one}}}")], "5");
    assert_eq!(s[&format!("grail_validator_miner_unique_rollouts{{{one}}}")], "10");
    assert_eq!(s[&format!("grail_validator_miner_verdict{{{two},result=\"fail\"}}")], "0");
    assert_eq!(s[&format!("grail_validator_miner_stage{{{two},stage=\"logprobs\"}}")], "0");
}

#[test]
fn weights_give_each_miner_its_share_and_u16_weight() {
    let mut m = Metrics::default();
    let score = |uid: u16, share: f64| MinerScore {
        uid,
        hotkey: Hotkey([uid as u8 - 1; 32]).to_ss58(),
        status: MinerStatus::Scored,
        windows_active: 1,
        windows_checked: 1,
        unique: 64,
        share,
    };
    let weights = Weights {
        uids: vec![0, 1],
        weights: vec![65535, 21845],
        version_key: 1,
        burn_share: 0.75,
        miners: vec![score(1, 0.25), score(2, 0.0)],
    };
    m.observe_weights(&weights);
    let s = samples(&m.render());
    assert_eq!(s["grail_validator_burn_share"], "0.75");
    assert_eq!(s[&format!("grail_validator_miner_weight{{{}}}", miner_labels(0))], "21845");
    assert_eq!(s[&format!("grail_validator_miner_share{{{}}}", miner_labels(0))], "0.25");
    assert_eq!(s[&format!("grail_validator_miner_weight{{{}}}", miner_labels(1))], "0");
}

#[test]
fn every_family_is_declared_once_before_its_samples() {
    let mut m = Metrics::default();
    m.observe_window(&outcome(1, &[(Stage::Reward, VerdictResult::Fail, 3)]), f64::NAN);
    m.observe_ignored("not_attributable");
    m.observe_ignored("not_attributable");
    m.observe_submission(SubmissionStatus::Sent);
    m.observe_submission(SubmissionStatus::Included);
    m.observe_error("beacon");
    let text = m.render();
    assert!(
        text.contains("grail_validator_weight_submissions_total{status=\"included\"} 1"),
        "{text}"
    );
    let mut declared: Vec<String> = Vec::new();
    let mut helped: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(!declared.contains(&name.to_string()), "declared twice: {name}");
            declared.push(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("name");
            assert!(!declared.contains(&name.to_string()), "HELP after TYPE: {name}");
            helped.push(name.to_string());
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
    for name in ["grail_validator_errors_total", "grail_validator_miner_verdict", WINDOW_SECONDS] {
        assert!(
            declared.contains(&name.to_string()) && helped.contains(&name.to_string()),
            "{name}"
        );
    }
    // The process's own metrics come with them (Linux: from /proc).
    assert!(declared.iter().any(|n| n == "process_resident_memory_bytes"), "{declared:?}");
    let s = samples(&text);
    assert_eq!(s["grail_validator_store_objects_ignored_total{reason=\"not_attributable\"}"], "2");
    assert_eq!(s["grail_validator_errors_total{source=\"beacon\"}"], "1");
    // NaN seconds count as 0, so the sum stays a number.
    assert_eq!(s[&format!("{WINDOW_SECONDS}_sum")], "0");
}

#[test]
fn pace_gauges_show_the_next_windows_count() {
    let mut m = Metrics::default();
    m.observe_pace(16, None);
    let s = samples(&m.render());
    assert_eq!(s["grail_validator_miners_to_check"], "16");
    assert!(!s.contains_key("grail_validator_seconds_per_checked_miner"), "none measured yet");
    m.observe_pace(94, Some(2.5));
    let s = samples(&m.render());
    assert_eq!(s["grail_validator_miners_to_check"], "94");
    assert_eq!(s["grail_validator_seconds_per_checked_miner"], "2.5");
}

//! `grail-audit calibrate` on the tiny fixture model with a reduced count, asserting the
//! bounds of docs/SECURITY.md: every honest source passes every rollout with its worst distance at most
//! 2/3 of its tolerance, no forger passes a rollout, and the analytic bound is at most 2^-40.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use grail_tests::{bin, fixture};
use serde_json::Value;

/// The largest share of its tolerance an honest worst distance may use.
const HEADROOM: f64 = 2.0 / 3.0;

fn calibrate() -> Value {
    let mut cmd = Command::new(bin("grail-audit"));
    cmd.args(["calibrate", "--rollouts", "32", "--new-tokens", "48", "--compare-device", "cuda"])
        .arg("--model")
        .arg(fixture("models/tiny"));
    for name in ["other", "noisy", "int8"] {
        cmd.arg("--forger-model")
            .arg(format!("tiny-{name}={}", fixture(&format!("models/tiny-{name}")).display()));
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "calibrate failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "not one line: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn number(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64().unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

#[test]
fn calibrate_meets_the_bounds_on_the_tiny_model() {
    let report = calibrate();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());

    let honest = report["honest"].as_array().unwrap();
    // The device source: measured where a GPU build of ONNX Runtime finds a GPU (then it is
    // held to every bound below), otherwise recorded with the reason.
    let device = honest.iter().find(|h| h["source"] == "CPU vs cuda:0").unwrap();
    if let Some(status) = device.get("status") {
        let status = status.as_str().unwrap();
        assert!(status.starts_with("not measured: ") && status.contains("cuda"), "{status}");
    }
    let measured: Vec<&Value> = honest.iter().filter(|h| h.get("status").is_none()).collect();
    assert!(measured.len() >= 5, "too few honest sources: {honest:?}");
    for h in measured {
        let source = h["source"].as_str().unwrap();
        assert!(number(h, &["positions"]) >= 500.0, "{source}: too few positions");
        assert_eq!(number(h, &["pass_rate"]), 1.0, "{source}: {h}");
        for check in ["hidden_state", "logprob", "sampling"] {
            assert_eq!(number(h, &["checks", check, "rollout_pass_rate"]), 1.0, "{source} {check}");
        }
        for (check, ratio) in [
            ("hidden_state", "worst_over_tolerance"),
            ("logprob", "worst_median_over_max"),
            ("logprob", "worst_quantile_over_max"),
            ("sampling", "worst_over_tolerance"),
        ] {
            let r = number(h, &["checks", check, ratio]);
            assert!(r <= HEADROOM, "{source}: {check} {ratio} = {r} > 2/3");
        }
    }

    let forgers = report["forgers"].as_array().unwrap();
    let names: Vec<&str> = forgers.iter().map(|f| f["name"].as_str().unwrap()).collect();
    for expected in [
        "all-zero",
        "constant-mean",
        "shifted",
        "tiny-other-commitments",
        "tiny-noisy-commitments",
        "tiny-int8-commitments",
        "tiny-int8-sampler-proved",
    ] {
        assert!(names.contains(&expected), "no forger {expected} in {names:?}");
    }
    // The full counts are in docs/SECURITY.md; the same assertions hold there.
    for f in forgers {
        let name = f["name"].as_str().unwrap();
        assert!(number(f, &["rollouts"]) >= 32.0, "{name}");
        // Every rollout the forger changed fails; those it left the honest rollout (a 1-token
        // completion is its own shift; a cheap sampler that picked the true tokens) may pass.
        assert_eq!(number(f, &["forged_rollout_pass_rate"]), 0.0, "forger {name} passed: {f}");
        assert!(number(f, &["forged_rollouts"]) >= 16.0, "{name}: too few forged rollouts");
        let passed = number(f, &["rollout_pass_rate"]) * number(f, &["rollouts"]);
        assert!(passed <= number(f, &["unchanged_rollouts"]) + 1e-9, "{name}: {f}");
        // Files of a group's rollouts: none holding a forged rollout passes.
        assert_eq!(number(f, &["files", "rollouts_per_file"]), 16.0, "{name}");
        assert_eq!(number(f, &["files", "files"]), 2.0, "{name}: 32 rollouts make 2 files");
        assert_eq!(number(f, &["files", "holding_a_forged_rollout_passed"]), 0.0, "{name}: {f}");
    }

    let bound = number(&report, &["analytic_forgery_bound_log2"]);
    assert!(bound <= -40.0, "analytic bound 2^{bound} is weaker than 2^-40");
    let a = &report["analytic_bound"];
    let m = number(a, &["per_projection_mass"]);
    let recomputed = number(a, &["k"]) * number(a, &["projections_used"]) * m.log2();
    assert!((recomputed - bound).abs() < 1e-9, "the formula does not give the bound");

    // The per-file bound with every checked rollout as short as the shortest honest one.
    let file = number(&report, &["file_forgery_bound_log2_shortest"]);
    assert!(file <= -40.0, "per-file bound 2^{file} is weaker than 2^-40");
    let shape = &report["file_bound"];
    let positions = number(shape, &["rollouts_checked"])
        * number(shape, &["shortest_completion"]).min(number(a, &["k"]));
    assert!((positions * m.log2() - file).abs() < 1e-9, "the formula does not give the file bound");
}

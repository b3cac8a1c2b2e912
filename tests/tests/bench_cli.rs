//! `grail-audit bench miner`, `bench validator` and `bench export` on the tiny fixture model with a
//! small workload: each prints one JSON line holding every key, with sane values. No timing is
//! asserted (the machine may be shared); only that rates are positive and ratios finite.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use grail_tests::{bin, fixture};
use serde_json::Value;

/// Runs `grail-audit bench ROLE` on the tiny model with 1 group of 16 tokens; its one JSON line.
fn bench(role: &str) -> Value {
    let out = Command::new(bin("grail-audit"))
        .args(["bench", role, "--groups", "1", "--new-tokens", "16", "--threads", "1", "--model"])
        .arg(fixture("models/tiny"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench {role} failed: {stderr}");
    assert!(stderr.contains("bench:"), "no progress on stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "not one line: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn number(line: &Value, key: &str) -> f64 {
    line[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number in {line}"))
}

fn positive(line: &Value, keys: &[&str]) {
    for key in keys {
        let x = number(line, key);
        assert!(x.is_finite() && x > 0.0, "{key} = {x} is not a positive rate");
    }
}

fn common_keys(line: &Value) {
    assert!(number(line, "peak_rss_mb") > 0.0);
    assert_eq!(line["model"]["folder"], "tiny");
    assert!(line["model"]["model_id"].as_str().unwrap().starts_with("baf"), "{line}");
    assert_eq!(line["device"], "cpu");
    assert_eq!(line["threads"], 1);
    assert_eq!(line["groups"], 1);
    assert_eq!(line["new_tokens"], 16);
    for end in ["start", "end"] {
        let load = line["load_average"][end].as_array().unwrap();
        assert_eq!(load.len(), 3);
        assert!(load.iter().all(|x| x.as_f64().unwrap() >= 0.0));
    }
}

#[test]
fn miner_bench_prints_every_figure() {
    let line = bench("miner");
    positive(
        &line,
        &["tokens_per_s", "rollouts_per_s", "baseline_tokens_per_s", "speedup_vs_baseline"],
    );
    common_keys(&line);
    // Stop tokens are off: every rollout has exactly --new-tokens tokens.
    assert_eq!(line["stop_tokens"], false);
    assert_eq!(line["rollouts"], 16);
    assert_eq!(line["completion_tokens"], 16 * 16);
    assert_eq!(number(&line, "commit_bytes_per_token"), 4.0);
    let file = number(&line, "file_bytes_per_token");
    assert!(file > 4.0, "file_bytes_per_token {file}: a file holds more than the commitments");
    assert_eq!(file, number(&line, "file_bytes") / 256.0);
    let overhead = number(&line, "proof_overhead_pct");
    assert!(overhead.is_finite() && overhead > -100.0, "proof_overhead_pct {overhead}");
    let s = &line["seconds"];
    let ratio = s["proofs"].as_f64().unwrap() / s["plain"].as_f64().unwrap();
    assert!((100.0 * (ratio - 1.0) - overhead).abs() < 1e-6, "overhead is not time(a)/time(b)-1");

    // The multi-group sweep: every capacity makes run (a)'s rollouts bit for bit.
    let batching = &line["batching"];
    let runs = batching["runs"].as_array().unwrap();
    let rows: Vec<u64> = runs.iter().map(|r| r["rows"].as_u64().unwrap()).collect();
    assert_eq!(rows, [16, 32, 64], "{batching}");
    for r in runs {
        assert_eq!(r["tokens"], 16 * 16, "{r}");
        assert_eq!(r["rollouts_differing"], 0, "{r}");
        let tps = number(r, "tokens_per_s");
        assert!((tps - 256.0 / number(r, "seconds")).abs() <= 1e-9 * tps, "{r}");
    }
    assert_eq!(batching["bitwise_equal_to_one_group"], true, "{batching}");
    let best = runs.iter().map(|r| number(r, "tokens_per_s")).fold(0.0, f64::max);
    assert_eq!(number(batching, "best_tokens_per_s"), best, "{batching}");
    let over = number(batching, "best_over_one_group");
    assert!((over - best / number(&runs[0], "tokens_per_s")).abs() <= 1e-9 * over, "{batching}");

    // The roofline: the default sweep, each point's rates derived from its tokens per second.
    let roof = &line["roofline"];
    positive(
        roof,
        &["flop_per_token", "matmul_weight_bytes", "peak_gflop_per_s", "peak_read_gb_per_s"],
    );
    assert!(number(roof, "matmul_weight_bytes") <= number(roof, "weight_bytes"), "{roof}");
    let flop = number(roof, "flop_per_token");
    let bytes = number(roof, "matmul_weight_bytes");
    let points = roof["decode"].as_array().unwrap();
    let batches: Vec<u64> = points.iter().map(|p| p["batch"].as_u64().unwrap()).collect();
    assert_eq!(batches, [1, 4, 16, 32, 64], "{roof}");
    for p in points {
        let (b, tps) = (number(p, "batch"), number(p, "tokens_per_s"));
        assert!(tps > 0.0, "{p}");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(close(number(p, "gflop_per_s"), tps * flop / 1e9), "{p}");
        assert!(close(number(p, "weight_gb_per_s"), tps / b * bytes / 1e9), "{p}");
        let peak = number(roof, "peak_gflop_per_s");
        assert!(close(number(p, "fraction_of_peak_flops"), number(p, "gflop_per_s") / peak));
    }
    let engine = number(roof, "engine_gflop_per_s");
    assert!((engine - number(&line, "tokens_per_s") * flop / 1e9).abs() < 1e-9 * engine, "{roof}");
    let batched = number(roof, "batched_gflop_per_s");
    assert!((batched - best * flop / 1e9).abs() < 1e-9 * batched, "{roof}");
    let share = batched / number(roof, "peak_gflop_per_s");
    assert!((number(roof, "batched_fraction_of_peak_flops") - share).abs() < 1e-12, "{roof}");
}

#[test]
fn validator_bench_prints_every_figure() {
    let line = bench("validator");
    positive(
        &line,
        &[
            "verify_rollouts_per_s",
            "verify_tokens_per_s",
            "prefill_tokens_per_s",
            "generate_rollouts_per_s",
            "verify_speedup",
            "window_cost_ratio",
            "file_cost_ratio",
            "file_cost_ratio_one_miner",
            "full_window_validator_s",
            "fingerprint_s",
        ],
    );
    common_keys(&line);
    assert_eq!(line["window_rollouts"], 16);
    assert_eq!(line["window_rollouts_checked"], 16);
    let ratio = number(&line, "verify_speedup");
    let expected =
        number(&line, "verify_rollouts_per_s") / number(&line, "generate_rollouts_per_s");
    assert!((ratio - expected).abs() <= 1e-9 * expected, "verify_speedup {ratio} vs {expected}");
    assert!(number(&line, "file_cost_ratio_one_miner") > number(&line, "file_cost_ratio"));
    // A whole window holds at least the file's rollouts, of which the same number is checked.
    assert!(number(&line, "full_window_rollouts") >= 16.0);
    let tokens = number(&line, "completion_tokens");
    assert!((16.0..=256.0).contains(&tokens), "{tokens} completion tokens for 16 rollouts");
    // The paced count: the budget left after the fingerprint over one full-window miner's cost,
    // clamped to the default floor (16) and cap (256).
    let budget = number(&line, "pace_budget_s");
    assert_eq!(budget, number(&line, "pace_fraction") * 30.0 * 12.0, "{line}");
    let per_miner = number(&line, "full_window_validator_s");
    let affordable = ((budget - number(&line, "fingerprint_s")) / per_miner).floor();
    assert_eq!(number(&line, "miners_per_window_affordable"), affordable, "{line}");
    assert!(number(&line, "miners_per_window_affordable_bench_file") >= affordable, "{line}");
    assert_eq!(number(&line, "miners_checked_per_window"), affordable.clamp(16.0, 256.0), "{line}");
}

#[test]
fn export_bench_prints_every_figure() {
    let line = bench("export");
    common_keys(&line);
    // 16 miners of one group of 16 rollouts, each file kept and exported in both formats.
    assert_eq!(line["miners"], 16);
    assert_eq!(line["rollouts"], 256);
    let tokens = number(&line, "completion_tokens");
    assert!((256.0..=4096.0).contains(&tokens), "{tokens} completion tokens for 256 rollouts");
    positive(&line, &["generate_s", "window_file_bytes", "window_file_bytes_per_token"]);
    for format in ["parquet", "jsonl"] {
        let f = &line[format];
        assert_eq!(f["rows"], 256, "{format}: {line}");
        positive(f, &["seconds", "bytes", "bytes_per_token", "rows_per_s"]);
        let per_token = number(f, "bytes") / tokens;
        assert!((per_token - number(f, "bytes_per_token")).abs() < 1e-9, "{format}: {line}");
    }
}

#[test]
fn a_missing_model_is_one_clear_error() {
    for role in ["miner", "validator", "export"] {
        let out = Command::new(bin("grail-audit"))
            .args(["bench", role, "--model", "/nonexistent/model"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{role}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains("/nonexistent/model"), "{stderr}");
    }
    // The audit tool's benches are gone from the operators' binaries.
    for binary in ["grail-miner", "grail-validator"] {
        let out = Command::new(bin(binary)).args(["bench", "--help"]).output().unwrap();
        assert!(!out.status.success(), "{binary} still has a bench subcommand");
    }
}

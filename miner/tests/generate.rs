//! `grail-miner generate` on the tiny fixture model: one JSON line of the documented shape (the
//! answer is gibberish on a random model), the length cap, and one-line errors.

// Test helpers outside #[test] fns panic on purpose when the binary cannot start.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny")
}

fn generate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_grail-miner"))
        .arg("generate")
        .args(args)
        .env_remove("GRAIL_DEVICE")
        .output()
        .unwrap()
}

#[test]
fn prints_one_json_line_within_the_cap() {
    let model = tiny();
    let out = generate(&[
        "--model",
        model.to_str().unwrap(),
        "--prompt",
        "What is the capital of France?",
        "--max-new-tokens",
        "12",
        "--threads",
        "1",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["prompt"], "What is the capital of France?");
    assert!(v["answer"].is_string());
    let tokens = v["tokens"].as_u64().unwrap();
    assert!((1..=12).contains(&tokens), "{v}");
    assert!(v["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
}

#[test]
fn bad_input_is_one_error_line() {
    let model = tiny();
    let missing = generate(&["--model", "/nonexistent/model", "--prompt", "hi"]);
    let cuda =
        generate(&["--model", model.to_str().unwrap(), "--prompt", "hi", "--device", "cuda"]);
    for (out, needle) in [(missing, "/nonexistent/model"), (cuda, "cuda:0 is unavailable")] {
        assert!(!out.status.success());
        let stderr = String::from_utf8(out.stderr).unwrap();
        let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(needle), "{stderr}");
    }
}

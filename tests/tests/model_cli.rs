//! `grail-validator model identity` on the tiny fixture model: the printed `model_id` and
//! fingerprint equal the golden vectors written by an independent Python implementation, and a
//! missing ONNX Runtime library is a clear error.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use grail_tests::{bin, fixture, repo_root};
use serde_json::Value;

fn identity_vectors() -> Value {
    let path = repo_root().join("fingerprint/vectors/identity.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn identity_matches_the_golden_vectors_and_loads_through_ort() {
    let vectors = identity_vectors();
    let case = &vectors["fingerprints"][0];
    let randomness = case["beacon_randomness"].as_str().unwrap();
    let out = Command::new(bin("grail-validator"))
        .args(["model", "identity", "--model"])
        .arg(fixture("models/tiny"))
        .args(["--beacon-randomness", randomness])
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["model_id"], vectors["model_id"]);
    assert_eq!(line["fingerprint"], case["fingerprint_le"]);
    assert_eq!(line["tensors"], vectors["tensor_count"]);
    assert_eq!(line["elements"], vectors["element_count"]);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("models/tiny/config.json")).unwrap())
            .unwrap();
    assert_eq!(line["vocab_size"], config["vocab_size"]);
    assert_eq!(line["hidden_size"], config["hidden_size"]);
    assert!(line["ort_library"].as_str().unwrap().contains("libonnxruntime"));
}

#[test]
fn the_external_data_form_has_the_same_model_id() {
    let out = Command::new(bin("grail-validator"))
        .args(["model", "identity", "--no-load", "--model"])
        .arg(fixture("models/tiny-external"))
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["model_id"], identity_vectors()["model_id"]);
}

#[test]
fn a_missing_runtime_library_says_how_to_install_it() {
    let out = Command::new(bin("grail-validator"))
        .args(["model", "identity", "--model"])
        .arg(fixture("models/tiny"))
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scripts/setup-ort.sh"), "stderr: {stderr}");
    assert!(stderr.contains("/nonexistent/libonnxruntime.so"), "stderr: {stderr}");
}

#[test]
fn a_bad_beacon_randomness_names_the_flag() {
    let out = Command::new(bin("grail-validator"))
        .args(["model", "identity", "--no-load", "--beacon-randomness", "abcd", "--model"])
        .arg(fixture("models/tiny"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--beacon-randomness") && stderr.contains("32 bytes"), "{stderr}");
}

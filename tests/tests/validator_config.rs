//! `grail-validator run --config FILE`: what the binary says when the file is incomplete or
//! wrong. Both fail while resolving settings, before any model, beacon or store is touched.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use grail_tests::bin;

/// Runs `grail-validator run --config FILE` on `text`; returns (exit success, stderr).
fn run_with_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin("grail-validator"))
        .arg("run")
        .arg("--config")
        .arg(&path)
        .env_remove("GRAIL_MODEL")
        .env_remove("GRAIL_METAGRAPH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr.replace(&path.display().to_string(), "FILE"))
}

#[test]
fn a_config_without_a_model_is_refused_with_the_fix() {
    let (ok, stderr) = run_with_config("metagraph = \"metagraph.json\"\n[window]\nblocks = 4\n");
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("required") && stderr.contains("--model <DIR>"), "{stderr}");
}

#[test]
fn an_unknown_key_is_refused_naming_the_file_and_the_key() {
    let (ok, stderr) = run_with_config("model = \"m\"\n[window]\nblok = 4\n");
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("config file FILE: unknown key `window.blok`"), "{stderr}");
    assert!(stderr.contains("window.blocks"), "the known keys are listed: {stderr}");
}

#[test]
fn a_bad_value_is_refused_with_the_flags_complaint() {
    let (ok, stderr) = run_with_config("model = \"m\"\n[weights]\nburn_bps = \"most\"\n");
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("key `weights.burn_bps`") && stderr.contains("most"), "{stderr}");
}

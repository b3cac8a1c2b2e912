//! Parameters that would make the protocol unsafe, or a run that would do nothing, are refused
//! at start with an error naming the setting and its limit: a challenge buffer that lets the
//! challenge round be published while uploads still count (here the beacon's period is 3 s,
//! so the buffer must be at least 4 s), a zero grace period, and an empty window range.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use grail_tests::{bin, fixture, LocalBeacon};

fn keygen(dir: &Path) {
    let out = Command::new(bin("grail-miner"))
        .arg("keygen")
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", "h"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn validator(dir: &Path, url: &str, extra: &[&str]) -> Output {
    std::fs::write(dir.join("metagraph.json"), r#"{"netuid": 1, "burn_uid": 0, "neurons": []}"#)
        .unwrap();
    Command::new(bin("grail-validator"))
        .arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--metagraph")
        .arg(dir.join("metagraph.json"))
        .arg("--storage.path")
        .arg(dir.join("storage"))
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(extra)
        .output()
        .unwrap()
}

fn miner(dir: &Path, url: &str, extra: &[&str]) -> Output {
    Command::new(bin("grail-miner"))
        .arg("mine")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", "h"])
        .arg("--storage.path")
        .arg(dir.join("storage"))
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(extra)
        .output()
        .unwrap()
}

fn refused(out: &Output, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {err}");
    for f in fragments {
        assert!(err.contains(f), "missing {f:?} in:\n{err}");
    }
}

#[test]
fn unsafe_timing_and_empty_ranges_are_refused_by_both_roles() {
    let beacon = LocalBeacon::start(3);
    let url = beacon.url();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir);
    let short = ["challenge_buffer_s", "3 s is below the minimum 4 s", "beacon period 3 s"];
    for buffer in ["0", "3"] {
        let args = ["--window.challenge-buffer", buffer];
        refused(&validator(dir, &url, &args), &short[..1]);
        refused(&miner(dir, &url, &args), &short[..1]);
    }
    refused(&validator(dir, &url, &["--window.challenge-buffer", "3"]), &short);
    refused(&miner(dir, &url, &["--window.challenge-buffer", "3"]), &short);
    let no_grace = ["--window.grace", "0"];
    refused(&validator(dir, &url, &no_grace), &["grace_period_s", "at least 1 s"]);
    refused(&miner(dir, &url, &no_grace), &["grace_period_s", "at least 1 s"]);
    let empty = ["--from-window", "5", "--until-window", "4"];
    let why = ["--until-window 4 is below --from-window 5"];
    refused(&validator(dir, &url, &empty), &why);
    refused(&miner(dir, &url, &empty), &why);
    // Nothing was started: no state, no upload.
    assert!(!dir.join("data/validator.sqlite").exists());
    assert!(!dir.join("storage/windows").exists());
}

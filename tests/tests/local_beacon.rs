//! The local beacon end to end: start `grail-beacon`, fetch a round with
//! `grail-validator beacon fetch`, and verify it with `grail-validator beacon verify --beacon.chain local`.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::Duration;

use grail_tests::{bin, LocalBeacon};
use serde_json::Value;

fn validator(args: &[&str]) -> Output {
    Command::new(bin("grail-validator")).args(args).output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

fn expect_err(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "unexpected success: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.lines().last().unwrap_or("").starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

/// `beacon fetch` from the local beacon at `url`, with `extra` flags (one pass over the relays).
fn fetch(url: &str, extra: &[&str]) -> Output {
    let base = ["beacon", "fetch", "--beacon.chain", "local", "--beacon.relays", url];
    validator(&[&base[..], &["--beacon.passes", "1"], extra].concat())
}

/// `beacon verify` of `signature` as round `round` of `chain`.
fn verify(chain: &str, round: &str, signature: &str) -> Output {
    let args = ["beacon", "verify", "--beacon.chain", chain, "--round", round];
    validator(&[&args[..], &["--signature", signature]].concat())
}

#[test]
fn the_local_beacon_serves_rounds_that_verify() {
    let beacon = LocalBeacon::start(1);
    let started = &beacon.info;
    let url = started["url"].as_str().unwrap();
    assert_eq!(started["scheme"], "bls-unchained-g1-rfc9380");
    assert_eq!(started["insecure_dev_key"], true);

    let fetched = ok_json(&fetch(url, &["--round", "1"]));
    assert_eq!(fetched["chain"], "local");
    assert_eq!(fetched["round"], 1);
    assert_eq!(fetched["verified"], true);
    assert_eq!(fetched["chain_hash"], started["chain_hash"]);
    let signature = fetched["signature"].as_str().unwrap();

    let verified = ok_json(&verify("local", "1", signature));
    assert_eq!(verified["chain"], "local");
    assert_eq!(verified["round"], 1);
    assert_eq!(verified["randomness"], fetched["randomness"]);
    assert_eq!(verified["verified"], true);

    // The same signature is no beacon of another round, nor of quicknet.
    expect_err(&verify("local", "2", signature), "does not verify for round 2 on chain local");
    expect_err(
        &verify("quicknet", "1", signature),
        "does not verify for round 1 on chain quicknet",
    );

    // Without --round, fetch takes the current round on the chain's clock.
    let latest = ok_json(&fetch(url, &[]));
    assert!(latest["round"].as_u64().unwrap() >= 1);

    // A round far in the future is not served (404), so the fetch fails instead of inventing one.
    expect_err(&fetch(url, &["--round", "100000000"]), "404");
}

#[test]
fn rounds_advance_with_the_clock() {
    let beacon = LocalBeacon::start(1);
    let started = &beacon.info;
    let url = started["url"].as_str().unwrap();
    let genesis = started["genesis_time"].as_u64().unwrap();
    // A round three periods ahead of the clock is not due yet whatever the machine's speed: it
    // is refused (404), then served once its time has come.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ahead = (now.saturating_sub(genesis) + 1 + 3).to_string();
    expect_err(&fetch(url, &["--round", &ahead]), "404");
    let due = genesis + now.saturating_sub(genesis) + 3;
    std::thread::sleep(Duration::from_secs(due.saturating_sub(now) + 1));
    let json = ok_json(&fetch(url, &["--round", &ahead]));
    assert_eq!(json["round"].to_string(), ahead);
}

//! The local beacon end to end: start `grail-beacon`, fetch a round with
//! `grail-validator beacon fetch`, and verify it with `grail-validator beacon verify --chain local`.
//! Needs the binaries: `cargo build -p grail-validator -p grail-challenges --bins`.

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

#[test]
fn the_local_beacon_serves_rounds_that_verify() {
    let beacon = LocalBeacon::start(1);
    let started = &beacon.info;
    let url = started["url"].as_str().unwrap();
    assert_eq!(started["scheme"], "bls-unchained-g1-rfc9380");
    assert_eq!(started["insecure_dev_key"], true);

    let fetched = ok_json(&validator(&[
        "beacon", "fetch", "--chain", "local", "--relay", url, "--round", "1",
    ]));
    assert_eq!(fetched["chain"], "local");
    assert_eq!(fetched["round"], 1);
    assert_eq!(fetched["verified"], true);
    assert_eq!(fetched["chain_hash"], started["chain_hash"]);
    let signature = fetched["signature"].as_str().unwrap();

    let verified = ok_json(&validator(&[
        "beacon",
        "verify",
        "--chain",
        "local",
        "--round",
        "1",
        "--signature",
        signature,
    ]));
    assert_eq!(verified["chain"], "local");
    assert_eq!(verified["round"], 1);
    assert_eq!(verified["randomness"], fetched["randomness"]);
    assert_eq!(verified["verified"], true);

    // The same signature is no beacon of another round, nor of quicknet.
    expect_err(
        &validator(&[
            "beacon",
            "verify",
            "--chain",
            "local",
            "--round",
            "2",
            "--signature",
            signature,
        ]),
        "does not verify for round 2 on chain local",
    );
    expect_err(
        &validator(&[
            "beacon",
            "verify",
            "--chain",
            "quicknet",
            "--round",
            "1",
            "--signature",
            signature,
        ]),
        "does not verify for round 1 on chain quicknet",
    );

    // Without --round, fetch takes the current round on the chain's clock.
    let latest = ok_json(&validator(&["beacon", "fetch", "--chain", "local", "--relay", url]));
    assert!(latest["round"].as_u64().unwrap() >= 1);

    // A round far in the future is not served (404), so the fetch fails instead of inventing one.
    expect_err(
        &validator(&[
            "beacon",
            "fetch",
            "--chain",
            "local",
            "--relay",
            url,
            "--round",
            "100000000",
            "--passes",
            "1",
        ]),
        "404",
    );
}

#[test]
fn rounds_advance_with_the_clock() {
    let beacon = LocalBeacon::start(1);
    let started = &beacon.info;
    let url = started["url"].as_str().unwrap();
    let fetch = |round: &str| {
        validator(&[
            "beacon", "fetch", "--chain", "local", "--relay", url, "--round", round, "--passes",
            "1",
        ])
    };
    let genesis = started["genesis_time"].as_u64().unwrap();
    // Round 4 is due at genesis + 3 s: absent at first, present after waiting for it.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if now < genesis + 3 {
        expect_err(&fetch("4"), "404");
    }
    std::thread::sleep(Duration::from_secs((genesis + 4).saturating_sub(now)));
    let json = ok_json(&fetch("4"));
    assert_eq!(json["round"], 4);
}

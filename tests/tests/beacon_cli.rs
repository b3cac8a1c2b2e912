//! `grail-validator beacon verify` on every real beacon of both chains, and on tampered copies.
//! Needs the binaries: `cargo build -p grail-validator -p grail-challenges --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use grail_tests::bin;
use serde_json::Value;

fn beacons() -> Value {
    let text = std::fs::read_to_string(grail_tests::fixture("drand/beacons.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn verify(args: &[&str]) -> Output {
    Command::new(bin("grail-validator")).args(["beacon", "verify"]).args(args).output().unwrap()
}

fn args_for(chain: &str, entry: &Value) -> Vec<String> {
    let mut args = vec![
        "--beacon.chain".to_owned(),
        chain.to_owned(),
        "--round".to_owned(),
        entry["round"].to_string(),
        "--signature".to_owned(),
        entry["signature"].as_str().unwrap().to_owned(),
    ];
    if let Some(prev) = entry["previous_signature"].as_str() {
        args.extend(["--previous-signature".to_owned(), prev.to_owned()]);
    }
    args
}

fn run(args: &[String]) -> Output {
    verify(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Exit 0, one JSON line on stdout, nothing on stderr.
fn expect_ok(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}, stderr: {stderr}", out.status);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Non-zero exit, nothing on stdout, one `error:` line on stderr containing `needle`.
fn expect_err(out: &Output, needle: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "unexpected success: {stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

#[test]
fn every_real_beacon_verifies() {
    let all = beacons();
    for chain in ["quicknet", "mainnet"] {
        let entries = all[chain]["entries"].as_array().unwrap();
        assert!(entries.len() >= 5);
        for entry in entries {
            let json = expect_ok(&run(&args_for(chain, entry)));
            assert_eq!(json["chain"], chain);
            assert_eq!(json["round"], entry["round"]);
            assert_eq!(json["randomness"], entry["randomness"]);
            assert_eq!(json["verified"], true);
        }
    }
}

fn flip_hex_bit(hex_str: &str, bit: usize) -> String {
    let mut bytes = hex::decode(hex_str).unwrap();
    bytes[bit / 8] ^= 1 << (bit % 8);
    hex::encode(bytes)
}

#[test]
fn tampered_signatures_are_rejected() {
    let all = beacons();
    for chain in ["quicknet", "mainnet"] {
        for entry in all[chain]["entries"].as_array().unwrap() {
            let sig = entry["signature"].as_str().unwrap();
            for bit in [3usize, 200, sig.len() * 4 - 1] {
                let mut args = args_for(chain, entry);
                args[5] = flip_hex_bit(sig, bit);
                expect_err(&run(&args), "`signature`");
            }
        }
    }
}

#[test]
fn a_signature_is_rejected_for_another_round() {
    let all = beacons();
    for chain in ["quicknet", "mainnet"] {
        let entry = &all[chain]["entries"][1];
        let mut args = args_for(chain, entry);
        let wrong = entry["round"].as_u64().unwrap() + 1;
        args[3] = wrong.to_string();
        expect_err(&run(&args), &format!("does not verify for round {wrong} on chain {chain}"));
    }
}

#[test]
fn malformed_hex_and_lengths_are_named() {
    let entry = &beacons()["quicknet"]["entries"][0];
    let sig = entry["signature"].as_str().unwrap();
    let mut args = args_for("quicknet", entry);
    args[5] = format!("{}zz", &sig[..sig.len() - 2]);
    expect_err(&run(&args), "bad hex in `signature`");
    args[5] = sig[..sig.len() - 1].to_owned();
    expect_err(&run(&args), "bad hex in `signature`");
    args[5] = sig[..sig.len() - 2].to_owned();
    expect_err(&run(&args), "`signature` has 47 bytes, expected 48");
    // A quicknet signature is not a mainnet one.
    let mut args = args_for("quicknet", entry);
    args[1] = "mainnet".to_owned();
    expect_err(&run(&args), "expected 96");
    let mut args = args_for("quicknet", entry);
    args.extend(["--previous-signature".to_owned(), "0g".to_owned()]);
    expect_err(&run(&args), "bad hex in `previous_signature`");
}

#[test]
fn mainnet_needs_the_right_previous_signature() {
    let entries = beacons()["mainnet"]["entries"].clone();
    let entry = &entries[2];
    let args = args_for("mainnet", entry);
    expect_err(&run(&args[..6]), "`previous_signature` is required for round 3");
    let mut wrong = args.clone();
    wrong[7] = entries[0]["signature"].as_str().unwrap().to_owned();
    expect_err(&run(&wrong), "does not verify for round 3 on chain mainnet");
    let mut flipped = args;
    flipped[7] = flip_hex_bit(&flipped[7], 5);
    expect_err(&run(&flipped), "does not verify for round 3");
}

#[test]
fn chain_info_files_are_checked() {
    let all = beacons();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("quicknet.json");
    std::fs::write(&good, all["quicknet"]["info"].to_string()).unwrap();
    let entry = &all["quicknet"]["entries"][3];
    let mut args = args_for("quicknet", entry);
    args.extend(["--beacon.chain-info".to_owned(), good.display().to_string()]);
    let json = expect_ok(&run(&args));
    assert_eq!(json["randomness"], entry["randomness"]);
    // Without --chain the file alone names the chain.
    let json = expect_ok(&run(&args[2..]));
    assert_eq!(json["chain"], "quicknet");

    // Info whose fields do not hash to its `hash` is refused.
    let mut info = all["quicknet"]["info"].clone();
    info["period"] = 4.into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, info.to_string()).unwrap();
    let n = args.len();
    args[n - 1] = bad.display().to_string();
    expect_err(&run(&args), "chain info `hash`");

    // Another real chain's info does not pass for quicknet.
    let mainnet = dir.path().join("mainnet.json");
    std::fs::write(&mainnet, all["mainnet"]["info"].to_string()).unwrap();
    args[n - 1] = mainnet.display().to_string();
    expect_err(&run(&args), "disagrees with pinned chain quicknet in `public_key`");
}

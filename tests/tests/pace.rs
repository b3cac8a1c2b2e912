//! A validator that cannot keep pace checks only its floor of miners: three honest miners mine
//! two windows on the tiny model, and `grail-validator run` gets a budget of a few microseconds
//! per window (`--verify.pace 0.000001`) with a floor of one miner (`--verify.min-miners 1`).
//! Each window fully checks exactly one miner, which passes, and leaves the other two
//! `unchecked`; the validator warns that the window took longer than its budget; each window's
//! transcript records `miners_checked = 1` and replays to a match, and the transcript edited to
//! check all three no longer does. Beside it, the same window under the default pace checks all
//! three (the tiny model's checks fit any budget).
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use grail_tests::{
    bin, ci_scale, clock_flags, fixture, keygen, miner_command_windows, validator_command_windows,
    window_ahead, write_metagraph, LocalBeacon,
};
use serde_json::Value;

fn ok(name: &str, out: &Output) -> String {
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn replay(path: &Path) -> Output {
    Command::new(bin("grail-validator"))
        .arg("replay")
        .arg(path)
        .arg("--model")
        .arg(fixture("models/tiny"))
        .args(["--threads", "1"])
        .output()
        .unwrap()
}

fn results(line: &Value) -> Vec<String> {
    let verdicts = line["verdicts"].as_array().unwrap();
    verdicts.iter().map(|v| v["result"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_validator_short_of_time_checks_its_floor_and_replays() {
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hotkeys: Vec<String> = (1..=3).map(|i| keygen(dir, &format!("h{i}"))).collect();
    let uids: Vec<(u16, &str)> = (1..=3).map(|i| (i as u16, hotkeys[i - 1].as_str())).collect();
    write_metagraph(dir, "metagraph.json", &uids);
    let blocks = 4 * ci_scale();
    let w = window_ahead(genesis, blocks, 2);
    let chain = clock_flags(genesis, blocks);
    let miners: Vec<_> = (1..=3)
        .map(|i| {
            let mut cmd = miner_command_windows(dir, &url, i, w..=w + 1, &chain);
            cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let data = dir.join("slow");
    let mut slow = validator_command_windows(dir, &data, &url, w..=w + 1, 2, &chain);
    slow.args(["--verify.pace", "0.000001", "--verify.min-miners", "1", "--transcripts"]);
    let slow = slow.output().unwrap();
    let stdout = ok("paced validator", &slow);
    // The default pace, over the same files once the miners are done.
    for m in miners {
        let out = m.wait_with_output().unwrap();
        assert!(out.status.success(), "miner: {}", String::from_utf8_lossy(&out.stderr));
    }
    let full = validator_command_windows(dir, &dir.join("full"), &url, w..=w, 2, &chain)
        .args(["--storage.trust-store-times"])
        .output()
        .unwrap();
    let full: Value = serde_json::from_str(ok("default validator", &full).trim()).unwrap();
    assert_eq!(results(&full), ["pass", "pass", "pass"], "{full}");

    let lines: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in &lines {
        let mut got = results(line);
        got.sort();
        assert_eq!(got, ["pass", "unchecked", "unchecked"], "{line}");
        for v in line["verdicts"].as_array().unwrap() {
            if v["result"] == "unchecked" {
                assert_eq!(v["reason"], "not selected for checking this window", "{v}");
            }
        }
    }
    let stderr = String::from_utf8_lossy(&slow.stderr);
    assert!(stderr.contains("verifying the window took longer than its budget"), "{stderr}");

    for window in [w, w + 1] {
        let path = data.join("transcripts").join(format!("{window}.json"));
        let mut t: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(t["verify"]["miners_checked"], 1, "window {window}");
        let replayed: Value = serde_json::from_str(ok("replay", &replay(&path)).trim()).unwrap();
        assert_eq!(replayed["match"], true, "{replayed}");
        // Checking all three is another outcome than the one recorded.
        t["verify"]["miners_checked"] = 3.into();
        let edited = dir.join(format!("edited-{window}.json"));
        std::fs::write(&edited, serde_json::to_vec(&t).unwrap()).unwrap();
        let out = replay(&edited);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "an edited count replayed: {stderr}");
        assert!(stderr.contains("difference: "), "{stderr}");
    }
}

//! A validator that cannot keep pace checks only its floor of miners: three honest miners mine
//! two windows on the tiny model, and `grail-validator run` gets a budget of a few microseconds
//! per window (`--verify.pace 0.000001`) with a floor of one miner (`--verify.min-miners 1`).
//! The first window, with nothing measured yet, checks the cap (`--verify.miners`, 256: all
//! three pass) and runs over its budget, which the validator warns of. The second, sized from
//! that window's measured seconds, fully checks exactly one miner, which passes, and leaves the
//! other two `unchecked`. Each transcript records the count its window used and replays to a
//! match; the second's edited to check all three no longer does.
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
fn a_validator_short_of_time_checks_its_floor_after_the_first_window_and_replays() {
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
    for m in miners {
        let out = m.wait_with_output().unwrap();
        assert!(out.status.success(), "miner: {}", String::from_utf8_lossy(&out.stderr));
    }

    let lines: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(results(&lines[0]), ["pass", "pass", "pass"], "{}", lines[0]);
    let mut second = results(&lines[1]);
    second.sort();
    assert_eq!(second, ["pass", "unchecked", "unchecked"], "{}", lines[1]);
    for v in lines[1]["verdicts"].as_array().unwrap() {
        if v["result"] == "unchecked" {
            assert_eq!(v["reason"], "not selected for checking this window", "{v}");
        }
    }
    let stderr = String::from_utf8_lossy(&slow.stderr);
    assert!(stderr.contains("verifying the window took longer than its budget"), "{stderr}");

    for (window, count) in [(w, 256), (w + 1, 1)] {
        let path = data.join("transcripts").join(format!("{window}.json"));
        let mut t: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(t["verify"]["miners_checked"], count, "window {window}");
        let replayed: Value = serde_json::from_str(ok("replay", &replay(&path)).trim()).unwrap();
        assert_eq!(replayed["match"], true, "{replayed}");
        if count == 1 {
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
}

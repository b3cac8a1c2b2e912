//! A validator killed (SIGKILL) in the middle of a window and restarted reaches the same
//! verdicts and weights as one that ran uninterrupted, and counts no window twice.
//!
//! Local beacon (1 s rounds), 4-block windows of 1 s blocks; three one-shot miners per window
//! on the tiny model, miner 3 forging a token in the first window (so it fails there and is
//! excluded in the second: the exclusion must survive the crash). Validator A runs both
//! windows; validator B (another data folder, same inputs; the test build
//! `grail-validator-stalling`) stalls before each commit and is killed while stalling in the
//! second window, then restarted as the real `grail-validator`.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use grail_tests::{
    bin, ci_scale, clock_flags, fixture, miner_command, window_ahead, KillOnDrop, LocalBeacon,
};
use grail_validator::state::{Stage, State, VerdictResult};
use serde_json::Value;

/// 4-block windows of 1 s blocks (doubled under `CI=true`).
fn blocks() -> u64 {
    4 * ci_scale()
}

fn timing(genesis: u64) -> Vec<String> {
    clock_flags(genesis, blocks())
}

fn keygen(dir: &Path, i: u32) -> String {
    let out = Command::new(bin("grail-miner"))
        .arg("keygen")
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", &format!("h{i}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["ss58"].as_str().unwrap().to_owned()
}

/// Miner `i` of `window`: honest, or (`tamper`) the adversary forging a token in every rollout.
fn miner(dir: &Path, url: &str, genesis: u64, i: u32, window: u64, tamper: bool) -> KillOnDrop {
    let mut cmd = miner_command(dir, url, i, window, tamper, &timing(genesis));
    KillOnDrop(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
}

/// The validator, or (`stall`) its test build that pauses 3 s before each commit.
fn validator(dir: &Path, data: &str, url: &str, genesis: u64, w: u64, stall: bool) -> Command {
    let mut cmd = if stall {
        let mut cmd = Command::new(bin("grail-validator-stalling"));
        cmd.args(["--stall-before-commit-ms", "3000"]);
        cmd
    } else {
        let mut cmd = Command::new(bin("grail-validator"));
        cmd.arg("run");
        cmd
    };
    cmd.arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join(data))
        .arg("--metagraph")
        .arg(dir.join("metagraph.json"))
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(timing(genesis))
        .args(["--window.challenge-buffer", "2", "--max-new-tokens", "16", "--threads", "1"])
        .args(["--weights.span", "4", "--weights.cap", "16", "--weights.burn-bps", "5000"])
        .args(["--from-window", &w.to_string(), "--until-window", &(w + 1).to_string()])
        .arg("--storage.path")
        .arg(dir.join("storage"))
        .args(["--log.level", "info"]);
    cmd
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_validator_killed_mid_window_resumes_to_the_same_weights() {
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hotkeys: Vec<String> = (1..=3).map(|i| keygen(dir, i)).collect();
    let neurons: Vec<Value> = (1..=3u16)
        .zip(&hotkeys)
        .map(|(uid, hk)| serde_json::json!({"uid": uid, "hotkey": hk}))
        .collect();
    let metagraph = serde_json::json!({"netuid": 1, "burn_uid": 0, "neurons": neurons});
    std::fs::write(dir.join("metagraph.json"), metagraph.to_string()).unwrap();

    let w = window_ahead(genesis, blocks(), 2);
    let mut miners = Vec::new();
    for window in [w, w + 1] {
        for i in 1..=3 {
            miners.push(miner(dir, &url, genesis, i, window, i == 3 && window == w));
        }
    }

    let a = validator(dir, "a", &url, genesis, w, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut b = KillOnDrop(
        validator(dir, "b", &url, genesis, w, true)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Kill B while it stalls between verifying window w+1 and committing it.
    let stderr = b.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let target = format!("window={}", w + 1);
    let mut b_log = Vec::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            panic!("validator B never stalled in window {}:\n{}", w + 1, b_log.join("\n"))
        });
        let stalled = line.contains("stalling before commit") && line.contains(&target);
        b_log.push(line);
        if stalled {
            break;
        }
    }
    b.0.kill().unwrap(); // SIGKILL
    assert!(!b.0.wait().unwrap().success());
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut b.0.stdout.take().unwrap(), &mut stdout).unwrap();
    let first_run = lines(&stdout);
    assert_eq!(first_run.len(), 1, "B committed window {w} only: {first_run:?}");
    assert_eq!(first_run[0]["window"], w);
    {
        let state = State::open(&dir.join("b")).unwrap();
        assert_eq!(state.last_processed().unwrap(), Some(w), "window w+1 must not be committed");
    }

    let resumed = validator(dir, "b", &url, genesis, w, false).output().unwrap();
    let resumed_err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{resumed_err}");
    assert!(resumed_err.contains("resuming after the last committed window"), "{resumed_err}");
    let second_run = lines(&resumed.stdout);
    assert_eq!(second_run.len(), 1, "only window w+1 is processed again: {second_run:?}");
    assert_eq!(second_run[0]["window"], w + 1);

    let a = a.wait_with_output().unwrap();
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    for m in &mut miners {
        assert!(m.0.wait().unwrap().success(), "a miner failed");
    }
    let a_lines = lines(&a.stdout);
    let b_lines = [first_run, second_run].concat();
    assert_eq!(a_lines.len(), 2);
    for (x, y) in a_lines.iter().zip(&b_lines) {
        assert_eq!(x["window"], y["window"]);
        assert_eq!(x["verdicts"], y["verdicts"], "window {}", x["window"]);
        assert_eq!(x["weights"], y["weights"], "window {}", x["window"]);
    }
    for window in [w, w + 1] {
        let file = format!("weights/{window}.json");
        let wa = std::fs::read_to_string(dir.join("a").join(&file)).unwrap();
        let wb = std::fs::read_to_string(dir.join("b").join(&file)).unwrap();
        assert_eq!(wa, wb, "weights file of window {window}");
    }

    // What the windows hold: honest miners pass and get weight; miner 3 fails at sampling in
    // w and is excluded in w+1, in both states.
    for data in ["a", "b"] {
        let state = State::open(&dir.join(data)).unwrap();
        let first = state.verdicts(w).unwrap();
        let second = state.verdicts(w + 1).unwrap();
        assert_eq!((first.len(), second.len()), (3, 3), "{data}");
        for (v1, v2) in first.iter().zip(&second) {
            if v1.uid == 3 {
                assert_eq!((v1.result, v1.stage), (VerdictResult::Fail, Stage::Sampling));
                assert_eq!((v2.result, v2.stage), (VerdictResult::Unchecked, Stage::Excluded));
            } else {
                assert_eq!(v1.result, VerdictResult::Pass, "{data}: {v1:?}");
                assert_eq!(v2.result, VerdictResult::Pass, "{data}: {v2:?}");
            }
        }
    }
    let uids = &a_lines[1]["weights"]["uids"];
    assert_eq!(uids, &serde_json::json!([0, 1, 2]), "burn uid and the honest miners");
}

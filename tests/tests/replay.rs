//! `grail-validator replay` on the committed transcripts (fixtures/transcripts, made by
//! fixtures/scripts/make_transcripts.sh with the real binaries on the tiny model): each replays
//! to a match; a byte flipped in any embedded window file, a verdict or a weight edited in the
//! JSON, each makes replay exit non-zero and name the difference on stderr.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use grail_tests::{bin, fixture};
use serde_json::Value;

const TRANSCRIPTS: [&str; 2] = ["transcripts/honest.json", "transcripts/tampered-token.json"];

fn replay(path: &Path) -> (Output, Value) {
    let out = Command::new(bin("grail-validator"))
        .arg("replay")
        .arg(path)
        .arg("--model")
        .arg(fixture("models/tiny"))
        .args(["--threads", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout}\nstderr: {stderr}");
    let line = serde_json::from_str(stdout.trim()).unwrap();
    (out, line)
}

fn read(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

/// Writes `t` to a temporary file and replays it; asserts a reported mismatch and returns
/// stderr.
fn replay_mismatch(t: &Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    std::fs::write(&path, serde_json::to_vec(t).unwrap()).unwrap();
    let (out, line) = replay(&path);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "replay exited 0 on an edited transcript: {line}");
    assert_eq!(line["match"], false, "{line}\n{stderr}");
    assert!(stderr.contains("difference: "), "{stderr}");
    stderr
}

#[test]
fn committed_transcripts_replay_to_a_match() {
    for rel in TRANSCRIPTS {
        let t = read(rel);
        let (out, line) = replay(&fixture(rel));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{rel}: {stderr}");
        assert_eq!(line["match"], true, "{rel}");
        assert_eq!(line["window"], t["window"], "{rel}");
        assert_eq!(line["uids"], t["weights"]["uids"], "{rel}");
        assert_eq!(line["weights"], t["weights"]["weights"], "{rel}");
        assert_eq!(line["drand_key"], "local-dev", "{rel}");
    }
    // What the fixtures show: all honest miners pass; the tamperer fails at sampling and gets
    // no weight, while the honest ones do.
    let honest = read(TRANSCRIPTS[0]);
    let verdicts = honest["outcome"]["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 3);
    assert!(verdicts.iter().all(|v| v["result"] == "pass"), "{verdicts:?}");
    let tampered = read(TRANSCRIPTS[1]);
    let verdicts = tampered["outcome"]["verdicts"].as_array().unwrap();
    let failed: Vec<&Value> = verdicts.iter().filter(|v| v["result"] == "fail").collect();
    assert_eq!(failed.len(), 1, "{verdicts:?}");
    assert_eq!(failed[0]["stage"], "sampling");
    let uids = tampered["weights"]["uids"].as_array().unwrap();
    assert!(!uids.contains(&failed[0]["uid"]), "the tamperer has weight: {uids:?}");
    assert_eq!(uids.len(), 3, "burn uid and the two honest miners: {uids:?}");
}

#[test]
fn a_flipped_byte_in_any_window_file_is_reported() {
    for rel in TRANSCRIPTS {
        let t = read(rel);
        let objects = t["objects"].as_array().unwrap();
        assert!(!objects.is_empty(), "{rel}");
        for (i, o) in objects.iter().enumerate() {
            let bytes = BASE64.decode(o["bytes"].as_str().unwrap()).unwrap();
            // One byte near the start (the header) and one in the middle (the rollouts).
            for at in [7, bytes.len() / 2] {
                let mut flipped = bytes.clone();
                flipped[at] ^= 0x01;
                let mut edited = t.clone();
                edited["objects"][i]["bytes"] = Value::String(BASE64.encode(&flipped));
                let stderr = replay_mismatch(&edited);
                let key = o["key"].as_str().unwrap();
                let miner = key.rsplit('/').next().unwrap().trim_end_matches(".grail");
                assert!(stderr.contains(&format!("object {key}: cid")), "{rel} {at}: {stderr}");
                // The recomputed verdict of that miner differs too, and only that miner's.
                let verdict_lines: Vec<&str> =
                    stderr.lines().filter(|l| l.contains("outcome: verdicts: ")).collect();
                assert!(!verdict_lines.is_empty(), "{rel} byte {at} of {key}: {stderr}");
                assert!(
                    verdict_lines.iter().all(|l| l.contains(&format!("miner {miner} "))),
                    "{rel} byte {at}: {stderr}"
                );
            }
        }
    }
}

#[test]
fn an_edited_verdict_or_weight_is_reported() {
    let t = read(TRANSCRIPTS[1]);
    let v = &t["outcome"]["verdicts"][0];
    let (hotkey, uid) = (v["hotkey"].as_str().unwrap(), v["uid"].as_u64().unwrap());
    let mut edited = t.clone();
    let n = v["unique_estimated"].as_u64().unwrap();
    edited["outcome"]["verdicts"][0]["unique_estimated"] = (n + 1).into();
    let stderr = replay_mismatch(&edited);
    assert!(
        stderr.contains(&format!(
            "outcome: verdicts: miner {hotkey} (uid {uid}): unique_estimated: transcript {}, \
             recomputed {n}",
            n + 1
        )),
        "{stderr}"
    );

    let mut edited = t.clone();
    edited["outcome"]["verdicts"][0]["stage"] = "header".into();
    let stderr = replay_mismatch(&edited);
    assert!(stderr.contains(&format!("miner {hotkey} (uid {uid}): stage: ")), "{stderr}");

    let mut edited = t.clone();
    let w = t["weights"]["weights"][1].as_u64().unwrap();
    edited["weights"]["weights"][1] = (w - 1).into();
    let stderr = replay_mismatch(&edited);
    assert!(stderr.contains(&format!("weights: weights[1]: transcript {}", w - 1)), "{stderr}");
}

//! A flood in one window, against the real binaries on the tiny model: besides two honest
//! miners, 50 registered hotkeys each have a file of 10 × `--verify.max-file-bytes` under their
//! key (sparse), and 1,000 unregistered hotkeys each have a file in their own part of the store.
//! Validator A watches that store; validator B a clean copy of the honest miners' files, with
//! the same metagraph. A reads none of the oversized files (each is refused by its size, once,
//! as `unreadable`), never touches an unregistered hotkey's object, and ends with B's verdicts
//! and weights, within 2 s of B's wall time and 400 MB of memory. Prints both validators' times
//! and A's peak memory.
//! Local beacon (1 s rounds), local clock chain, 4-block windows (doubled under `CI=true`).
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grail_protocol::keys::HotkeyPair;
use grail_protocol::window_file::window_file_key;
use grail_tests::{
    bin, ci_scale, clock_flags, fixture, keygen, miner_command, peak_kb, window_ahead, KillOnDrop,
    LocalBeacon,
};
use serde_json::Value;

const OVERSIZED: usize = 50;
const STRANGERS: usize = 1000;
const MAX_FILE_BYTES: u64 = 1 << 20;

fn blocks() -> u64 {
    4 * ci_scale()
}

fn hotkey(seed: usize) -> String {
    let mut secret = [7u8; 32];
    secret[..8].copy_from_slice(&(seed as u64).to_le_bytes());
    HotkeyPair::from_mini_secret(&secret).unwrap().hotkey().to_ss58()
}

fn validator(dir: &Path, url: &str, genesis: u64, data: &str, store: &Path, w: u64) -> Child {
    Command::new(bin("grail-validator"))
        .arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join(data))
        .arg("--metagraph")
        .arg(dir.join("metagraph.json"))
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(clock_flags(genesis, blocks()))
        .args(["--window.challenge-buffer", "2"])
        .args(["--max-new-tokens", "16", "--threads", "1"])
        .args(["--verify.max-file-bytes", &MAX_FILE_BYTES.to_string()])
        .args(["--weights.span", "2", "--weights.cap", "16", "--weights.burn-bps", "5000"])
        .args(["--from-window", &w.to_string(), "--until-window", &w.to_string()])
        .arg("--storage.path")
        .arg(store)
        .args(["--log.level", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` on a thread: its stdout, stderr and the seconds it ran since `start`.
fn finish(mut child: Child, start: Instant) -> std::thread::JoinHandle<(String, String, f64)> {
    std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut e = String::new();
            stderr.read_to_string(&mut e).unwrap();
            e
        });
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let status = child.wait().unwrap();
        let seconds = start.elapsed().as_secs_f64();
        err.push_str(&reader.join().unwrap());
        assert!(status.success(), "validator failed: {err}");
        (out, err, seconds)
    })
}

#[test]
fn oversized_files_and_unregistered_objects_change_nothing() {
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let honest = [keygen(dir, "h1"), keygen(dir, "h2")];
    let oversized: Vec<String> = (0..OVERSIZED).map(hotkey).collect();
    let strangers: Vec<String> = (OVERSIZED..OVERSIZED + STRANGERS).map(hotkey).collect();
    let neurons: Vec<Value> = honest
        .iter()
        .chain(&oversized)
        .enumerate()
        .map(|(i, hk)| serde_json::json!({"uid": i + 1, "hotkey": hk}))
        .collect();
    let metagraph = serde_json::json!({"netuid": 1, "burn_uid": 0, "neurons": neurons});
    std::fs::write(dir.join("metagraph.json"), metagraph.to_string()).unwrap();
    let w = window_ahead(genesis, blocks(), 2);

    // The flood, in place before the window starts.
    let flooded = dir.join("storage");
    let put = |hk: &str| {
        let key = window_file_key(w, &hk.parse().unwrap());
        let path = flooded.join(hk).join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(&path).unwrap()
    };
    for hk in &oversized {
        put(hk).set_len(10 * MAX_FILE_BYTES).unwrap();
    }
    for hk in &strangers {
        std::io::Write::write_all(&mut put(hk), &[0x5a; 4096]).unwrap();
    }

    let start = Instant::now();
    let a = validator(dir, &url, genesis, "a", &flooded, w);
    let b = validator(dir, &url, genesis, "b", &dir.join("clean"), w);
    let peak = Arc::new(Mutex::new(0u64));
    let a_pid = a.id();
    let watcher = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while let Some(kb) = peak_kb(a_pid) {
                *peak.lock().unwrap() = kb;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let (a, b) = (finish(a, start), finish(b, start));
    let timing = clock_flags(genesis, blocks());
    for (i, hk) in (1..=2).zip(&honest) {
        let mut miner = miner_command(dir, &url, i, w, false, &timing);
        let mut miner =
            KillOnDrop(miner.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
        assert!(miner.0.wait().unwrap().success(), "honest miner h{i}");
        // B's store gets the same honest file at once.
        let key = window_file_key(w, &hk.parse().unwrap());
        let to = dir.join("clean").join(hk).join(&key);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(flooded.join(hk).join(&key), to).unwrap();
    }
    let (a_out, a_log, a_s) = a.join().unwrap();
    let (b_out, _, b_s) = b.join().unwrap();
    watcher.join().unwrap();
    let peak_mb = *peak.lock().unwrap() / 1024;
    println!(
        "validator A (flooded) {a_s:.1} s, B (clean) {b_s:.1} s, A's peak memory {peak_mb} MB"
    );

    let line = |out: &str| -> Value { serde_json::from_str(out.trim()).unwrap() };
    let (a_line, b_line) = (line(&a_out), line(&b_out));
    assert_eq!(a_line["weights"], b_line["weights"], "the flood changes no weight");
    let verdict = |l: &Value, hk: &str| -> Value {
        l["verdicts"].as_array().unwrap().iter().find(|v| v["hotkey"] == hk).cloned().unwrap()
    };
    for hk in &honest {
        assert_eq!(verdict(&a_line, hk)["result"], "pass", "{a_line}");
        assert_eq!(verdict(&a_line, hk), verdict(&b_line, hk));
    }
    for hk in &oversized {
        assert_eq!(verdict(&a_line, hk)["result"], "absent", "{hk}");
        let refused: Vec<&str> = a_log
            .lines()
            .filter(|l| l.contains("store object not taken") && l.contains(hk.as_str()))
            .collect();
        assert_eq!(refused.len(), 1, "refused once by its size: {refused:?}");
        assert!(
            refused[0].contains("unreadable") && refused[0].contains("over the limit"),
            "{}",
            refused[0]
        );
    }
    for hk in &strangers {
        assert!(!a_log.contains(hk.as_str()), "an unregistered hotkey's object was touched: {hk}");
    }
    assert!(a_s <= b_s + 2.0, "A took {a_s:.1} s, B {b_s:.1} s");
    assert!(peak_mb < 400, "validator A peaked at {peak_mb} MB");
}

//! The miner's Prometheus metrics on a real process: `grail-miner mine --metrics.listen
//! 127.0.0.1:0` on the tiny model over two windows (local beacon, local clock chain); once the
//! first window's report is out, `GET /metrics` answers the text format with the window
//! counted, its tokens per second, the upload histogram, the model and device, and the
//! process's own metrics.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use grail_tests::{bin, fixture, http_get, keygen, KillOnDrop, LocalBeacon};

/// Sample lines as (name with labels, value).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap_or_else(|_| panic!("{l}")))
        })
        .collect()
}

#[test]
fn a_mining_miner_serves_its_metrics() {
    let beacon = LocalBeacon::start(1);
    let genesis = beacon.genesis().to_string();
    let dir = tempfile::tempdir().unwrap();
    let hotkey = keygen(dir.path(), "h0");
    let mut miner = KillOnDrop(
        Command::new(bin("grail-miner"))
            .arg("mine")
            .arg("--wallet.path")
            .arg(dir.path().join("wallets"))
            .args(["--wallet.name", "m", "--wallet.hotkey", "h0"])
            .arg("--model")
            .arg(fixture("models/tiny"))
            .args(["--beacon.chain", "local", "--beacon.relay", &beacon.url()])
            .args(["--chain.genesis", &genesis, "--chain.block-time", "1", "--window.blocks", "2"])
            .args(["--from-window", "2", "--until-window", "3", "--problems", "1"])
            .args(["--max-new-tokens", "16", "--threads", "1"])
            .args(["--metrics.listen", "127.0.0.1:0"])
            .arg("--storage.path")
            .arg(dir.path().join("storage"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stderr = miner.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("url=http://").nth(1) {
                let _ = tx.send(url.trim_end_matches("/metrics").to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the miner logs its metrics url");
    let mut report = String::new();
    BufReader::new(miner.0.stdout.take().unwrap()).read_line(&mut report).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["window"], 2, "{report}");

    let (status, body) = http_get(&addr, "/metrics").unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let s = samples(&body);
    assert!(s["grail_miner_windows_mined_total"] >= 1.0, "{body}");
    assert!(s["grail_miner_tokens_total"] >= report["completion_tokens"].as_f64().unwrap());
    assert!(s["grail_miner_tokens_per_second"] > 0.0, "{body}");
    assert!(s["grail_miner_rollouts_per_second"] > 0.0, "{body}");
    assert_eq!(s["grail_miner_groups"], 1.0, "{body}");
    assert!(s["grail_miner_upload_seconds_count"] >= 1.0, "{body}");
    assert!(s["grail_miner_upload_bytes"] > 0.0, "{body}");
    let info = s.keys().find(|k| k.starts_with("grail_miner_info{")).expect("the info gauge");
    assert!(
        info.contains("device=\"cpu\"") && info.contains(&format!("hotkey=\"{hotkey}\"")),
        "{info}"
    );
    assert!(info.contains("model_id=\"b"), "the model id as a CID: {info}");
    assert!(s["process_resident_memory_bytes"] > 0.0, "{body}");
    assert!(body.contains("# TYPE grail_miner_upload_seconds histogram"), "{body}");
    assert_eq!(http_get(&addr, "/other").unwrap().0.split(' ').nth(1), Some("404"));
}

//! A store per miner, named on chain, as processes on loopback: `grail-devchain`, miners that
//! publish their stores with `grail-miner commit`, and a validator that reads each miner from
//! the store its commitment names.
//!
//! - Griefing: miner A (`h2`) holds write access to its own folder and to the validator's own
//!   store, nothing of B's (`h1`). Before B uploads, A plants garbage under B's name in both;
//!   the validator reads B only from B's committed folder, so B passes and nothing A planted
//!   is read as B's.
//! - Credentials: miner C (`h3`) commits an anonymous S3 store whose endpoint is a recording
//!   server; the validator runs with `AWS_*` keys in its environment, and no request to C's
//!   endpoint carries them (or any signature).
//! - Progress: without a terminal, the miner logs a line per group mined and the validator one
//!   per miner checked.
//!
//! Local beacon (1 s rounds), 1 s blocks, 4-block windows (doubled under `CI=true`).
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use grail_protocol::keys::Hotkey;
use grail_protocol::window_file::window_file_key;
use grail_tests::{
    bin, ci_scale, devchain_flags, fixture, keygen, miner_command, DevChain, KillOnDrop,
    LocalBeacon,
};
use serde_json::{json, Value};

const VALIDATOR_KEY_ID: &str = "AKIDVALIDATORPRIVATE";

fn blocks() -> u64 {
    4 * ci_scale()
}

/// Answers every request with 404 and keeps each request's head, lowercased.
fn recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_lowercase());
            }
            kept.lock().unwrap().push(head);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, seen)
}

/// `grail-miner commit` of hotkey `name` with `storage` flags; its JSON line.
fn commit(dir: &Path, endpoint: &str, name: &str, storage: &[&str]) -> Value {
    let out = Command::new(bin("grail-miner"))
        .arg("commit")
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", name])
        .args(["--netuid", "1", "--subtensor.chain_endpoint", endpoint, "--chain.block-time", "1"])
        .args(storage)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "commit {name}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn each_miner_is_read_from_its_committed_store_only() {
    let beacon = LocalBeacon::start(1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = ["owner", "h1", "h2", "h3"];
    let hotkeys: Vec<String> = names.iter().map(|n| keygen(dir, n)).collect();
    let neurons: Vec<Value> = hotkeys
        .iter()
        .map(|hk| json!({"hotkey": hk, "stake": 1_000_000_000u64, "validator_permit": false}))
        .collect();
    let balances: Vec<Value> =
        hotkeys.iter().map(|hk| json!({"account": hk, "free": 1_000_000_000u64})).collect();
    let genesis = json!({
        "netuid": 1, "owner": hotkeys[0], "tempo": 360, "neurons": neurons, "balances": balances,
    });
    let chain = DevChain::start(dir, &genesis, 1000);
    let (s3, requests) = recorder();

    // B's folder is where `miner_command` writes (`dir/storage`); A's is its own; C's an S3
    // bucket behind the recorder, read anonymously.
    let b =
        commit(dir, &chain.ws(), "h1", &["--storage.path", dir.join("storage").to_str().unwrap()]);
    let a = commit(dir, &chain.ws(), "h2", &["--storage.path", dir.join("a").to_str().unwrap()]);
    let c = commit(
        dir,
        &chain.ws(),
        "h3",
        &["--storage.url", "s3://miner-c", "--storage.endpoint", &s3, "--storage.allow-http"],
    );
    assert_eq!(b["sent"], true, "{b}");
    assert_eq!(b["store_url"], format!("file://{}/{}", dir.join("storage").display(), hotkeys[1]));
    assert_eq!(a["fields"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(c["store_url"], format!("s3://miner-c/{}", hotkeys[3]), "{c}");
    let fields: Vec<&str> =
        c["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(fields[1], format!("endpoint={s3} region=us-east-1 allow_http=true"), "{c}");
    assert_eq!(fields.len(), 2, "no read keys: {c}");
    // The same fields again: nothing is sent.
    let again =
        commit(dir, &chain.ws(), "h1", &["--storage.path", dir.join("storage").to_str().unwrap()]);
    assert_eq!(again["sent"], false, "{again}");

    let best: u64 = {
        let header = chain.rpc("chain_getHeader", json!([]));
        u64::from_str_radix(header["number"].as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap()
    };
    let w = best / blocks() + 2;
    // A plants garbage under B's name where it can write: its own folder, and B's part of the
    // validator's own store (where a miner without a commitment is read).
    let b_key = window_file_key(w, &Hotkey::from_ss58(&hotkeys[1]).unwrap());
    for planted in [
        dir.join(format!("a/{}/{b_key}", hotkeys[2])),
        dir.join(format!("shared/{}/{b_key}", hotkeys[1])),
    ] {
        std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
        std::fs::write(&planted, b"planted under B's name").unwrap();
    }

    let flags = devchain_flags(&chain.ws(), blocks());
    let mut miner = miner_command(dir, &beacon.url(), 1, w, false, &flags);
    let miner = KillOnDrop(miner.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let validator = Command::new(bin("grail-validator"))
        .arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join("v"))
        .args(["--beacon.chain", "local", "--beacon.relay", &beacon.url()])
        .args(&flags)
        .args(["--window.challenge-buffer", "2", "--max-new-tokens", "16", "--threads", "1"])
        .args(["--weights.span", "2", "--weights.cap", "16", "--weights.burn-bps", "2500"])
        .args(["--weights.on-chain", "false", "--commitments.allow-local"])
        .args(["--from-window", &w.to_string(), "--until-window", &w.to_string()])
        .arg("--storage.path")
        .arg(dir.join("shared"))
        .args(["--log.level", "info"])
        .env("AWS_ACCESS_KEY_ID", VALIDATOR_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", "validator-secret")
        .env("AWS_SESSION_TOKEN", "validator-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = validator.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Without a terminal, progress is a log line per group mined and per miner checked.
    let mut miner = miner;
    let mut mined = String::new();
    miner.0.stderr.take().unwrap().read_to_string(&mut mined).unwrap();
    assert!(miner.0.wait().unwrap().success(), "{mined}");
    assert!(mined.lines().any(|l| l.contains("group mined") && l.contains("problem=0")), "{mined}");
    let checked = |l: &str| l.contains("miner checked") && l.contains(hotkeys[1].as_str());
    assert!(log.lines().any(|l| checked(l) && l.contains("passed")), "B checked: {log}");
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(line["window"], w, "{line}");

    for hk in &hotkeys[1..] {
        assert!(
            log.lines()
                .any(|l| l.contains("miner's store from its commitment") && l.contains(hk.as_str())),
            "{hk}'s committed store opened: {log}"
        );
    }
    let verdict = |hk: &str| -> Value {
        line["verdicts"].as_array().unwrap().iter().find(|v| v["hotkey"] == hk).cloned().unwrap()
    };
    assert_eq!(verdict(&hotkeys[1])["result"], "pass", "B passes: {line}");
    assert!(
        !log.lines().any(|l| l.contains("not taken") && l.contains(hotkeys[1].as_str())),
        "nothing planted was read as B's: {log}"
    );
    let uids = line["weights"]["uids"].as_array().unwrap();
    assert!(uids.contains(&json!(1)), "B is weighted: {line}");

    // C's endpoint was polled for C's key, with nothing of the validator's keys.
    let heads = requests.lock().unwrap().clone();
    let c_key = format!("/miner-c/{}/windows/{w}/", hotkeys[3]).to_lowercase();
    assert!(heads.iter().any(|h| h.contains(&c_key)), "C's store was read: {heads:?}");
    for h in &heads {
        assert!(!h.contains(&VALIDATOR_KEY_ID.to_lowercase()), "{h}");
        assert!(!h.contains("validator-token") && !h.contains("authorization:"), "{h}");
    }
}

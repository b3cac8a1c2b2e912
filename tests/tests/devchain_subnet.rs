//! The subnet on a node: `grail-devchain` (subtensor's wire format), three miners over its
//! WebSocket endpoint and a validator over its HTTP endpoint, as processes on loopback. No
//! metagraph file: the validator reads uids and hotkeys from chain storage. The window seed
//! uses the dev chain's real block hash: the transcript's and every miner file's
//! `first_block_hash` are `chain_getBlockHash(w·L)`, and the window's clock is anchored at that
//! block's `Timestamp.Now`.
//!
//! Local beacon (1 s rounds), 1 s blocks, 4-block windows (doubled under `CI=true`); uid 0 the
//! subnet owner (burn), uids 1 and 2 honest, uid 3 the adversary forging a token.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use grail_protocol::codec::{decode, Limits};
use grail_tests::{
    bin, ci_scale, devchain_flags, fixture, keygen, miner_command, DevChain, KillOnDrop,
    LocalBeacon,
};
use serde_json::{json, Value};

/// `twox128("Timestamp") ++ twox128("Now")`.
const TIMESTAMP_NOW: &str = "0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb";

fn blocks() -> u64 {
    4 * ci_scale()
}

fn chain_flags(endpoint: &str) -> Vec<String> {
    devchain_flags(endpoint, blocks())
}

fn miner(dir: &Path, beacon: &str, endpoint: &str, i: u32, w: u64) -> KillOnDrop {
    let mut cmd = miner_command(dir, beacon, i, w, i == 3, &chain_flags(endpoint));
    KillOnDrop(cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap())
}

fn hex32(v: &Value) -> String {
    v.as_str().unwrap().trim_start_matches("0x").to_owned()
}

#[test]
fn miners_and_a_validator_agree_on_the_dev_chains_block_hash() {
    let beacon = LocalBeacon::start(1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let owner = keygen(dir, "owner");
    let hotkeys: Vec<String> = (1..=3).map(|i| keygen(dir, &format!("h{i}"))).collect();
    let neurons: Vec<Value> = std::iter::once(&owner)
        .chain(&hotkeys)
        .map(|hk| json!({"hotkey": hk, "stake": 1_000_000_000u64}))
        .collect();
    let genesis = json!({"netuid": 1, "owner": owner, "neurons": neurons});
    let chain = DevChain::start(dir, &genesis, 1000);

    // A window far enough ahead for every process to start.
    let head = chain.rpc("chain_getHeader", json!([]));
    let best =
        u64::from_str_radix(head["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let w = best / blocks() + 3;
    let mut miners: Vec<KillOnDrop> =
        (1..=3).map(|i| miner(dir, &beacon.url(), &chain.ws(), i, w)).collect();
    let out = Command::new(bin("grail-validator"))
        .arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join("v"))
        .args(["--beacon.chain", "local", "--beacon.relay", &beacon.url()])
        .args(chain_flags(&chain.http()))
        .args(["--window.challenge-buffer", "2", "--max-new-tokens", "16", "--threads", "1"])
        .args(["--weights.span", "2", "--weights.cap", "16", "--weights.burn-bps", "5000"])
        .args(["--weights.on-chain", "false"])
        .args(["--from-window", &w.to_string(), "--until-window", &w.to_string()])
        .arg("--storage.path")
        .arg(dir.join("storage"))
        .args(["--transcripts", "--log.level", "info"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for m in &mut miners {
        let status = m.0.wait().unwrap();
        let mut log = String::new();
        std::io::Read::read_to_string(&mut m.0.stderr.take().unwrap(), &mut log).unwrap();
        assert!(status.success(), "a miner failed: {log}");
        assert!(log.contains(&format!("genesis {}", chain.genesis_hash)), "{log}");
    }
    assert!(stderr.contains(&format!("chain: {}", chain.http())), "{stderr}");
    assert!(stderr.contains(&format!("genesis {}", chain.genesis_hash)), "{stderr}");

    // Verdicts from the chain's metagraph: uids 1, 2 pass, 3 fails at sampling.
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(line["window"], w);
    let mut verdicts: Vec<(u64, String, String, String)> = line["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            (v["uid"].as_u64().unwrap(), s("hotkey"), s("result"), s("stage"))
        })
        .collect();
    verdicts.sort();
    let results: Vec<(u64, &str)> = verdicts.iter().map(|(u, _, r, _)| (*u, r.as_str())).collect();
    assert_eq!(results, [(1, "pass"), (2, "pass"), (3, "fail")], "{line}");
    assert_eq!(verdicts[2].3, "sampling", "{line}");
    for (uid, hk, ..) in &verdicts {
        assert_eq!(hk, &hotkeys[usize::try_from(*uid).unwrap() - 1], "uid {uid}");
    }
    assert_eq!(line["weights"]["uids"], json!([0, 1, 2]), "the owner's uid burns");

    // The window's block hash: the chain's, in the transcript and in every miner's header.
    let first_block = w * blocks();
    let hash = chain.rpc("chain_getBlockHash", json!([first_block]));
    let transcript: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("v/transcripts/{w}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(hex32(&transcript["first_block_hash"]), hex32(&hash));
    let objects = transcript["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 3, "{objects:?}");
    for o in objects {
        let bytes = BASE64.decode(o["bytes"].as_str().unwrap()).unwrap();
        let file = decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(hex::encode(file.header.first_block_hash), hex32(&hash), "{}", o["key"]);
        assert_eq!(file.header.window, w);
    }

    // The window's clock: anchored at that block's timestamp.
    let at = chain.rpc("state_getStorage", json!([TIMESTAMP_NOW, hash]));
    let raw = hex::decode(hex32(&at)).unwrap();
    let ms = u64::from_le_bytes(raw.try_into().unwrap());
    assert_eq!(transcript["clock"]["genesis_unix"], ms / 1000 - first_block);
    assert_eq!(transcript["clock"]["block_time_s"], 1);

    // An auditor gets the same verdicts and weights from the transcript alone.
    let replay = Command::new(bin("grail-validator"))
        .arg("replay")
        .arg(dir.join(format!("v/transcripts/{w}.json")))
        .arg("--model")
        .arg(fixture("models/tiny"))
        .args(["--threads", "1"])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
}

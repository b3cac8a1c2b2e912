//! Weights on chain with timelocked commit-reveal, as processes on loopback: `grail-devchain`
//! (commit-reveal on, as subtensor's default; drand pulses from the local beacon), one honest
//! miner, and two validators that each put their weights on chain with
//! `commit_timelocked_weights`. The chain reveals the commits in the next epoch with the
//! beacon's signature of the reveal round, and the weights it stores are each validator's. A
//! third validator key commits a payload naming another hotkey: the chain drops it, as
//! subtensor does.
//!
//! Local beacon (1 s rounds), 1 s blocks, 4-block windows (doubled under `CI=true`), tempo 9.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use grail_chain::rpc::submit::Call;
use grail_chain::rpc::{ClientOptions, SubtensorClient};
use grail_chain::tlock::{
    encrypt_weights, reveal_round, Epochs, RoundSchedule, WeightsTlockPayload,
};
use grail_protocol::keys::HotkeyPair;
use grail_tests::{
    bin, ci_scale, devchain_flags, fixture, keygen, miner_command, DevChain, KillOnDrop,
    LocalBeacon,
};
use serde_json::{json, Value};

const TEMPO: u16 = 9;

fn blocks() -> u64 {
    4 * ci_scale()
}

fn chain_flags(endpoint: &str) -> Vec<String> {
    devchain_flags(endpoint, blocks())
}

fn validator(dir: &Path, beacon: &str, endpoint: &str, name: &str, w: u64) -> std::process::Child {
    Command::new(bin("grail-validator"))
        .arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join(name))
        .args(["--beacon.chain", "local", "--beacon.relay", beacon])
        .args(chain_flags(endpoint))
        .args(["--window.challenge-buffer", "2", "--max-new-tokens", "16", "--threads", "1"])
        .args(["--weights.span", "2", "--weights.cap", "16", "--weights.burn-bps", "2500"])
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", name])
        .args(["--from-window", &w.to_string(), "--until-window", &w.to_string()])
        .arg("--storage.path")
        .arg(dir.join("storage"))
        .args(["--log.level", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn pair(dir: &Path, name: &str) -> HotkeyPair {
    let path = dir.join(format!("wallets/m/hotkeys/{name}"));
    grail_wallet::read_hotkey_file(&path).unwrap().pair
}

async fn client(url: String) -> SubtensorClient {
    SubtensorClient::connect(ClientOptions {
        endpoint: url,
        block_time_s: 1,
        request_timeout: Duration::from_secs(5),
        expected_genesis: None,
    })
    .await
    .unwrap()
}

/// Polls `Weights(1, uid)` until it is set, for at most `limit`.
async fn revealed(c: &SubtensorClient, uid: u16, limit: Duration) -> Vec<(u16, u16)> {
    let started = Instant::now();
    loop {
        let head = c.finalized().unwrap();
        let w = c.weights_of(1, uid, head.hash).await.unwrap();
        if !w.is_empty() || started.elapsed() > limit {
            return w;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn finished(child: std::process::Child) -> (Output, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (out, stderr)
}

#[test]
fn two_validators_commit_and_the_chain_reveals_their_weights() {
    let beacon = LocalBeacon::start(1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = ["owner", "v1", "v2", "h1", "v3"];
    let hotkeys: Vec<String> = names.iter().map(|n| keygen(dir, n)).collect();
    let neurons: Vec<Value> = hotkeys
        .iter()
        .zip(names)
        .map(|(hk, n)| {
            let permit = n.starts_with('v');
            json!({"hotkey": hk, "stake": 1_000_000_000u64, "validator_permit": permit})
        })
        .collect();
    let balances: Vec<Value> =
        hotkeys.iter().map(|hk| json!({"account": hk, "free": 1_000_000_000u64})).collect();
    let genesis = json!({
        "netuid": 1, "owner": hotkeys[0], "tempo": TEMPO, "weights_rate_limit": 0,
        "neurons": neurons, "balances": balances,
    });
    let beacon_flags = ["--beacon.chain", "local", "--beacon.relays", &beacon.url()];
    let chain = DevChain::start_with(dir, &genesis, 1000, &beacon_flags);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt.block_on(client(chain.ws()));

    let best = rt.block_on(c.best_block()).unwrap();
    let w = best / blocks() + 3;
    let mut miner = miner_command(dir, &beacon.url(), 1, w, false, &chain_flags(&chain.ws()));
    let miner = KillOnDrop(miner.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let v1 = validator(dir, &beacon.url(), &chain.http(), "v1", w);
    let v2 = validator(dir, &beacon.url(), &chain.ws(), "v2", w);

    // The third key commits a payload that names v1: the chain must drop it at reveal.
    let v3 = pair(dir, "v3");
    let v1_pair = pair(dir, "v1");
    let head = c.finalized().unwrap();
    let target = reveal_round(
        Epochs { tempo: TEMPO, netuid: 1 },
        1,
        head.number,
        grail_drand::unix_now() as f64,
        1.0,
        RoundSchedule { genesis_time: beacon.genesis(), period: 1 },
    );
    let forged = WeightsTlockPayload {
        hotkey: v1_pair.hotkey().0.to_vec(),
        uids: vec![0, 3],
        values: vec![65535, 65535],
        version_key: 1,
    };
    let mut rng = <rand_chacha_03::ChaCha20Rng as rand_core_06::SeedableRng>::from_entropy();
    let key = grail_drand::dev::dev_public_key();
    let commit = encrypt_weights(&key, target.reveal_round, &forged, &mut rng).unwrap();
    let call = Call::commit_timelocked_weights(1, &commit, target.reveal_round, 4);
    let inclusion = rt.block_on(c.submit(&call, &v3)).unwrap();

    let (out1, log1) = finished(v1);
    let (out2, log2) = finished(v2);
    drop(miner);
    for log in [&log1, &log2] {
        assert!(log.contains("commit_timelocked_weights"), "{log}");
        assert!(log.contains("weights submission settled"), "{log}");
        assert!(log.contains("Included"), "{log}");
    }
    let line = |out: &Output| -> Value {
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
    };
    let (l1, l2) = (line(&out1), line(&out2));
    assert_eq!(l1["window"], w);
    let pairs = |l: &Value| -> Vec<(u16, u16)> {
        let uids = l["weights"]["uids"].as_array().unwrap();
        let ws = l["weights"]["weights"].as_array().unwrap();
        uids.iter()
            .zip(ws)
            .map(|(u, v)| (u.as_u64().unwrap() as u16, v.as_u64().unwrap() as u16))
            .collect()
    };
    let (p1, p2) = (pairs(&l1), pairs(&l2));
    assert_eq!(p1.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 3], "burn and the miner: {l1}");

    // Before the reveal epoch nothing is revealed; then each validator's weights are the chain's.
    let patience = Duration::from_secs(u64::from(TEMPO + 1) * 3 + 20);
    let on_chain_v1 = rt.block_on(revealed(&c, 1, patience));
    let on_chain_v2 = rt.block_on(revealed(&c, 2, patience));
    // The chain holds each validator's weights, plus the zero weights that pad them to the
    // subnet's MinAllowedWeights.
    for (chain_side, mine, log) in [(&on_chain_v1, &p1, &log1), (&on_chain_v2, &p2, &log2)] {
        let nonzero: Vec<(u16, u16)> = chain_side.iter().copied().filter(|p| p.1 != 0).collect();
        assert_eq!(&nonzero, mine, "{log}");
        assert!(chain_side.len() >= mine.len(), "{chain_side:?}");
    }
    // v3's commit leaves its epoch's queue at the reveal, and no weights come of it.
    let epochs = Epochs { tempo: TEMPO, netuid: 1 };
    let epoch = epochs.epoch_of(inclusion.block);
    let started = Instant::now();
    let head = loop {
        let head = c.finalized().unwrap();
        let queue = rt.block_on(c.timelocked_commits(1, epoch, head.hash)).unwrap();
        if !queue.iter().any(|q| q.who == v3.hotkey().0) {
            break head;
        }
        assert!(started.elapsed() < patience, "v3's commit was never taken: {queue:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let v3_weights = rt.block_on(c.weights_of(1, 4, head.hash)).unwrap();
    assert!(v3_weights.is_empty(), "a payload naming another hotkey is dropped: {v3_weights:?}");
}

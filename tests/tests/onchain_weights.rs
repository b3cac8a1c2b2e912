//! The validator's weights-on-chain task ([`grail_validator::onchain::OnChain`]) against an
//! in-process dev chain: a restart neither sends twice nor skips an epoch, an attempt whose
//! process died after sending is settled from the chain instead of sent again, and an
//! extrinsic signed while finality lags by more than an era still lands.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use grail_chain::rpc::submit::Call;
use grail_chain::rpc::{ClientOptions, SubtensorClient};
use grail_chain::tlock::{Epochs, RoundSchedule};
use grail_devchain::genesis::Genesis;
use grail_devchain::Options;
use grail_protocol::keys::HotkeyPair;
use grail_validator::http::LiveStatus;
use grail_validator::onchain::{OnChain, OnChainConfig, Step};
use grail_validator::state::{NewSubmission, State, SubmissionStatus};
use grail_weights::{compute_weights, MinerRecord, WeightsConfig, WindowRecord};
use serde_json::json;

const NETUID: u16 = 3;
const TEMPO: u16 = 40;

fn pair(seed: u8) -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[seed; 32]).unwrap()
}

/// Uid 0 the validator (permit, funded), uids 1 and 2 miners; commit-reveal off.
async fn start(block_ms: u64, finality_lag: u64) -> grail_devchain::Running {
    let neurons = json!([
        {"hotkey": pair(1).hotkey(), "validator_permit": true, "stake": 1000},
        {"hotkey": pair(101).hotkey()},
        {"hotkey": pair(102).hotkey()},
    ]);
    let genesis: Genesis = serde_json::from_value(json!({
        "netuid": NETUID,
        "tempo": TEMPO,
        "commit_reveal_enabled": false,
        "weights_rate_limit": 0,
        "neurons": neurons,
        "balances": [{"account": pair(1).hotkey(), "free": 1_000_000_000u64}],
    }))
    .unwrap();
    let options = Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_time: Duration::from_millis(block_ms),
        finality_lag,
        state_pruning: None,
        beacon: None,
    };
    grail_devchain::start(&genesis, &options).await.unwrap()
}

async fn client(url: String) -> SubtensorClient {
    let c = SubtensorClient::connect(ClientOptions {
        endpoint: url,
        block_time_s: 1,
        request_timeout: Duration::from_secs(5),
        expected_genesis: None,
    })
    .await
    .unwrap();
    let started = Instant::now();
    while c.finalized().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "no finalized head");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c
}

fn task(c: &SubtensorClient, data: &Path) -> OnChain {
    OnChain {
        client: c.clone(),
        config: OnChainConfig {
            netuid: NETUID,
            signer: pair(1),
            tlock_key: grail_drand::dev::dev_public_key().to_vec(),
            schedule: RoundSchedule { genesis_time: 0, period: 1 },
            block_time_s: 0.1,
            poll: Duration::from_millis(100),
        },
        state: State::open(data).unwrap(),
        live: LiveStatus::new(Some(NETUID)),
    }
}

fn record_weights(data: &Path, window: u64) -> grail_weights::Weights {
    let miner = |uid: u16, unique| MinerRecord {
        uid,
        hotkey: format!("m{uid}"),
        windows: vec![WindowRecord { window, unique, hard_failure: false, checked: true }],
    };
    let config =
        WeightsConfig { burn_uid: 0, cap_per_window: 100, exponent: 1, ..WeightsConfig::default() };
    let w = compute_weights(&config, window, &[miner(1, 100), miner(2, 40)]).unwrap();
    State::open(data).unwrap().record_weights(window, &w).unwrap();
    w
}

fn epoch_of(block: u64) -> u64 {
    Epochs { tempo: TEMPO, netuid: NETUID }.epoch_of(block)
}

async fn wait_for_epoch(c: &SubtensorClient, after: u64) {
    let started = Instant::now();
    while epoch_of(c.finalized().unwrap().number) <= after {
        assert!(started.elapsed() < Duration::from_secs(30), "epoch {after} never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Settles one step, retrying on errors (none expected here).
async fn step(t: &mut OnChain) -> Step {
    t.step().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_neither_sends_twice_nor_skips_an_epoch() {
    let chain = start(100, 0).await;
    let c = client(format!("ws://{}", chain.addr)).await;
    let dir = tempfile::tempdir().unwrap();
    let w = record_weights(dir.path(), 7);
    wait_for_epoch(&c, epoch_of(c.finalized().unwrap().number)).await;

    let mut t = task(&c, dir.path());
    let Step::Settled(s) = step(&mut t).await else { panic!("nothing sent") };
    assert_eq!(
        (s.status, s.call.as_str(), s.window),
        (SubmissionStatus::Included, "set_weights", 7)
    );
    let block = s.block.unwrap();
    let stored = c.weights_of(NETUID, 0, c.finalized().unwrap().hash).await.unwrap();
    let expected: Vec<(u16, u16)> = w.uids.iter().copied().zip(w.weights.iter().copied()).collect();
    assert_eq!(stored, expected);
    let nonce = c.account_next_index(&pair(1).hotkey()).await.unwrap();

    // Restarted in the same epoch: nothing is sent.
    drop(t);
    let mut t = task(&c, dir.path());
    if epoch_of(c.finalized().unwrap().number) == epoch_of(block) {
        assert_eq!(step(&mut t).await, Step::Done { epoch: epoch_of(block) });
        assert_eq!(c.account_next_index(&pair(1).hotkey()).await.unwrap(), nonce);
    }
    // The next epoch is not skipped.
    wait_for_epoch(&c, epoch_of(block)).await;
    let Step::Settled(next) = step(&mut t).await else { panic!("the next epoch was skipped") };
    assert_eq!(next.status, SubmissionStatus::Included);
    assert!(next.epoch > s.epoch);
    assert_eq!(c.account_next_index(&pair(1).hotkey()).await.unwrap(), nonce + 1);
    let attempts = t.state.submissions_in_epoch(NETUID, s.epoch).unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_sent_before_a_crash_is_settled_not_sent_again() {
    let chain = start(100, 0).await;
    let c = client(format!("ws://{}", chain.addr)).await;
    let dir = tempfile::tempdir().unwrap();
    let w = record_weights(dir.path(), 9);
    wait_for_epoch(&c, epoch_of(c.finalized().unwrap().number)).await;

    // The crashed process wrote its attempt, sent the extrinsic, and died before settling.
    let head = c.finalized().unwrap();
    let mut state = State::open(dir.path()).unwrap();
    let new = NewSubmission {
        netuid: NETUID,
        epoch: epoch_of(head.number),
        window: 9,
        call: "set_weights",
        reveal_round: None,
        sent_block: head.number,
        sent_at: grail_drand::unix_now(),
    };
    let id = state.submission_sent(&new).unwrap().id;
    let call = Call::set_weights(NETUID, &w.uids, &w.weights, w.version_key);
    let landed = c.submit(&call, &pair(1)).await.unwrap();
    let nonce = c.account_next_index(&pair(1).hotkey()).await.unwrap();

    let mut t = task(&c, dir.path());
    let step = step(&mut t).await;
    if epoch_of(c.finalized().unwrap().number) == epoch_of(landed.block) {
        assert_eq!(step, Step::Done { epoch: epoch_of(landed.block) });
    }
    assert_eq!(c.account_next_index(&pair(1).hotkey()).await.unwrap(), nonce, "sent again");
    let settled = t.state.submissions_in_epoch(NETUID, epoch_of(landed.block)).unwrap();
    let first = settled.iter().find(|s| s.id == id).unwrap();
    assert_eq!((first.status, first.block), (SubmissionStatus::Included, Some(landed.block)));
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_land_while_finality_lags_more_than_an_era() {
    // 70 blocks between best and finalized: an era from the finalized head would be over.
    let chain = start(50, 70).await;
    let c = client(format!("ws://{}", chain.addr)).await;
    let dir = tempfile::tempdir().unwrap();
    record_weights(dir.path(), 3);
    let started = Instant::now();
    while c.best_block().await.unwrap() < c.finalized().unwrap().number + 70 {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut t = task(&c, dir.path());
    let Step::Settled(s) = step(&mut t).await else { panic!("nothing sent") };
    assert_eq!(s.status, SubmissionStatus::Included, "{s:?}");
}

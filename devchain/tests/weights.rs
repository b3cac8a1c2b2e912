//! Weights against the dev chain, signed by validators' hotkeys through the chain client:
//! `set_weights` stores the max-upscaled weights and refuses what subtensor refuses with its
//! error names; on a commit-reveal subnet, `commit_timelocked_weights` queues a commit
//! encrypted to a round of the local beacon, and once the dev chain has fetched that round's
//! pulse from the beacon it reveals the commit at the reveal epoch, and drops a commit whose
//! payload names another hotkey.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use grail_beacon::{DevSigner, LocalBeacon};
use grail_chain::rpc::submit::Call;
use grail_chain::rpc::SubtensorClient;
use grail_chain::storage_key::storage_key;
use grail_chain::tlock::{
    encrypt_weights, reveal_round, Epochs, RoundSchedule, WeightsTlockPayload,
};
use grail_chain::ChainError;
use grail_cli::beacon::BeaconArgs;
use grail_devchain::dispatch::weights::TimelockedCommit;
use grail_devchain::genesis::Genesis;
use grail_protocol::keys::HotkeyPair;
use parity_scale_codec::{Decode, Encode};
use rand_chacha_03::rand_core::SeedableRng;
use rand_chacha_03::ChaCha20Rng;
use serde_json::{json, Value};

const BLOCK_MS: u64 = 200;

fn pair(seed: u8) -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[seed; 32]).unwrap()
}

/// A dev chain whose neurons are `pair(seed)` for `seeds` in uid order, each funded, with
/// `params` in its genesis.
async fn start(
    netuid: u16,
    seeds: &[(u8, bool)],
    params: Value,
    beacon: Option<BeaconArgs>,
) -> (grail_devchain::Running, SubtensorClient) {
    let neurons: Vec<Value> = seeds
        .iter()
        .map(|(s, permit)| json!({"hotkey": pair(*s).hotkey(), "validator_permit": permit}))
        .collect();
    let balances: Vec<Value> = (1..=20u8)
        .map(|s| json!({"account": pair(s).hotkey(), "free": 1_000_000_000u64}))
        .collect();
    let mut g = json!({"netuid": netuid, "neurons": neurons, "balances": balances});
    for (k, v) in params.as_object().unwrap() {
        g[k] = v.clone();
    }
    let genesis: Genesis = serde_json::from_value(g).unwrap();
    let (chain, client) = start_with_client(&genesis, BLOCK_MS, beacon).await;
    (chain, client)
}

/// The raw value of `pallet.entry(keys)` at the finalized head, over `state_getStorage`.
async fn read(c: &SubtensorClient, pallet: &str, entry: &str, keys: &[&[u8]]) -> Option<Vec<u8>> {
    let key = storage_key(c.metadata(), pallet, entry, keys).unwrap();
    let head = c.finalized().unwrap();
    c.storage_at(&[key], head.hash).await.unwrap().pop().flatten()
}

/// `Weights(netuid, uid)` at block `at` (its hash).
async fn weights_at(c: &SubtensorClient, netuid: u16, uid: u16, at: [u8; 32]) -> Vec<(u16, u16)> {
    let keys: &[&[u8]] = &[&netuid.encode(), &uid.encode()];
    let key = storage_key(c.metadata(), "SubtensorModule", "Weights", keys).unwrap();
    let raw = c.storage_at(&[key], at).await.unwrap().pop().flatten();
    raw.map(|b| Vec::decode(&mut b.as_slice()).unwrap()).unwrap_or_default()
}

/// `Weights(netuid, uid)` at the finalized head.
async fn weights(c: &SubtensorClient, netuid: u16, uid: u16) -> Vec<(u16, u16)> {
    weights_at(c, netuid, uid, c.finalized().unwrap().hash).await
}

/// The module error `call` by `signer` failed with.
async fn refused(c: &SubtensorClient, call: &Call, signer: &HotkeyPair) -> String {
    match c.submit(call, signer).await {
        Err(ChainError::DispatchFailed { error, .. }) => error,
        other => panic!("{} was not refused: {other:?}", call.label()),
    }
}

/// Polls `check` every block until it holds, for at most `limit`.
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(BLOCK_MS)).await;
    }
}

#[path = "support/chain.rs"]
mod support_chain;
use support_chain::start_with_client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_weights_stores_upscaled_weights_and_refuses_with_subtensors_errors() {
    // uid 0 validates, uid 1 is a miner, uid 2 the subnet owner, uid 3 another validator.
    let seeds = [(1, true), (2, false), (3, false), (4, true)];
    let params = json!({
        "tempo": 100, "commit_reveal_enabled": false, "weights_version_key": 5,
        "weights_rate_limit": 1000, "min_allowed_weights": 2, "owner": pair(3).hotkey(),
    });
    let (_chain, c) = start(3, &seeds, params, None).await;
    let sw = |uids: &[u16], values: &[u16], key: u64| Call::set_weights(3, uids, values, key);
    let module = |name: &str| format!("SubtensorModule.{name}");

    let validator = async {
        let a = pair(1);
        assert_eq!(
            refused(&c, &sw(&[1, 2], &[1, 1], 4), &a).await,
            module("IncorrectWeightVersionKey")
        );
        assert_eq!(refused(&c, &sw(&[1, 1], &[1, 1], 5), &a).await, module("DuplicateUids"));
        assert_eq!(
            refused(&c, &sw(&[1, 9], &[1, 1], 5), &a).await,
            module("UidVecContainInvalidOne")
        );
        assert_eq!(refused(&c, &sw(&[1], &[5], 5), &a).await, module("WeightVecLengthIsLow"));
        let set = c.submit(&sw(&[1, 2], &[100, 300], 7), &a).await.unwrap();
        assert_eq!(weights_at(&c, 3, 0, set.block_hash).await, vec![(1, 21845), (2, 65535)]);
        let key =
            storage_key(c.metadata(), "SubtensorModule", "LastUpdate", &[&3u16.encode()]).unwrap();
        let raw = c.storage_at(&[key], set.block_hash).await.unwrap().pop().flatten().unwrap();
        let last = Vec::<u64>::decode(&mut raw.as_slice()).unwrap();
        assert_eq!((last.len(), last[0]), (4, set.block));
        assert_eq!(
            refused(&c, &sw(&[1, 2], &[1, 1], 5), &a).await,
            module("SettingWeightsTooFast")
        );
    };
    let others = async {
        assert_eq!(
            refused(&c, &sw(&[1, 2], &[1, 1], 5), &pair(9)).await,
            module("HotKeyNotRegisteredInSubNet")
        );
        assert_eq!(
            refused(&c, &sw(&[0, 2], &[1, 1], 5), &pair(2)).await,
            module("NeuronNoValidatorPermit")
        );
        // A self-weight needs no permit; the owner's uid needs none either.
        c.submit(&sw(&[1], &[7], 5), &pair(2)).await.unwrap();
        c.submit(&sw(&[0, 1], &[1, 1], 5), &pair(3)).await.unwrap();
    };
    tokio::join!(validator, others);
    assert_eq!(weights(&c, 3, 1).await, vec![(1, 65535)]);
    assert_eq!(weights(&c, 3, 2).await, vec![(0, 65535), (1, 65535)]);
    assert_eq!(weights(&c, 3, 3).await, vec![]);
}

fn unix_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timelocked_commits_are_revealed_with_the_beacons_pulse_at_the_reveal_epoch() {
    // The local beacon: a round a second, 30 rounds old.
    let beacon_genesis = unix_s() as u64 - 30;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = format!("http://{}", listener.local_addr().unwrap());
    let beacon = LocalBeacon::new(beacon_genesis, 1).unwrap();
    tokio::spawn(grail_beacon::serve(listener, beacon, std::future::pending()));
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        beacon: BeaconArgs,
    }
    let flags = Flags::parse_from(["t", "--beacon.chain", "local", "--beacon.relays", &relay]);

    let (netuid, tempo) = (2u16, 10u16);
    let seeds = [(1, true), (2, true)];
    let params = json!({
        "tempo": tempo, "commit_reveal_enabled": true, "reveal_period_epochs": 1,
        "weights_rate_limit": 0, "min_allowed_weights": 1,
    });
    let (_chain, c) = start(netuid, &seeds, params, Some(flags.beacon)).await;
    let module = |name: &str| format!("SubtensorModule.{name}");
    let (a, b) = (pair(1), pair(2));
    assert_eq!(
        refused(&c, &Call::set_weights(netuid, &[1], &[1], 0), &a).await,
        module("CommitRevealEnabled")
    );

    let epochs = Epochs { tempo, netuid };
    let schedule = RoundSchedule { genesis_time: beacon_genesis, period: 1 };
    let key = DevSigner::insecure_dev().public_key().to_vec();
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    // Encrypted to the round the SDK picks, under the payload naming `named`.
    let mut commit = |named: &HotkeyPair| {
        let head = c.finalized().unwrap();
        let target =
            reveal_round(epochs, 1, head.number, unix_s(), BLOCK_MS as f64 / 1000.0, schedule);
        let payload = WeightsTlockPayload {
            hotkey: named.hotkey().0.to_vec(),
            uids: vec![0, 1],
            values: vec![1, 2],
            version_key: 0,
        };
        let ct = encrypt_weights(&key, target.reveal_round, &payload, &mut rng).unwrap();
        (ct, target.reveal_round)
    };
    let (ct_a, round_a) = commit(&a);
    let (ct_b, round_b) = commit(&pair(9));
    let wrong_version = Call::commit_timelocked_weights(netuid, &ct_a, round_a, 3);
    assert_eq!(refused(&c, &wrong_version, &a).await, module("IncorrectCommitRevealVersion"));
    // Over the commit's bound (5000 bytes) the call does not decode: refused at submission.
    let too_long = Call::commit_timelocked_weights(netuid, &[0; 5001], round_a, 4);
    match c.submit(&too_long, &a).await {
        Err(ChainError::Rejected { code: 1001, .. }) => {}
        other => panic!("a 5001-byte commit was not refused: {other:?}"),
    }
    let call_a = Call::commit_timelocked_weights(netuid, &ct_a, round_a, 4);
    let call_b = Call::commit_timelocked_weights(netuid, &ct_b, round_b, 4);
    let (in_a, in_b) = tokio::join!(c.submit(&call_a, &a), c.submit(&call_b, &b));
    let (in_a, in_b) = (in_a.unwrap(), in_b.unwrap());

    // Queued under the commit block's epoch, as subtensor stores it.
    let epoch_a = epochs.commit_epoch(in_a.block);
    let key_a = storage_key(
        c.metadata(),
        "SubtensorModule",
        "TimelockedWeightCommits",
        &[&netuid.encode(), &epoch_a.encode()],
    )
    .unwrap();
    let raw = c.storage_at(&[key_a], in_a.block_hash).await.unwrap().pop().flatten().unwrap();
    let queue = Vec::<TimelockedCommit>::decode(&mut raw.as_slice()).unwrap();
    let mine = TimelockedCommit {
        who: a.hotkey().0,
        commit_block: in_a.block,
        commit: ct_a,
        reveal_round: round_a,
    };
    assert!(queue.contains(&mine), "{queue:?}");

    until(Duration::from_secs(25), "uid 0's commit revealed", || async {
        !weights(&c, netuid, 0).await.is_empty()
    })
    .await;
    let expected = vec![(0, 32768), (1, 65535)];
    assert_eq!(weights(&c, netuid, 0).await, expected);
    // Revealed in the epoch after the commit's: not before, and by its last block.
    let before = c.verified_hash(epochs.first_block(epoch_a + 1) - 1).await.unwrap();
    assert_eq!(weights_at(&c, netuid, 0, before).await, vec![]);
    let last = epochs.first_block(epoch_a + 2) - 1;
    until(Duration::from_secs(10), "the reveal epoch's end", || async {
        c.finalized().unwrap().number >= last
    })
    .await;
    let by = c.verified_hash(last).await.unwrap();
    assert_eq!(weights_at(&c, netuid, 0, by).await, expected);
    let pulse =
        read(&c, "Drand", "Pulses", &[&round_a.encode()]).await.expect("the pulse is stored");
    let (round, randomness, signature) =
        <(u64, Vec<u8>, Vec<u8>)>::decode(&mut pulse.as_slice()).unwrap();
    assert_eq!((round, randomness.len(), signature.len()), (round_a, 32, 48));
    let last = read(&c, "Drand", "LastStoredRound", &[]).await.unwrap();
    assert!(u64::decode(&mut last.as_slice()).unwrap() >= round_a);

    // Uid 1's commit, whose payload names another hotkey, leaves its queue without weights.
    let epoch_b = epochs.commit_epoch(in_b.block);
    let b_key = b.hotkey().0;
    until(Duration::from_secs(25), "uid 1's commit taken", || async {
        let raw = read(
            &c,
            "SubtensorModule",
            "TimelockedWeightCommits",
            &[&netuid.encode(), &epoch_b.encode()],
        )
        .await;
        let queue: Vec<TimelockedCommit> =
            raw.map(|r| Decode::decode(&mut r.as_slice()).unwrap()).unwrap_or_default();
        !queue.iter().any(|q| q.who == b_key)
    })
    .await;
    assert_eq!(weights(&c, netuid, 1).await, vec![]);
}

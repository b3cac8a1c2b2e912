//! Miners' commitments against the dev chain, signed by hotkeys through the chain client: a
//! registered hotkey's `set_commitment` is stored and read back with `commitment_of` (and in a
//! batch with `commitments_of`), and parses as the grail format; an unregistered hotkey is
//! refused with pallet-commitments' error name; four fields do not decode, so the node refuses
//! the extrinsic at submission.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use grail_chain::commitment::MinerCommitment;
use grail_chain::rpc::submit::Call;
use grail_chain::rpc::SubtensorClient;
use grail_chain::ChainError;
use grail_devchain::genesis::Genesis;
use grail_protocol::keys::HotkeyPair;
use serde_json::json;

const NETUID: u16 = 7;

fn pair(seed: u8) -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[seed; 32]).unwrap()
}

async fn start() -> (grail_devchain::Running, SubtensorClient) {
    // Miners pair(10) and pair(11) are registered; pair(12) is funded but not registered.
    let neurons: Vec<_> = [10u8, 11].iter().map(|s| json!({"hotkey": pair(*s).hotkey()})).collect();
    let balances: Vec<_> = [10u8, 11, 12]
        .iter()
        .map(|s| json!({"account": pair(*s).hotkey(), "free": 1_000u64}))
        .collect();
    let genesis: Genesis = serde_json::from_value(json!({
        "netuid": NETUID, "tempo": 20, "neurons": neurons, "balances": balances,
    }))
    .unwrap();
    let (chain, client) = start_with_client(&genesis, 200, None).await;
    (chain, client)
}

#[path = "support/chain.rs"]
mod support_chain;
use support_chain::start_with_client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_miners_commitment_is_stored_read_back_and_parsed() {
    let (_chain, c) = start().await;
    let miner = pair(10);
    let commitment = MinerCommitment {
        store_url: "s3://grail-miner-10/windows".into(),
        endpoint: Some("https://0123abcd.r2.cloudflarestorage.com".into()),
        region: Some("auto".into()),
        allow_http: false,
        read_credentials: Some(("READKEY".into(), "readsecret/xyz".into())),
    };
    let fields = commitment.to_fields().unwrap();
    let inclusion = c.submit(&Call::set_commitment(NETUID, &fields), &miner).await.unwrap();

    let hotkey = miner.hotkey().0;
    let r = c.commitment_of(NETUID, &hotkey, inclusion.block_hash).await.unwrap().unwrap();
    assert_eq!(u64::from(r.block), inclusion.block);
    assert_eq!(r.deposit, 0, "subtensor's InitialDeposit and FieldDeposit are 0");
    assert_eq!(r.raw_fields().unwrap(), fields);
    assert_eq!(MinerCommitment::from_data(&r.info.fields).unwrap(), commitment);

    // A later commitment replaces it; the block before still holds the old one.
    let local = MinerCommitment {
        store_url: "file:///srv/grail/miner-10".into(),
        endpoint: None,
        region: None,
        allow_http: false,
        read_credentials: None,
    };
    let second =
        c.submit(&Call::set_commitment(NETUID, &local.to_fields().unwrap()), &miner).await.unwrap();
    let now = c.commitment_of(NETUID, &hotkey, second.block_hash).await.unwrap().unwrap();
    assert_eq!(MinerCommitment::from_data(&now.info.fields).unwrap(), local);
    let before = c.commitment_of(NETUID, &hotkey, inclusion.block_hash).await.unwrap().unwrap();
    assert_eq!(MinerCommitment::from_data(&before.info.fields).unwrap(), commitment);

    // Batched, in the hotkeys' order; one that never committed is None.
    let other = pair(11).hotkey().0;
    let batch = c.commitments_of(NETUID, &[other, hotkey], second.block_hash).await.unwrap();
    assert_eq!(batch.len(), 2);
    assert!(batch[0].is_none());
    assert_eq!(batch[1].as_ref(), Some(&now));
    assert!(c.commitment_of(NETUID + 1, &hotkey, second.block_hash).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_hotkeys_and_four_fields_are_refused() {
    let (_chain, c) = start().await;
    let fields = vec![b"grail1 s3://b".to_vec()];
    match c.submit(&Call::set_commitment(NETUID, &fields), &pair(12)).await {
        Err(ChainError::DispatchFailed { error, call, .. }) => {
            assert_eq!(error, "Commitments.AccountNotAllowedCommit");
            assert_eq!(call, "Commitments.set_commitment");
        }
        other => panic!("{other:?}"),
    }
    // Registered, but on another subnet's netuid.
    match c.submit(&Call::set_commitment(NETUID + 1, &fields), &pair(10)).await {
        Err(ChainError::DispatchFailed { error, .. }) => {
            assert_eq!(error, "Commitments.AccountNotAllowedCommit");
        }
        other => panic!("{other:?}"),
    }
    // BoundedVec<Data, 3>: four fields are no call the runtime decodes.
    let four = vec![b"grail1 s3://b".to_vec(), Vec::new(), b"a:b".to_vec(), Vec::new()];
    match c.submit(&Call::set_commitment(NETUID, &four), &pair(10)).await {
        Err(ChainError::Rejected { code: 1001, message, .. }) => {
            assert!(message.contains("BoundedVec exceeds its limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let head = c.finalized().unwrap().hash;
    assert!(c.commitment_of(NETUID, &pair(10).hotkey().0, head).await.unwrap().is_none());
    assert!(c.commitment_of(NETUID, &pair(12).hotkey().0, head).await.unwrap().is_none());
}

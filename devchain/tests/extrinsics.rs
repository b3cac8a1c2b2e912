//! Extrinsics against the dev chain: the client signs `burned_register` with subxt's builder,
//! the dev chain checks and applies it (the hotkey appears at the next uid, the burn leaves the
//! coldkey, the nonce advances), and refuses what a node refuses with Substrate's codes and
//! reasons: a bad signature, a stale nonce, a birth block of another chain, an account with
//! nothing, a call it does not apply, bytes that are no extrinsic; a registration the runtime
//! refuses fails with subtensor's error name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use grail_chain::rpc::submit::Call;
use grail_chain::rpc::{ClientOptions, SubtensorClient};
use grail_chain::storage_key::storage_key;
use grail_chain::ChainError;
use grail_devchain::account::AccountInfo;
use grail_devchain::extrinsic::{ANCIENT_BIRTH_BLOCK, BAD_PROOF, PAYMENT, STALE, UNEXPECTED_CALL};
use grail_devchain::genesis::Genesis;
use grail_devchain::Options;
use grail_protocol::keys::HotkeyPair;
use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use jsonrpsee::rpc_params;
use parity_scale_codec::Decode;
use serde_json::{json, Value};

const FUNDS: u64 = 1_000_000_000;
const BURN: u64 = 100_000_000;

fn pair(seed: u8) -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[seed; 32]).unwrap()
}

async fn start(block_ms: u64) -> grail_devchain::Running {
    let neurons: Vec<Value> = (0..2u8).map(|i| json!({"hotkey": pair(100 + i).hotkey()})).collect();
    let genesis: Genesis = serde_json::from_value(json!({
        "netuid": 3,
        "neurons": neurons,
        "balances": [{"account": pair(1).hotkey(), "free": FUNDS}],
    }))
    .unwrap();
    let options = Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_time: Duration::from_millis(block_ms),
        finality_lag: 0,
        state_pruning: None,
        beacon: None,
    };
    grail_devchain::start(&genesis, &options).await.unwrap()
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

/// The raw JSON-RPC error of `author_submitExtrinsic(bytes)`: code and data.
async fn refusal(url: &str, bytes: &[u8]) -> (i32, Option<String>) {
    let http = jsonrpsee::http_client::HttpClientBuilder::default().build(url).unwrap();
    let answer: Result<String, _> = http
        .request("author_submitExtrinsic", rpc_params![format!("0x{}", hex::encode(bytes))])
        .await;
    match answer {
        Err(jsonrpsee::core::ClientError::Call(e)) => {
            let data = e.data().map(|d| serde_json::from_str::<String>(d.get()).unwrap());
            (e.code(), data)
        }
        other => panic!("not refused: {other:?}"),
    }
}

async fn head(c: &SubtensorClient) -> (u64, [u8; 32]) {
    let h = c.finalized().unwrap();
    (h.number, h.hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_registration_is_applied_and_refusals_carry_substrates_reasons() {
    let chain = start(200).await;
    let url = format!("http://{}", chain.addr);
    let c = client(format!("ws://{}", chain.addr)).await;
    let (cold, hot) = (pair(1), pair(2));
    let register = Call::burned_register(3, &hot.hotkey());

    let inclusion = c.submit(&register, &cold).await.unwrap();
    assert!(inclusion.block >= 1);
    let subnet = c.subnet_at(3, inclusion.block_hash).await.unwrap();
    assert_eq!(subnet.neurons.len(), 3);
    assert_eq!(subnet.neurons[2].hotkey, hot.hotkey().0);
    assert_eq!(subnet.neurons[2].uid, 2);
    let key = storage_key(c.metadata(), "System", "Account", &[&cold.hotkey().0]).unwrap();
    let raw = c.storage_at(&[key], inclusion.block_hash).await.unwrap().pop().flatten().unwrap();
    let account = AccountInfo::decode(&mut raw.as_slice()).unwrap();
    assert_eq!((account.nonce, account.data.free), (1, FUNDS - BURN));
    assert_eq!(c.account_next_index(&cold.hotkey()).await.unwrap(), 1);

    // The same registration again: included, then refused by the runtime.
    match c.submit(&register, &cold).await {
        Err(ChainError::DispatchFailed { error, .. }) => {
            assert_eq!(error, "SubtensorModule.HotKeyAlreadyRegisteredInSubNet");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.account_next_index(&cold.hotkey()).await.unwrap(),
        2,
        "a failed call spends its nonce"
    );

    // An account with nothing cannot pay.
    match c.submit(&Call::burned_register(3, &pair(3).hotkey()), &pair(9)).await {
        Err(ChainError::Rejected { code: 1010, data: Some(d), .. }) => assert_eq!(d, PAYMENT),
        other => panic!("{other:?}"),
    }

    // Refusals at the pool, over plain HTTP.
    let birth = head(&c).await;
    let other = Call::burned_register(3, &pair(4).hotkey());
    let mut forged = c.sign(&other, &cold, 2, birth).unwrap();
    let n = forged.len();
    forged[n - 10] ^= 1; // inside the hotkey argument: the signature no longer covers it
    assert_eq!(refusal(&url, &forged).await, (1010, Some(BAD_PROOF.into())));
    let stale = c.sign(&other, &cold, 0, birth).unwrap();
    assert_eq!(refusal(&url, &stale).await, (1010, Some(STALE.into())));
    let wrong_birth = c.sign(&other, &cold, 2, (birth.0, [9; 32])).unwrap();
    assert_eq!(refusal(&url, &wrong_birth).await, (1010, Some(BAD_PROOF.into())));
    let remark = Call {
        pallet: "System",
        name: "remark",
        args: vec![subxt::dynamic::Value::from_bytes(b"not applied here")],
    };
    let unsupported = c.sign(&remark, &cold, 2, birth).unwrap();
    assert_eq!(refusal(&url, &unsupported).await, (1010, Some(UNEXPECTED_CALL.into())));
    let (code, _) = refusal(&url, &[0x10, 0x84, 0, 0, 0]).await;
    assert_eq!(code, 1001);

    // Signed for another chain: its birth block does not exist here (an ancient birth block,
    // as a node answers for a block it does not have), and with a birth block of this chain
    // the genesis hash in the signed payload is the other chain's (a bad proof).
    let chain_b = start(200).await;
    assert_ne!(chain_b.genesis_hash, chain.genesis_hash);
    let url_b = format!("http://{}", chain_b.addr);
    let b = client(format!("ws://{}", chain_b.addr)).await;
    let foreign_birth = c.sign(&other, &cold, 0, (birth.0.max(20), birth.1)).unwrap();
    assert_eq!(refusal(&url_b, &foreign_birth).await, (1010, Some(ANCIENT_BIRTH_BLOCK.into())));
    let foreign_genesis = c.sign(&other, &cold, 0, head(&b).await).unwrap();
    assert_eq!(refusal(&url_b, &foreign_genesis).await, (1010, Some(BAD_PROOF.into())));
    let own = b.sign(&other, &cold, 0, head(&b).await).unwrap();
    let http = jsonrpsee::http_client::HttpClientBuilder::default().build(&url_b).unwrap();
    let accepted: String = http
        .request("author_submitExtrinsic", rpc_params![format!("0x{}", hex::encode(&own))])
        .await
        .unwrap();
    assert_eq!(accepted, format!("0x{}", hex::encode(sp_crypto_hashing::blake2_256(&own))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_extrinsic_reports_ready_in_block_and_finalized() {
    let chain = start(200).await;
    let c = client(format!("ws://{}", chain.addr)).await;
    let birth = head(&c).await;
    let bytes = c.sign(&Call::burned_register(3, &pair(5).hotkey()), &pair(1), 0, birth).unwrap();
    let ws = jsonrpsee::ws_client::WsClientBuilder::default()
        .build(format!("ws://{}", chain.addr))
        .await
        .unwrap();
    let mut sub: jsonrpsee::core::client::Subscription<Value> = ws
        .subscribe(
            "author_submitAndWatchExtrinsic",
            rpc_params![format!("0x{}", hex::encode(&bytes))],
            "author_unwatchExtrinsic",
        )
        .await
        .unwrap();
    let mut updates = Vec::new();
    while let Some(u) = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.unwrap() {
        updates.push(u.unwrap());
        if updates.last().and_then(|u| u.get("finalized")).is_some() {
            break;
        }
    }
    assert_eq!(updates[0], json!("ready"));
    let in_block = updates[1]["inBlock"].as_str().unwrap().to_owned();
    assert_eq!(updates[2]["finalized"].as_str().unwrap(), in_block);
    // The body of that block holds the extrinsic.
    let body: Value = ws.request("chain_getBlock", rpc_params![in_block]).await.unwrap();
    let hex_tx = format!("0x{}", hex::encode(&bytes));
    assert!(body["block"]["extrinsics"].as_array().unwrap().contains(&json!(hex_tx)));
    assert_eq!(c.account_next_index(&pair(1).hotkey()).await.unwrap(), 1);
}

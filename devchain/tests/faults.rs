//! The chain client when the node misbehaves: unreachable, silent, slow, dropping its
//! connections mid-subscription, answering for blocks it has not produced or with headers that
//! do not match, on another chain, serving metadata that lacks what the roles use, or refusing
//! a submission for a stale nonce or an outdated era. The node is the dev chain, behind proxies
//! written here that delay, cut or rewrite what it says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use grail_chain::commitment::MinerCommitment;
use grail_chain::metadata::FINNEY_METADATA;
use grail_chain::rpc::submit::{Call, STALE_RETRIES};
use grail_chain::rpc::{header_hash, ClientOptions, Head, Header, SubtensorClient};
use grail_chain::storage_key::storage_key;
use grail_chain::ChainError;
use grail_devchain::extrinsic::{ANCIENT_BIRTH_BLOCK, STALE};
use grail_devchain::genesis::Genesis;
use grail_devchain::{Options, Running};
use grail_protocol::keys::{Hotkey, HotkeyPair};
use serde_json::{json, Value};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::net::TcpListener;

fn genesis() -> Genesis {
    serde_json::from_value(json!({
        "netuid": 81,
        "chain": "Development",
        "tempo": 20,
        "neurons": [{"hotkey": Hotkey([7; 32]).to_ss58(), "stake": 1000, "validator_permit": true}],
    }))
    .unwrap()
}

async fn start_chain(block_ms: u64) -> Running {
    let options = Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_time: Duration::from_millis(block_ms),
        finality_lag: 1,
        state_pruning: None,
        beacon: None,
    };
    grail_devchain::start(&genesis(), &options).await.unwrap()
}

fn options(endpoint: &str, timeout: Duration) -> ClientOptions {
    ClientOptions {
        endpoint: endpoint.to_owned(),
        block_time_s: 1,
        request_timeout: timeout,
        expected_genesis: None,
    }
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until the client's finalized head reaches `block`.
async fn wait_for_block(client: &SubtensorClient, block: u64, limit: Duration) -> Head {
    let start = Instant::now();
    loop {
        let head = client.finalized();
        if let Some(head) = head.filter(|h| h.number >= block) {
            return head;
        }
        assert!(
            start.elapsed() < limit,
            "no finalized block {block} in {limit:?} (last seen {:?})",
            head.map(|h| h.number)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn assert_unavailable_at(err: &ChainError, endpoint: &str, needles: &[&str]) {
    let ChainError::Unavailable { source_name, detail } = err else {
        panic!("not Unavailable: {err:?}");
    };
    assert_eq!(source_name, endpoint, "{err}");
    let text = err.to_string();
    assert!(text.contains(endpoint), "{text}");
    for needle in needles {
        assert!(detail.contains(needle), "{needle:?} not in: {text}");
    }
}

#[path = "support/proxies.rs"]
mod proxies;
use proxies::*;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_node_over_http_fails_at_once_naming_it() {
    let url = format!("http://127.0.0.1:{}", closed_port().await);
    let start = Instant::now();
    let err = SubtensorClient::connect(options(&url, SECOND)).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_unavailable_at(&err, &url, &["chain_getBlockHash(0)"]);
    assert!(elapsed < SECOND, "{elapsed:?}");
}

/// A refused connection fails within the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_node_over_ws_fails_within_the_request_timeout() {
    let url = format!("ws://127.0.0.1:{}", closed_port().await);
    let start = Instant::now();
    let err = SubtensorClient::connect(options(&url, SECOND)).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_unavailable_at(&err, &url, &[]);
    assert!(elapsed < 2 * SECOND, "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_accepts_but_never_answers_times_out_naming_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let (ws, http) = (format!("ws://{addr}"), format!("http://{addr}"));
    let timed = |url: String| async move {
        let start = Instant::now();
        let err = SubtensorClient::connect(options(&url, SECOND)).await.unwrap_err();
        (url, err, start.elapsed())
    };
    let ((ws, ws_err, ws_took), (http, http_err, http_took)) = tokio::join!(timed(ws), timed(http));
    assert_unavailable_at(&ws_err, &ws, &[]);
    assert!(ws_took >= SECOND && ws_took < 2 * SECOND, "{ws_took:?}");
    assert_unavailable_at(&http_err, &http, &["chain_getBlockHash(0)"]);
    assert!(http_took >= SECOND * 9 / 10 && http_took < 2 * SECOND, "{http_took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_slow_after_connecting_fails_requests_in_time_naming_it() {
    let chain = start_chain(200).await;
    let proxy = TcpProxy::start(chain.addr).await;
    let ws_url = format!("ws://{}", proxy.addr);
    let http_url = format!("http://{}", proxy.addr);
    let ws = SubtensorClient::connect(options(&ws_url, SECOND)).await.unwrap();
    let http = SubtensorClient::connect(options(&http_url, SECOND)).await.unwrap();
    // The HTTP client learns heads by polling, so it may see block 1 finalized after the
    // WebSocket client does: wait for both.
    wait_for_block(&ws, 2, 5 * SECOND).await;
    wait_for_block(&http, 2, 5 * SECOND).await;
    let at = ws.verified_hash(1).await.unwrap();
    assert_eq!(http.verified_hash(1).await.unwrap(), at);
    let key = storage_key(ws.metadata(), "Timestamp", "Now", &[]).unwrap();
    proxy.set_delay(5 * SECOND);
    for (client, url) in [(&ws, &ws_url), (&http, &http_url)] {
        let start = Instant::now();
        let err = client.verified_hash(1).await.unwrap_err();
        assert_unavailable_at(&err, url, &["chain_getBlockHash"]);
        let took = start.elapsed();
        assert!(took < 2 * SECOND, "{url}: verified_hash took {took:?}");
        let start = Instant::now();
        let err = client.storage_at(std::slice::from_ref(&key), at).await.unwrap_err();
        assert_unavailable_at(&err, url, &["state_queryStorageAt"]);
        let took = start.elapsed();
        assert!(took < 2 * SECOND, "{url}: storage_at took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_follows_heads_again_after_its_connection_drops() {
    let chain = start_chain(200).await;
    let proxy = TcpProxy::start(chain.addr).await;
    let url = format!("ws://{}", proxy.addr);
    let client = SubtensorClient::connect(options(&url, 2 * SECOND)).await.unwrap();
    wait_for_block(&client, 3, 5 * SECOND).await;
    assert_eq!(proxy.accepted(), 1);
    proxy.drop_all();
    let best_at_drop = chain.shared.chain().best().header.number;
    let head = wait_for_block(&client, best_at_drop + 3, 5 * SECOND).await;
    assert!(proxy.accepted() >= 2, "the client did not connect again");
    let want = chain.shared.chain().block(head.number).unwrap().hash;
    assert_eq!(head.hash, want);
    assert_eq!(client.verified_hash(head.number).await.unwrap(), want);
    let first_after = chain.shared.chain().block(best_at_drop + 1).unwrap().hash;
    assert_eq!(client.verified_hash(best_at_drop + 1).await.unwrap(), first_after);
}

/// A node away for a second (a restart) is followed again a moment after it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_outage_is_bridged_within_seconds() {
    let chain = start_chain(100).await;
    let proxy = TcpProxy::start(chain.addr).await;
    let url = format!("ws://{}", proxy.addr);
    let client = SubtensorClient::connect(options(&url, SECOND)).await.unwrap();
    wait_for_block(&client, 2, 5 * SECOND).await;
    proxy.set_refusing(true);
    proxy.drop_all();
    tokio::time::sleep(SECOND).await;
    proxy.set_refusing(false);
    let best = chain.shared.chain().best().header.number;
    wait_for_block(&client, best + 2, 3 * SECOND).await;
}

/// A node away for longer than the WebSocket client's retries is followed again once back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_retries_is_bridged_once_the_node_is_back() {
    let chain = start_chain(100).await;
    let proxy = TcpProxy::start(chain.addr).await;
    let url = format!("ws://{}", proxy.addr);
    let client = SubtensorClient::connect(options(&url, SECOND)).await.unwrap();
    wait_for_block(&client, 1, 5 * SECOND).await;
    proxy.set_refusing(true);
    proxy.drop_all();
    tokio::time::sleep(Duration::from_millis(10_800)).await;
    proxy.set_refusing(false);
    let best = chain.shared.chain().best().header.number;
    wait_for_block(&client, best + 2, 3 * SECOND).await;
}

/// Each of several drops, some seconds apart, is followed again within a second or so: the
/// pause before following again does not keep growing once heads flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_drops_are_each_bridged_quickly() {
    let chain = start_chain(100).await;
    let proxy = TcpProxy::start(chain.addr).await;
    let url = format!("ws://{}", proxy.addr);
    let client = SubtensorClient::connect(options(&url, SECOND)).await.unwrap();
    wait_for_block(&client, 1, 5 * SECOND).await;
    for _ in 0..5 {
        proxy.drop_all();
        let best = chain.shared.chain().best().header.number;
        wait_for_block(&client, best + 2, 2 * SECOND).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_not_finalized_is_not_produced_whatever_the_node_answers() {
    let chain = start_chain(200).await;
    let proxy = HttpProxy::start(chain.addr, Fault::MadeUpBlocks).await;
    let url = proxy.url();
    let client = SubtensorClient::connect(options(&url, 2 * SECOND)).await.unwrap();
    let head = wait_for_block(&client, 2, 5 * SECOND).await;
    // Through the proxy, a finalized block is the node's.
    let want = chain.shared.chain().block(head.number).unwrap().hash;
    assert_eq!(client.verified_hash(head.number).await.unwrap(), want);
    let best = chain.shared.chain().best().header.number;
    for block in [best + 5, best + 50] {
        match client.verified_hash(block).await {
            Err(ChainError::NotYetProduced { block: b, latest: Some(latest) }) => {
                assert_eq!(b, block);
                assert!(latest < block, "latest {latest}, block {block}");
            }
            other => panic!("block {block}: {other:?}"),
        }
    }
    // The client never asked; asked, the proxy makes up a block that checks out.
    assert!(proxy.state.made_up.lock().unwrap().is_empty());
    let ask = |method: &str, param: Value| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": [param]});
        let addr = proxy.addr;
        async move {
            let answer = forward(addr, &serde_json::to_vec(&body).unwrap()).await;
            serde_json::from_slice::<Value>(&answer).unwrap()["result"].clone()
        }
    };
    let made_up = ask("chain_getBlockHash", json!(best + 50)).await;
    let made_up = made_up.as_str().expect("a made-up hash").to_owned();
    let header: Header =
        serde_json::from_value(ask("chain_getHeader", json!(made_up)).await).unwrap();
    assert_eq!(header.number, best + 50);
    assert_eq!(hex0x(&header_hash(&header)), made_up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_that_does_not_match_its_hash_or_number_is_refused() {
    let chain = start_chain(200).await;
    let proxy = HttpProxy::start(chain.addr, Fault::None).await;
    let url = proxy.url();
    let client = SubtensorClient::connect(options(&url, 2 * SECOND)).await.unwrap();
    wait_for_block(&client, 3, 5 * SECOND).await;
    let real = chain.shared.chain().block(1).unwrap().hash;
    let target = hex0x(&real);
    proxy.set(Fault::OtherStateRoot(target.clone()));
    let err = client.verified_hash(1).await.unwrap_err();
    assert_unavailable_at(&err, &url, &["block 1", "hashes to", &target]);
    proxy.set(Fault::OtherNumber(target.clone()));
    let err = client.verified_hash(1).await.unwrap_err();
    assert_unavailable_at(&err, &url, &["block 1", "is block 2", &target]);
    proxy.set(Fault::None);
    assert_eq!(client.verified_hash(1).await.unwrap(), real);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_another_chain_is_refused_naming_both_hashes() {
    let chain = start_chain(300).await;
    for url in [format!("ws://{}", chain.addr), format!("http://{}", chain.addr)] {
        let mut o = options(&url, 2 * SECOND);
        o.expected_genesis = Some([1; 32]);
        let err = SubtensorClient::connect(o).await.unwrap_err();
        let real = hex::encode(chain.genesis_hash);
        let expected = hex::encode([1u8; 32]);
        assert_unavailable_at(&err, &url, &["genesis", &real, &expected]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lacking_a_storage_item_is_refused_naming_it() {
    let chain = start_chain(300).await;
    let stripped = metadata_without_keys();
    // Served by the runtime API; then only by `state_getMetadata`, the runtime API failing.
    let faults = [
        Fault::Metadata { at_version: Served::Bytes(stripped.clone()), legacy: Served::Node },
        Fault::Metadata { at_version: Served::Error, legacy: Served::Bytes(stripped) },
    ];
    for fault in faults {
        let proxy = HttpProxy::start(chain.addr, fault.clone()).await;
        let url = proxy.url();
        let err = SubtensorClient::connect(options(&url, 2 * SECOND)).await.unwrap_err();
        let ChainError::MissingInMetadata { source_name, missing } = &err else {
            panic!("{fault:?}: not MissingInMetadata: {err:?}");
        };
        assert_eq!(source_name, &url);
        assert_eq!(missing, "SubtensorModule.Keys (storage)");
        assert!(err.to_string().contains(&url), "{err}");
    }
    // The same proxy serving the node's own metadata is accepted.
    let proxy = HttpProxy::start(chain.addr, Fault::None).await;
    let client = SubtensorClient::connect(options(&proxy.url(), 2 * SECOND)).await.unwrap();
    assert_eq!(client.info().metadata_version, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_that_does_not_decode_is_refused_naming_the_node() {
    let chain = start_chain(300).await;
    let truncated = FINNEY_METADATA[..FINNEY_METADATA.len() / 2].to_vec();
    let fault = Fault::Metadata { at_version: Served::Bytes(truncated), legacy: Served::Node };
    let proxy = HttpProxy::start(chain.addr, fault).await;
    let url = proxy.url();
    let err = SubtensorClient::connect(options(&url, 2 * SECOND)).await.unwrap_err();
    let bytes = format!("({} bytes)", FINNEY_METADATA.len() / 2);
    assert_unavailable_at(&err, &url, &["does not decode", &bytes]);
}

/// A miner that signs: registered on netuid 81 and funded.
fn signer() -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[21; 32]).unwrap()
}

/// The dev chain with [`signer`] registered, and a client to it through a proxy doing `fault`.
async fn signing_chain(fault: Fault) -> (Running, HttpProxy, SubtensorClient) {
    let hotkey = signer().hotkey();
    let genesis: Genesis = serde_json::from_value(json!({
        "netuid": 81,
        "tempo": 20,
        "neurons": [{"hotkey": hotkey}],
        "balances": [{"account": hotkey, "free": 1000}],
    }))
    .unwrap();
    let node = Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_time: Duration::from_millis(200),
        finality_lag: 1,
        state_pruning: None,
        beacon: None,
    };
    let chain = grail_devchain::start(&genesis, &node).await.unwrap();
    let proxy = HttpProxy::start(chain.addr, fault).await;
    let client = SubtensorClient::connect(options(&proxy.url(), 5 * SECOND)).await.unwrap();
    wait_for_block(&client, 1, 5 * SECOND).await;
    (chain, proxy, client)
}

/// `set_commitment` on netuid 81 naming `folder`.
fn commit_call(folder: &str) -> Call {
    let c = MinerCommitment {
        store_url: format!("file:///srv/{folder}"),
        endpoint: None,
        region: None,
        allow_http: false,
        read_credentials: None,
    };
    Call::set_commitment(81, &c.to_fields().unwrap())
}

/// The node's refusal reasons in the proxy's record of submission answers, `None` for one
/// that was accepted.
fn submission_answers(proxy: &HttpProxy) -> Vec<Option<String>> {
    let answers = proxy.state.submissions.lock().unwrap();
    answers.iter().map(|a| a["error"]["data"].as_str().map(str::to_owned)).collect()
}

/// The signer's committed store, and its nonce, read from the node itself.
async fn committed(chain: &Running) -> (String, u64) {
    let direct = SubtensorClient::connect(options(&format!("http://{}", chain.addr), 5 * SECOND));
    let direct = direct.await.unwrap();
    let head = wait_for_block(&direct, 1, 5 * SECOND).await;
    let hotkey = signer().hotkey();
    let r = direct.commitment_of(81, &hotkey.0, head.hash).await.unwrap().unwrap();
    let c = MinerCommitment::from_data(&r.info.fields).unwrap();
    (c.store_url, direct.account_next_index(&hotkey).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_nonce_from_a_lagging_node_is_refetched_and_sent_once() {
    let (chain, proxy, client) = signing_chain(Fault::None).await;
    client.submit(&commit_call("first"), &signer()).await.unwrap();
    // The next nonce read answers 0 where the account is at 1: the node refuses it as stale.
    proxy.set(Fault::LaggingNonce(Arc::new(AtomicUsize::new(1))));
    client.submit(&commit_call("second"), &signer()).await.unwrap();
    assert_eq!(submission_answers(&proxy), [None, Some(STALE.into()), None]);
    assert_eq!(committed(&chain).await, ("file:///srv/second".into(), 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_era_the_node_refuses_is_signed_again_and_sent_once() {
    let fault = Fault::RefuseSubmissions(ANCIENT_BIRTH_BLOCK, Arc::new(AtomicUsize::new(2)));
    let (chain, proxy, client) = signing_chain(fault).await;
    client.submit(&commit_call("after-two-refusals"), &signer()).await.unwrap();
    let refused = Some(ANCIENT_BIRTH_BLOCK.to_owned());
    assert_eq!(submission_answers(&proxy), [refused.clone(), refused, None]);
    // Refused extrinsics never reached the node: one extrinsic, nonce 0, was applied.
    assert_eq!(committed(&chain).await, ("file:///srv/after-two-refusals".into(), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_that_outlasts_the_retries_is_reported_with_the_nodes_reason() {
    let (chain, proxy, client) = signing_chain(Fault::None).await;
    client.submit(&commit_call("first"), &signer()).await.unwrap();
    proxy.set(Fault::LaggingNonce(Arc::new(AtomicUsize::new(usize::MAX))));
    let err = client.submit(&commit_call("second"), &signer()).await.unwrap_err();
    let ChainError::Rejected { code, data, .. } = &err else { panic!("not Rejected: {err:?}") };
    assert_eq!((*code, data.as_deref()), (1010, Some(STALE)), "{err}");
    let answers = submission_answers(&proxy);
    assert_eq!(answers.len(), 1 + 1 + STALE_RETRIES, "{answers:?}");
    assert!(answers[1..].iter().all(|a| a.as_deref() == Some(STALE)), "{answers:?}");
    // The same process sends again once the node catches up.
    proxy.set(Fault::None);
    client.submit(&commit_call("third"), &signer()).await.unwrap();
    assert_eq!(committed(&chain).await, ("file:///srv/third".into(), 2));
}

//! The chain client against the dev chain, over WebSocket and HTTP: the same answers, every
//! block hash checked against its header, the subnet read back from storage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use grail_chain::rpc::{ClientOptions, SubtensorClient};
use grail_chain::ChainSource;
use grail_devchain::genesis::{Genesis, GenesisNeuron};
use grail_devchain::Options;
use grail_protocol::keys::Hotkey;

fn genesis(n: usize) -> Genesis {
    let neurons = (0..n)
        .map(|i| {
            let mut b = [7u8; 32];
            b[..2].copy_from_slice(&(i as u16).to_le_bytes());
            GenesisNeuron { hotkey: Hotkey(b), stake: 1000 + i as u64, validator_permit: i == 0 }
        })
        .collect();
    Genesis {
        netuid: 81,
        owner: None,
        chain: "Development".into(),
        tempo: Some(20),
        commit_reveal_enabled: None,
        reveal_period_epochs: None,
        weights_version_key: None,
        weights_rate_limit: None,
        commit_reveal_version: None,
        min_allowed_weights: None,
        max_weights_limit: None,
        neurons,
        balances: Vec::new(),
    }
}

async fn start(n: usize, block_ms: u64) -> grail_devchain::Running {
    let options = Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_time: Duration::from_millis(block_ms),
        finality_lag: 1,
        state_pruning: None,
        beacon: None,
    };
    grail_devchain::start(&genesis(n), &options).await.unwrap()
}

fn options_for(url: String) -> ClientOptions {
    ClientOptions {
        endpoint: url,
        block_time_s: 1,
        request_timeout: Duration::from_secs(5),
        expected_genesis: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_blocks_and_the_subnet_over_both_transports() {
    let chain = start(5, 200).await;
    let ws = SubtensorClient::connect(options_for(format!("ws://{}", chain.addr))).await.unwrap();
    let http =
        SubtensorClient::connect(options_for(format!("http://{}", chain.addr))).await.unwrap();
    assert_eq!(ws.info().genesis, chain.genesis_hash);
    assert_eq!(http.info(), ws.info());
    assert_eq!(ws.info().metadata_version, 16);
    assert_eq!(ws.info().spec_name, "node-subtensor");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let finalized = ws.current_block(0).await.unwrap().unwrap();
    let finalized = finalized.min(http.current_block(0).await.unwrap().unwrap());
    assert!(finalized >= 2, "finalized {finalized}");
    for b in 0..=finalized {
        let want = chain.shared.chain().block(b).unwrap().hash;
        assert_eq!(ws.block_hash(b).await.unwrap(), want, "block {b}");
        assert_eq!(http.block_hash(b).await.unwrap(), want, "block {b}");
    }
    // The best block is produced but not finalized: no hash yet.
    let best = chain.shared.chain().best().header.number;
    let err = ws.block_hash(best + 5).await.unwrap_err();
    assert!(matches!(err, grail_chain::ChainError::NotYetProduced { .. }), "{err}");
    // A window's clock is anchored at its first block's timestamp.
    let clock = ws.window_clock(1, 2).await.unwrap();
    let head = chain.shared.chain().block(2).unwrap().hash;
    let t = ws.timestamp_at(head).await.unwrap();
    assert_eq!(clock.block_start(2).unwrap(), t / 1000);
    let state = ws.subnet_at(81, head).await.unwrap();
    assert_eq!(state.neurons.len(), 5);
    assert_eq!(state.neurons[3].stake, 1003);
    assert!(state.neurons[0].validator_permit && !state.neurons[1].validator_permit);
    assert_eq!(state.hyperparameters.tempo, 20);
    assert_eq!(http.subnet_at(81, head).await.unwrap(), state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_another_chain_is_refused_by_name() {
    let chain = start(1, 500).await;
    let mut o = options_for(format!("ws://{}", chain.addr));
    o.expected_genesis = Some([1; 32]);
    let err = SubtensorClient::connect(o).await.unwrap_err().to_string();
    assert!(err.contains(&chain.addr.to_string()) && err.contains("genesis"), "{err}");
    let err = SubtensorClient::connect(options_for("ws://127.0.0.1:1".into())).await.unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_node_answers_state_reads_at_old_blocks_as_discarded() {
    use jsonrpsee::core::client::ClientT;
    let options = Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_time: Duration::from_millis(100),
        finality_lag: 1,
        state_pruning: Some(20),
        beacon: None,
    };
    let chain = grail_devchain::start(&genesis(2), &options).await.unwrap();
    let ws = SubtensorClient::connect(options_for(format!("ws://{}", chain.addr))).await.unwrap();
    let finalized = loop {
        let f = ws.current_block(0).await.unwrap().unwrap();
        if f >= 25 {
            break f;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let old = chain.shared.chain().block(2).unwrap().hash;
    // On the wire, as a Substrate node answers: a client error naming the block's hash.
    let http = jsonrpsee::http_client::HttpClientBuilder::default()
        .build(format!("http://{}", chain.addr))
        .unwrap();
    let key =
        format!("0x{}", hex::encode(grail_chain::storage_key::storage_prefix("Timestamp", "Now")));
    let at = format!("0x{}", hex::encode(old));
    let answer: Result<Option<String>, _> =
        http.request("state_getStorage", jsonrpsee::rpc_params![&key, &at]).await;
    match answer {
        Err(jsonrpsee::core::ClientError::Call(e)) => {
            assert_eq!(e.code(), 4003);
            assert_eq!(
                e.message(),
                format!("Client error: UnknownBlock: State already discarded for {at}")
            );
        }
        other => panic!("state at a pruned block answered {other:?}"),
    }
    // The block itself is kept: its hash is served and checked against its header.
    assert_eq!(ws.block_hash(2).await.unwrap(), old);
    // The client names it, for the window clock and for the subnet read alike.
    for err in [ws.window_clock(1, 2).await.unwrap_err(), ws.subnet_at(81, old).await.unwrap_err()]
    {
        match &err {
            grail_chain::ChainError::StateDiscarded { method, message, .. } => {
                assert!(method.starts_with("state_"), "{err}");
                assert!(message.contains(&at), "{err}");
            }
            other => panic!("not StateDiscarded: {other}"),
        }
        assert!(err.to_string().contains("archive node"), "{err}");
    }
    // Recent blocks' state is still there.
    let recent = ws.current_block(0).await.unwrap().unwrap().max(finalized);
    let hash = ws.block_hash(recent).await.unwrap();
    assert_eq!(ws.subnet_at(81, hash).await.unwrap().neurons.len(), 2);
    ws.window_clock(recent, 1).await.unwrap();
}

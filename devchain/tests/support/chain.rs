//! A dev chain started in-process on a free loopback port, and a client following it over
//! WebSocket, for the tests that sign and submit extrinsics.

use std::time::Duration;

use grail_chain::rpc::{ClientOptions, SubtensorClient};
use grail_cli::beacon::BeaconArgs;
use grail_devchain::genesis::Genesis;
use grail_devchain::{Options, Running};

/// Starts `genesis` with `block_ms` blocks, finality at the best block and `beacon` for its
/// pulses, and connects a client to it.
pub(crate) async fn start_with_client(
    genesis: &Genesis,
    block_ms: u64,
    beacon: Option<BeaconArgs>,
) -> (Running, SubtensorClient) {
    let options = Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_time: Duration::from_millis(block_ms),
        finality_lag: 0,
        state_pruning: None,
        beacon,
    };
    let chain = grail_devchain::start(genesis, &options).await.unwrap();
    let client = SubtensorClient::connect(ClientOptions {
        endpoint: format!("ws://{}", chain.addr),
        block_time_s: 1,
        request_timeout: Duration::from_secs(5),
        expected_genesis: None,
    })
    .await
    .unwrap();
    (chain, client)
}

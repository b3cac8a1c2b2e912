//! The chain whose blocks make the windows: a subtensor node (`--subtensor.network`,
//! `--subtensor.chain_endpoint`, `--netuid`, with Bittensor's `BT_*` variables), or, when
//! neither names a node, the local clock chain (`--chain.genesis`) for offline runs.
//! `--chain.block-time` is the network's nominal block time either way: window lengths and
//! deadlines count in it.

use std::time::Duration;

use grail_chain::any::AnyChain;
use grail_chain::network::Network;
use grail_chain::rpc::{ClientOptions, SubtensorClient};
use grail_chain::{ChainError, LocalClockChain};
use grail_protocol::params::DEFAULT_BLOCK_TIME_S;

/// The chain's clock and node.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Chain")]
pub struct ChainArgs {
    /// Unix time (s) of block 0 of the local clock chain (used when no node is named).
    #[arg(
        id = "chain.genesis",
        long = "chain.genesis",
        env = "GRAIL_CHAIN_GENESIS",
        default_value_t = 0
    )]
    pub genesis: u64,
    /// The network's nominal seconds per block (window lengths count in it).
    #[arg(
        id = "chain.block_time",
        long = "chain.block-time",
        env = "GRAIL_CHAIN_BLOCK_TIME",
        default_value_t = DEFAULT_BLOCK_TIME_S
    )]
    pub block_time: u64,
    /// Seconds one request to the node may take.
    #[arg(
        id = "chain.timeout",
        long = "chain.timeout",
        env = "GRAIL_CHAIN_TIMEOUT",
        default_value_t = 20
    )]
    pub timeout: u64,
    /// The subnet.
    #[arg(id = "netuid", long = "netuid", env = "BT_NETUID")]
    pub netuid: Option<u16>,
    /// A subtensor network by name: finney, test or local (ws://127.0.0.1:9944).
    #[arg(
        id = "subtensor.network",
        long = "subtensor.network",
        env = "BT_SUBTENSOR_NETWORK",
        value_parser = parse_network
    )]
    pub network: Option<Network>,
    /// A node's URL (ws://, wss://, http:// or https://); overrides --subtensor.network.
    #[arg(
        id = "subtensor.chain_endpoint",
        long = "subtensor.chain_endpoint",
        env = "BT_SUBTENSOR_CHAIN_ENDPOINT",
        value_name = "URL"
    )]
    pub endpoint: Option<String>,
}

fn parse_network(s: &str) -> Result<Network, String> {
    s.parse()
}

impl ChainArgs {
    /// The local clock chain these flags describe.
    pub fn local_chain(&self) -> Result<LocalClockChain, ChainError> {
        LocalClockChain::new(self.genesis, self.block_time)
    }

    /// The node these flags name, if any: the endpoint, else the network's.
    pub fn node_endpoint(&self) -> Option<String> {
        self.endpoint.clone().or_else(|| self.network.map(|n| n.endpoint().to_owned()))
    }

    /// The netuid, which a run on a node needs.
    pub fn require_netuid(&self) -> anyhow::Result<u16> {
        self.netuid
            .ok_or_else(|| anyhow::anyhow!("--netuid (BT_NETUID) is needed on a subtensor node"))
    }

    /// Connects to the node these flags name (retrying with backoff for `patience`), or
    /// returns the local clock chain. Logs which chain, genesis and runtime it is on.
    pub async fn connect(&self, patience: Duration) -> anyhow::Result<AnyChain> {
        let Some(endpoint) = self.node_endpoint() else {
            let local =
                self.local_chain().map_err(|e| anyhow::anyhow!("--chain.block-time: {e}"))?;
            tracing::info!(chain = %grail_chain::ChainSource::describe(&local), "chain: local clock");
            return Ok(AnyChain::Local(local));
        };
        let options = ClientOptions {
            endpoint: endpoint.clone(),
            block_time_s: self.block_time,
            request_timeout: Duration::from_secs(self.timeout.max(1)),
            expected_genesis: None,
        };
        let started = std::time::Instant::now();
        let mut backoff = Duration::from_millis(500);
        let client = loop {
            match SubtensorClient::connect(options.clone()).await {
                Ok(c) => break c,
                // A node that lacks what the roles need will not grow it: no retry.
                Err(e @ ChainError::MissingInMetadata { .. }) => return Err(e.into()),
                Err(e) if started.elapsed() + backoff < patience => {
                    tracing::warn!(error = %e, retry_s = backoff.as_secs_f64(), "chain: cannot connect yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("connecting to the subtensor node {endpoint}")))
                }
            }
        };
        let info = client.info();
        eprintln!(
            "chain: {endpoint} ({}), genesis 0x{}, runtime {} {} (transaction version {}, metadata V{})",
            info.chain,
            hex::encode(info.genesis),
            info.spec_name,
            info.spec_version,
            info.transaction_version,
            info.metadata_version
        );
        tracing::info!(
            endpoint = %endpoint,
            chain = %info.chain,
            genesis = %format!("0x{}", hex::encode(info.genesis)),
            runtime = %format!("{} {}", info.spec_name, info.spec_version),
            transaction_version = info.transaction_version,
            metadata = info.metadata_version,
            finalized = client.finalized().map(|h| h.number),
            "chain: connected"
        );
        Ok(AnyChain::Subtensor(client))
    }
}

//! The chains a miner or validator can name on its command line, their default relays, and
//! one way to connect to them.

use crate::{dev, ChainInfo, ClientOptions, DrandClient, DrandError};

/// Public League of Entropy relays, tried in order.
pub const DEFAULT_RELAYS: &[&str] = &[
    "https://api.drand.sh",
    "https://api2.drand.sh",
    "https://api3.drand.sh",
    "https://drand.cloudflare.com",
];
/// Where `grail-beacon` listens by default.
pub const DEFAULT_LOCAL_RELAY: &str = "http://127.0.0.1:8081";

/// A chain whose key is pinned in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinnedChain {
    /// League of Entropy quicknet.
    Quicknet,
    /// League of Entropy mainnet (beacon id "default").
    Mainnet,
    /// The local development beacon, `grail-beacon` (insecure key).
    Local,
}

impl std::fmt::Display for PinnedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Quicknet => "quicknet",
            Self::Mainnet => "mainnet",
            Self::Local => "local",
        })
    }
}

impl PinnedChain {
    /// The relays to use: `relays` when given, else the chain's defaults.
    pub fn relays_or_default(self, relays: Vec<String>) -> Vec<String> {
        if !relays.is_empty() {
            return relays;
        }
        match self {
            Self::Local => vec![DEFAULT_LOCAL_RELAY.to_owned()],
            Self::Quicknet | Self::Mainnet => {
                DEFAULT_RELAYS.iter().map(|r| (*r).to_owned()).collect()
            }
        }
    }

    /// A client for this chain: for quicknet and mainnet, the pinned chain info checked
    /// against the relays' `/info`; for the local beacon, its pinned key with the genesis and
    /// period its `/info` reports.
    pub async fn connect(
        self,
        relays: Vec<String>,
        opts: ClientOptions,
    ) -> Result<DrandClient, DrandError> {
        let relays = self.relays_or_default(relays);
        let info = match self {
            Self::Quicknet => ChainInfo::quicknet(),
            Self::Mainnet => ChainInfo::mainnet(),
            Self::Local => return DrandClient::discover(dev::dev_chain_key(), relays, opts).await,
        };
        let client = DrandClient::new(info, relays, opts)?;
        client.check_info().await?;
        Ok(client)
    }
}

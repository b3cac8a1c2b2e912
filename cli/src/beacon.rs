//! `--beacon.*`: which drand chain to trust and which relays to ask. The chain is a pinned one
//! (`quicknet`, `mainnet`, or the insecure `local` development beacon) or any chain given by
//! its `/info` JSON (`--beacon.chain-info`).

use std::path::PathBuf;
use std::time::Duration;

use grail_drand::dev::dev_chain_key;
use grail_drand::{ChainInfo, ChainKey, ClientOptions, DrandClient, DrandError, PinnedChain};

/// Why the beacon flags could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BeaconArgsError {
    /// The chain-info file could not be read.
    #[error("--beacon.chain-info {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The chain info is unusable or disagrees with `--beacon.chain`.
    #[error("--beacon.chain-info {path}: {source}")]
    Info {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: Box<DrandError>,
    },
    /// Connecting to the relays failed.
    #[error("connecting to the {chain} drand beacon's relays: {source}")]
    Connect {
        /// The chain's name.
        chain: String,
        /// The client's error.
        source: Box<DrandError>,
    },
}

/// The drand chain and its relays.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Beacon")]
pub struct BeaconArgs {
    /// drand chain of the beacons: quicknet, mainnet, or local (the insecure development
    /// beacon `grail-beacon`) [default: quicknet, unless --beacon.chain-info names another].
    #[arg(id = "beacon.chain", long = "beacon.chain", env = "GRAIL_BEACON_CHAIN", value_enum)]
    pub chain: Option<PinnedChain>,
    /// drand `/info` JSON of the chain to trust; it must agree with --beacon.chain when that
    /// is given, and names any other chain otherwise.
    #[arg(
        id = "beacon.chain_info",
        long = "beacon.chain-info",
        env = "GRAIL_BEACON_CHAIN_INFO",
        value_name = "FILE"
    )]
    pub chain_info: Option<PathBuf>,
    /// drand relay base URL, tried in order (repeat the flag, or comma-separate)
    /// [default: the chain's public relays].
    #[arg(
        id = "beacon.relays",
        long = "beacon.relays",
        visible_alias = "beacon.relay",
        env = "GRAIL_BEACON_RELAYS",
        value_delimiter = ','
    )]
    pub relays: Vec<String>,
    /// Timeout of one request to a relay, in milliseconds.
    #[arg(
        id = "beacon.request_timeout_ms",
        long = "beacon.request-timeout-ms",
        env = "GRAIL_BEACON_REQUEST_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub request_timeout_ms: u64,
    /// Passes over the relay list before a fetch gives up.
    #[arg(
        id = "beacon.passes",
        long = "beacon.passes",
        env = "GRAIL_BEACON_PASSES",
        default_value_t = 4
    )]
    pub passes: u32,
}

/// What the flags say to trust: a whole chain, or only a key (the local beacon, whose genesis
/// is chosen when it starts and read from its relays).
#[derive(Debug, Clone)]
pub enum Trusted {
    /// A chain: key, genesis, period.
    Chain {
        /// Its name (`quicknet`, or the label of an info file's chain).
        name: String,
        /// The chain.
        info: ChainInfo,
    },
    /// A key whose chain info the relays tell.
    Key {
        /// Its name (`local`).
        name: String,
        /// The key.
        key: ChainKey,
    },
}

impl Trusted {
    /// The chain's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Chain { name, .. } | Self::Key { name, .. } => name,
        }
    }

    /// The key beacons must verify under.
    pub fn key(&self) -> ChainKey {
        match self {
            Self::Chain { info, .. } => info.key(),
            Self::Key { key, .. } => key.clone(),
        }
    }
}

impl BeaconArgs {
    /// The chain to trust.
    pub fn trusted(&self) -> Result<Trusted, BeaconArgsError> {
        let Some(path) = &self.chain_info else {
            return Ok(match self.chain.unwrap_or(PinnedChain::Quicknet) {
                PinnedChain::Quicknet => {
                    Trusted::Chain { name: "quicknet".into(), info: ChainInfo::quicknet() }
                }
                PinnedChain::Mainnet => {
                    Trusted::Chain { name: "mainnet".into(), info: ChainInfo::mainnet() }
                }
                PinnedChain::Local => Trusted::Key { name: "local".into(), key: dev_chain_key() },
            });
        };
        let bytes = std::fs::read(path)
            .map_err(|source| BeaconArgsError::Read { path: path.clone(), source })?;
        let info_err =
            |source| BeaconArgsError::Info { path: path.clone(), source: Box::new(source) };
        let info = ChainInfo::from_json(&bytes).map_err(info_err)?;
        let source = path.display().to_string();
        let name = match self.chain {
            None => info.label(),
            Some(PinnedChain::Quicknet) => {
                ChainInfo::quicknet().ensure_same(&info, &source).map_err(info_err)?;
                "quicknet".to_owned()
            }
            Some(PinnedChain::Mainnet) => {
                ChainInfo::mainnet().ensure_same(&info, &source).map_err(info_err)?;
                "mainnet".to_owned()
            }
            Some(PinnedChain::Local) => {
                let key = dev_chain_key();
                if info.public_key() != key.public_key() || info.scheme() != key.scheme() {
                    return Err(info_err(DrandError::InfoMismatch {
                        source_name: source,
                        chain: "local".into(),
                        field: "public_key",
                        expected: hex::encode(key.public_key()),
                        got: hex::encode(info.public_key()),
                    }));
                }
                "local".to_owned()
            }
        };
        Ok(Trusted::Chain { name, info })
    }

    /// The relays to ask: the flags', else the chain's defaults (the public League of Entropy
    /// relays for any chain but the local beacon).
    pub fn relays(&self) -> Vec<String> {
        self.chain.unwrap_or(PinnedChain::Quicknet).relays_or_default(self.relays.clone())
    }

    /// The client's timeouts and retries.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            passes: self.passes,
            ..ClientOptions::default()
        }
    }

    /// A client for the trusted chain: a pinned chain's info is checked against the relays'
    /// `/info`; the local beacon's genesis and period are read from it.
    pub async fn connect(&self) -> Result<DrandClient, BeaconArgsError> {
        self.connect_to(&self.trusted()?).await
    }

    /// [`BeaconArgs::connect`] for a chain already resolved by [`BeaconArgs::trusted`].
    pub async fn connect_to(&self, trusted: &Trusted) -> Result<DrandClient, BeaconArgsError> {
        let connect_err = |source| BeaconArgsError::Connect {
            chain: trusted.name().to_owned(),
            source: Box::new(source),
        };
        let (relays, opts) = (self.relays(), self.client_options());
        match trusted {
            Trusted::Chain { info, .. } => {
                let client = DrandClient::new(info.clone(), relays, opts).map_err(connect_err)?;
                client.check_info().await.map_err(connect_err)?;
                Ok(client)
            }
            Trusted::Key { key, .. } => {
                DrandClient::discover(key.clone(), relays, opts).await.map_err(connect_err)
            }
        }
    }
}

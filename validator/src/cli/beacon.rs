//! `grail-validator beacon verify|fetch`: check a drand beacon against a pinned chain key.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use grail_challenges::drand::{
    local, unix_now, verify_beacon, Beacon, ChainInfo, ChainKey, ClientOptions, DrandClient,
    VerifiedBeacon, DEFAULT_LOCAL_RELAY, DEFAULT_RELAYS,
};

#[derive(Debug, Subcommand)]
pub(crate) enum BeaconCommand {
    /// Verify one beacon given on the command line; prints {"chain","round","randomness","verified"}.
    Verify(VerifyArgs),
    /// Fetch a round from relays, verify it, and print it (with its signature).
    Fetch(FetchArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ChainName {
    /// League of Entropy quicknet (pinned).
    Quicknet,
    /// League of Entropy mainnet, beacon id "default" (pinned).
    Mainnet,
    /// The local development beacon (grail-beacon; insecure key, pinned).
    Local,
}

#[derive(Debug, Args)]
struct ChainArgs {
    /// Chain to verify against; default quicknet unless --chain-info is given.
    #[arg(long, value_enum, env = "GRAIL_BEACON_CHAIN")]
    chain: Option<ChainName>,
    /// drand `/info` JSON of the chain; must agree with --chain when both are given.
    #[arg(long = "chain-info", env = "GRAIL_BEACON_CHAIN_INFO")]
    chain_info: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Round number.
    #[arg(long, env = "GRAIL_BEACON_ROUND")]
    round: u64,
    /// Signature, hex.
    #[arg(long, env = "GRAIL_BEACON_SIGNATURE")]
    signature: String,
    /// Previous signature, hex (chained chains such as mainnet).
    #[arg(long = "previous-signature", env = "GRAIL_BEACON_PREVIOUS_SIGNATURE")]
    previous_signature: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Round number; default: the current round on the chain's clock.
    #[arg(long, env = "GRAIL_BEACON_ROUND")]
    round: Option<u64>,
    /// Relay base URL (repeat, or comma-separate in the env var); tried in order.
    #[arg(long = "relay", env = "GRAIL_BEACON_RELAYS", value_delimiter = ',')]
    relays: Vec<String>,
    /// Per-request timeout in milliseconds.
    #[arg(long = "timeout-ms", env = "GRAIL_BEACON_TIMEOUT_MS", default_value_t = 5000)]
    timeout_ms: u64,
    /// Passes over the relay list before giving up.
    #[arg(long, env = "GRAIL_BEACON_PASSES", default_value_t = 4)]
    passes: u32,
}

/// What the flags say to trust: a whole chain, or only a key (the local beacon, whose
/// genesis is chosen when it starts).
enum Trusted {
    Chain { name: String, info: ChainInfo },
    Key { name: String, key: ChainKey },
}

impl Trusted {
    fn name(&self) -> &str {
        match self {
            Self::Chain { name, .. } | Self::Key { name, .. } => name,
        }
    }
}

pub(crate) async fn run(cmd: BeaconCommand) -> anyhow::Result<()> {
    match cmd {
        BeaconCommand::Verify(args) => verify(&args),
        BeaconCommand::Fetch(args) => fetch(args).await,
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let trusted = resolve(&args.chain)?;
    let beacon =
        Beacon::from_hex(args.round, &args.signature, args.previous_signature.as_deref(), None)
            .context("reading the beacon")?;
    let key = match &trusted {
        Trusted::Chain { info, .. } => info.key(),
        Trusted::Key { key, .. } => key.clone(),
    };
    let verified = verify_beacon(&key, &beacon).context("beacon verification failed")?;
    let line = serde_json::json!({
        "chain": trusted.name(),
        "round": verified.round(),
        "randomness": hex::encode(verified.randomness()),
        "verified": true,
    });
    println!("{line}");
    Ok(())
}

async fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    let trusted = resolve(&args.chain)?;
    let opts = ClientOptions {
        request_timeout: Duration::from_millis(args.timeout_ms),
        passes: args.passes,
        ..ClientOptions::default()
    };
    let relays = if args.relays.is_empty() {
        match &trusted {
            Trusted::Key { .. } => vec![DEFAULT_LOCAL_RELAY.to_owned()],
            Trusted::Chain { .. } => DEFAULT_RELAYS.iter().map(|r| (*r).to_owned()).collect(),
        }
    } else {
        args.relays
    };
    let name = trusted.name().to_owned();
    let client = match trusted {
        Trusted::Chain { info, .. } => {
            let client = DrandClient::new(info, relays, opts).context("making the drand client")?;
            client.check_info().await.context("checking the relays' chain info")?;
            client
        }
        Trusted::Key { key, .. } => DrandClient::discover(key, relays, opts)
            .await
            .context("reading the chain info of the local beacon")?,
    };
    let round = match args.round {
        Some(r) => r,
        None => client.chain().round_at(unix_now()).context("finding the current round")?,
    };
    let verified =
        client.fetch_round(round).await.with_context(|| format!("fetching round {round}"))?;
    println!("{}", fetched_line(&name, client.chain(), &verified));
    Ok(())
}

fn fetched_line(name: &str, chain: &ChainInfo, v: &VerifiedBeacon) -> serde_json::Value {
    let mut line = serde_json::json!({
        "chain": name,
        "chain_hash": chain.hash_hex(),
        "round": v.round(),
        "randomness": hex::encode(v.randomness()),
        "signature": hex::encode(v.signature()),
        "verified": true,
    });
    if let Some(prev) = v.previous_signature() {
        line["previous_signature"] = serde_json::Value::String(hex::encode(prev));
    }
    line
}

fn resolve(args: &ChainArgs) -> anyhow::Result<Trusted> {
    let Some(path) = &args.chain_info else {
        return Ok(match args.chain.unwrap_or(ChainName::Quicknet) {
            ChainName::Quicknet => {
                Trusted::Chain { name: "quicknet".into(), info: ChainInfo::quicknet() }
            }
            ChainName::Mainnet => {
                Trusted::Chain { name: "mainnet".into(), info: ChainInfo::mainnet() }
            }
            ChainName::Local => Trusted::Key { name: "local".into(), key: local::dev_chain_key() },
        });
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let info = ChainInfo::from_json(&bytes)
        .with_context(|| format!("reading chain info {}", path.display()))?;
    let source = path.display().to_string();
    let name = match args.chain {
        None => info.label(),
        Some(ChainName::Quicknet) => {
            ChainInfo::quicknet().ensure_same(&info, &source)?;
            "quicknet".into()
        }
        Some(ChainName::Mainnet) => {
            ChainInfo::mainnet().ensure_same(&info, &source)?;
            "mainnet".into()
        }
        Some(ChainName::Local) => {
            let key = local::dev_chain_key();
            if info.public_key() != key.public_key() || info.scheme() != key.scheme() {
                bail!("{source} is not the local development chain (its key or scheme differs)");
            }
            "local".into()
        }
    };
    Ok(Trusted::Chain { name, info })
}

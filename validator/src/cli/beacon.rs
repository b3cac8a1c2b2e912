//! `grail-validator beacon verify|fetch`: check a drand beacon against the chain the
//! `--beacon.*` flags trust.

use anyhow::Context;
use clap::{Args, Subcommand};
use grail_cli::beacon::BeaconArgs;
use grail_drand::{unix_now, verify_beacon, Beacon, ChainInfo, VerifiedBeacon};

/// `beacon`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum BeaconCommand {
    /// Verify one beacon given on the command line; prints {"chain","round","randomness","verified"}.
    Verify(VerifyArgs),
    /// Fetch a round from relays, verify it, and print it (with its signature).
    Fetch(FetchArgs),
}

/// `beacon verify`'s flags.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    beacon: BeaconArgs,
    /// Round number.
    #[arg(id = "round", long = "round", env = "GRAIL_ROUND", help_heading = "Round")]
    round: u64,
    /// Signature, hex.
    #[arg(id = "signature", long = "signature", env = "GRAIL_SIGNATURE", help_heading = "Round")]
    signature: String,
    /// Previous signature, hex (chained chains such as mainnet).
    #[arg(
        id = "previous_signature",
        long = "previous-signature",
        env = "GRAIL_PREVIOUS_SIGNATURE",
        help_heading = "Round"
    )]
    previous_signature: Option<String>,
}

/// `beacon fetch`'s flags.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    beacon: BeaconArgs,
    /// Round number [default: the current round on the chain's clock].
    #[arg(id = "round", long = "round", env = "GRAIL_ROUND", help_heading = "Round")]
    round: Option<u64>,
}

/// Runs a `beacon` subcommand.
pub fn run(cmd: BeaconCommand) -> anyhow::Result<()> {
    match cmd {
        BeaconCommand::Verify(args) => verify(&args),
        BeaconCommand::Fetch(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(fetch(&args))
        }
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let trusted = args.beacon.trusted()?;
    let beacon =
        Beacon::from_hex(args.round, &args.signature, args.previous_signature.as_deref(), None)
            .context("reading the beacon")?;
    let verified = verify_beacon(&trusted.key(), &beacon).context("beacon verification failed")?;
    let line = serde_json::json!({
        "chain": trusted.name(),
        "round": verified.round(),
        "randomness": hex::encode(verified.randomness()),
        "verified": true,
    });
    println!("{line}");
    Ok(())
}

async fn fetch(args: &FetchArgs) -> anyhow::Result<()> {
    let trusted = args.beacon.trusted()?;
    let client = args.beacon.connect_to(&trusted).await?;
    let round = match args.round {
        Some(r) => r,
        None => client.chain().round_at(unix_now()).context("finding the current round")?,
    };
    let verified =
        client.fetch_round(round).await.with_context(|| format!("fetching round {round}"))?;
    println!("{}", fetched_line(trusted.name(), client.chain(), &verified));
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

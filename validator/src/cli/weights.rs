//! `grail-validator weights`:
//!
//! - `dry-run`: the timelocked commit a validator would send, built with no chain. Prints one
//!   JSON line: the SCALE payload, the ciphertext, the reveal round and the call data of
//!   `commit_timelocked_weights`, each byte string as hex.
//! - `on-chain`: the weights a subtensor node holds for a subnet at its finalized head, one
//!   JSON line: per uid that has weights, its hotkey, `LastUpdate` block and `[uid, weight]`
//!   pairs, and the timelocked commits of the current and previous epochs still awaiting
//!   their reveal.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
use grail_chain::rpc::submit::Call;
use grail_chain::tlock::{
    encrypt_weights, reveal_round, Epochs, RoundSchedule, WeightsTlockPayload,
};
use grail_drand::unix_now;
use grail_protocol::keys::Hotkey;
use parity_scale_codec::Encode;
use rand_chacha_03::rand_core::SeedableRng;
use rand_chacha_03::ChaCha20Rng;
use serde_json::json;

/// `weights` subcommands.
#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Build a timelocked weights commit offline and print it as one JSON line.
    DryRun(DryRunArgs),
    /// Print the weights (and pending commits) a subtensor node holds for the subnet.
    OnChain(OnChainArgs),
}

/// `weights on-chain`'s flags.
#[derive(Debug, Args)]
pub struct OnChainArgs {
    #[command(flatten)]
    pub chain: grail_cli::chain::ChainArgs,
}

/// Whose key the commit is encrypted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlockKey {
    /// drand quicknet, which subtensor reveals with.
    Quicknet,
    /// The local development beacon (`grail-beacon`), which the dev chain reveals with.
    Local,
}

/// `weights dry-run`'s flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Commit")]
pub struct DryRunArgs {
    /// Subnet.
    #[arg(long = "netuid", env = "BT_NETUID")]
    pub netuid: u16,
    /// The committing validator's hotkey (SS58).
    #[arg(long = "hotkey", env = "GRAIL_HOTKEY")]
    pub hotkey: Hotkey,
    /// Uids, comma-separated.
    #[arg(long = "uids", env = "GRAIL_UIDS", value_delimiter = ',', required = true)]
    pub uids: Vec<u16>,
    /// Weights aligned with `--uids`, comma-separated (u16).
    #[arg(long = "weights", env = "GRAIL_WEIGHTS", value_delimiter = ',', required = true)]
    pub weights: Vec<u16>,
    /// The weights version key.
    #[arg(long = "version-key", env = "GRAIL_VERSION_KEY", default_value_t = 0)]
    pub version_key: u64,
    /// The drand round to encrypt to; otherwise computed from `--block` and `--tempo`.
    #[arg(long = "reveal-round", env = "GRAIL_REVEAL_ROUND", conflicts_with_all = ["block", "tempo"])]
    pub reveal_round: Option<u64>,
    /// The block the commit is sent at.
    #[arg(long = "block", env = "GRAIL_BLOCK", requires = "tempo")]
    pub block: Option<u64>,
    /// The subnet's tempo (blocks per epoch).
    #[arg(long = "tempo", env = "GRAIL_TEMPO", requires = "block")]
    pub tempo: Option<u16>,
    /// Epochs between commit and reveal (the chain's `RevealPeriodEpochs`).
    #[arg(long = "reveal-period", env = "GRAIL_REVEAL_PERIOD", default_value_t = 1)]
    pub reveal_period: u64,
    /// Seconds per block.
    #[arg(long = "block-time", env = "GRAIL_BLOCK_TIME", default_value_t = 12.0)]
    pub block_time: f64,
    /// Unix time of `--block` (default: now).
    #[arg(long = "now", env = "GRAIL_NOW")]
    pub now: Option<f64>,
    /// The beacon key to encrypt under.
    #[arg(long = "key", env = "GRAIL_KEY", value_enum, default_value = "quicknet")]
    pub key: TlockKey,
    /// Round 1's unix time on the beacon (quicknet's by default; needed for `--key local`
    /// with `--block`).
    #[arg(long = "drand-genesis", env = "GRAIL_DRAND_GENESIS")]
    pub drand_genesis: Option<u64>,
    /// Seconds between beacon rounds.
    #[arg(long = "drand-period", env = "GRAIL_DRAND_PERIOD")]
    pub drand_period: Option<u64>,
    /// The chain's `CommitRevealWeightsVersion`.
    #[arg(
        long = "commit-reveal-version",
        env = "GRAIL_COMMIT_REVEAL_VERSION",
        default_value_t = 4
    )]
    pub commit_reveal_version: u16,
    /// 32 bytes of hex seeding the encryption's randomness, for a reproducible ciphertext
    /// (default: fresh randomness from the OS).
    #[arg(long = "seed", env = "GRAIL_SEED")]
    pub seed: Option<String>,
}

/// Runs a `weights` subcommand.
pub fn run(cmd: WeightsCommand) -> anyhow::Result<()> {
    match cmd {
        WeightsCommand::DryRun(args) => {
            println!("{}", dry_run(&args)?);
            Ok(())
        }
        WeightsCommand::OnChain(args) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            println!("{}", runtime.block_on(on_chain(&args))?);
            Ok(())
        }
    }
}

/// The `on-chain` JSON line.
pub async fn on_chain(args: &OnChainArgs) -> anyhow::Result<serde_json::Value> {
    let netuid = args.chain.require_netuid()?;
    let chain = args.chain.connect(std::time::Duration::from_secs(30)).await?;
    let client = chain.subtensor().context(
        "weights on-chain reads a subtensor node: give --subtensor.network or \
         --subtensor.chain_endpoint",
    )?;
    let head = match client.finalized() {
        Some(h) => h,
        None => {
            tokio::time::sleep(std::time::Duration::from_secs(args.chain.block_time.max(1))).await;
            client.finalized().context("the node has no finalized head")?
        }
    };
    let subnet = client.subnet_at(netuid, head.hash).await?;
    let last_update = client.last_update(netuid, head.hash).await?;
    let mut uids = Vec::new();
    for n in &subnet.neurons {
        let weights = client.weights_of(netuid, n.uid, head.hash).await?;
        if weights.is_empty() {
            continue;
        }
        uids.push(json!({
            "uid": n.uid,
            "hotkey": Hotkey(n.hotkey).to_string(),
            "last_update": last_update.get(usize::from(n.uid)).copied().unwrap_or(0),
            "weights": weights.iter().map(|(u, w)| [*u, *w]).collect::<Vec<_>>(),
        }));
    }
    let epochs = Epochs { tempo: subnet.hyperparameters.tempo, netuid };
    let epoch = epochs.epoch_of(head.number);
    let mut commits = Vec::new();
    for e in [epoch.saturating_sub(1), epoch] {
        for c in client.timelocked_commits(netuid, e, head.hash).await? {
            commits.push(json!({
                "epoch": e,
                "hotkey": Hotkey(c.who).to_string(),
                "block": c.block,
                "reveal_round": c.reveal_round,
                "bytes": c.commit.len(),
            }));
        }
        if epoch == 0 {
            break;
        }
    }
    Ok(json!({
        "netuid": netuid,
        "block": head.number,
        "block_hash": format!("0x{}", hex::encode(head.hash)),
        "epoch": epoch,
        "commit_reveal_enabled": subnet.hyperparameters.commit_reveal_enabled,
        "uids": uids,
        "pending_commits": commits,
    }))
}

/// The dry run's JSON line.
pub fn dry_run(args: &DryRunArgs) -> anyhow::Result<serde_json::Value> {
    if args.uids.len() != args.weights.len() {
        anyhow::bail!(
            "--uids has {} entries and --weights {}; they must align",
            args.uids.len(),
            args.weights.len()
        );
    }
    let (public_key, default_schedule) = match args.key {
        TlockKey::Quicknet => (
            grail_drand::ChainInfo::quicknet().public_key().to_vec(),
            Some(RoundSchedule::QUICKNET),
        ),
        TlockKey::Local => (grail_drand::dev::dev_public_key().to_vec(), None),
    };
    let (round, target) = match (args.reveal_round, args.block, args.tempo) {
        (Some(round), _, _) => (round, None),
        (None, Some(block), Some(tempo)) => {
            let schedule = match (args.drand_genesis, args.drand_period, default_schedule) {
                (Some(genesis_time), period, _) => RoundSchedule {
                    genesis_time,
                    period: period.unwrap_or(RoundSchedule::QUICKNET.period),
                },
                (None, Some(period), Some(s)) => RoundSchedule { period, ..s },
                (None, None, Some(s)) => s,
                (None, _, None) => anyhow::bail!(
                    "--key local with --block needs --drand-genesis (the local beacon's round-1 time)"
                ),
            };
            if schedule.period == 0 {
                anyhow::bail!("--drand-period must be at least 1");
            }
            let now = args.now.unwrap_or(unix_now() as f64);
            let epochs = Epochs { tempo, netuid: args.netuid };
            let t = reveal_round(epochs, args.reveal_period, block, now, args.block_time, schedule);
            (t.reveal_round, Some(t))
        }
        _ => anyhow::bail!("give --reveal-round, or --block and --tempo"),
    };
    let payload = WeightsTlockPayload {
        hotkey: args.hotkey.0.to_vec(),
        uids: args.uids.clone(),
        values: args.weights.clone(),
        version_key: args.version_key,
    };
    let mut rng = match &args.seed {
        Some(hex_seed) => {
            let bytes =
                hex::decode(hex_seed.trim_start_matches("0x")).context("--seed is not hex")?;
            let seed: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                anyhow::anyhow!("--seed has {} bytes; it must have 32", b.len())
            })?;
            ChaCha20Rng::from_seed(seed)
        }
        None => ChaCha20Rng::from_entropy(),
    };
    let ciphertext = encrypt_weights(&public_key, round, &payload, &mut rng)?;
    let metadata =
        std::sync::Arc::new(checked_metadata(FINNEY_METADATA, "the vendored finney metadata")?);
    let call = Call::commit_timelocked_weights(
        args.netuid,
        &ciphertext,
        round,
        args.commit_reveal_version,
    );
    let call_data = call.call_data(&metadata)?;
    let mut line = json!({
        "call": call.label(),
        "netuid": args.netuid,
        "hotkey": args.hotkey.to_string(),
        "uids": args.uids,
        "weights": args.weights,
        "version_key": args.version_key,
        "commit_reveal_version": args.commit_reveal_version,
        "key": format!("{:?}", args.key).to_lowercase(),
        "payload": hex::encode(payload.encode()),
        "ciphertext": hex::encode(&ciphertext),
        "ciphertext_bytes": ciphertext.len(),
        "call_data": hex::encode(&call_data),
        "call_data_bytes": call_data.len(),
        "reveal_round": round,
    });
    if let (Some(obj), Some(t)) = (line.as_object_mut(), target) {
        obj.insert("commit_epoch".into(), json!(t.commit_epoch));
        obj.insert("reveal_epoch".into(), json!(t.reveal_epoch));
        obj.insert("first_reveal_block".into(), json!(t.first_reveal_block));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: WeightsCommand,
    }

    fn args(extra: &[&str]) -> DryRunArgs {
        let mut argv = vec![
            "weights",
            "dry-run",
            "--netuid",
            "81",
            "--hotkey",
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            "--uids",
            "0,3,7",
            "--weights",
            "65535,4096,120",
            "--version-key",
            "42",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("parse").cmd {
            WeightsCommand::DryRun(a) => a,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn quicknet_signature_1000() -> Vec<u8> {
        let text = include_str!("../../../fixtures/drand/beacons.json");
        let json: serde_json::Value = serde_json::from_str(text).expect("json");
        let entries = json["quicknet"]["entries"].as_array().expect("entries");
        let entry = entries.iter().find(|e| e["round"] == 1000).expect("round 1000");
        hex::decode(entry["signature"].as_str().expect("signature")).expect("hex")
    }

    #[test]
    fn the_commit_opens_with_the_rounds_signature_and_is_the_call() {
        let line = dry_run(&args(&["--reveal-round", "1000"])).expect("dry run");
        assert_eq!(line["reveal_round"], 1000);
        let ct = hex::decode(line["ciphertext"].as_str().expect("ct")).expect("hex");
        let plain = grail_chain::tlock::decrypt(&ct, &quicknet_signature_1000()).expect("decrypt");
        assert_eq!(hex::encode(&plain), line["payload"].as_str().expect("payload"));
        let payload =
            <WeightsTlockPayload as parity_scale_codec::Decode>::decode(&mut plain.as_slice())
                .expect("decode");
        let hotkey: Hotkey =
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".parse().expect("ss58");
        assert_eq!(payload.hotkey, hotkey.0.to_vec());
        assert_eq!(
            (payload.uids, payload.values, payload.version_key),
            (vec![0, 3, 7], vec![65535, 4096, 120], 42)
        );
        // The call data ends with the ciphertext, the round and the commit version.
        let call = line["call_data"].as_str().expect("call data");
        let tail = format!(
            "{}{}{}",
            hex::encode(&ct),
            hex::encode(1000u64.to_le_bytes()),
            hex::encode(4u16.to_le_bytes())
        );
        assert!(call.ends_with(&tail), "{call}");
    }

    #[test]
    fn a_seed_makes_it_reproducible_and_the_round_follows_the_block() {
        let seed = "01".repeat(32);
        let flags = ["--block", "10000", "--tempo", "360", "--now", "1700000000", "--seed", &seed];
        let a = dry_run(&args(&flags)).expect("dry run");
        let b = dry_run(&args(&flags)).expect("dry run");
        assert_eq!(a, b);
        assert_eq!(a["first_reveal_block"], 10_026);
        assert_eq!(a["reveal_round"], (1_700_000_348u64 - 1_692_803_367) / 3);
    }

    #[test]
    fn bad_flags_are_named() {
        let err = dry_run(&args(&["--reveal-round", "5", "--seed", "00"])).unwrap_err();
        assert!(err.to_string().contains("--seed has 1 bytes"), "{err}");
        let err = dry_run(&args(&["--block", "5", "--tempo", "10", "--key", "local"])).unwrap_err();
        assert!(err.to_string().contains("--drand-genesis"), "{err}");
        let mut a = args(&["--reveal-round", "5"]);
        a.weights.pop();
        let err = dry_run(&a).unwrap_err();
        assert!(err.to_string().contains("--uids has 3 entries and --weights 2"), "{err}");
        assert!(dry_run(&args(&[])).unwrap_err().to_string().contains("--reveal-round"));
    }
}

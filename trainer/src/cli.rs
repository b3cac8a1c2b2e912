//! `grail-trainer`'s command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use grail_cli::checkpoint::CheckpointArgs;
use grail_cli::config::ConfigArgs;
use grail_cli::log::LogArgs;
use grail_cli::network::GenerationArgs;
use grail_cli::storage::StorageArgs;
use grail_cli::wallet::WalletArgs;
use grail_protocol::params::{GenerationParams, DEFAULT_EOS_PROBABILITY_FLOOR};

/// The trainer of a grail-rs network: publishes the model each window runs.
#[derive(Debug, Parser)]
#[command(name = "grail-trainer", version, about)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish a model folder as the checkpoint of --from-window on: its files under
    /// checkpoints/{model_id}/ of the store, then the manifest, signed by the wallet's hotkey,
    /// at checkpoints/manifests/{W}.json. Miners and validators that trust this hotkey
    /// (--checkpoint.trainer) switch to it at that window.
    Publish(Box<PublishArgs>),
    /// Fetch and check every checkpoint of a trainer's store as a miner or validator does
    /// (signature under --checkpoint.trainer, each file's content id, the recomputed
    /// model_id), and print what each window would run under.
    Check(CheckArgs),
}

/// `check`'s flags.
#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    checkpoint: CheckpointArgs,
    /// Also name the checkpoint this window runs under.
    #[arg(id = "window", long = "window", env = "GRAIL_WINDOW", help_heading = "Checkpoint")]
    window: Option<u64>,
}

/// `publish`'s flags.
#[derive(Debug, clap::Args)]
struct PublishArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The model folder: model.onnx and the files beside it (tokenizer.json, config.json, ...),
    /// regular files with plain names only.
    #[arg(id = "model", long = "model", env = "GRAIL_MODEL", help_heading = "Checkpoint")]
    model: PathBuf,
    /// The first window the checkpoint holds for. Publish it at least a window ahead, so
    /// miners have fetched it when the window starts.
    #[arg(
        id = "from_window",
        long = "from-window",
        env = "GRAIL_FROM_WINDOW",
        help_heading = "Checkpoint"
    )]
    from_window: u64,
    #[command(flatten)]
    generation: GenerationArgs,
    /// Floor on the EOS probability where a completion stops on EOS (0: off).
    #[arg(
        id = "eos_probability_floor",
        long = "eos-probability-floor",
        env = "GRAIL_EOS_PROBABILITY_FLOOR",
        default_value_t = DEFAULT_EOS_PROBABILITY_FLOOR,
        help_heading = "Network"
    )]
    eos_probability_floor: f32,
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    storage: StorageArgs,
}

/// Runs the command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Publish(args) => publish(&args),
        Command::Check(args) => check(&args),
    }
}

fn publish(args: &PublishArgs) -> anyhow::Result<()> {
    let (environment, generation) = args.generation.spec()?;
    let generation =
        GenerationParams { eos_probability_floor: args.eos_probability_floor, ..generation };
    generation.validate().context("--eos-probability-floor")?;
    let pair = args.wallet.load()?;
    let store = args.storage.open().context("opening the storage")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    tracing::info!(
        model = %args.model.display(),
        from_window = args.from_window,
        trainer = %pair.hotkey(),
        store = store.description(),
        "publishing the checkpoint"
    );
    let started = std::time::Instant::now();
    let published = runtime
        .block_on(grail_checkpoint::publish(
            &args.model,
            &store,
            &pair,
            args.from_window,
            environment,
            generation,
            |file| tracing::info!(file = %file.name, bytes = file.bytes, cid = %file.cid, "uploaded"),
        ))
        .with_context(|| format!("publishing {}", args.model.display()))?;
    let m = &published.manifest;
    // Through the manifest's own JSON, so its f32 values print as written.
    let written: serde_json::Value =
        serde_json::from_slice(&grail_protocol::checkpoint::manifest_json(m))
            .context("reading back the manifest")?;
    let line = serde_json::json!({
        "from_window": m.from_window,
        "model_id": m.model_id,
        "manifest": published.manifest_key,
        "location": m.location,
        "files": m.files.len(),
        "bytes": published.bytes,
        "trainer": m.trainer,
        "environment": written["environment"],
        "generation": written["generation"],
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{line}");
    Ok(())
}

fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let cache = std::env::temp_dir().join(format!("grail-trainer-check-{}", std::process::id()));
    let source = args
        .checkpoint
        .source(&cache)?
        .context("--checkpoint.url and --checkpoint.trainer name the store to check")?;
    let temporary = args.checkpoint.cache.is_none();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = std::time::Instant::now();
    let mut checkpoints = grail_checkpoint::Checkpoints::new(source);
    let refreshed = runtime.block_on(checkpoints.refresh());
    if temporary {
        let _ = std::fs::remove_dir_all(&cache);
    }
    let refresh = refreshed.context("listing the trainer's checkpoints")?;
    let accepted: Vec<_> = checkpoints
        .accepted()
        .values()
        .map(|c| {
            serde_json::json!({
                "from_window": c.manifest.from_window,
                "model_id": c.manifest.model_id,
                "manifest": c.manifest_cid,
                "files": c.manifest.files.len(),
                "bytes": c.manifest.files.iter().map(|f| f.bytes).sum::<u64>(),
            })
        })
        .collect();
    let reasons = |list: &[grail_checkpoint::Refused]| -> Vec<serde_json::Value> {
        list.iter().map(|r| serde_json::json!({"key": r.key, "reason": r.reason})).collect()
    };
    let window = args.window.map(|w| {
        serde_json::json!({
            "window": w,
            "from_window": checkpoints.for_window(w).map(|c| c.manifest.from_window),
            "model_id": checkpoints.for_window(w).map(|c| c.manifest.model_id.clone()),
        })
    });
    let line = serde_json::json!({
        "accepted": accepted,
        "refused": reasons(&refresh.refused),
        "unread": reasons(&refresh.retry),
        "window": window,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{line}");
    if refresh.refused.is_empty() && refresh.retry.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} manifest(s) refused and {} not read whole (listed in the JSON line)",
            refresh.refused.len(),
            refresh.retry.len()
        )
    }
}

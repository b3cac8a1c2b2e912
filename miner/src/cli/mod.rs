//! Command-line structure: one subcommand (group) per concern, each in its own module here:
//! `keygen`, `keys`, `mine`, `generate`, `bench`.

mod bench;
mod generate;
mod keys;
mod mine;

use clap::{Parser, Subcommand};

/// The grail-rs miner.
#[derive(Debug, Parser)]
#[command(name = "grail-miner", version, about)]
pub(crate) struct Cli {
    /// Log filter (tracing syntax, e.g. `info` or `grail_miner=debug`), to stderr.
    #[arg(long = "log.level", env = "GRAIL_LOG", default_value = "warn", global = true)]
    pub(crate) log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a new sr25519 hotkey from OS randomness and write it as a Bittensor wallet
    /// hotkey file; prints `{"ss58", "public_key"}`.
    Keygen(keys::KeygenArgs),
    /// Use an existing Bittensor wallet hotkey: show it, sign with it.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Mine windows: wait for each window's verified drand beacon, generate complete groups of
    /// 16 rollouts, sign and upload the window file; one-shot with `--window W --problems N`.
    /// Prints one JSON report line per window.
    Mine(Box<mine::MineArgs>),
    /// Greedy-decode one chat prompt with a model folder (to check a model by eye); prints
    /// `{"prompt", "answer", "tokens", "tokens_per_s"}`.
    Generate(generate::GenerateArgs),
    /// Time a fixed workload (4 groups of 16, 128 new tokens) three ways on one model: the
    /// engine with commitments and the window file, without them, and the baseline loop.
    /// Prints one JSON line of figures.
    Bench(bench::BenchArgs),
}

/// Logs to stderr, so stdout carries only results.
/// The engine and the chat template of `--model`, errors naming the folder.
pub(crate) fn load_model(
    args: &grail_fingerprint::cli::ModelArgs,
) -> anyhow::Result<(grail_fingerprint::Engine, grail_challenges::prompt::PromptRenderer)> {
    use anyhow::Context;
    let dir = args.dir.display();
    let engine = args.load().with_context(|| format!("while loading the model folder {dir}"))?;
    let renderer = grail_challenges::prompt::PromptRenderer::from_model_dir(&args.dir)
        .with_context(|| format!("while loading the chat template of {dir}"))?;
    Ok((engine, renderer))
}

pub(crate) fn init_tracing(filter: &str) -> anyhow::Result<()> {
    Ok(grail_challenges::logging::init_stderr_logging(filter)?)
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Mine(args) => mine::run(*args),
        Command::Generate(args) => generate::run(&args),
        Command::Bench(args) => bench::run(&args),
    }
}

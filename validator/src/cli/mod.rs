//! Command-line structure: one subcommand group per concern: `beacon`, `model`, `run`,
//! `replay`, `bench`, `calibrate`.

mod beacon;
mod bench;
mod calibrate;
mod model;
mod replay;
mod run;
mod run_config;

use clap::{Parser, Subcommand};

/// The grail-rs validator.
#[derive(Debug, Parser)]
#[command(name = "grail-validator", version, about)]
pub(crate) struct Cli {
    /// Log filter (tracing syntax, e.g. `info` or `grail_challenges=debug`), to stderr.
    #[arg(long = "log.level", env = "GRAIL_LOG", default_value = "warn", global = true)]
    pub(crate) log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// drand beacons: verify one, or fetch and verify one from relays.
    #[command(subcommand)]
    Beacon(beacon::BeaconCommand),
    /// Model identity: `model_id`, the beacon-keyed fingerprint, the ONNX contract.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Run the validator: verify each window, commit verdicts, emit weights, serve status.
    Run(Box<run::RunArgs>),
    /// Recompute a window's verdicts and weights from its transcript; non-zero on a difference.
    Replay(replay::ReplayArgs),
    /// Time verification against generation on one model: the miner's fixed workload
    /// generated, then verified with every check; prints one JSON line of figures.
    Bench(bench::BenchArgs),
    /// The proof audit: honest drift sources and forgers through every forward check, and
    /// the analytic forgery bound; prints one JSON object.
    Calibrate(Box<calibrate::CalibrateArgs>),
}

/// Logs to stderr, so stdout carries only results.
pub(crate) fn init_tracing(filter: &str) -> anyhow::Result<()> {
    Ok(grail_challenges::logging::init_stderr_logging(filter)?)
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Beacon(cmd) => beacon::run(cmd).await,
        Command::Model(cmd) => model::run(cmd),
        Command::Run(args) => run::run(*args).await,
        Command::Replay(args) => replay::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Calibrate(args) => calibrate::run(&args),
    }
}

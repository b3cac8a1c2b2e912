//! The validator's command line, one subcommand group per concern: `beacon`, `model`, `run`,
//! `replay`, `export`, `weights`. The flag groups come from `grail-cli`; `run`'s own are in [`run`](mod@run).

pub mod beacon;
pub mod export;
pub mod model;
pub mod replay;
pub mod run;
pub mod weights;

use clap::{Parser, Subcommand};
use grail_cli::log::LogArgs;

/// The grail-rs validator.
#[derive(Debug, Parser)]
#[command(name = "grail-validator", version, about)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
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
    /// Export the verified rollouts of kept windows for trainers (Parquet or JSON Lines).
    Export(export::ExportArgs),
    /// Weights on chain: build a timelocked commit offline (`dry-run`).
    #[command(subcommand)]
    Weights(weights::WeightsCommand),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Beacon(cmd) => beacon::run(cmd),
        Command::Model(cmd) => model::run(cmd),
        Command::Run(args) => run::run(*args, &mut run::PrintLines),
        Command::Replay(args) => replay::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Weights(cmd) => weights::run(cmd),
    }
}

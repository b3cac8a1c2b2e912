//! `grail-audit`'s command line: `calibrate`, `bench miner|validator`, `adversary`.

use clap::{Parser, Subcommand};
use grail_cli::log::LogArgs;

/// The grail-rs audit tool: measure the proof and the throughput, attack a local subnet.
#[derive(Debug, Parser)]
#[command(name = "grail-audit", version, about)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The proof audit: honest drift sources and forgers through every forward check, and
    /// the analytic forgery bound; prints one JSON object.
    Calibrate(Box<crate::calibrate::cli::CalibrateArgs>),
    /// Throughput on the fixed workload; prints one JSON line of figures.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Mine one window with forged files, one attack per hotkey, next to honest miners;
    /// prints one JSON line per attack with the verdict the validator must reach.
    Adversary(Box<crate::adversary::AdversaryArgs>),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Calibrate(args) => crate::calibrate::cli::run(&args),
        Command::Bench(cmd) => crate::bench::run(&cmd),
        Command::Adversary(args) => crate::adversary::run(&args),
    }
}

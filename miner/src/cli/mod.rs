//! The miner's command line, one subcommand (group) per concern, each in its own module:
//! `keygen`, `keys`, `mine`, `register`, `commit`, `generate`. The flag groups come from
//! `grail-cli`.

pub mod commit;
pub mod generate;
pub mod keys;
pub mod metrics;
pub mod mine;
pub mod register;

use clap::{Parser, Subcommand};
use grail_cli::log::LogArgs;

/// The grail-rs miner.
#[derive(Debug, Parser)]
#[command(name = "grail-miner", version, about)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
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
    /// 16 rollouts, sign and upload the window file. Prints one JSON report line per window.
    Mine(Box<mine::MineArgs>),
    /// Register the hotkey on the subnet (`burned_register`, signed and paid by the hotkey as
    /// its own owning account); prints `{"netuid", "hotkey", "uid", "block", ...}`.
    Register(register::RegisterArgs),
    /// Publish where this miner's window files are and how to read them (`set_commitment`);
    /// prints `{"netuid", "hotkey", "store_url", "fields", "sent", ...}`.
    Commit(Box<commit::CommitArgs>),
    /// Greedy-decode one chat prompt with a model folder (to check a model by eye); prints
    /// `{"prompt", "answer", "tokens", "tokens_per_s"}`.
    Generate(generate::GenerateArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Mine(args) => mine::run(&args),
        Command::Register(args) => register::run(&args),
        Command::Commit(args) => commit::run(&args),
        Command::Generate(args) => generate::run(&args),
    }
}

//! `grail-audit bench miner|validator`: the throughput figures of DESIGN.md section 6 on the
//! fixed [`crate::workload`], one JSON line each.

pub mod miner;
pub mod miner_cli;
pub mod validator;

use anyhow::Context;
use clap::Subcommand;
use grail_challenges::prompt::PromptRenderer;
use grail_cli::model::ModelArgs;
use grail_fingerprint::Engine;

/// The benches.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time the fixed workload (4 groups of 16, 128 new tokens) three ways on one model: the
    /// engine with commitments and the window file, without them, and the baseline loop.
    Miner(miner_cli::BenchArgs),
    /// Time verification against generation on one model: the miner's fixed workload
    /// generated, then verified with every check.
    Validator(validator::BenchArgs),
}

/// Runs a bench.
pub fn run(cmd: &BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Miner(args) => miner_cli::run(args),
        BenchCommand::Validator(args) => validator::run(args),
    }
}

/// The engine and the chat template of `--model`, errors naming the folder.
pub(crate) fn load_model(args: &ModelArgs) -> anyhow::Result<(Engine, PromptRenderer)> {
    let dir = args.dir.display();
    let engine = args.load().with_context(|| format!("while loading the model folder {dir}"))?;
    let renderer = PromptRenderer::from_model_dir(&args.dir)
        .with_context(|| format!("while loading the chat template of {dir}"))?;
    Ok((engine, renderer))
}

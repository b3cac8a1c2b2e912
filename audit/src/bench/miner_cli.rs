//! `bench miner`: the fixed workload of [`crate::workload`] run three ways on one model (engine
//! with proofs and window file, engine without proofs, baseline loop), then the multi-group
//! sweep of [`crate::bench::batching`] (`batching` in the line) and the roofline of
//! [`crate::bench::roofline`] (`roofline`). Prints one JSON line; progress goes to stderr.
//!
//! Stop tokens are off by default, so every rollout runs to `--new-tokens` and all three runs
//! generate exactly `groups × 16 × new_tokens` tokens; `--stop` stops at the model's stop
//! tokens instead (then the counts follow the samples).

use crate::bench::batching::BatchingArgs;
use crate::bench::miner::run_miner_bench;
use crate::bench::roofline::{measure, RooflineArgs};
use crate::workload::WorkloadArgs;
use anyhow::Context;
use clap::Args;
use grail_cli::model::ModelArgs;
use grail_fingerprint::engine::bench::load_average;
use serde_json::json;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    work: WorkloadArgs,
    /// Stop at the model's stop tokens (default: off, every rollout is `--new-tokens` long).
    #[arg(id = "stop", long = "stop", env = "GRAIL_STOP", help_heading = "Workload")]
    stop: bool,
    #[command(flatten)]
    batching: BatchingArgs,
    #[command(flatten)]
    roofline: RooflineArgs,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let load_start = load_average();
    let super::Loaded { mut engine, renderer, model_id, work } =
        super::load(&args.model, &args.work, args.stop)?;
    eprintln!(
        "bench: {} groups x 16 rollouts x {} tokens on {} ({} threads), prompts of {} tokens",
        args.work.groups,
        args.work.new_tokens,
        args.model.dir.display(),
        args.model.threads.map_or("default".into(), |t| t.to_string()),
        work.prompts.iter().map(Vec::len).max().unwrap_or(0),
    );
    let figures = run_miner_bench(&mut engine, &renderer, &work, &model_id.to_bytes(), |line| {
        eprintln!("bench: {line}");
    })?;
    let threads = args
        .model
        .threads
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    let batching = crate::bench::batching::measure(
        &mut engine,
        &work,
        &args.batching,
        &figures.generated,
        |line| eprintln!("bench: {line}"),
    )?;
    let prompt = work.prompts.first().context("the workload has no prompt")?;
    let roofline = measure(
        &mut engine,
        prompt,
        &args.roofline,
        threads,
        (figures.tokens_per_s, batching.best_tokens_per_s),
        |line| eprintln!("bench: {line}"),
    )?;
    let line = serde_json::to_value(&figures).context("serializing the figures")?;
    let line = super::merged(line, json!({ "batching": batching, "roofline": roofline }));
    let line =
        super::merged(line, super::run_context(&args.model, &args.work, &model_id, load_start));
    let line = super::merged(line, json!({ "stop_tokens": args.stop }));
    println!("{line}");
    Ok(())
}

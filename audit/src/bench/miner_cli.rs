//! `bench miner`: the fixed workload of [`crate::workload`] run three ways on one model (engine
//! with proofs and window file, engine without proofs, baseline loop). Prints one JSON line;
//! progress goes to stderr.
//!
//! Stop tokens are off by default, so every rollout runs to `--new-tokens` and all three runs
//! generate exactly `groups × 16 × new_tokens` tokens; `--stop` stops at the model's stop
//! tokens instead (then the counts follow the samples).

use crate::bench::miner::run_miner_bench;
use crate::workload::{Workload, WorkloadArgs};
use anyhow::Context;
use clap::Args;
use grail_cli::model::ModelArgs;
use grail_fingerprint::engine::bench::{load_average, peak_rss_mb};
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
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let load_start = load_average();
    let (mut engine, renderer) = super::load_model(&args.model)?;
    let model_file = args.model.model_file();
    let model_id = grail_fingerprint::model_id(&model_file)
        .with_context(|| format!("computing the model_id of {}", model_file.display()))?;
    let work = Workload::new(
        &renderer,
        engine.spec().hidden_size,
        engine.config().stop_token_ids.clone(),
        args.work.groups,
        args.work.new_tokens,
        args.stop,
    )?;
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
    let mut line = serde_json::to_value(&figures).context("serializing the figures")?;
    let extra = json!({
        "peak_rss_mb": peak_rss_mb(),
        "model": {
            "folder": args.model.dir.file_name().map(|n| n.to_string_lossy().into_owned()),
            "model_id": model_id.to_string(),
        },
        "device": args.model.device.to_string(),
        "threads": args.model.threads,
        "groups": args.work.groups,
        "group_size": grail_protocol::params::GROUP_SIZE,
        "new_tokens": args.work.new_tokens,
        "stop_tokens": args.stop,
        "load_average": { "start": load_start, "end": load_average() },
    });
    if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
        line.extend(extra.clone());
    }
    println!("{line}");
    Ok(())
}

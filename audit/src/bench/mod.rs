//! `grail-audit bench miner|validator|export`: the throughput figures of DESIGN.md section 6 on the
//! fixed [`crate::workload`], one JSON line each.

pub mod batching;
pub mod export;
pub mod miner;
pub mod miner_cli;
pub mod roofline;
pub mod validator;

use anyhow::Context;
use clap::Subcommand;
use grail_challenges::prompt::PromptRenderer;
use grail_cli::model::ModelArgs;
use grail_fingerprint::engine::bench::{load_average, peak_rss_mb};
use grail_fingerprint::Engine;

use crate::workload::{Workload, WorkloadArgs};

/// The benches.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time the fixed workload (4 groups of 16, 128 new tokens) three ways on one model: the
    /// engine with commitments and the window file, without them, and the baseline loop; then
    /// with several groups per batch at several batch capacities, checked bit for bit against
    /// the first run; then bare decoding at several batch sizes beside the machine's measured
    /// arithmetic and memory peaks.
    Miner(miner_cli::BenchArgs),
    /// Time verification against generation on one model: the miner's fixed workload
    /// generated, then verified with every check.
    Validator(validator::BenchArgs),
    /// Time the export of one window's verified rollouts (Parquet and JSON Lines) for
    /// trainers: `--miners` miners' files of the fixed workload, kept as passed.
    Export(export::BenchArgs),
}

/// Parses a count between 1 and `max` from a flag's value; the error names `what`.
pub(crate) fn parse_count(text: &str, what: &str, max: usize) -> Result<usize, String> {
    let n: usize = text.trim().parse().map_err(|e| format!("{what} {text:?}: {e}"))?;
    if (1..=max).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{what} {n} is outside 1 to {max}"))
    }
}

/// Runs a bench.
pub fn run(cmd: &BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Miner(args) => miner_cli::run(args),
        BenchCommand::Validator(args) => validator::run(args),
        BenchCommand::Export(args) => export::run(args),
    }
}

/// What both benches start from: the model, its chat template and `model_id`, and the
/// workload built for it.
pub(crate) struct Loaded {
    pub(crate) engine: Engine,
    pub(crate) renderer: PromptRenderer,
    pub(crate) model_id: cid::Cid,
    pub(crate) work: Workload,
}

/// Loads `--model` and builds the workload of `work` (generation stopping at the model's stop
/// tokens when `stop`), errors naming the folder.
pub(crate) fn load(model: &ModelArgs, work: &WorkloadArgs, stop: bool) -> anyhow::Result<Loaded> {
    let dir = model.dir.display();
    let engine = model.load().with_context(|| format!("while loading the model folder {dir}"))?;
    let renderer = PromptRenderer::from_model_dir(&model.dir)
        .with_context(|| format!("while loading the chat template of {dir}"))?;
    let model_file = model.model_file();
    let model_id = grail_fingerprint::model_id(&model_file)
        .with_context(|| format!("computing the model_id of {}", model_file.display()))?;
    let work = Workload::new(
        &renderer,
        engine.spec().hidden_size,
        engine.config().stop_token_ids.clone(),
        work.groups,
        work.new_tokens,
        stop,
    )?;
    Ok(Loaded { engine, renderer, model_id, work })
}

/// What every bench line reports about its run beside its figures: the model, the device and
/// threads, the workload, peak memory and the machine's load before and after.
pub(crate) fn run_context(
    model: &ModelArgs,
    work: &WorkloadArgs,
    model_id: &cid::Cid,
    load_start: Option<[f64; 3]>,
) -> serde_json::Value {
    serde_json::json!({
        "peak_rss_mb": peak_rss_mb(),
        "model": {
            "folder": model.dir.file_name().map(|n| n.to_string_lossy().into_owned()),
            "model_id": model_id.to_string(),
        },
        "device": model.device.to_string(),
        "threads": model.threads,
        "groups": work.groups,
        "group_size": grail_protocol::params::GROUP_SIZE,
        "new_tokens": work.new_tokens,
        "load_average": { "start": load_start, "end": load_average() },
    })
}

/// `line` with the keys of `extra` added.
pub(crate) fn merged(mut line: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), extra) {
        line.extend(extra);
    }
    line
}

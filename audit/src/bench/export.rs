//! `bench export`: what exporting a window's verified rollouts for trainers costs. `--miners`
//! miners (each its own hotkey, problems and streams) generate the fixed workload on the
//! model; each file is sealed, kept in a fresh validator data folder as a passed miner's
//! (`DATA/verified/`, with the rollouts a validator would check at the default rates), and the
//! window is exported with `grail-validator export`'s code to Parquet and to JSON Lines.
//! Prints one JSON line: seconds, bytes and bytes per completion token of each format, beside
//! the window files' own bytes.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use grail_challenges::assembly::seal;
use grail_cli::model::ModelArgs;
use grail_fingerprint::engine::bench::load_average;
use grail_protocol::cid::cid_of_bytes;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::verify_params::VerifyParams;
use grail_validator::archive::Archive;
use grail_validator::export::{export, ExportSummary, Format};
use grail_validator::pipeline::select::rollouts_to_check;
use grail_validator::state::{KeptFile, Stage, State, Verdict, VerdictResult, WindowOutcome};
use serde_json::json;

use crate::calibrate::generate_workload_group;
use crate::workload::{Workload, WorkloadArgs, BENCH_HOTKEY_SEED, BENCH_RANDOMNESS, BENCH_WINDOW};

/// The challenge randomness that picks the rollouts marked checked.
const CHALLENGE_RANDOMNESS: [u8; 32] = [0xc4; 32];

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    work: WorkloadArgs,
    /// Miners in the window, each with its own hotkey and problems.
    #[arg(
        id = "miners",
        long = "miners",
        env = "GRAIL_MINERS",
        help_heading = "Workload",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=256)
    )]
    miners: u32,
}

/// The hotkey of miner `i` of the bench.
fn miner_pair(i: u32) -> anyhow::Result<HotkeyPair> {
    let mut seed = BENCH_HOTKEY_SEED;
    seed[..4].copy_from_slice(&(i + 1).to_le_bytes());
    HotkeyPair::from_mini_secret(&seed).context("a miner's hotkey")
}

fn figures(summary: &ExportSummary, seconds: f64) -> serde_json::Value {
    json!({
        "seconds": seconds,
        "bytes": summary.bytes,
        "bytes_per_token": summary.bytes as f64 / summary.completion_tokens.max(1) as f64,
        "rows_per_s": summary.rows as f64 / seconds.max(1e-9),
        "rows": summary.rows,
    })
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let load_start = load_average();
    let super::Loaded { mut engine, renderer, model_id, work: _ } =
        super::load(&args.model, &args.work, true)?;
    let progress = |line: String| eprintln!("bench: {line}");
    let fingerprint = grail_fingerprint::fingerprint(&args.model.model_file(), &BENCH_RANDOMNESS)
        .context("fingerprinting the weights")?;
    let data = tempfile::tempdir().context("a temporary data folder")?;
    let archive = Archive::new(data.path());
    let verify = VerifyParams::default();
    let (mut kept, mut verdicts) = (Vec::new(), Vec::new());
    let (mut file_bytes, mut rollouts, mut completion_tokens) = (0usize, 0usize, 0usize);
    let t = Instant::now();
    for i in 0..args.miners {
        let pair = miner_pair(i)?;
        let work = Workload::for_miner(
            &renderer,
            engine.spec().hidden_size,
            engine.config().stop_token_ids.clone(),
            args.work.groups,
            args.work.new_tokens,
            true,
            pair.clone(),
        )?;
        let mut all = Vec::new();
        for j in 0..args.work.groups as usize {
            all.extend(generate_workload_group(&mut engine, &renderer, &work, j)?);
        }
        let (file, bytes) = seal(&pair, work.header(model_id.to_bytes(), fingerprint), all)
            .context("signing a window file")?;
        let cid = archive.keep(&bytes)?;
        let checked = rollouts_to_check(
            &CHALLENGE_RANDOMNESS,
            &cid_of_bytes(&bytes).to_bytes(),
            &file,
            &verify,
        );
        let uid = u16::try_from(i + 1).context("uid")?;
        file_bytes += bytes.len();
        rollouts += file.rollouts.len();
        completion_tokens += file.rollouts.iter().map(|r| r.completion_tokens.len()).sum::<usize>();
        verdicts.push(Verdict {
            hotkey: pair.hotkey(),
            uid,
            stage: Stage::Duplicates,
            result: VerdictResult::Pass,
            reason: None,
            rollouts_in_file: file.rollouts.len() as u64,
            rollouts_checked: checked.len() as u64,
            unique_verified: checked.len() as u64,
            unique_estimated: file.rollouts.len() as u64,
        });
        let checked = checked.iter().map(|c| c.index).collect();
        kept.push(KeptFile { window: BENCH_WINDOW, hotkey: pair.hotkey(), uid, cid, checked });
        progress(format!(
            "miner {}/{}: {} rollouts, {:.1} s",
            i + 1,
            args.miners,
            file.rollouts.len(),
            t.elapsed().as_secs_f64()
        ));
    }
    let generate_s = t.elapsed().as_secs_f64();
    let outcome = WindowOutcome {
        window: BENCH_WINDOW,
        beacon_round: 1,
        randomness: CHALLENGE_RANDOMNESS,
        processed_at_unix: 0,
        files: u64::from(args.miners),
        verdicts,
        exclusions: vec![],
    };
    State::open(data.path())?.record_window_kept(&outcome, &kept)?;

    let mut formats = serde_json::Map::new();
    for (name, format) in [("parquet", Format::Parquet), ("jsonl", Format::Jsonl)] {
        let out = data.path().join(format!("rollouts.{name}"));
        let t = Instant::now();
        let summary =
            export(data.path(), BENCH_WINDOW, BENCH_WINDOW, format, &out, &mut |_, _| {})?;
        let seconds = t.elapsed().as_secs_f64();
        progress(format!("{name}: {} rows, {} bytes, {seconds:.3} s", summary.rows, summary.bytes));
        formats.insert(name.into(), figures(&summary, seconds));
    }
    let line = json!({
        "bench": "export",
        "miners": args.miners,
        "rollouts": rollouts,
        "completion_tokens": completion_tokens,
        "window_file_bytes": file_bytes,
        "window_file_bytes_per_token": file_bytes as f64 / completion_tokens.max(1) as f64,
        "generate_s": generate_s,
        "parquet": formats.get("parquet"),
        "jsonl": formats.get("jsonl"),
    });
    let line =
        super::merged(line, super::run_context(&args.model, &args.work, &model_id, load_start));
    println!("{line}");
    Ok(())
}

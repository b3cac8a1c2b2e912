//! `bench validator`: what verifying costs against generating, on one model, in one process. Prints one
//! JSON line; progress goes to stderr.
//!
//! 1. The fixed workload ([`crate::workload::Workload`], stop tokens on, as an
//!    honest miner generates) is generated with the engine, scored and sealed into one signed
//!    window file: `generate_rollouts_per_s`.
//! 2. Full verification of every rollout of that file with every check: parse, signatures,
//!    structure, the validator's shared-prompt prefill (each group's prompt once, then its
//!    completions `--prefill-batch` at a time) with the sampling, logprob, commitment
//!    (K positions) and termination checks, rewards: `verify_rollouts_per_s`,
//!    `verify_tokens_per_s`. The file must pass.
//! 3. The same shared-prompt prefill, bare (no checks), over the same batches, each timed right
//!    before or after its verified twin (by turns), so load from elsewhere hits both alike:
//!    `prefill_tokens_per_s`.
//! 4. The file as a validator checks it at the default sampling rates
//!    (`VerifyParams::rollouts_checked` of the file's rollouts, every cheap check on all of
//!    them): `file_cost_ratio` = those seconds over the miner's seconds for the file.
//! 5. `window_cost_ratio`, the design's figure: validator seconds per window over the miner's
//!    generation seconds for that window, for a miner that generates through a whole default
//!    window (`blocks_per_window × block_time_s`) at the measured generation rate
//!    (`full_window_rollouts`), the validator forward-checking `rollouts_checked` of them and
//!    running the cheap checks on all, each at its per-rollout cost measured in steps 2 and 4.
//!
//! Token rates count sequence tokens (prompt + completion) of the rollouts verified, the same
//! count whatever the pass feeds, so they compare with figures from the full prefill. The
//! shared-prompt passes of step 2 (and 3) feed fewer: `prefill_tokens_run`, each call's
//! prompt less its last token once, plus its completions (pads left out).
//! 6. `miners_checked_per_window`: what the live validator's default pace (`--verify.pace`)
//!    checks per window on this machine, for miners like the one of step 5:
//!    `miners_per_window_affordable` = ⌊(pace × window − fingerprint_s) /
//!    full_window_validator_s⌋, clamped to `--verify.min-miners` and `--verify.miners`
//!    (`miners_per_window_affordable_bench_file` is the same for files of this benchmark's size).
//!
//! The weights' fingerprint, computed once per window whatever the number of miners, is timed
//! apart (`fingerprint_s`) and left out of the ratios; `file_cost_ratio_one_miner` adds it.

use std::time::Instant;

use crate::calibrate::generate_workload_group;
use crate::workload::{Workload, WorkloadArgs, BENCH_RANDOMNESS};
use anyhow::{bail, Context};
use clap::Args;
use grail_challenges::assembly::seal;
use grail_challenges::prompt::PromptRenderer;
use grail_cli::model::ModelArgs;
use grail_fingerprint::engine::bench::load_average;
use grail_fingerprint::Engine;
use grail_protocol::cid::cid_of_bytes;
use grail_protocol::codec;
use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::{VerifyParams, DEFAULT_MINERS_CHECKED};
use grail_protocol::window_file::WindowFile;
use grail_validator::pace::{miners_affordable, DEFAULT_MIN_MINERS, DEFAULT_PACE_FRACTION};
use grail_validator::pipeline::forward::{shared_prompt_chunks, verify_forward, ForwardContext};
use grail_validator::pipeline::reward::check_rewards;
use grail_validator::pipeline::select::{rollouts_to_check, CheckedRollout};
use grail_validator::pipeline::signatures::check_signatures;
use grail_validator::pipeline::structure::{check_structure, StructureContext};
use grail_validator::pipeline::verifier::DEFAULT_PREFILL_BATCH;
use grail_validator::pipeline::Failure;
use serde::Serialize;
use serde_json::json;

/// The challenge beacon's randomness of the benchmark (it only picks rollouts and positions).
const CHALLENGE_RANDOMNESS: [u8; 32] = [0xc4; 32];

/// Default rollouts per prefill call. A call holds `batch × completion length × V` f32 logits
/// (the shared prompt's positions give none): on SmolLM2-135M (V = 49,152) with 128 tokens that
/// is 25 MB per rollout, beside a copy of the prompt's cache (14 MB at 317 tokens). Measured
/// peaks (docs/BENCHMARKS.md): 1.38 GB at 2 and at 8, 1.78 GB at 16; 8 is as fast as 16.
const DEFAULT_BENCH_PREFILL_BATCH: u64 = DEFAULT_PREFILL_BATCH as u64;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    work: WorkloadArgs,
    /// Rollouts per prefill call (bounds the logits held at once).
    #[arg(
        id = "prefill_batch",
        long = "prefill-batch",
        env = "GRAIL_PREFILL_BATCH",
        help_heading = "Workload",
        default_value_t = DEFAULT_BENCH_PREFILL_BATCH,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    prefill_batch: u64,
}

/// Seconds of each step of one verification of the file.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct StageSeconds {
    parse: f64,
    signatures: f64,
    structure: f64,
    forward: f64,
    rewards: f64,
}

impl StageSeconds {
    fn total(&self) -> f64 {
        self.parse + self.signatures + self.structure + self.forward + self.rewards
    }

    /// The stages that read every rollout whatever the sampling rate.
    fn every_rollout(&self) -> f64 {
        self.total() - self.forward
    }
}

/// What the model and the workload need, loaded once.
struct Bench {
    engine: Engine,
    renderer: PromptRenderer,
    work: Workload,
    network: NetworkParams,
    batch: usize,
}

impl Bench {
    /// Verifies `bytes` (CID `cid`) with every check, `rollouts_checked` rollouts forward-checked.
    /// With `bare`, each batch's bare prefill is timed beside it and added there.
    fn verify(
        &mut self,
        bytes: &[u8],
        verify: &VerifyParams,
        mut bare: Option<&mut f64>,
    ) -> anyhow::Result<StageSeconds> {
        let mut s = StageSeconds::default();
        let failed = |f: Failure| anyhow::anyhow!("the honest file failed verification: {f}");
        let t = Instant::now();
        let file = codec::decode(bytes, &verify.limits()).context("decoding the window file")?;
        let cid = cid_of_bytes(bytes).to_bytes();
        s.parse = t.elapsed().as_secs_f64();

        let t = Instant::now();
        check_signatures(&file).map_err(failed)?;
        s.signatures = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let ctx = StructureContext {
            window_seed: &self.work.seed,
            env: self.work.env.as_ref(),
            renderer: &self.renderer,
            vocab_size: self.engine.spec().vocab_size,
            max_new_tokens: self.network.generation.max_new_tokens,
            stop_ids: &self.work.model_stop_ids,
        };
        let problems = check_structure(&file, &ctx)?.map_err(failed)?;
        s.structure = t.elapsed().as_secs_f64();

        let checked = rollouts_to_check(&CHALLENGE_RANDOMNESS, &cid, &file, verify);
        let hotkey = self.work.pair.hotkey();
        let fctx = ForwardContext {
            window_seed: &self.work.seed,
            hotkey: &hotkey,
            generation: &self.network.generation,
            key: &self.work.key,
            stop_ids: &self.work.model_stop_ids,
            params: verify,
        };
        let mut rollouts = 0;
        for (k, chunk) in checked.chunks(self.batch).enumerate() {
            // The bare prefill of the same batch, before or after it by turns.
            if k % 2 == 1 {
                if let Some(b) = bare.as_deref_mut() {
                    *b += bare_prefill(&mut self.engine, &file, chunk, self.batch)?;
                }
            }
            let f = Instant::now();
            let stats = verify_forward(&mut self.engine, &file, chunk, &fctx, self.batch)?
                .map_err(failed)?;
            s.forward += f.elapsed().as_secs_f64();
            rollouts += stats.rollouts;
            if k % 2 == 0 {
                if let Some(b) = bare.as_deref_mut() {
                    *b += bare_prefill(&mut self.engine, &file, chunk, self.batch)?;
                }
            }
        }
        if rollouts != checked.len() as u64 {
            bail!("{rollouts} rollouts forward-checked of {} selected", checked.len());
        }

        let t = Instant::now();
        check_rewards(&file, &problems, &self.work.scorer(&self.renderer)).map_err(failed)?;
        s.rewards = t.elapsed().as_secs_f64();
        Ok(s)
    }
}

/// The `(prompt, completions)` of each shared-prompt prefill call that [`verify_forward`]
/// makes for the `checked` rollouts of `file`.
fn shared_calls<'f>(
    file: &'f WindowFile,
    checked: &[CheckedRollout],
    batch: usize,
) -> Vec<(&'f [u32], Vec<&'f [u32]>)> {
    let rollouts: Vec<_> = checked.iter().map(|c| &file.rollouts[c.index as usize]).collect();
    let prompts: Vec<&[u32]> = rollouts.iter().map(|r| r.prompt_tokens.as_slice()).collect();
    shared_prompt_chunks(&prompts, batch)
        .into_iter()
        .filter_map(|chunk| {
            let prompt = prompts[*chunk.first()?];
            Some((prompt, chunk.iter().map(|&i| &rollouts[i].completion_tokens[..]).collect()))
        })
        .collect()
}

/// Tokens the shared-prompt prefill feeds for the `checked` rollouts, `batch` per
/// [`verify_forward`] call as [`Bench::verify`] makes them (pads left out).
fn tokens_run(file: &WindowFile, checked: &[CheckedRollout], batch: usize) -> usize {
    checked
        .chunks(batch)
        .flat_map(|chunk| shared_calls(file, chunk, batch))
        .map(|(p, c)| p.len().saturating_sub(1) + c.iter().map(|c| c.len().max(1)).sum::<usize>())
        .sum()
}

/// The bare shared-prompt prefill of the `checked` rollouts of `file`, `batch` completions per
/// call as [`verify_forward`] runs them; seconds.
fn bare_prefill(
    engine: &mut Engine,
    file: &WindowFile,
    checked: &[CheckedRollout],
    batch: usize,
) -> anyhow::Result<f64> {
    let calls = shared_calls(file, checked, batch);
    let t = Instant::now();
    for (prompt, completions) in calls {
        engine
            .prefill_shared::<grail_fingerprint::Error, _>(prompt, &completions, |_, _| Ok(()))
            .context("bare prefill")?;
    }
    Ok(t.elapsed().as_secs_f64())
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let load_start = load_average();
    let super::Loaded { mut engine, renderer, model_id, work } =
        super::load(&args.model, &args.work, true)?;
    let model_file = args.model.model_file();
    let network = work.network();
    let progress = |line: String| eprintln!("bench: {line}");
    progress(format!(
        "{} groups x 16 rollouts, up to {} tokens, on {} ({} threads)",
        args.work.groups,
        args.work.new_tokens,
        args.model.dir.display(),
        args.model.threads.map_or("default".into(), |t| t.to_string()),
    ));

    // Warm-up: ONNX Runtime allocates its arenas on the first passes.
    let mut warm = work.request(0, true);
    warm.max_new_tokens = warm.max_new_tokens.min(4);
    engine.generate_group(&warm).context("warm-up")?;

    // 1. What the miner does for this file (the fingerprint is per window, timed apart).
    let t = Instant::now();
    let fingerprint = grail_fingerprint::fingerprint(&model_file, &BENCH_RANDOMNESS)
        .context("fingerprinting the weights")?;
    let fingerprint_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut rollouts = Vec::new();
    for j in 0..args.work.groups as usize {
        let g = Instant::now();
        let group = generate_workload_group(&mut engine, &renderer, &work, j)
            .context("generating the honest window file")?;
        rollouts.extend(group);
        progress(format!(
            "generated group {}/{}: {:.1} s",
            j + 1,
            args.work.groups,
            g.elapsed().as_secs_f64()
        ));
    }
    let (file, bytes) = seal(&work.pair, work.header(model_id.to_bytes(), fingerprint), rollouts)
        .context("signing the window file")?;
    let generate_s = t.elapsed().as_secs_f64();
    let n = file.rollouts.len();
    let completion_tokens: usize = file.rollouts.iter().map(|r| r.completion_tokens.len()).sum();
    let sequence_tokens: usize =
        file.rollouts.iter().map(|r| r.prompt_tokens.len() + r.completion_tokens.len()).sum();
    let batch = usize::try_from(args.prefill_batch).context("--prefill-batch")?;
    let mut bench = Bench { engine, renderer, work, network, batch };

    // Warm-up of the prefill shapes: ONNX Runtime sizes its buffers on the first call.
    let warm: Vec<CheckedRollout> = (0..batch.min(n))
        .map(|i| CheckedRollout { index: u32::try_from(i).unwrap_or(u32::MAX), positions: vec![] })
        .collect();
    bare_prefill(&mut bench.engine, &file, &warm, batch)?;

    // 2. and 3. Every rollout, every check; beside each batch, its bare prefill.
    let all = VerifyParams {
        rollouts_checked: u32::try_from(n).context("rollout count")?,
        ..VerifyParams::default()
    };
    let mut prefill_s = 0.0;
    let full = bench.verify(&bytes, &all, Some(&mut prefill_s))?;
    let every: Vec<CheckedRollout> = (0..n)
        .map(|i| CheckedRollout { index: u32::try_from(i).unwrap_or(u32::MAX), positions: vec![] })
        .collect();
    let prefill_tokens_run = tokens_run(&file, &every, batch);
    progress(format!("verified all {n} rollouts: {:.1} s {full:?}", full.total()));
    progress(format!("bare prefill of the same batches: {prefill_s:.1} s"));

    // 4. The file at the default sampling rates.
    let defaults = VerifyParams::default();
    let window = bench.verify(&bytes, &defaults, None)?;
    let checked = (defaults.rollouts_checked as usize).min(n);
    progress(format!("file at default rates ({checked} of {n} checked): {:.1} s", window.total()));

    // 5. A miner that fills a whole default window: its generation seconds, and the
    // validator's per-rollout costs measured above scaled to that file.
    let window_gen_s = (bench.network.blocks_per_window * bench.network.block_time_s) as f64;
    let per_rollout_gen = generate_s / n as f64;
    let full_n = ((window_gen_s / per_rollout_gen) as usize / 16 * 16).max(16);
    let full_checked = checked.min(full_n);
    let full_window_validator_s = window.every_rollout() / n as f64 * full_n as f64
        + full.forward / n as f64 * full_checked as f64;

    // 6. How many such miners the live validator's default pace checks per window here: the
    // fingerprint is the fixed part, each full-window miner's file the part per miner.
    let pace_budget_s = DEFAULT_PACE_FRACTION * window_gen_s;
    let affordable = miners_affordable(pace_budget_s, fingerprint_s, full_window_validator_s);
    let affordable_bench_file = miners_affordable(pace_budget_s, fingerprint_s, window.total());
    let paced = u32::try_from(affordable)
        .unwrap_or(u32::MAX)
        .clamp(DEFAULT_MIN_MINERS.min(DEFAULT_MINERS_CHECKED), DEFAULT_MINERS_CHECKED);
    progress(format!(
        "miners checked per {window_gen_s:.0} s window at pace {DEFAULT_PACE_FRACTION}: \
         {affordable} full-window miners affordable, {paced} checked"
    ));

    let rate = |count: usize, s: f64| count as f64 / s.max(1e-9);
    let generate_rollouts_per_s = rate(n, generate_s);
    let verify_rollouts_per_s = rate(n, full.total());
    let line = json!({
        "verify_rollouts_per_s": verify_rollouts_per_s,
        "verify_tokens_per_s": rate(sequence_tokens, full.total()),
        "prefill_tokens_per_s": rate(sequence_tokens, prefill_s),
        "generate_rollouts_per_s": generate_rollouts_per_s,
        "generate_tokens_per_s": rate(completion_tokens, generate_s),
        "verify_speedup": verify_rollouts_per_s / generate_rollouts_per_s.max(1e-9),
        "window_cost_ratio":
            full_window_validator_s / (full_n as f64 * per_rollout_gen).max(1e-9),
        "file_cost_ratio": window.total() / generate_s.max(1e-9),
        "file_cost_ratio_one_miner": (window.total() + fingerprint_s) / generate_s.max(1e-9),
        "full_window_validator_s": full_window_validator_s,
        "window_rollouts": n,
        "window_rollouts_checked": checked,
        "full_window_rollouts": full_n,
        "fingerprint_s": fingerprint_s,
        "pace_fraction": DEFAULT_PACE_FRACTION,
        "pace_budget_s": pace_budget_s,
        "miners_per_window_affordable": affordable,
        "miners_per_window_affordable_bench_file": affordable_bench_file,
        "miners_checked_per_window": paced,
        "seconds": {
            "generate": generate_s,
            "verify_all": full,
            "prefill": prefill_s,
            "verify_window": window,
        },
        "completion_tokens": completion_tokens,
        "sequence_tokens": sequence_tokens,
        "prefill_tokens_run": prefill_tokens_run,
        "file_bytes": bytes.len(),
        "prefill_batch": batch,
    });
    let line =
        super::merged(line, super::run_context(&args.model, &args.work, &model_id, load_start));
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_totals_add_up() {
        let s = StageSeconds {
            parse: 1.0,
            signatures: 2.0,
            structure: 3.0,
            forward: 4.0,
            rewards: 5.0,
        };
        assert_eq!(s.total(), 15.0);
        assert_eq!(s.every_rollout(), 11.0);
    }
}

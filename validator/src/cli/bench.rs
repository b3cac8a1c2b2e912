//! `bench`: what verifying costs against generating, on one model, in one process. Prints one
//! JSON line; progress goes to stderr.
//!
//! 1. The miner's fixed workload ([`grail_miner::bench::Workload`], stop tokens on, as an
//!    honest miner generates) is generated with the engine, scored and sealed into one signed
//!    window file: `generate_rollouts_per_s`.
//! 2. Full verification of every rollout of that file with every check: parse, signatures,
//!    structure, one batched prefill per `--prefill-batch` rollouts with the sampling, logprob,
//!    commitment (K positions) and termination checks, rewards: `verify_rollouts_per_s`,
//!    `verify_tokens_per_s`. The file must pass.
//! 3. A bare batched prefill of the same sequences, same batches, each timed right before or
//!    after its verified twin (by turns), so load from elsewhere hits both alike:
//!    `prefill_tokens_per_s`.
//! 4. The window as a validator checks it at the default sampling rates
//!    (`VerifyParams::rollouts_checked` of the file's rollouts, every cheap check on all of
//!    them): `window_cost_ratio` = those seconds over the miner's seconds for the file.
//!
//! Token rates count sequence tokens (prompt + completion), the tokens a prefill runs over.
//! The weights' fingerprint, computed once per window whatever the number of miners, is timed
//! apart (`fingerprint_s`) and left out of `window_cost_ratio`;
//! `window_cost_ratio_one_miner` adds it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use grail_challenges::prompt::PromptRenderer;
use grail_fingerprint::engine::MODEL_FILE;
use grail_fingerprint::{Device, Engine, EngineOptions, Sequence};
use grail_miner::bench::{load_average, peak_rss_mb, Workload, BENCH_RANDOMNESS};
use grail_miner::rollouts::seal;
use grail_protocol::cid::cid_of_bytes;
use grail_protocol::codec;
use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window_file::WindowFile;
use grail_validator::pipeline::forward::{verify_forward, ForwardContext};
use grail_validator::pipeline::reward::{check_rewards, RewardContext};
use grail_validator::pipeline::select::{rollouts_to_check, CheckedRollout};
use grail_validator::pipeline::signatures::check_signatures;
use grail_validator::pipeline::structure::{check_structure, StructureContext};
use grail_validator::pipeline::Failure;
use serde::Serialize;
use serde_json::json;

/// The challenge beacon's randomness of the benchmark (it only picks rollouts and positions).
const CHALLENGE_RANDOMNESS: [u8; 32] = [0xc4; 32];

/// Default rollouts per prefill call. A call holds `batch × length × V` f32 logits: on
/// SmolLM2-135M (V = 49,152) with 317 + 128 tokens that is 87 MB per rollout. Measured peaks
/// (docs/BENCHMARKS.md): 1.38 GB at 2, 1.63 GB at 4, 2.28 GB at 16; 2 is no slower on 2 cores.
const DEFAULT_BENCH_PREFILL_BATCH: u64 = 2;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Model folder (model.onnx, config.json, tokenizer.json, chat_template.jinja).
    #[arg(long, env = "GRAIL_MODEL")]
    model: PathBuf,
    /// `cpu`, `cuda` or `cuda:N`. CUDA is never silently replaced by the CPU.
    #[arg(long, env = "GRAIL_DEVICE", default_value = "cpu")]
    device: Device,
    /// ONNX Runtime intra-op threads (default: ONNX Runtime's choice).
    #[arg(long, env = "GRAIL_THREADS")]
    threads: Option<usize>,
    /// Groups of 16 rollouts (problems 0..groups), all in one window file.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    groups: u32,
    /// Length cap of every rollout, in tokens (generation stops at the model's stop tokens).
    #[arg(
        long = "new-tokens",
        default_value_t = 128,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    new_tokens: u32,
    /// Rollouts per prefill call (bounds the logits held at once).
    #[arg(
        long = "prefill-batch",
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
                    *b += bare_prefill(&mut self.engine, &file, chunk)?;
                }
            }
            let f = Instant::now();
            let stats = verify_forward(&mut self.engine, &file, chunk, &fctx, self.batch)?
                .map_err(failed)?;
            s.forward += f.elapsed().as_secs_f64();
            rollouts += stats.rollouts;
            if k % 2 == 0 {
                if let Some(b) = bare.as_deref_mut() {
                    *b += bare_prefill(&mut self.engine, &file, chunk)?;
                }
            }
        }
        if rollouts != checked.len() as u64 {
            bail!("{rollouts} rollouts forward-checked of {} selected", checked.len());
        }

        let t = Instant::now();
        let rctx = RewardContext {
            env: self.work.env.as_ref(),
            renderer: &self.renderer,
            stop_ids: &self.work.model_stop_ids,
        };
        check_rewards(&file, &problems, &rctx).map_err(failed)?;
        s.rewards = t.elapsed().as_secs_f64();
        Ok(s)
    }
}

/// The bare prefill of the `checked` rollouts of `file` in one call; seconds.
fn bare_prefill(
    engine: &mut Engine,
    file: &WindowFile,
    checked: &[CheckedRollout],
) -> anyhow::Result<f64> {
    let sequences: Vec<Sequence<'_>> = checked
        .iter()
        .map(|c| &file.rollouts[c.index as usize])
        .map(|r| Sequence { prompt: &r.prompt_tokens, completion: &r.completion_tokens })
        .collect();
    let t = Instant::now();
    engine
        .prefill::<grail_fingerprint::Error, _>(&sequences, |_, _| Ok(()))
        .context("bare prefill")?;
    Ok(t.elapsed().as_secs_f64())
}

pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let load_start = load_average();
    let options = EngineOptions {
        device: args.device,
        intra_threads: args.threads,
        ..EngineOptions::default()
    };
    let mut engine = Engine::load(&args.model, &options)
        .with_context(|| format!("while loading the model folder {}", args.model.display()))?;
    let renderer = PromptRenderer::from_model_dir(&args.model)
        .with_context(|| format!("while loading the chat template of {}", args.model.display()))?;
    let model_file = args.model.join(MODEL_FILE);
    let model_id = grail_fingerprint::model_id(&model_file)
        .with_context(|| format!("computing the model_id of {}", model_file.display()))?;
    let work = Workload::new(&engine, &renderer, args.groups, args.new_tokens, true)?;
    let network = work.network();
    let progress = |line: String| eprintln!("bench: {line}");
    progress(format!(
        "{} groups x 16 rollouts, up to {} tokens, on {} ({} threads)",
        args.groups,
        args.new_tokens,
        args.model.display(),
        args.threads.map_or("default".into(), |t| t.to_string()),
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
    for j in 0..args.groups as usize {
        let g = Instant::now();
        rollouts.extend(work.generate_group(&mut engine, &renderer, j)?);
        progress(format!(
            "generated group {}/{}: {:.1} s",
            j + 1,
            args.groups,
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
    bare_prefill(&mut bench.engine, &file, &warm)?;

    // 2. and 3. Every rollout, every check; beside each batch, its bare prefill.
    let all = VerifyParams {
        rollouts_checked: u32::try_from(n).context("rollout count")?,
        ..VerifyParams::default()
    };
    let mut prefill_s = 0.0;
    let full = bench.verify(&bytes, &all, Some(&mut prefill_s))?;
    progress(format!("verified all {n} rollouts: {:.1} s {full:?}", full.total()));
    progress(format!("bare prefill of the same batches: {prefill_s:.1} s"));

    // 4. The window at the default sampling rates.
    let defaults = VerifyParams::default();
    let window = bench.verify(&bytes, &defaults, None)?;
    let checked = (defaults.rollouts_checked as usize).min(n);
    progress(format!(
        "window at default rates ({checked} of {n} checked): {:.1} s",
        window.total()
    ));

    // A miner that fills a whole default window: its generation seconds, and the validator's
    // per-rollout costs measured above scaled to that file.
    let window_gen_s = (bench.network.blocks_per_window * bench.network.block_time_s) as f64;
    let per_rollout_gen = generate_s / n as f64;
    let full_n = ((window_gen_s / per_rollout_gen) as usize / 16 * 16).max(16);
    let full_checked = checked.min(full_n);
    let full_window_validator_s = window.every_rollout() / n as f64 * full_n as f64
        + full.forward / n as f64 * full_checked as f64;

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
        "window_cost_ratio": window.total() / generate_s.max(1e-9),
        "window_cost_ratio_one_miner": (window.total() + fingerprint_s) / generate_s.max(1e-9),
        "window_cost_ratio_full_window":
            full_window_validator_s / (full_n as f64 * per_rollout_gen).max(1e-9),
        "window_rollouts": n,
        "window_rollouts_checked": checked,
        "full_window_rollouts": full_n,
        "fingerprint_s": fingerprint_s,
        "seconds": {
            "generate": generate_s,
            "verify_all": full,
            "prefill": prefill_s,
            "verify_window": window,
        },
        "completion_tokens": completion_tokens,
        "sequence_tokens": sequence_tokens,
        "file_bytes": bytes.len(),
        "prefill_batch": batch,
        "peak_rss_mb": peak_rss_mb(),
        "model": {
            "folder": args.model.file_name().map(|n| n.to_string_lossy().into_owned()),
            "model_id": model_id.to_string(),
        },
        "device": args.device.to_string(),
        "threads": args.threads,
        "groups": args.groups,
        "group_size": grail_protocol::params::GROUP_SIZE,
        "new_tokens": args.new_tokens,
        "load_average": { "start": load_start, "end": load_average() },
    });
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

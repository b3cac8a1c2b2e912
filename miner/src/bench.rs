//! The fixed benchmark workload shared by `grail-miner bench` and `grail-validator bench`, and
//! the miner's timing of it (issue 3 item 7).
//!
//! The workload: window [`BENCH_WINDOW`] with a fixed mining-beacon randomness and first-block
//! hash (so a fixed window seed `S_w`), a fixed hotkey, problems `0..groups` of the network's
//! default environment rendered with the model's chat template, groups of
//! [`GROUP_SIZE`] rollouts sampled from their `sample_stream`s, at the default temperature.
//! Nothing depends on the clock or the network, so two runs on the same model generate the
//! same tokens (up to the engine's floating-point drift).
//!
//! [`run_miner_bench`] generates the workload three ways, group by group, in the same process:
//! (a) the engine with commitments and the whole window-file path (rewards, advantages, Merkle
//! roots, signatures, encoding); (b) the engine without commitments, rewards and advantages
//! still computed and the file still encoded, but with no Merkle roots and no signatures; (c)
//! the baseline loop (no commitments). Each group runs all three ways before the next group
//! starts, in an order rotating from group to group, so a neighbour's load drifting during the
//! run hits all three alike.

use std::time::Instant;

use anyhow::Context;
use grail_challenges::env::{environment_by_id, grpo_advantages, Environment, Problem};
use grail_challenges::prompt::PromptRenderer;
use grail_fingerprint::engine::bench::{time_groups, LoopKind};
use grail_fingerprint::{Engine, GeneratedRollout, GroupRequest};
use grail_protocol::codec;
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::hash::Hash32;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::params::{EnvironmentSpec, GenerationParams, NetworkParams, GROUP_SIZE};
use grail_protocol::seeds::{problem_seed, sample_stream, window_seed};
use grail_protocol::window_file::{BeaconRecord, Rollout, WindowFile, WindowHeader};
use serde::Serialize;

use crate::rollouts::{seal, window_header, HeaderFields, Scorer};

/// The benchmark's window number.
pub const BENCH_WINDOW: u64 = 1_000;
/// The mining beacon randomness the window seed is derived from.
pub const BENCH_RANDOMNESS: [u8; 32] = [0x5a; 32];
/// The window's first block hash.
pub const BENCH_BLOCK_HASH: [u8; 32] = [0x33; 32];
/// Mini-secret of the benchmark's hotkey.
pub const BENCH_HOTKEY_SEED: [u8; 32] = [0x07; 32];

/// The fixed workload: seed, hotkey, problems and prompts.
pub struct Workload {
    /// The window seed `S_w`.
    pub seed: Hash32,
    /// The hotkey that signs (and keys the streams and problems).
    pub pair: HotkeyPair,
    /// The commitment key of `S_w`.
    pub key: CommitmentKey,
    /// The network's default environment.
    pub env: Box<dyn Environment>,
    /// Problem `j` of the hotkey in the window.
    pub problems: Vec<Problem>,
    /// Problem `j`'s prompt tokens (the model's chat template).
    pub prompts: Vec<Vec<u32>>,
    /// Temperature and length cap (`max_new_tokens` = the bench's `--new-tokens`).
    pub generation: GenerationParams,
    /// The model's stop tokens (scoring and verification use them).
    pub model_stop_ids: Vec<u32>,
    /// Stop tokens generation stops at: the model's, or none so that every rollout runs to
    /// the length cap.
    pub stop_ids: Vec<u32>,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("groups", &self.prompts.len())
            .field("generation", &self.generation)
            .field("stop_ids", &self.stop_ids)
            .finish_non_exhaustive()
    }
}

impl Workload {
    /// `groups` problems for the model behind `engine`, `new_tokens` tokens each; `stop`
    /// chooses whether generation stops at the model's stop tokens.
    pub fn new(
        engine: &Engine,
        renderer: &PromptRenderer,
        groups: u32,
        new_tokens: u32,
        stop: bool,
    ) -> anyhow::Result<Self> {
        let seed = window_seed(BENCH_WINDOW, &BENCH_RANDOMNESS, &BENCH_BLOCK_HASH);
        let pair = HotkeyPair::from_mini_secret(&BENCH_HOTKEY_SEED).context("bench hotkey")?;
        let key = CommitmentKey::derive(&seed, engine.spec().hidden_size)
            .context("deriving the commitment key")?;
        let network = NetworkParams::default();
        let env = environment_by_id(&network.environment.id).context("the environment")?;
        let hotkey = pair.hotkey();
        let mut problems = Vec::new();
        let mut prompts = Vec::new();
        for j in 0..groups {
            let problem = env.generate(problem_seed(&seed, &hotkey, j));
            let prompt = renderer
                .problem_tokens(&problem)
                .with_context(|| format!("rendering problem {j}"))?;
            problems.push(problem);
            prompts.push(prompt);
        }
        let model_stop_ids = engine.config().stop_token_ids.clone();
        Ok(Self {
            seed,
            pair,
            key,
            env,
            problems,
            prompts,
            generation: GenerationParams { max_new_tokens: new_tokens, ..network.generation },
            stop_ids: if stop { model_stop_ids.clone() } else { Vec::new() },
            model_stop_ids,
        })
    }

    /// The network parameters of the workload (defaults with its generation parameters).
    pub fn network(&self) -> NetworkParams {
        NetworkParams { generation: self.generation, ..NetworkParams::default() }
    }

    /// The generation request of group `j`, with or without commitments.
    pub fn request(&self, j: usize, commit: bool) -> GroupRequest<'_> {
        let hotkey = self.pair.hotkey();
        let problem = u32::try_from(j).unwrap_or(u32::MAX);
        GroupRequest {
            prompt: &self.prompts[j],
            streams: (0..GROUP_SIZE)
                .map(|r| sample_stream(&self.seed, &hotkey, problem, r))
                .collect(),
            temperature: self.generation.temperature,
            max_new_tokens: self.generation.max_new_tokens as usize,
            stop_ids: &self.stop_ids,
            commitment: commit.then_some(&self.key),
        }
    }

    /// The scorer the miner uses (the model's stop tokens).
    pub fn scorer<'a>(&'a self, renderer: &'a PromptRenderer) -> Scorer<'a> {
        Scorer { env: self.env.as_ref(), renderer, stop_ids: &self.model_stop_ids }
    }

    /// The unsigned header of the workload's window file.
    pub fn header(&self, model_id: Vec<u8>, fingerprint: [u8; 32]) -> WindowHeader {
        window_header(HeaderFields {
            window: BENCH_WINDOW,
            hotkey: self.pair.hotkey(),
            model_id,
            beacon: BeaconRecord { round: 1, randomness: BENCH_RANDOMNESS, signature: vec![0; 96] },
            first_block_hash: BENCH_BLOCK_HASH,
            fingerprint,
            environment: EnvironmentSpec { id: self.env.id().into(), version: self.env.version() },
            generation: self.generation,
        })
    }

    /// Generates group `j` with commitments and assembles its rollouts (rewards, advantages,
    /// Merkle roots), as the window loop does.
    pub fn generate_group(
        &self,
        engine: &mut Engine,
        renderer: &PromptRenderer,
        j: usize,
    ) -> anyhow::Result<Vec<Rollout>> {
        let generated = engine
            .generate_group(&self.request(j, true))
            .with_context(|| format!("generating group {j}"))?;
        let problem = u32::try_from(j).unwrap_or(u32::MAX);
        Ok(self.scorer(renderer).assemble_group(
            problem,
            &self.prompts[j],
            &self.problems[j],
            generated,
        )?)
    }
}

/// Bytes of one commitment `c_t` in the file.
const COMMIT_BYTES: usize = std::mem::size_of::<u64>();

/// The miner bench's figures (one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct MinerBenchFigures {
    /// Completion tokens per second of (a), the whole proof and window-file path.
    pub tokens_per_s: f64,
    /// Rollouts per second of (a).
    pub rollouts_per_s: f64,
    /// Completion tokens per second of (b), the engine without commitments or signatures.
    pub engine_plain_tokens_per_s: f64,
    /// Completion tokens per second of (c), the baseline loop.
    pub baseline_tokens_per_s: f64,
    /// `tokens_per_s / baseline_tokens_per_s`.
    pub speedup_vs_baseline: f64,
    /// `100 × (time(a) / time(b) − 1)`.
    pub proof_overhead_pct: f64,
    /// Commitment bytes over completion tokens.
    pub commit_bytes_per_token: f64,
    /// Encoded window-file bytes over completion tokens.
    pub file_bytes_per_token: f64,
    /// Rollouts generated by each of the three runs.
    pub rollouts: usize,
    /// Completion tokens of (a).
    pub completion_tokens: usize,
    /// Encoded window-file bytes of (a).
    pub file_bytes: usize,
    /// Seconds of (a), (b) and (c) (signing and encoding included in (a) and (b)).
    pub seconds: RunSeconds,
    /// Seconds of each group's generation, per run (a spread shows a busy machine).
    pub group_seconds: GroupSeconds,
}

/// Seconds of each group, per run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupSeconds {
    /// (a), generation and assembly.
    pub proofs: Vec<f64>,
    /// (b), generation and scoring.
    pub plain: Vec<f64>,
    /// (c).
    pub baseline: Vec<f64>,
}

/// Seconds of the three runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RunSeconds {
    /// (a) engine + commitments + window file.
    pub proofs: f64,
    /// (b) engine, no commitments, no Merkle roots, no signatures.
    pub plain: f64,
    /// (c) baseline loop.
    pub baseline: f64,
}

/// Runs the three ways of the workload; `progress` gets one line per step.
pub fn run_miner_bench(
    engine: &mut Engine,
    renderer: &PromptRenderer,
    work: &Workload,
    model_id: &[u8],
    mut progress: impl FnMut(&str),
) -> anyhow::Result<MinerBenchFigures> {
    // Warm-up: ONNX Runtime allocates its arenas on the first passes.
    let mut warm = work.request(0, true);
    warm.max_new_tokens = warm.max_new_tokens.min(4);
    engine.generate_group(&warm).context("warm-up")?;

    let groups = work.prompts.len();
    let mut rollouts = Vec::new();
    let mut plain_groups = Vec::new();
    let (mut baseline_tokens, mut per_group) = (0, GroupSeconds::default());
    for j in 0..groups {
        // Each group runs all three ways, in an order rotating from group to group.
        for k in 0..3 {
            let t = Instant::now();
            let what = match (j + k) % 3 {
                0 => {
                    rollouts.extend(work.generate_group(engine, renderer, j)?);
                    per_group.proofs.push(t.elapsed().as_secs_f64());
                    "engine + proofs"
                }
                1 => {
                    let generated = engine
                        .generate_group(&work.request(j, false))
                        .with_context(|| format!("generating group {j} without commitments"))?;
                    plain_groups.push(plain_rollouts(work, renderer, j, generated)?);
                    per_group.plain.push(t.elapsed().as_secs_f64());
                    "engine, no proofs"
                }
                _ => {
                    let request = [work.request(j, false)];
                    let timed = time_groups(engine, LoopKind::Baseline, &request)
                        .with_context(|| format!("baseline loop, group {j}"))?;
                    baseline_tokens += timed.tokens;
                    per_group.baseline.push(timed.seconds);
                    "baseline loop"
                }
            };
            progress(&format!(
                "group {}/{groups} {what}: {:.1} s",
                j + 1,
                t.elapsed().as_secs_f64()
            ));
        }
    }
    let mut a_s: f64 = per_group.proofs.iter().sum();
    let mut b_s: f64 = per_group.plain.iter().sum();
    let baseline_s: f64 = per_group.baseline.iter().sum();
    let t = Instant::now();
    let (file, bytes) = seal(&work.pair, work.header(model_id.to_vec(), [0; 32]), rollouts)
        .context("signing and encoding the window file")?;
    a_s += t.elapsed().as_secs_f64();
    let t = Instant::now();
    let plain = WindowFile {
        header: work.header(model_id.to_vec(), [0; 32]),
        rollouts: plain_groups.into_iter().flatten().collect(),
    };
    let plain_bytes = codec::encode(&plain).context("encoding the unsigned file")?;
    b_s += t.elapsed().as_secs_f64();
    progress(&format!("window file: {} rollouts, {} bytes", file.rollouts.len(), bytes.len()));
    drop(plain_bytes);
    let baseline_tokens_per_s = baseline_tokens as f64 / baseline_s.max(1e-9);

    let tokens: usize = file.rollouts.iter().map(|r| r.completion_tokens.len()).sum();
    let commit_bytes: usize =
        file.rollouts.iter().map(|r| r.commitments.len() * COMMIT_BYTES).sum();
    let per_token = |x: usize| x as f64 / tokens.max(1) as f64;
    let plain_tokens: usize = plain.rollouts.iter().map(|r| r.completion_tokens.len()).sum();
    let tokens_per_s = tokens as f64 / a_s.max(1e-9);
    Ok(MinerBenchFigures {
        tokens_per_s,
        rollouts_per_s: file.rollouts.len() as f64 / a_s.max(1e-9),
        engine_plain_tokens_per_s: plain_tokens as f64 / b_s.max(1e-9),
        baseline_tokens_per_s,
        speedup_vs_baseline: tokens_per_s / baseline_tokens_per_s.max(1e-9),
        proof_overhead_pct: 100.0 * (a_s / b_s.max(1e-9) - 1.0),
        commit_bytes_per_token: per_token(commit_bytes),
        file_bytes_per_token: per_token(bytes.len()),
        rollouts: file.rollouts.len(),
        completion_tokens: tokens,
        file_bytes: bytes.len(),
        seconds: RunSeconds { proofs: a_s, plain: b_s, baseline: baseline_s },
        group_seconds: per_group,
    })
}

/// Run (b)'s rollouts: rewards and advantages computed, commitments zero, no Merkle root, no
/// signature.
fn plain_rollouts(
    work: &Workload,
    renderer: &PromptRenderer,
    j: usize,
    generated: Vec<GeneratedRollout>,
) -> anyhow::Result<Vec<Rollout>> {
    let scorer = work.scorer(renderer);
    let problem_index = u32::try_from(j).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(generated.len());
    for (r, g) in (0u32..).zip(generated) {
        let (reward, success) = scorer.score(problem_index, r, &work.problems[j], &g.tokens)?;
        out.push(Rollout {
            problem_index,
            rollout_index: r,
            prompt_tokens: work.prompts[j].clone(),
            commitments: vec![0; g.tokens.len()],
            completion_tokens: g.tokens,
            logprobs: g.logprobs,
            merkle_root: [0; 32],
            reward,
            success,
            advantage: 0.0,
            signature: [0; 64],
        });
    }
    let rewards: Vec<f32> = out.iter().map(|r| r.reward).collect();
    for (r, a) in out.iter_mut().zip(grpo_advantages(&rewards)?) {
        r.advantage = a;
    }
    Ok(out)
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), in MiB; `None` where
/// `/proc` is not there.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The 1, 5 and 15 minute load averages of `/proc/loadavg`; `None` where it is not there.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn proc_readings_are_positive_where_proc_exists() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_mb().unwrap() > 0.0);
            assert!(load_average().unwrap().iter().all(|x| *x >= 0.0));
        }
    }
}

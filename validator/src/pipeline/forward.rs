//! Stage 5: the checked rollouts are grouped by prompt (a problem's rollouts share one), and
//! each group runs through the same `fingerprint` engine the miner generates with: its prompt
//! once, then its completions `batch` at a time against the prompt's cache
//! ([`Engine::prefill_shared`]). Then per rollout, in this order:
//!
//! 1. **sampling** at every completion position: `u_t` is the `t`-th `uniform_f64` of
//!    `sample_stream(S_w, hotkey, j, r)` and must lie in the claimed token's CDF interval
//!    widened by the tolerance; at most `max_sampling_misses` misses, none farther than
//!    `max_miss_distance`.
//! 2. **logprobs** at every position: with `d_t = |claimed_t − recomputed_t|` sorted
//!    ascending, the lower median `d[(n−1)/2]` and the nearest-rank quantile `d[⌈q·n⌉−1]` are
//!    bounded.
//! 3. **commitments** at the `K` challenged positions: `CommitmentKey::check` of the
//!    validator's hidden state at the position that predicted the token.
//! 4. **termination**: the last token is a stop token whose probability under the sampling
//!    distribution is at least the network's floor, or the completion is exactly
//!    `max_new_tokens` long.
//!
//! The sampling pass computes each position's softmax once and hands the recomputed logprobs
//! to the logprob check, so the checks cost little beside the forward pass.
//!
//! The file's verdict is the failure of the first failing rollout in file order, whatever the
//! grouping and the batch size: rollouts after a failure already found are not checked, and
//! the work stops once no rollout before it is left.

use std::collections::HashMap;

use grail_fingerprint::{Engine, PrefillRows};
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::hash::{uniform_f64, Hash32};
use grail_protocol::keys::Hotkey;
use grail_protocol::params::GenerationParams;
use grail_protocol::sampler::{check_sample, eos_probability};
use grail_protocol::seeds::sample_stream;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window_file::{Rollout, WindowFile};

use super::select::CheckedRollout;
use super::{Failure, StageResult};
use crate::error::PipelineError;
use crate::state::Stage;
use crate::ValidatorError;

/// Per completion position `t`: the logits row that predicted token `t` and the hidden state
/// at that same position. The engine's [`PrefillRows`] is one; tests build others.
pub trait PositionRows {
    /// Completion positions available.
    fn positions(&self) -> usize;
    /// Logits `[V]` that predicted token `t`.
    fn logits_at(&self, t: usize) -> Option<&[f32]>;
    /// Last hidden state `[D]` at the same position.
    fn hidden_at(&self, t: usize) -> Option<&[f32]>;
}

impl PositionRows for PrefillRows<'_> {
    fn positions(&self) -> usize {
        self.len()
    }
    fn logits_at(&self, t: usize) -> Option<&[f32]> {
        self.logits(t)
    }
    fn hidden_at(&self, t: usize) -> Option<&[f32]> {
        self.hidden(t)
    }
}

/// What the forward checks need besides the rows and the rollout.
#[derive(Debug, Clone, Copy)]
pub struct ForwardContext<'a> {
    /// The window seed `S_w`.
    pub window_seed: &'a Hash32,
    /// The miner.
    pub hotkey: &'a Hotkey,
    /// The network's generation parameters.
    pub generation: &'a GenerationParams,
    /// The window's commitment key.
    pub key: &'a CommitmentKey,
    /// The model's stop tokens.
    pub stop_ids: &'a [u32],
    /// Tolerances.
    pub params: &'a VerifyParams,
}

/// Totals over the checked rollouts, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ForwardStats {
    /// Rollouts whose forward checks ran.
    pub rollouts: u64,
    /// Completion positions sampling- and logprob-checked.
    pub tokens: u64,
    /// Tolerated sampling misses.
    pub sampling_misses: u64,
    /// Largest logprob statistic (the quantile) seen.
    pub worst_logprob_quantile: f64,
    /// Largest commitment distance seen.
    pub worst_commit_distance: f64,
}

fn own(reason: String) -> ValidatorError {
    PipelineError::Forward { reason }.into()
}

fn row<'r>(rows: &'r impl PositionRows, t: usize, what: &str) -> Result<&'r [f32], ValidatorError> {
    let r = if what == "logits" { rows.logits_at(t) } else { rows.hidden_at(t) };
    r.ok_or_else(|| own(format!("no {what} row for completion position {t}")))
}

/// The sampling recomputation of one rollout: misses and the validator's logprobs.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingPass {
    /// `(position, distance of u_t from the token's interval)` of every miss.
    pub misses: Vec<(usize, f64)>,
    /// The validator's `ln p(token_t)` per position.
    pub recomputed: Vec<f32>,
    /// Largest `|u_t − interval|` over every position, measured from the token's exact
    /// interval (also where the widening accepted it); 0 when every `u_t` lies inside.
    pub worst_exact_distance: f64,
}

/// Draws `u_t` in order from the rollout's stream and checks every claimed token against the
/// validator's logits.
pub fn sampling_pass(
    rows: &impl PositionRows,
    rollout: &Rollout,
    ctx: &ForwardContext<'_>,
) -> Result<SamplingPass, ValidatorError> {
    let mut stream =
        sample_stream(ctx.window_seed, ctx.hotkey, rollout.problem_index, rollout.rollout_index);
    let n = rollout.completion_tokens.len();
    let mut pass = SamplingPass {
        misses: Vec::new(),
        recomputed: Vec::with_capacity(n),
        worst_exact_distance: 0.0,
    };
    for (t, &token) in rollout.completion_tokens.iter().enumerate() {
        let u = uniform_f64(&mut stream);
        let logits = row(rows, t, "logits")?;
        let check = check_sample(
            logits,
            ctx.generation.temperature,
            u,
            token,
            ctx.params.sampling_tolerance,
        )
        .map_err(|e| own(format!("sampling check at position {t}: {e}")))?;
        if !check.accepted {
            pass.misses.push((t, check.distance));
        }
        pass.worst_exact_distance = pass.worst_exact_distance.max(check.distance.abs());
        pass.recomputed.push(check.logprob);
    }
    Ok(pass)
}

/// Sampling verdict of rollout `i` from its pass.
pub fn check_sampling(i: usize, pass: &SamplingPass, params: &VerifyParams) -> StageResult<()> {
    let fail =
        |reason: String| Err(Failure::new(Stage::Sampling, format!("rollout {i}: {reason}")));
    if let Some(&(t, d)) = pass.misses.iter().find(|(_, d)| d.abs() > params.max_miss_distance) {
        return fail(format!(
            "the token at position {t} is not the sample of its u_t (off its interval by {d:.3e}, \
             more than {:.1e})",
            params.max_miss_distance
        ));
    }
    if pass.misses.len() > params.max_sampling_misses as usize {
        return fail(format!(
            "{} sampling misses (first at position {}), more than the {} allowed",
            pass.misses.len(),
            pass.misses[0].0,
            params.max_sampling_misses
        ));
    }
    Ok(())
}

/// The robust statistics of `|claimed − recomputed|`: `(lower median, quantile q)`, both 0 for
/// an empty completion.
pub fn logprob_statistics(claimed: &[f32], recomputed: &[f32], q: f64) -> (f64, f64) {
    let mut d: Vec<f64> = claimed
        .iter()
        .zip(recomputed)
        .map(|(&c, &r)| (f64::from(c) - f64::from(r)).abs())
        .map(|x| if x.is_nan() { f64::INFINITY } else { x })
        .collect();
    if d.is_empty() {
        return (0.0, 0.0);
    }
    d.sort_by(f64::total_cmp);
    let n = d.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    (d[(n - 1) / 2], d[rank - 1])
}

/// Logprob verdict of rollout `i`; returns the quantile on success.
pub fn check_logprobs(
    i: usize,
    claimed: &[f32],
    recomputed: &[f32],
    params: &VerifyParams,
) -> StageResult<f64> {
    let (median, quantile) = logprob_statistics(claimed, recomputed, params.logprob_quantile);
    let fail = |r: String| Err(Failure::new(Stage::Logprobs, format!("rollout {i}: {r}")));
    if median > params.logprob_median_max {
        return fail(format!(
            "median |claimed - recomputed| logprob {median:.3e} exceeds {:.1e}",
            params.logprob_median_max
        ));
    }
    if quantile > params.logprob_quantile_max {
        return fail(format!(
            "{}% quantile of |claimed - recomputed| logprob {quantile:.3e} exceeds {:.1e}",
            params.logprob_quantile * 100.0,
            params.logprob_quantile_max
        ));
    }
    Ok(quantile)
}

/// Commitment verdict of rollout `i` at `positions`; returns the worst distance on success.
pub fn check_commitments(
    i: usize,
    rows: &impl PositionRows,
    rollout: &Rollout,
    positions: &[u32],
    ctx: &ForwardContext<'_>,
) -> Result<StageResult<f64>, ValidatorError> {
    let mut worst = 0.0f64;
    for &p in positions {
        let t = p as usize;
        let hidden = row(rows, t, "hidden")?;
        let claimed = rollout.commitments.get(t).copied().ok_or_else(|| {
            own(format!("rollout {i} has no commitment at challenged position {t}"))
        })?;
        let check = ctx
            .key
            .check(hidden, claimed, ctx.params.commit_tolerance)
            .map_err(|e| own(format!("commitment check at position {t}: {e}")))?;
        if !check.accepted {
            return Ok(Err(Failure::new(
                Stage::Commitments,
                format!(
                    "rollout {i} position {t}: commitment {claimed:08x} off by {:.3e} of \
                     rms(h), more than the tolerance {}",
                    check.worst_distance, ctx.params.commit_tolerance
                ),
            )));
        }
        worst = worst.max(check.worst_distance);
    }
    Ok(Ok(worst))
}

/// Termination verdict of rollout `i`.
///
/// A stop token gets no boundary-miss allowance: it must be the sample of its own `u_t`,
/// otherwise a miner could spend its allowed miss on stopping wherever it liked.
pub fn check_termination(
    i: usize,
    rows: &impl PositionRows,
    rollout: &Rollout,
    sampling: &SamplingPass,
    ctx: &ForwardContext<'_>,
) -> Result<StageResult<()>, ValidatorError> {
    let fail = |r: String| Ok(Err(Failure::new(Stage::Termination, format!("rollout {i}: {r}"))));
    let tokens = &rollout.completion_tokens;
    let Some((&last, _)) = tokens.split_last() else {
        return fail("the completion is empty".into());
    };
    if ctx.stop_ids.contains(&last) {
        let t = tokens.len() - 1;
        if let Some(&(_, d)) = sampling.misses.iter().find(|(p, _)| *p == t) {
            return fail(format!(
                "stops on token {last} at position {t}, which is not the sample of its u_t \
                 (off its interval by {d:.3e}; no miss is allowed at a stop)"
            ));
        }
        let p = eos_probability(row(rows, t, "logits")?, ctx.generation.temperature, last)
            .map_err(|e| own(format!("EOS probability at position {t}: {e}")))?;
        let floor = f64::from(ctx.generation.eos_probability_floor);
        if p < floor {
            return fail(format!(
                "stops on token {last} whose probability {p:.3e} is below the floor {floor}"
            ));
        }
        return Ok(Ok(()));
    }
    if tokens.len() != ctx.generation.max_new_tokens as usize {
        return fail(format!(
            "ends without a stop token after {} tokens, short of max_new_tokens {}",
            tokens.len(),
            ctx.generation.max_new_tokens
        ));
    }
    Ok(Ok(()))
}

/// The four checks of rollout `i`, in order; the first failure is returned.
pub fn check_rollout_forward(
    i: usize,
    rows: &impl PositionRows,
    rollout: &Rollout,
    positions: &[u32],
    ctx: &ForwardContext<'_>,
    stats: &mut ForwardStats,
) -> Result<StageResult<()>, ValidatorError> {
    if rows.positions() != rollout.completion_tokens.len() {
        return Err(own(format!(
            "{} rows for a completion of {} tokens",
            rows.positions(),
            rollout.completion_tokens.len()
        )));
    }
    let pass = sampling_pass(rows, rollout, ctx)?;
    if let Err(f) = check_sampling(i, &pass, ctx.params) {
        return Ok(Err(f));
    }
    let quantile = match check_logprobs(i, &rollout.logprobs, &pass.recomputed, ctx.params) {
        Ok(q) => q,
        Err(f) => return Ok(Err(f)),
    };
    let worst = match check_commitments(i, rows, rollout, positions, ctx)? {
        Ok(w) => w,
        Err(f) => return Ok(Err(f)),
    };
    if let Err(f) = check_termination(i, rows, rollout, &pass, ctx)? {
        return Ok(Err(f));
    }
    stats.rollouts += 1;
    stats.tokens += rollout.completion_tokens.len() as u64;
    stats.sampling_misses += pass.misses.len() as u64;
    stats.worst_logprob_quantile = stats.worst_logprob_quantile.max(quantile);
    stats.worst_commit_distance = stats.worst_commit_distance.max(worst);
    Ok(Ok(()))
}

/// The items `0..prompts.len()` grouped by identical prompt (groups in order of first
/// appearance, items ascending within each), each group split into chunks of at most `batch`:
/// the calls of [`Engine::prefill_shared`] that cover them.
pub fn shared_prompt_chunks(prompts: &[&[u32]], batch: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_prompt: HashMap<&[u32], usize> = HashMap::new();
    for (i, &p) in prompts.iter().enumerate() {
        let g = *by_prompt.entry(p).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
        .into_iter()
        .flat_map(|g| g.chunks(batch.max(1)).map(<[usize]>::to_vec).collect::<Vec<_>>())
        .collect()
}

/// Stage 5 for one file: runs the `checked` rollouts through the shared-prompt prefill,
/// `batch` completions per call, and checks each; the first failure in file order is the
/// file's.
pub fn verify_forward(
    engine: &mut Engine,
    file: &WindowFile,
    checked: &[CheckedRollout],
    ctx: &ForwardContext<'_>,
    batch: usize,
) -> Result<StageResult<ForwardStats>, ValidatorError> {
    let rollout = |c: &CheckedRollout| &file.rollouts[c.index as usize];
    let prompts: Vec<&[u32]> =
        checked.iter().map(|c| rollout(c).prompt_tokens.as_slice()).collect();
    let mut stats = ForwardStats::default();
    // The earliest failure so far, by file index.
    let mut failure: Option<(u32, Failure)> = None;
    let before_failure = |index: u32, failure: &Option<(u32, Failure)>| {
        failure.as_ref().is_none_or(|(f, _)| index < *f)
    };
    for chunk in shared_prompt_chunks(&prompts, batch) {
        // Only rollouts that could still be the file's first failure are worth a pass.
        let chunk: Vec<&CheckedRollout> = chunk
            .into_iter()
            .map(|k| &checked[k])
            .filter(|c| before_failure(c.index, &failure))
            .collect();
        let Some(first) = chunk.first() else { continue };
        let completions: Vec<&[u32]> =
            chunk.iter().map(|c| rollout(c).completion_tokens.as_slice()).collect();
        engine.prefill_shared::<ValidatorError, _>(
            &rollout(first).prompt_tokens,
            &completions,
            |k, rows| {
                let c = chunk[k];
                if !before_failure(c.index, &failure) {
                    return Ok(());
                }
                let i = c.index as usize;
                let result = check_rollout_forward(
                    i,
                    rows,
                    &file.rollouts[i],
                    &c.positions,
                    ctx,
                    &mut stats,
                )?;
                if let Err(f) = result {
                    failure = Some((c.index, f));
                }
                Ok(())
            },
        )?;
    }
    Ok(match failure {
        Some((_, f)) => Err(f),
        None => Ok(stats),
    })
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "forward_engine_tests.rs"]
mod engine_tests;

//! The forgers: rollouts made without the true model's hidden states (or without its
//! sampling), each verified by the same checks as an honest miner's.
//!
//! Forgers whose rollouts carry the same tokens share one prefill of the true model: the
//! commitment forgers all keep the honest tokens, and a model's "generated" and
//! "sampler-proved" forgers share that model's tokens (the proof is read off the very rows that
//! verify it). Each forged set still goes through [`Tally::evaluate`] on its own.

use grail_fingerprint::Engine;
use grail_protocol::commitment::{pack, PROJECTIONS};
use grail_protocol::sampler::logprob;
use grail_protocol::window_file::Rollout;
use serde_json::{json, Value};

use super::progress::Phase;
use super::rows::challenged;
use super::tally::{rate, Tally};
use super::{CalibrateError, Setup};
use grail_validator::pipeline::forward::{shared_prompt_chunks, ForwardContext, PositionRows};

/// The logprobs and commitments that `rows` (one prefill of `tokens`) give rollout `rollout`:
/// what one honest prefill "proves" for whatever tokens.
fn proofs(
    rows: &impl PositionRows,
    rollout: usize,
    tokens: &[u32],
    ctx: &ForwardContext<'_>,
) -> Result<(Vec<f32>, Vec<u32>), CalibrateError> {
    let mut logprobs = Vec::with_capacity(tokens.len());
    let mut commitments = Vec::with_capacity(tokens.len());
    for (t, &token) in tokens.iter().enumerate() {
        let protocol =
            |op| move |source| CalibrateError::Protocol { rollout, position: t, op, source };
        let (Some(logits), Some(hidden)) = (rows.logits_at(t), rows.hidden_at(t)) else {
            return Err(CalibrateError::NoRow { rollout, position: t, what: "logits or hidden" });
        };
        logprobs.push(
            logprob(logits, ctx.generation.temperature, token).map_err(protocol("sampling"))?,
        );
        commitments.push(ctx.key.commit(hidden).map_err(protocol("commitment"))?);
    }
    Ok((logprobs, commitments))
}

/// Calls `visit(i, rows)` for every rollout of `rollouts`, from `engine`'s shared-prompt
/// prefill (each prompt once, its completions `batch` per pass). A failure is reported as
/// forger `forger`'s.
fn prefill_each(
    engine: &mut Engine,
    forger: &str,
    rollouts: &[Rollout],
    batch: usize,
    mut visit: impl FnMut(usize, &grail_fingerprint::PrefillRows<'_>) -> Result<(), CalibrateError>,
) -> Result<(), CalibrateError> {
    let prompts: Vec<&[u32]> = rollouts.iter().map(|r| r.prompt_tokens.as_slice()).collect();
    let phase = Phase::start(format!("prefill for {forger}"), rollouts.len(), "rollouts");
    for (c, chunk) in shared_prompt_chunks(&prompts, batch).iter().enumerate() {
        let Some(&first) = chunk.first() else { continue };
        let completions: Vec<&[u32]> =
            chunk.iter().map(|&i| rollouts[i].completion_tokens.as_slice()).collect();
        engine
            .prefill_shared::<CalibrateError, _>(prompts[first], &completions, |j, rows| {
                phase.advance(1);
                visit(chunk[j], rows)
            })
            .map_err(|e| CalibrateError::ForgerPrefill {
                forger: forger.to_owned(),
                batch: c,
                source: Box::new(e),
            })?;
    }
    Ok(())
}

/// `rollouts` with their commitments recomputed by `engine`'s prefill of their tokens (the
/// claimed tokens and logprobs stay), for the forger named `forger`.
fn commitments_from(
    engine: &mut Engine,
    forger: &str,
    rollouts: &[Rollout],
    ctx: &ForwardContext<'_>,
    batch: usize,
) -> Result<Vec<Rollout>, CalibrateError> {
    let mut out = rollouts.to_vec();
    prefill_each(engine, forger, rollouts, batch, |i, rows| {
        out[i].commitments = proofs(rows, i, &rollouts[i].completion_tokens, ctx)?.1;
        Ok(())
    })?;
    Ok(out)
}

/// How a forged set is made from the token set it shares.
enum Made {
    /// Built beforehand (its tokens and prompts equal the token set's).
    Given(Vec<Rollout>),
    /// The token set with logprobs and commitments from the true model's rows of it: tokens
    /// from elsewhere "proved" with one honest prefill.
    Proved,
}

/// Whether `set` holds `tokens`' prompts and completion tokens, rollout for rollout.
fn shares_tokens(set: &[Rollout], tokens: &[Rollout]) -> bool {
    set.len() == tokens.len()
        && set.iter().zip(tokens).all(|(f, t)| {
            f.prompt_tokens == t.prompt_tokens && f.completion_tokens == t.completion_tokens
        })
}

/// Verifies several forged sets that share `tokens`' prompts and completion tokens, in one
/// prefill of them by the true model `engine`. Returns each set (as made) with its tally.
fn verify_sharing_tokens(
    engine: &mut Engine,
    name: &str,
    tokens: &[Rollout],
    made: Vec<Made>,
    ctx: &ForwardContext<'_>,
    batch: usize,
) -> Result<Vec<(Vec<Rollout>, Tally)>, CalibrateError> {
    let mut sets: Vec<(Vec<Rollout>, bool, Tally)> = made
        .into_iter()
        .map(|m| match m {
            Made::Given(set) => (set, false, Tally::default()),
            Made::Proved => (tokens.to_vec(), true, Tally::default()),
        })
        .collect();
    if !sets.iter().all(|(set, _, _)| shares_tokens(set, tokens)) {
        return Err(CalibrateError::ForgedTokensDiffer { forger: name.to_owned() });
    }
    let k = ctx.params.challenge_positions;
    prefill_each(engine, name, tokens, batch, |i, rows| {
        let positions = challenged(i, tokens[i].completion_tokens.len(), k);
        for (set, proved, tally) in &mut sets {
            let r = &mut set[i];
            if *proved {
                (r.logprobs, r.commitments) = proofs(rows, i, &r.completion_tokens, ctx)?;
            }
            tally.evaluate(i, rows, r, &positions, ctx, false)?;
        }
        Ok(())
    })?;
    Ok(sets.into_iter().map(|(set, _, tally)| (set, tally)).collect())
}

/// Rollouts generated by `engine` (the forger `forger`) with the workload's seeds (and
/// `temperature` when given).
fn generated_by(
    setup: &Setup,
    engine: &mut Engine,
    forger: &str,
    base: &[Rollout],
    temperature: Option<f32>,
) -> Result<Vec<Rollout>, CalibrateError> {
    let mut out = base.to_vec();
    let group_size = grail_protocol::params::GROUP_SIZE as usize;
    let phase =
        Phase::start(format!("generating for {forger}"), out.len().div_ceil(group_size), "groups");
    for (j, group) in out.chunks_mut(group_size).enumerate() {
        let mut request = setup.work.request(j, true);
        if let Some(t) = temperature {
            request.temperature = t;
        }
        let generated = engine
            .generate_group(&request)
            .map_err(|source| CalibrateError::Generate { group: j, source })?;
        for (r, g) in group.iter_mut().zip(generated) {
            r.completion_tokens = g.tokens;
            r.logprobs = g.logprobs;
            r.commitments = g.commitments;
        }
        phase.advance(1);
    }
    Ok(out)
}

/// Passing forged rollouts described in the JSON, at most.
const MAX_EXAMPLES: usize = 10;

/// What a forger replaces, which decides when its rollout is no forgery at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forgery {
    /// Honest tokens and logprobs, other commitments: unchanged when the commitments equal
    /// the honest ones (a 1-token completion is its own shift).
    Commitments,
    /// Tokens, logprobs and commitments from another model: unchanged only when all three
    /// equal the honest rollout's.
    Everything,
    /// Tokens from elsewhere, logprobs and commitments from the true model's prefill:
    /// unchanged when the tokens are the honest ones (the rollout is then the true model's
    /// output, whatever sampled it).
    TokensProved,
}

/// Per rollout, whether the "forgery" left it the honest rollout.
fn unchanged(kind: Forgery, forged: &[Rollout], base: &[Rollout]) -> Vec<bool> {
    forged
        .iter()
        .zip(base)
        .map(|(f, b)| {
            let tokens = f.completion_tokens == b.completion_tokens;
            let proofs = f.commitments == b.commitments && f.logprobs == b.logprobs;
            match kind {
                Forgery::Commitments | Forgery::Everything => tokens && proofs,
                Forgery::TokensProved => tokens,
            }
        })
        .collect()
}

/// Files of `per_file` consecutive rollouts (a group's worth: the rollouts of one prompt, whose
/// verdicts correlate more than a real file's sample across its groups, so this favours the
/// forger): `(files, files passed, files holding a forged rollout, of those passed)`. A file
/// passes only when every rollout of it passes, as the validator rejects a file at its first
/// failing checked rollout.
fn file_verdicts(passed: &[bool], unchanged: &[bool], per_file: usize) -> (u64, u64, u64, u64) {
    let per_file = per_file.max(1);
    let mut counts = (0, 0, 0, 0);
    for (p, u) in passed.chunks_exact(per_file).zip(unchanged.chunks_exact(per_file)) {
        let all_pass = p.iter().all(|&x| x);
        counts.0 += 1;
        counts.1 += u64::from(all_pass);
        if u.iter().any(|&x| !x) {
            counts.2 += 1;
            counts.3 += u64::from(all_pass);
        }
    }
    counts
}

/// The JSON entry of forger `name`: its tally and how its forged rollouts compare with the
/// honest `base` (`kind` decides which rollouts the "forgery" left honest); files of
/// `per_file` rollouts as in [`file_verdicts`].
fn report(
    name: &str,
    how: &str,
    kind: Forgery,
    forged: &[Rollout],
    base: &[Rollout],
    tally: &Tally,
    per_file: usize,
) -> Value {
    let mut v = tally.forger_json();
    v["name"] = json!(name);
    v["how"] = json!(how);
    let identical_tokens =
        forged.iter().zip(base).filter(|(f, b)| f.completion_tokens == b.completion_tokens);
    v["identical_token_rollouts"] = json!(identical_tokens.count() as u64);
    let same = unchanged(kind, forged, base);
    let forged_n = same.iter().filter(|&&s| !s).count() as u64;
    let forged_passed = same.iter().zip(&tally.passed).filter(|(&s, &p)| !s && p).count() as u64;
    v["unchanged_rollouts"] = json!(same.len() as u64 - forged_n);
    v["forged_rollouts"] = json!(forged_n);
    v["forged_rollouts_passed"] = json!(forged_passed);
    v["forged_rollout_pass_rate"] = rate(forged_passed, forged_n);
    let (files, files_passed, forged_files, forged_files_passed) =
        file_verdicts(&tally.passed, &same, per_file);
    v["files"] = json!({
        "rollouts_per_file": per_file,
        "files": files,
        "passed": files_passed,
        "holding_a_forged_rollout": forged_files,
        "holding_a_forged_rollout_passed": forged_files_passed,
        "forged_file_pass_rate": rate(forged_files_passed, forged_files),
    });
    // What a passing forged rollout looks like: how many of its tokens differ from the honest
    // rollout's, and how far its farthest `u_t` lies outside its token's exact interval (within
    // the sampling tolerance, or it would have failed).
    let examples: Vec<Value> = same
        .iter()
        .zip(&tally.passed)
        .enumerate()
        .filter(|(_, (&s, &p))| !s && p)
        .take(MAX_EXAMPLES)
        .map(|(i, _)| {
            let (f, b) = (&forged[i], &base[i]);
            let differing = f
                .completion_tokens
                .iter()
                .zip(&b.completion_tokens)
                .filter(|(x, y)| x != y)
                .count()
                + f.completion_tokens.len().abs_diff(b.completion_tokens.len());
            json!({
                "rollout": i,
                "tokens": f.completion_tokens.len(),
                "honest_tokens": b.completion_tokens.len(),
                "positions_differing": differing,
                "commitments_differing":
                    f.commitments.iter().zip(&b.commitments).filter(|(x, y)| x != y).count(),
                "worst_boundary_distance": tally.boundary_distance.get(i),
            })
        })
        .collect();
    v["forged_passed_examples"] = json!(examples);
    tracing::info!(
        %name,
        rollout_pass_rate = %v["rollout_pass_rate"],
        forged_rollout_pass_rate = %v["forged_rollout_pass_rate"],
        "forger measured"
    );
    v
}

const COMMITMENTS_HOW: &str =
    "honest tokens and logprobs; commitments from this model's prefill of them";
const GENERATED_HOW: &str = "tokens, logprobs and commitments all from this model, same seeds";
const PROVED_HOW: &str = "tokens from this model (same seeds), logprobs and commitments from one \
                          honest prefill of the true model";

/// Measures every forger; `honest`'s projections give the constant forger's value.
pub(crate) fn measure(
    setup: &Setup,
    engine: &mut Engine,
    base: &[Rollout],
    honest: &Tally,
) -> Result<Vec<Value>, CalibrateError> {
    let hotkey = setup.work.pair.hotkey();
    let ctx = setup.context(&hotkey);
    let batch = setup.prefill_batch;
    let per_file = setup.params.rollouts_checked as usize;

    let with_commitments = |f: &dyn Fn(&Rollout) -> Vec<u32>| -> Vec<Rollout> {
        base.iter().map(|r| Rollout { commitments: f(r), ..r.clone() }).collect()
    };
    let n = honest.commitment.positions.max(1) as f64;
    let mean: [f64; PROJECTIONS] = honest.projection_sum.map(|s| s / n);
    let constant = pack(&mean);
    let mut commitment_forgers: Vec<(String, &str, Vec<Rollout>)> = vec![
        (
            "all-zero".into(),
            "every commitment 0",
            with_commitments(&|r| vec![0; r.commitments.len()]),
        ),
        (
            "constant-mean".into(),
            "every commitment the honest mean projection",
            with_commitments(&|r| vec![constant; r.commitments.len()]),
        ),
        (
            "shifted".into(),
            "c_t = honest c_{t+1} (the last gets c_0)",
            with_commitments(&|r| {
                let mut c = r.commitments.clone();
                if !c.is_empty() {
                    c.rotate_left(1);
                }
                c
            }),
        ),
    ];

    // Per forger model: its commitments of the honest tokens (verified with the other commitment
    // forgers below) and the rollouts it generates with the workload's seeds.
    let mut generated_sets: Vec<(&str, Vec<Rollout>)> = Vec::new();
    for (name, dir) in &setup.forger_models {
        let mut forger = Engine::load(dir, &setup.engine_options).map_err(|source| {
            CalibrateError::LoadForger { name: name.clone(), path: dir.clone(), source }
        })?;
        let label = format!("{name}-commitments");
        let commitments = commitments_from(&mut forger, &label, base, &ctx, batch)?;
        commitment_forgers.push((label, COMMITMENTS_HOW, commitments));
        generated_sets.push((name, generated_by(setup, &mut forger, name, base, None)?));
    }

    // Every commitment forger keeps the honest tokens: one prefill verifies them all.
    let (names, sets): (Vec<_>, Vec<_>) =
        commitment_forgers.into_iter().map(|(name, how, set)| ((name, how), set)).unzip();
    let verified = verify_sharing_tokens(
        engine,
        "commitment forgers",
        base,
        sets.into_iter().map(Made::Given).collect(),
        &ctx,
        batch,
    )?;
    let mut out: Vec<Value> = names
        .iter()
        .zip(&verified)
        .map(|((name, how), (set, tally))| {
            report(name, how, Forgery::Commitments, set, base, tally, per_file)
        })
        .collect();
    // Each model's three forgers stay together in the output: commitments, generated,
    // sampler-proved.
    let model_commitments = out.split_off(out.len() - generated_sets.len());

    for ((name, tokens), commitments) in generated_sets.iter().zip(model_commitments) {
        out.push(commitments);
        let generated = format!("{name}-generated");
        let made = vec![Made::Given(tokens.clone()), Made::Proved];
        let verified = verify_sharing_tokens(engine, &generated, tokens, made, &ctx, batch)?;
        let labels = [
            (generated, GENERATED_HOW, Forgery::Everything),
            (format!("{name}-sampler-proved"), PROVED_HOW, Forgery::TokensProved),
        ];
        for ((label, how, kind), (set, tally)) in labels.iter().zip(&verified) {
            out.push(report(label, how, *kind, set, base, tally, per_file));
        }
    }

    let other_t = if (setup.network.generation.temperature - 1.0).abs() > 0.05 { 1.0 } else { 0.5 };
    let label = format!("temperature-{other_t}-sampler-proved");
    let hot = generated_by(setup, engine, &label, base, Some(other_t))?;
    let verified = verify_sharing_tokens(engine, &label, &hot, vec![Made::Proved], &ctx, batch)?;
    for (proved, tally) in &verified {
        let how = "tokens from the true model at another temperature (same seeds), logprobs and \
                   commitments from one honest prefill";
        out.push(report(&label, how, Forgery::TokensProved, proved, base, tally, per_file));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::test_rollout as rollout;

    #[test]
    fn only_a_rollout_left_honest_counts_as_unchanged() {
        let base = vec![rollout(&[5], &[9]), rollout(&[5, 6], &[9, 8])];
        // A shift leaves the 1-token rollout as it was and changes the other.
        let shifted = vec![rollout(&[5], &[9]), rollout(&[5, 6], &[8, 9])];
        assert_eq!(unchanged(Forgery::Commitments, &shifted, &base), [true, false]);
        // Another model's tokens with its own proofs: changed unless everything matches.
        let other = vec![rollout(&[5], &[7]), rollout(&[5, 7], &[9, 8])];
        assert_eq!(unchanged(Forgery::Everything, &other, &base), [false, false]);
        // Proved by the true model: the honest tokens make it the honest output.
        let proved = vec![rollout(&[5], &[7]), rollout(&[5, 7], &[9, 8])];
        assert_eq!(unchanged(Forgery::TokensProved, &proved, &base), [true, false]);
    }

    #[test]
    fn a_file_passes_only_when_every_rollout_of_it_passes() {
        let passed = [true, true, true, false, true, true, false];
        let unchanged = [true, false, true, true, true, true, false];
        // Files [0, 1] and [2, 3] and [4, 5]; rollout 6 makes no whole file.
        assert_eq!(file_verdicts(&passed, &unchanged, 2), (3, 2, 1, 1));
        // Files of 3: [0, 1, 2] passes and holds forged rollout 1; [3, 4, 5] fails.
        assert_eq!(file_verdicts(&passed, &unchanged, 3), (2, 1, 1, 1));
        let all_forged_one_fails = [false; 7];
        assert_eq!(file_verdicts(&passed, &all_forged_one_fails, 7), (1, 0, 1, 0));
    }

    #[test]
    fn only_sets_with_the_same_prompts_and_tokens_share_a_prefill() {
        let base = vec![rollout(&[5], &[9]), rollout(&[5, 6], &[9, 8])];
        // Other commitments and logprobs: the same prefill serves.
        let recommitted = vec![rollout(&[5], &[1]), rollout(&[5, 6], &[2, 3])];
        assert!(shares_tokens(&recommitted, &base));
        assert!(!shares_tokens(&base[..1], &base));
        let other_tokens = vec![rollout(&[5], &[9]), rollout(&[5, 7], &[9, 8])];
        assert!(!shares_tokens(&other_tokens, &base));
        let mut other_prompt = base.clone();
        other_prompt[0].prompt_tokens.push(1);
        assert!(!shares_tokens(&other_prompt, &base));
    }
}

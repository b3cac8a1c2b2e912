//! Stage 4: the shape of every rollout (cheap, so all of them, not only the sampled ones).
//!
//! - Rollout `i` of the file is rollout `i mod 16` of problem `i div 16`: problems `0..n`
//!   with no gap, every group complete and in order, so a miner cannot drop the problems it
//!   failed (DESIGN.md 3.3).
//! - Each problem is re-derived from its index and the prompt tokens must equal the
//!   validator's own rendering.
//! - Completions: 1 to `max_new_tokens` tokens, all in the vocabulary, a stop token only as
//!   the last one; logprobs finite and at most 0; the Merkle root recomputes.
//! - Each group's advantages equal `grpo_advantages` of its claimed rewards, bit for bit.

use grail_challenges::env::{grpo_advantages, Environment, Problem};
use grail_challenges::prompt::PromptRenderer;
use grail_protocol::hash::Hash32;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::GROUP_SIZE;
use grail_protocol::seeds::problem_seed;
use grail_protocol::window_file::{Rollout, WindowFile};

use super::{Failure, StageResult};
use crate::error::PipelineError;
use crate::state::Stage;
use crate::ValidatorError;

/// What the structure check needs besides the file.
#[derive(Debug, Clone, Copy)]
pub struct StructureContext<'a> {
    /// The window seed `S_w`.
    pub window_seed: &'a Hash32,
    /// The window's environment (the network's).
    pub env: &'a dyn Environment,
    /// The model's chat template and tokenizer.
    pub renderer: &'a PromptRenderer,
    /// The model's vocabulary size (its logits' width).
    pub vocab_size: usize,
    /// The network's completion length cap.
    pub max_new_tokens: u32,
    /// The model's stop tokens.
    pub stop_ids: &'a [u32],
}

fn fail(reason: String) -> Failure {
    Failure::new(Stage::Rollouts, reason)
}

/// Checks every rollout; returns the re-derived problems, indexed by problem.
/// An `Err` is the validator's own failure (a problem it cannot render).
pub fn check_structure(
    file: &WindowFile,
    ctx: &StructureContext<'_>,
) -> Result<StageResult<Vec<Problem>>, ValidatorError> {
    let group = GROUP_SIZE as usize;
    let n = file.rollouts.len();
    if n % group != 0 {
        return Ok(Err(fail(format!(
            "{n} rollouts is not a whole number of groups of {GROUP_SIZE}"
        ))));
    }
    let hotkey = &file.header.hotkey;
    let mut problems = Vec::with_capacity(n / group);
    for (g, rollouts) in file.rollouts.chunks(group).enumerate() {
        // n <= the decoder's rollout limit, far below u32::MAX.
        let j = u32::try_from(g).unwrap_or(u32::MAX);
        let (problem, prompt) = derive_problem(ctx, hotkey, j)?;
        for (r, rollout) in (0u32..).zip(rollouts) {
            let i = g * group + r as usize;
            if let Err(f) = check_rollout(i, j, r, rollout, &prompt, ctx) {
                return Ok(Err(f));
            }
        }
        if let Err(f) = check_advantages(j, rollouts) {
            return Ok(Err(f));
        }
        problems.push(problem);
    }
    Ok(Ok(problems))
}

/// Problem `j` of this miner and its prompt tokens, as the validator renders them.
pub fn derive_problem(
    ctx: &StructureContext<'_>,
    hotkey: &Hotkey,
    j: u32,
) -> Result<(Problem, Vec<u32>), ValidatorError> {
    let problem = ctx.env.generate(problem_seed(ctx.window_seed, hotkey, j));
    let prompt = ctx.renderer.problem_tokens(&problem).map_err(|e| PipelineError::Setup {
        reason: format!("rendering problem {j} of {hotkey}: {e}"),
    })?;
    Ok((problem, prompt))
}

/// The checks of one rollout at file index `i`, expected to be rollout `r` of problem `j`.
pub fn check_rollout(
    i: usize,
    j: u32,
    r: u32,
    rollout: &Rollout,
    prompt: &[u32],
    ctx: &StructureContext<'_>,
) -> StageResult<()> {
    let at = |what: String| fail(format!("rollout {i}: {what}"));
    if rollout.problem_index != j || rollout.rollout_index != r {
        return Err(at(format!(
            "is problem {} rollout {}, expected problem {j} rollout {r} (problems 0..n, complete \
             groups in order)",
            rollout.problem_index, rollout.rollout_index
        )));
    }
    if rollout.prompt_tokens != prompt {
        return Err(at(format!("prompt tokens are not those of problem {j}")));
    }
    let tokens = &rollout.completion_tokens;
    if tokens.is_empty() {
        return Err(at("the completion is empty".into()));
    }
    if tokens.len() > ctx.max_new_tokens as usize {
        return Err(at(format!(
            "completion of {} tokens exceeds max_new_tokens {}",
            tokens.len(),
            ctx.max_new_tokens
        )));
    }
    if let Some((t, &tok)) = tokens.iter().enumerate().find(|(_, &t)| t as usize >= ctx.vocab_size)
    {
        return Err(at(format!(
            "completion token {tok} at position {t} is outside the vocabulary of {}",
            ctx.vocab_size
        )));
    }
    let body = &tokens[..tokens.len() - 1];
    if let Some(t) = body.iter().position(|tok| ctx.stop_ids.contains(tok)) {
        return Err(at(format!("stop token {} at position {t} is not the last token", body[t])));
    }
    let bad_logprob = |l: &f32| !(l.is_finite() && *l <= 0.0);
    if let Some((t, lp)) = rollout.logprobs.iter().enumerate().find(|(_, l)| bad_logprob(l)) {
        return Err(at(format!("logprob {lp} at position {t} is not a finite number <= 0")));
    }
    let root = rollout.compute_merkle_root().map_err(|e| at(e.to_string()))?;
    if root != rollout.merkle_root {
        return Err(at("the Merkle root does not match the leaves".into()));
    }
    Ok(())
}

/// The group's claimed advantages are those of its claimed rewards.
pub fn check_advantages(j: u32, group: &[Rollout]) -> StageResult<()> {
    let rewards: Vec<f32> = group.iter().map(|r| r.reward).collect();
    let expected = grpo_advantages(&rewards).map_err(|e| fail(format!("problem {j}: {e}")))?;
    for (r, (rollout, want)) in group.iter().zip(expected).enumerate() {
        if rollout.advantage.to_bits() != want.to_bits() {
            return Err(fail(format!(
                "problem {j} rollout {r}: advantage {} is not {want}, the GRPO advantage of the \
                 group's rewards",
                rollout.advantage
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::Fixture;
    use grail_protocol::window_file::WindowFile;

    fn run(f: &Fixture, file: &WindowFile) -> StageResult<Vec<Problem>> {
        check_structure(file, &f.structure_context()).unwrap()
    }

    #[test]
    fn honest_file_passes_and_returns_its_problems() {
        let f = Fixture::new(2);
        let file = f.file(2);
        let problems = run(&f, &file).unwrap();
        assert_eq!(problems.len(), 2);
        assert_ne!(problems[0], problems[1]);
        assert!(run(&f, &f.file(0)).unwrap().is_empty());
    }

    #[test]
    fn each_defect_fails_with_its_reason() {
        let f = Fixture::new(2);
        let vocab = f.structure_context().vocab_size as u32;
        let max = f.network.generation.max_new_tokens as usize;
        type Mutation = (&'static str, Box<dyn Fn(&mut WindowFile)>);
        let mutations: Vec<Mutation> = vec![
            (
                "whole number of groups",
                Box::new(|w| {
                    w.rollouts.pop();
                }),
            ),
            (
                "expected problem 1 rollout 0",
                Box::new(|w| {
                    // A gap: problem 1 is renumbered 2.
                    for r in &mut w.rollouts[16..] {
                        r.problem_index = 2;
                    }
                }),
            ),
            ("expected problem 0 rollout 3", Box::new(|w| w.rollouts.swap(3, 4))),
            ("prompt tokens", Box::new(|w| w.rollouts[5].prompt_tokens[0] += 1)),
            ("empty", Box::new(|w| w.rollouts[5].completion_tokens.clear())),
            (
                "exceeds max_new_tokens",
                Box::new(move |w| {
                    w.rollouts[5].completion_tokens = vec![7; max + 1];
                }),
            ),
            (
                "outside the vocabulary",
                Box::new(move |w| w.rollouts[5].completion_tokens[0] = vocab),
            ),
            ("is not the last token", Box::new(|w| w.rollouts[5].completion_tokens[0] = 0)),
            ("not a finite number", Box::new(|w| w.rollouts[5].logprobs[1] = f32::NAN)),
            ("not a finite number", Box::new(|w| w.rollouts[5].logprobs[1] = 0.5)),
            ("not a finite number", Box::new(|w| w.rollouts[5].logprobs[1] = f32::NEG_INFINITY)),
            ("Merkle root", Box::new(|w| w.rollouts[5].commitments[0] ^= 1)),
            ("advantage", Box::new(|w| w.rollouts[17].advantage += 0.5)),
            ("advantage", Box::new(|w| w.rollouts[17].reward += 0.5)),
            ("not finite", Box::new(|w| w.rollouts[17].reward = f32::NAN)),
        ];
        for (needle, mutate) in &mutations {
            let mut file = f.file(2);
            mutate(&mut file);
            let err = run(&f, &file).unwrap_err();
            assert_eq!(err.stage, Stage::Rollouts, "{needle}");
            assert!(err.reason.contains(needle), "{needle}: {err}");
        }
    }
}

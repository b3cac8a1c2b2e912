//! The forgeries that run a model: another model's group, a cheaper sampler "proved" with the
//! true model, and the verdict the validator's own checks reach on a forger's file.

use anyhow::{bail, ensure, Context};
use grail_chain::any::AnyChain;
use grail_chain::ChainSource;
use grail_challenges::assembly::Scorer;
use grail_fingerprint::engine::{GroupRequest, Sequence};
use grail_fingerprint::Engine;
use grail_miner::window_loop::Miner;
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::params::CHALLENGE_POSITIONS;
use grail_protocol::sampler::logprob;
use grail_protocol::seeds::{group_streams, problem_seed, window_seed};
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window_file::{Rollout, WindowFile};
use grail_validator::pipeline::forward::{verify_forward, ForwardContext};
use grail_validator::pipeline::select::CheckedRollout;
use grail_validator::pipeline::verifier::DEFAULT_PREFILL_BATCH;

use super::Expect;

/// The validator's verdict on `file`'s forward checks, computed here with the true model the
/// way `grail-validator run` computes it: every rollout, every position, the default prefill
/// batch and tolerances.
pub(super) fn predicted(miner: &mut Miner<AnyChain>, file: &WindowFile) -> anyhow::Result<Expect> {
    let h = &file.header;
    let params = VerifyParams::default();
    ensure!(
        file.rollouts.len() <= params.rollouts_checked as usize,
        "a prediction needs every rollout checked: at most {} rollouts",
        params.rollouts_checked
    );
    let seed = window_seed(h.window, &h.beacon.randomness, &h.first_block_hash);
    let key = CommitmentKey::derive(&seed, miner.engine.spec().hidden_size)?;
    let stop_ids = miner.engine.config().stop_token_ids.clone();
    let mut checked = Vec::new();
    for (i, r) in file.rollouts.iter().enumerate() {
        let n = r.completion_tokens.len();
        ensure!(n <= CHALLENGE_POSITIONS, "a prediction needs every position challenged");
        let positions = (0..u32::try_from(n)?).collect();
        checked.push(CheckedRollout { index: u32::try_from(i)?, positions });
    }
    let ctx = ForwardContext {
        window_seed: &seed,
        hotkey: &h.hotkey,
        generation: &miner.params.generation,
        key: &key,
        stop_ids: &stop_ids,
        params: &params,
    };
    match verify_forward(&mut miner.engine, file, &checked, &ctx, DEFAULT_PREFILL_BATCH)? {
        Ok(_) => bail!("the forger's file passes the forward checks: no forgery to report"),
        Err(f) => {
            Ok(Expect { stage: f.stage, result: "fail", reason: vec![f.reason], exact: true })
        }
    }
}

/// Problem 0 regenerated with the right streams at another `temperature`, then "proved" with one
/// prefill of the true model: logprobs at the network's temperature and commitments of the true
/// hidden states, so only the sampling check can tell.
pub(super) fn cheaper_sampler<C: ChainSource>(
    miner: &mut Miner<C>,
    honest: &WindowFile,
    temperature: f32,
) -> anyhow::Result<Vec<Rollout>> {
    let h = &honest.header;
    let seed = window_seed(h.window, &h.beacon.randomness, &h.first_block_hash);
    let key = CommitmentKey::derive(&seed, miner.engine.spec().hidden_size)?;
    let stop_ids = miner.engine.config().stop_token_ids.clone();
    let problem = miner.env.generate(problem_seed(&seed, &h.hotkey, 0));
    let prompt = miner.renderer.problem_tokens(&problem)?;
    let streams = group_streams(&seed, &h.hotkey, 0);
    let mut generated = miner.engine.generate_group(&GroupRequest {
        prompt: &prompt,
        streams,
        temperature,
        max_new_tokens: h.generation.max_new_tokens as usize,
        stop_ids: &stop_ids,
        commitment: None,
    })?;
    let network_t = h.generation.temperature;
    let sequences: Vec<Sequence<'_>> =
        generated.iter().map(|g| Sequence { prompt: &prompt, completion: &g.tokens }).collect();
    let mut proofs: Vec<(Vec<f32>, Vec<u32>)> = Vec::new();
    miner.engine.prefill(&sequences, |i, rows| -> anyhow::Result<()> {
        let tokens = &sequences[i].completion;
        let (mut logprobs, mut commitments) = (Vec::new(), Vec::new());
        for (t, &token) in tokens.iter().enumerate() {
            let logits = rows.logits(t).context("prefill logits")?;
            let hidden = rows.hidden(t).context("prefill hidden state")?;
            logprobs.push(logprob(logits, network_t, token)?);
            commitments.push(key.commit(hidden)?);
        }
        proofs.push((logprobs, commitments));
        Ok(())
    })?;
    for (g, (logprobs, commitments)) in generated.iter_mut().zip(proofs) {
        g.logprobs = logprobs;
        g.commitments = commitments;
    }
    let scorer = Scorer { env: miner.env.as_ref(), renderer: &miner.renderer, stop_ids: &stop_ids };
    Ok(scorer.assemble_group(0, &prompt, &problem, generated)?)
}

/// Problem 0's group as `forger` generates it with the window's true streams, temperature and
/// commitment key: what a miner running another model would upload.
pub(super) fn foreign_model<C: ChainSource>(
    miner: &Miner<C>,
    forger: &mut Engine,
    honest: &WindowFile,
) -> anyhow::Result<Vec<Rollout>> {
    let h = &honest.header;
    let seed = window_seed(h.window, &h.beacon.randomness, &h.first_block_hash);
    let key = CommitmentKey::derive(&seed, forger.spec().hidden_size)?;
    let stop_ids = miner.engine.config().stop_token_ids.clone();
    let problem = miner.env.generate(problem_seed(&seed, &h.hotkey, 0));
    let prompt = miner.renderer.problem_tokens(&problem)?;
    let streams = group_streams(&seed, &h.hotkey, 0);
    let generated = forger.generate_group(&GroupRequest {
        prompt: &prompt,
        streams,
        temperature: h.generation.temperature,
        max_new_tokens: h.generation.max_new_tokens as usize,
        stop_ids: &stop_ids,
        commitment: Some(&key),
    })?;
    let scorer = Scorer { env: miner.env.as_ref(), renderer: &miner.renderer, stop_ids: &stop_ids };
    Ok(scorer.assemble_group(0, &prompt, &problem, generated)?)
}

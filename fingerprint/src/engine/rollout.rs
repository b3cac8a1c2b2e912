//! What a group generation is asked for and what it returns, and the per-rollout state that
//! turns one logits row (and the hidden state beside it) into one completion token.
//!
//! One call of [`RolloutState::advance`] is one step of DESIGN.md 3.4: exactly one
//! `uniform_f64` from the rollout's stream, the inverse-CDF sampler over that logits row, the
//! token's logprob, and, when a key is given, `c_t = key.commit(hidden)` of the hidden state of
//! the same row. A stopped rollout is never advanced again, so it draws no more uniforms.

use grail_protocol::commitment::CommitmentKey;
pub use grail_protocol::generated::{GeneratedRollout, StopReason};
use grail_protocol::hash::uniform_f64;
use grail_protocol::params::GenerationParams;
use grail_protocol::sampler;
use rand_chacha::ChaCha20Rng;

use crate::error::{Error, Result};

/// One group: `streams.len()` rollouts of one prompt.
#[derive(Debug, Clone)]
pub struct GroupRequest<'a> {
    /// The rendered prompt's token ids (shared by every rollout).
    pub prompt: &'a [u32],
    /// One sampling stream per rollout (`seeds::sample_stream(S_w, hotkey, j, r)`); the engine
    /// draws from clones, so the request can be replayed.
    pub streams: Vec<ChaCha20Rng>,
    /// Sampling temperature (finite, > 0).
    pub temperature: f32,
    /// Length cap of a completion (>= 1).
    pub max_new_tokens: usize,
    /// Tokens that end a completion; the stop token is part of it.
    pub stop_ids: &'a [u32],
    /// When given, every token gets a hidden-state commitment.
    pub commitment: Option<&'a CommitmentKey>,
}

impl<'a> GroupRequest<'a> {
    /// A group sampled under the network's `generation` parameters (temperature and length
    /// cap), one completion per stream.
    pub fn sampled(
        prompt: &'a [u32],
        streams: Vec<ChaCha20Rng>,
        generation: &GenerationParams,
        stop_ids: &'a [u32],
        commitment: Option<&'a CommitmentKey>,
    ) -> Self {
        Self {
            prompt,
            streams,
            temperature: generation.temperature,
            max_new_tokens: generation.max_new_tokens as usize,
            stop_ids,
            commitment,
        }
    }
}

/// How a row picks its next token.
#[derive(Debug, Clone)]
pub(crate) enum Picker {
    /// Inverse CDF with one uniform per step from the stream.
    Sample { stream: Box<ChaCha20Rng>, temperature: f32 },
    /// Argmax; the logprob is under `softmax(logits)` (temperature 1).
    Greedy,
}

/// Settings shared by every row of one generation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepRules<'a> {
    pub(crate) max_new_tokens: usize,
    pub(crate) stop_ids: &'a [u32],
    pub(crate) commitment: Option<&'a CommitmentKey>,
}

/// A rollout being generated.
#[derive(Debug, Clone)]
pub(crate) struct RolloutState {
    picker: Picker,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    commitments: Vec<u32>,
    stop: Option<StopReason>,
}

impl RolloutState {
    pub(crate) fn new(picker: Picker, capacity: usize) -> Self {
        Self {
            picker,
            tokens: Vec::with_capacity(capacity),
            logprobs: Vec::with_capacity(capacity),
            commitments: Vec::new(),
            stop: None,
        }
    }

    /// Still generating.
    pub(crate) fn running(&self) -> bool {
        self.stop.is_none()
    }

    /// The token to feed at the next step (the last one generated).
    pub(crate) fn last_token(&self) -> Option<u32> {
        self.tokens.last().copied()
    }

    /// One step: picks a token from `logits` (this row's `[V]`), commits to `hidden` (this
    /// row's `[D]`, from the same forward pass), and decides whether the rollout stops.
    pub(crate) fn advance(
        &mut self,
        logits: &[f32],
        hidden: &[f32],
        rules: &StepRules<'_>,
    ) -> Result<()> {
        if self.stop.is_some() {
            return Ok(());
        }
        let (token, logprob) = match &mut self.picker {
            Picker::Sample { stream, temperature } => {
                let s = sampler::sample(logits, *temperature, uniform_f64(stream))?;
                (s.token, s.logprob)
            }
            Picker::Greedy => {
                let token = sampler::argmax(logits)?;
                let p = sampler::eos_probability(logits, 1.0, token)?;
                (token, p.ln() as f32)
            }
        };
        self.tokens.push(token);
        self.logprobs.push(logprob);
        if let Some(key) = rules.commitment {
            self.commitments.push(key.commit(hidden)?);
        }
        if rules.stop_ids.contains(&token) {
            self.stop = Some(StopReason::Eos);
        } else if self.tokens.len() >= rules.max_new_tokens {
            self.stop = Some(StopReason::Length);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> GeneratedRollout {
        GeneratedRollout {
            tokens: self.tokens,
            logprobs: self.logprobs,
            commitments: self.commitments,
            stop: self.stop.unwrap_or(StopReason::Length),
        }
    }
}

/// Checks a request against the model before any work: `vocab` and `hidden` are the model's.
pub(crate) fn check_request(
    prompt: &[u32],
    temperature: f32,
    rules: &StepRules<'_>,
    vocab: usize,
    hidden: usize,
) -> Result<()> {
    let bad = |problem: String| Err(Error::Request { problem });
    if prompt.is_empty() {
        return bad("the prompt is empty".into());
    }
    if let Some(&t) = prompt.iter().find(|&&t| t as usize >= vocab) {
        return bad(format!("prompt token {t} is outside the vocabulary of {vocab}"));
    }
    if rules.max_new_tokens == 0 {
        return bad("max_new_tokens must be at least 1".into());
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return bad(format!("temperature must be finite and > 0, is {temperature}"));
    }
    if let Some(key) = rules.commitment {
        if key.hidden_size() != hidden {
            return bad(format!(
                "the commitment key is for hidden size {}, the model's is {hidden}",
                key.hidden_size()
            ));
        }
    }
    Ok(())
}

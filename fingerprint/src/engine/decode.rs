//! One forward pass of the fast decoding loop and the sampling after it: ONNX Runtime's
//! `present.*` values are moved back in as the next `past_key_values.*`, and the rows are
//! advanced from the logits and hidden states in place. One group is decoded by the
//! multi-group scheduler of `batch.rs`, alone in its batch.

use std::borrow::Cow;

use ort::session::SessionInputValue;
use ort::value::DynValue;

use super::rollout::{
    check_request, GeneratedRollout, GroupRequest, Picker, RolloutState, StepRules,
};
use super::tensors::{empty_cache, i64_matrix, output};
use super::Engine;
use crate::error::{Error, Result};
use crate::session::{ATTENTION_MASK, INPUT_IDS, LAST_HIDDEN_STATE, LOGITS, POSITION_IDS};

/// The int64 inputs of one step over `batch` rows of `seq` new tokens.
pub(crate) struct StepFeeds {
    pub(crate) batch: usize,
    pub(crate) seq: usize,
    pub(crate) input_ids: Vec<i64>,
    pub(crate) attention_mask: Vec<i64>,
    pub(crate) position_ids: Vec<i64>,
}

impl Engine {
    /// Generates one completion per stream of `request`, all in one batch. Rollout `r` depends
    /// only on the model, the prompt and stream `r`: on ONNX Runtime's CPU kernels a row's
    /// results do not depend on the rows beside it (the engine tests hold this bit for bit);
    /// other execution providers promise no such thing, and the validator's tolerances absorb
    /// what drift they bring.
    pub fn generate_group(&mut self, request: &GroupRequest<'_>) -> Result<Vec<GeneratedRollout>> {
        let rules = StepRules {
            max_new_tokens: request.max_new_tokens,
            stop_ids: request.stop_ids,
            commitment: request.commitment,
        };
        let spec = *self.spec();
        check_request(
            request.prompt,
            request.temperature,
            &rules,
            spec.vocab_size,
            spec.hidden_size,
        )?;
        let pickers = request
            .streams
            .iter()
            .map(|s| Picker::Sample {
                stream: Box::new(s.clone()),
                temperature: request.temperature,
            })
            .collect();
        self.decode(request.prompt, pickers, request.temperature, &rules)
    }

    /// Greedy (argmax) decoding of one completion; logprobs are under `softmax(logits)`.
    pub fn generate_greedy(
        &mut self,
        prompt: &[u32],
        max_new_tokens: usize,
        stop_ids: &[u32],
    ) -> Result<GeneratedRollout> {
        let rules = StepRules { max_new_tokens, stop_ids, commitment: None };
        let spec = *self.spec();
        check_request(prompt, 1.0, &rules, spec.vocab_size, spec.hidden_size)?;
        let mut out = self.decode(prompt, vec![Picker::Greedy], 1.0, &rules)?;
        out.pop().ok_or_else(|| Error::Request { problem: "no rollout was produced".into() })
    }

    /// One group through the multi-group scheduler, alone in its batch.
    fn decode(
        &mut self,
        prompt: &[u32],
        pickers: Vec<Picker>,
        temperature: f32,
        rules: &StepRules<'_>,
    ) -> Result<Vec<GeneratedRollout>> {
        let n = pickers.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut job = Some((prompt.to_vec(), pickers, temperature));
        let mut out = None;
        self.run_groups::<Error, _, _>(
            rules,
            n,
            || Ok(job.take()),
            |_, rollouts| {
                out = Some(rollouts);
                Ok(())
            },
        )?;
        out.ok_or_else(|| Error::Request { problem: "no rollout was produced".into() })
    }

    /// Runs `prompt` alone at batch 1 on an empty cache, handing `read` its logits and hidden
    /// states as [`Engine::run_step`] does; returns the prompt's cache.
    pub(crate) fn run_prompt<F>(&mut self, prompt: &[u32], read: F) -> Result<Vec<DynValue>>
    where
        F: FnOnce(&[f32], &[f32]) -> Result<()>,
    {
        let spec = *self.spec();
        let p = prompt.len();
        let feeds = StepFeeds {
            batch: 1,
            seq: p,
            input_ids: prompt.iter().map(|&t| i64::from(t)).collect(),
            attention_mask: vec![1; p],
            position_ids: (0..p as i64).collect(),
        };
        let empty = (0..2 * spec.num_layers)
            .map(|_| empty_cache(1, spec.kv_heads, spec.head_dim))
            .collect::<Result<Vec<_>>>()?;
        self.run_step(feeds, empty, read)
    }

    /// Threads for sampling between forward passes (ONNX Runtime's are idle then).
    pub(crate) fn sampling_threads(&self) -> usize {
        self.options()
            .intra_threads
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1)
            .max(1)
    }

    /// Runs one forward pass, hands `read` the logits `[b, s, V]` and hidden states `[b, s, D]`
    /// in place, and returns the `present.*` values (key, value per layer) untouched.
    pub(crate) fn run_step<F>(
        &mut self,
        feeds: StepFeeds,
        past: Vec<DynValue>,
        read: F,
    ) -> Result<Vec<DynValue>>
    where
        F: FnOnce(&[f32], &[f32]) -> Result<()>,
    {
        let spec = *self.model.spec();
        let StepFeeds { batch, seq, input_ids, attention_mask, position_ids } = feeds;
        let total = attention_mask.len() / batch.max(1);
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(3 + past.len());
        inputs.push((INPUT_IDS.into(), i64_matrix(batch, seq, input_ids)?.into()));
        inputs.push((ATTENTION_MASK.into(), i64_matrix(batch, total, attention_mask)?.into()));
        inputs.push((POSITION_IDS.into(), i64_matrix(batch, seq, position_ids)?.into()));
        let mut past = past.into_iter();
        for (k, v) in &self.past_names {
            let (Some(pk), Some(pv)) = (past.next(), past.next()) else {
                return Err(Error::Request { problem: "the cache has too few layers".into() });
            };
            inputs.push((Cow::Borrowed(k.as_str()), pk.into()));
            inputs.push((Cow::Borrowed(v.as_str()), pv.into()));
        }
        let mut outputs = self.model.session_mut().run(inputs)?;
        let (ls, logits) = output(&outputs, LOGITS, 3)?;
        let (hs, states) = output(&outputs, LAST_HIDDEN_STATE, 3)?;
        if ls != [batch, seq, spec.vocab_size] || hs != [batch, seq, spec.hidden_size] {
            return Err(Error::Request {
                problem: format!("outputs of shape {ls:?} and {hs:?} for a {batch}x{seq} step"),
            });
        }
        read(logits, states)?;
        let mut present = Vec::with_capacity(2 * self.present_names.len());
        for (k, v) in &self.present_names {
            for name in [k, v] {
                present.push(outputs.remove(name.as_str()).ok_or_else(|| Error::Request {
                    problem: format!("the model returned no output `{name}`"),
                })?);
            }
        }
        Ok(present)
    }
}

/// Advances each `(batch row, rollout)` pair from that row of `logits` (`[_, V]` rows) and
/// `states` (`[_, D]` rows), spreading the rollouts over up to `threads` threads. Each rollout
/// only touches its own stream and state, so the split cannot change any result.
pub(crate) fn advance_rows(
    mut work: Vec<(usize, &mut RolloutState)>,
    (logits, vocab): (&[f32], usize),
    (states, hidden): (&[f32], usize),
    rules: &StepRules<'_>,
    threads: usize,
) -> Result<()> {
    work.retain(|(_, r)| r.running());
    let step = |(k, row): &mut (usize, &mut RolloutState)| {
        let (l, h) =
            (&logits[*k * vocab..(*k + 1) * vocab], &states[*k * hidden..(*k + 1) * hidden]);
        row.advance(l, h, rules)
    };
    if threads <= 1 || work.len() < 2 {
        return work.iter_mut().try_for_each(step);
    }
    let chunk = work.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks_mut(chunk)
            .map(|part| scope.spawn(|| part.iter_mut().try_for_each(step)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().map_err(|_| Error::Request { problem: "a sampling thread panicked".into() })?
        })
    })
}

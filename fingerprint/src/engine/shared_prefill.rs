//! The validator's pass over a group that shares one prompt: the prompt is run once, the
//! completions are scored against its cache, so a group of `b` rollouts costs `P − 1 + Σ nᵢ`
//! tokens instead of `b · P + Σ nᵢ` (the miner's decoding shares the prompt the same way).
//!
//! 1. `prompt[..P−1]` at batch 1 on an empty cache, keeping only the `present.*` outputs (no
//!    logits or hidden states are read from it). Skipped when `P = 1`.
//! 2. That cache repeated for the `b` rows; row `i` feeds `prompt[P−1] ++ completion[..n−1]` at
//!    positions `P−1..`, right-padded (id 0, mask 0), with the mask ones over the cached prompt.
//!    Position `t` of row `i` is then the position that predicted completion token `t`, so
//!    the rows handed out are contiguous, as in [`Engine::prefill`].
//!
//! ONNX Runtime holds `b × max nᵢ × V` logits for step 2 (the prompt's positions are never
//! turned into logits) and `b` copies of the prompt's cache.

use std::borrow::Cow;

use ort::session::{OutputSelector, RunOptions, SessionInputValue};
use ort::value::DynValue;

use super::prefill::run_rows;
use super::prefill::PrefillRows;
use super::tensors::{broadcast_rows, empty_cache, i64_matrix};
use super::Engine;
use crate::error::{Error, Result};
use crate::session::{ATTENTION_MASK, INPUT_IDS, POSITION_IDS};

impl Engine {
    /// Scores `completions` after one shared `prompt` and calls `visit(i, rows)` for each
    /// completion in order; the rows are those [`Engine::prefill`] gives for
    /// `Sequence { prompt, completion: completions[i] }`, up to floating-point drift.
    pub fn prefill_shared<E, F>(
        &mut self,
        prompt: &[u32],
        completions: &[&[u32]],
        visit: F,
    ) -> Result<(), E>
    where
        E: From<Error>,
        F: FnMut(usize, &PrefillRows<'_>) -> Result<(), E>,
    {
        let spec = *self.spec();
        let vocab = spec.vocab_size;
        let b = completions.len();
        if b == 0 {
            return Ok(());
        }
        let bad = |problem: String| Error::Request { problem };
        let Some((&last, head)) = prompt.split_last() else {
            return Err(bad("the shared prompt is empty".into()).into());
        };
        if let Some(&t) = prompt.iter().find(|&&t| t as usize >= vocab) {
            return Err(bad(format!(
                "shared prompt: token {t} is outside the vocabulary of {vocab}"
            ))
            .into());
        }
        for (i, c) in completions.iter().enumerate() {
            if let Some(&t) = c.iter().find(|&&t| t as usize >= vocab) {
                return Err(bad(format!(
                    "sequence {i}: token {t} is outside the vocabulary of {vocab}"
                ))
                .into());
            }
        }

        let cached = head.len();
        let past = self.shared_cache(head, b)?;

        // Row i feeds the last prompt token, then all but the last completion token.
        let width = completions.iter().map(|c| c.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; b * width];
        let mut mask = vec![0i64; b * (cached + width)];
        for (i, c) in completions.iter().enumerate() {
            let fed = std::iter::once(&last).chain(c.iter()).take(c.len().max(1));
            for (j, &t) in fed.enumerate() {
                ids[i * width + j] = i64::from(t);
                mask[i * (cached + width) + cached + j] = 1;
            }
            mask[i * (cached + width)..i * (cached + width) + cached].fill(1);
        }
        let start = cached as i64;
        let positions: Vec<i64> = (0..b).flat_map(|_| start..start + width as i64).collect();

        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            (INPUT_IDS.into(), i64_matrix(b, width, ids)?.into()),
            (ATTENTION_MASK.into(), i64_matrix(b, cached + width, mask)?.into()),
            (POSITION_IDS.into(), i64_matrix(b, width, positions)?.into()),
        ];
        let mut past = past.into_iter();
        for (k, v) in &self.past_names {
            let (Some(pk), Some(pv)) = (past.next(), past.next()) else {
                return Err(bad("the cache has too few layers".into()).into());
            };
            inputs.push((Cow::Borrowed(k.as_str()), pk.into()));
            inputs.push((Cow::Borrowed(v.as_str()), pv.into()));
        }
        // Row t of completion i is batch position t: the last prompt token predicts token 0.
        let spans = completions.iter().map(|c| (0, c.len()));
        run_rows(&mut self.model, &spec, inputs, (b, width), spans, visit)
    }

    /// The cache of `head` (the prompt without its last token) repeated for `b` rows: key and
    /// value per layer, ready to feed as `past_key_values.*`.
    fn shared_cache(&mut self, head: &[u32], b: usize) -> Result<Vec<DynValue>> {
        let spec = *self.spec();
        if head.is_empty() {
            return (0..2 * spec.num_layers)
                .map(|_| empty_cache(b, spec.kv_heads, spec.head_dim))
                .collect();
        }
        let p = head.len();
        let ids = head.iter().map(|&t| i64::from(t)).collect();
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            (INPUT_IDS.into(), i64_matrix(1, p, ids)?.into()),
            (ATTENTION_MASK.into(), i64_matrix(1, p, vec![1; p])?.into()),
            (POSITION_IDS.into(), i64_matrix(1, p, (0..p as i64).collect())?.into()),
        ];
        let mut selector = OutputSelector::no_default();
        for (k, v) in &self.past_names {
            for name in [k, v] {
                let empty = empty_cache(1, spec.kv_heads, spec.head_dim)?;
                inputs.push((Cow::Borrowed(name.as_str()), empty.into()));
            }
        }
        for (k, v) in &self.present_names {
            selector = selector.with(k.as_str()).with(v.as_str());
        }
        let options = RunOptions::new()?.with_outputs(selector);
        let mut outputs = self.model.session_mut().run_with_options(inputs, &options)?;
        let mut cache = Vec::with_capacity(2 * self.present_names.len());
        for (k, v) in &self.present_names {
            for name in [k, v] {
                let value = outputs.remove(name.as_str()).ok_or_else(|| Error::Request {
                    problem: format!("the model returned no output `{name}`"),
                })?;
                cache.push(if b == 1 { value } else { broadcast_rows(&value, b)? });
            }
        }
        Ok(cache)
    }
}

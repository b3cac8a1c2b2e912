//! One batched forward pass over whole sequences (prompt + completion), handing out, per
//! sequence and completion position `t`, the logits row that predicted token `t` and the hidden
//! state at the same position (see the module docs of [`crate::engine`]). The validator runs
//! the cheaper [`Engine::prefill_shared`] on a group that shares its prompt; this full pass is
//! what calibration measures that against.
//!
//! Sequences are right-padded: row `i` holds `prompt ++ completion[..n-1]` at positions
//! `0..len`, then pad tokens (id 0, attention mask 0). Under the causal mask no real position
//! ever sees a pad, so padding cannot change a real row. The last completion token is not fed:
//! nothing is predicted from it.
//!
//! Nothing is copied out of ONNX Runtime: the visitor reads rows in place, one sequence at a
//! time. ONNX Runtime itself holds `b × max_len × V` logits (f32) for the call; a caller with a
//! memory budget passes fewer sequences per call. Only `logits` and `last_hidden_state` are
//! requested, so the `present.*` cache is not kept.

use std::borrow::Cow;

use ort::session::{OutputSelector, RunOptions, SessionInputValue};

use super::tensors::{empty_cache, i64_matrix, output};
use super::Engine;
use crate::error::{Error, Result};
use crate::session::{ModelSession, ModelSpec};
use crate::session::{ATTENTION_MASK, INPUT_IDS, LAST_HIDDEN_STATE, LOGITS, POSITION_IDS};

/// One prompt and the completion to score.
#[derive(Debug, Clone, Copy)]
pub struct Sequence<'a> {
    /// Prompt token ids (non-empty).
    pub prompt: &'a [u32],
    /// Completion token ids, as the miner claims them.
    pub completion: &'a [u32],
}

/// The rows of one sequence, borrowed from the pass's outputs.
#[derive(Debug, Clone, Copy)]
pub struct PrefillRows<'a> {
    pub(super) logits: &'a [f32],
    pub(super) hidden: &'a [f32],
    pub(super) vocab: usize,
    pub(super) hidden_size: usize,
    pub(super) len: usize,
}

impl<'a> PrefillRows<'a> {
    /// Completion positions available (the completion's length).
    pub fn len(&self) -> usize {
        self.len
    }

    /// No completion tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The logits `[V]` that predicted completion token `t`.
    pub fn logits(&self, t: usize) -> Option<&'a [f32]> {
        (t < self.len).then(|| &self.logits[t * self.vocab..(t + 1) * self.vocab])
    }

    /// The last hidden state `[D]` at the same position as [`PrefillRows::logits`]`(t)`.
    pub fn hidden(&self, t: usize) -> Option<&'a [f32]> {
        (t < self.len).then(|| &self.hidden[t * self.hidden_size..(t + 1) * self.hidden_size])
    }
}

impl Engine {
    /// Runs `sequences` in one batch and calls `visit(i, rows)` for each sequence in order.
    pub fn prefill<E, F>(&mut self, sequences: &[Sequence<'_>], visit: F) -> Result<(), E>
    where
        E: From<Error>,
        F: FnMut(usize, &PrefillRows<'_>) -> Result<(), E>,
    {
        let spec = *self.spec();
        let vocab = spec.vocab_size;
        let b = sequences.len();
        if b == 0 {
            return Ok(());
        }
        let bad = |problem: String| Error::Request { problem };
        let mut lens = Vec::with_capacity(b);
        for (i, s) in sequences.iter().enumerate() {
            if s.prompt.is_empty() {
                return Err(bad(format!("sequence {i}: the prompt is empty")).into());
            }
            let tokens = s.prompt.iter().chain(s.completion);
            if let Some(&t) = tokens.clone().find(|&&t| t as usize >= vocab) {
                return Err(bad(format!(
                    "sequence {i}: token {t} is outside the vocabulary of {vocab}"
                ))
                .into());
            }
            lens.push(s.prompt.len() + s.completion.len().saturating_sub(1));
        }
        let width = lens.iter().copied().max().unwrap_or(0);
        let mut ids = vec![0i64; b * width];
        let mut mask = vec![0i64; b * width];
        for (i, s) in sequences.iter().enumerate() {
            let fed = s.prompt.iter().chain(s.completion).take(lens[i]);
            for (j, &t) in fed.enumerate() {
                ids[i * width + j] = i64::from(t);
                mask[i * width + j] = 1;
            }
        }
        let positions: Vec<i64> = (0..b).flat_map(|_| 0..width as i64).collect();

        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            (INPUT_IDS.into(), i64_matrix(b, width, ids)?.into()),
            (ATTENTION_MASK.into(), i64_matrix(b, width, mask)?.into()),
            (POSITION_IDS.into(), i64_matrix(b, width, positions)?.into()),
        ];
        for (k, v) in &self.past_names {
            for name in [k, v] {
                let empty = empty_cache(b, spec.kv_heads, spec.head_dim)?;
                inputs.push((Cow::Borrowed(name.as_str()), empty.into()));
            }
        }
        // Completion token t of sequence i is predicted at position prompt_len - 1 + t.
        let spans = sequences.iter().map(|s| (s.prompt.len() - 1, s.completion.len()));
        run_rows(&mut self.model, &spec, inputs, (b, width), spans, visit)
    }
}

/// Runs `inputs` (a `[b, width]` batch) asking only for the logits and the last hidden state,
/// and calls `visit(i, rows)` with the `len` rows from `offset` of batch row `i`, for each
/// `(offset, len)` of `spans` in order. A free function: `inputs` borrow the engine's cache
/// names while the session runs.
pub(super) fn run_rows<E, F>(
    model: &mut ModelSession,
    spec: &ModelSpec,
    inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)>,
    (b, width): (usize, usize),
    spans: impl Iterator<Item = (usize, usize)>,
    mut visit: F,
) -> Result<(), E>
where
    E: From<Error>,
    F: FnMut(usize, &PrefillRows<'_>) -> Result<(), E>,
{
    let (vocab, hidden) = (spec.vocab_size, spec.hidden_size);
    let options = RunOptions::new()
        .map_err(Error::from)?
        .with_outputs(OutputSelector::no_default().with(LOGITS).with(LAST_HIDDEN_STATE));
    let outputs = model.session_mut().run_with_options(inputs, &options).map_err(Error::from)?;
    let (ls, logits) = output(&outputs, LOGITS, 3)?;
    let (hs, states) = output(&outputs, LAST_HIDDEN_STATE, 3)?;
    if ls != [b, width, vocab] || hs != [b, width, hidden] {
        let problem = format!("outputs of shape {ls:?} and {hs:?} for {b}x{width}");
        return Err(Error::Request { problem }.into());
    }
    for (i, (offset, len)) in spans.enumerate() {
        let first = i * width + offset;
        let rows = PrefillRows {
            logits: &logits[first * vocab..(first + len) * vocab],
            hidden: &states[first * hidden..(first + len) * hidden],
            vocab,
            hidden_size: hidden,
            len,
        };
        visit(i, &rows)?;
    }
    Ok(())
}

//! Verifying a set of rollouts: the validator's shared-prompt prefill
//! ([`Engine::prefill_shared`], each prompt once, its completions `batch` per pass), the full
//! right-padded prefill of whole sequences ([`Engine::prefill`]), or a left-padded variant of
//! it, every rollout handed to [`Tally::evaluate`].
//!
//! Left padding puts the pads in front: row `i` holds `width − len_i` pads (mask 0), then
//! `prompt ++ completion[..n−1]`, with `position_ids = max(cumsum(mask) − 1, 0)`, so every real
//! token keeps its position and only the attention mask hides the pads. It is the layout a
//! batched generator uses; the validator shares the prompt, and these measure the difference.

use grail_fingerprint::session::{KvCache, StepInput};
use grail_fingerprint::{Engine, Sequence};
use grail_protocol::challenge::FileChallenge;
use grail_protocol::window_file::Rollout;

use super::progress::Phase;
use super::tally::Tally;
use super::CalibrateError;
use grail_validator::pipeline::forward::{shared_prompt_chunks, ForwardContext, PositionRows};

/// How sequences of different lengths share one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// The validator's layout: a group's prompt once, its completions right-padded after it.
    Shared,
    /// Whole sequences, pads after them.
    Right,
    /// Whole sequences, pads in front.
    Left,
}

/// Challenge randomness of calibration: picks the K positions of each rollout.
const CALIBRATE_RANDOMNESS: [u8; 32] = [0xca; 32];

/// The K challenged positions of rollout `index` of a calibration set.
pub(crate) fn challenged(index: usize, len: usize, k: u32) -> Vec<u32> {
    let challenge = FileChallenge { randomness: &CALIBRATE_RANDOMNESS, cid: b"calibrate" };
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    challenge.positions(index, u32::try_from(len).unwrap_or(u32::MAX), k)
}

/// One sequence's rows copied out of a left-padded pass.
struct OwnedRows {
    logits: Vec<f32>,
    hidden: Vec<f32>,
    vocab: usize,
    hidden_size: usize,
    len: usize,
}

impl PositionRows for OwnedRows {
    fn positions(&self) -> usize {
        self.len
    }
    fn logits_at(&self, t: usize) -> Option<&[f32]> {
        (t < self.len).then(|| &self.logits[t * self.vocab..(t + 1) * self.vocab])
    }
    fn hidden_at(&self, t: usize) -> Option<&[f32]> {
        (t < self.len).then(|| &self.hidden[t * self.hidden_size..(t + 1) * self.hidden_size])
    }
}

/// Verifies `rollouts` with `engine`, `batch` per pass, into `tally`.
pub(crate) fn verify_set(
    engine: &mut Engine,
    rollouts: &[Rollout],
    ctx: &ForwardContext<'_>,
    batch: usize,
    padding: Padding,
    tally: &mut Tally,
    collect_z: bool,
) -> Result<(), CalibrateError> {
    let k = ctx.params.challenge_positions;
    let phase =
        Phase::start(format!("verifying ({padding:?}, batch {batch})"), rollouts.len(), "rollouts");
    if padding == Padding::Shared {
        let prompts: Vec<&[u32]> = rollouts.iter().map(|r| r.prompt_tokens.as_slice()).collect();
        for chunk in shared_prompt_chunks(&prompts, batch) {
            let Some(&first) = chunk.first() else { continue };
            let completions: Vec<&[u32]> =
                chunk.iter().map(|&i| rollouts[i].completion_tokens.as_slice()).collect();
            engine.prefill_shared::<CalibrateError, _>(
                prompts[first],
                &completions,
                |j, rows| {
                    let (i, r) = (chunk[j], &rollouts[chunk[j]]);
                    let positions = challenged(i, r.completion_tokens.len(), k);
                    phase.advance(1);
                    tally.evaluate(i, rows, r, &positions, ctx, collect_z)
                },
            )?;
        }
        return Ok(());
    }
    for (c, chunk) in rollouts.chunks(batch.max(1)).enumerate() {
        let base = c * batch.max(1);
        let sequences: Vec<Sequence<'_>> = chunk
            .iter()
            .map(|r| Sequence { prompt: &r.prompt_tokens, completion: &r.completion_tokens })
            .collect();
        match padding {
            Padding::Right | Padding::Shared => {
                engine.prefill::<CalibrateError, _>(&sequences, |j, rows| {
                    let r = &chunk[j];
                    let positions = challenged(base + j, r.completion_tokens.len(), k);
                    phase.advance(1);
                    tally.evaluate(base + j, rows, r, &positions, ctx, collect_z)
                })?;
            }
            Padding::Left => {
                for (j, rows) in left_padded_prefill(engine, &sequences)?.iter().enumerate() {
                    let r = &chunk[j];
                    let positions = challenged(base + j, r.completion_tokens.len(), k);
                    phase.advance(1);
                    tally.evaluate(base + j, rows, r, &positions, ctx, collect_z)?;
                }
            }
        }
    }
    Ok(())
}

/// One left-padded pass over `sequences`; the rows of each, copied out.
fn left_padded_prefill(
    engine: &mut Engine,
    sequences: &[Sequence<'_>],
) -> Result<Vec<OwnedRows>, CalibrateError> {
    let spec = *engine.spec();
    let b = sequences.len();
    let lens: Vec<usize> =
        sequences.iter().map(|s| s.prompt.len() + s.completion.len().saturating_sub(1)).collect();
    let width = lens.iter().copied().max().unwrap_or(0);
    let mut ids = vec![0i64; b * width];
    let mut mask = vec![0i64; b * width];
    let mut positions = vec![0i64; b * width];
    for (i, s) in sequences.iter().enumerate() {
        let pad = width - lens[i];
        let fed = s.prompt.iter().chain(s.completion).take(lens[i]);
        for (j, &t) in fed.enumerate() {
            ids[i * width + pad + j] = i64::from(t);
            mask[i * width + pad + j] = 1;
            positions[i * width + pad + j] = j as i64;
        }
    }
    let input =
        StepInput { batch: b, input_ids: &ids, attention_mask: &mask, position_ids: &positions };
    let out = engine
        .session_mut()
        .step(&input, &KvCache::empty(&spec, b))
        .map_err(|source| CalibrateError::LeftPadded { source })?;
    let logits = out.logits.as_slice().ok_or(CalibrateError::NotContiguous { what: "logits" })?;
    let hidden = out
        .last_hidden_state
        .as_slice()
        .ok_or(CalibrateError::NotContiguous { what: "hidden states" })?;
    let (v, d) = (spec.vocab_size, spec.hidden_size);
    Ok(sequences
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Completion token t is predicted at (pads) + prompt_len − 1 + t.
            let first = i * width + (width - lens[i]) + s.prompt.len() - 1;
            let len = s.completion.len();
            OwnedRows {
                logits: logits[first * v..(first + len) * v].to_vec(),
                hidden: hidden[first * d..(first + len) * d].to_vec(),
                vocab: v,
                hidden_size: d,
                len,
            }
        })
        .collect())
}

//! The plain decoding loop the engine is measured against (the miner bench's baseline): the
//! prompt is run for every row of the group, the KV cache makes a round trip through ndarray
//! each step (ONNX Runtime's grown `present.*` copied out, then copied back in as
//! `past_key_values.*`), and the logits of every input position are copied out. Finished rows stay in the batch.
//! Sampling, stopping and commitments are the engine's own, so both produce the same tokens.

use super::rollout::{
    check_request, GeneratedRollout, GroupRequest, Picker, RolloutState, StepRules,
};
use super::Engine;
use ndarray::{s, Array3};

use crate::error::{Error, Result};
use crate::session::{KvCache, StepInput};

/// Same contract as [`Engine::generate_group`], done the plain way.
pub fn generate_group(
    engine: &mut Engine,
    request: &GroupRequest<'_>,
) -> Result<Vec<GeneratedRollout>> {
    let rules = StepRules {
        max_new_tokens: request.max_new_tokens,
        stop_ids: request.stop_ids,
        commitment: request.commitment,
    };
    let spec = *engine.spec();
    check_request(request.prompt, request.temperature, &rules, spec.vocab_size, spec.hidden_size)?;
    let n = request.streams.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut rows: Vec<Row> = request
        .streams
        .iter()
        .map(|s| {
            let picker =
                Picker::Sample { stream: Box::new(s.clone()), temperature: request.temperature };
            Row(RolloutState::new(picker, rules.max_new_tokens))
        })
        .collect();
    let model = engine.session_mut();

    let p = request.prompt.len();
    let prompt: Vec<i64> = request.prompt.iter().map(|&t| i64::from(t)).collect();
    let input_ids: Vec<i64> = (0..n).flat_map(|_| prompt.iter().copied()).collect();
    let position_ids: Vec<i64> = (0..n).flat_map(|_| 0..p as i64).collect();
    let first = model.step(
        &StepInput {
            batch: n,
            input_ids: &input_ids,
            attention_mask: &vec![1; n * p],
            position_ids: &position_ids,
        },
        &KvCache::empty(&spec, n),
    )?;
    for (i, row) in rows.iter_mut().enumerate() {
        row.advance(&first.logits, &first.last_hidden_state, i, p - 1, &rules)?;
    }
    let mut cache = first.present;
    while rows.iter().any(|r| r.0.running()) {
        let len = cache.past_len();
        let ids: Vec<i64> = rows.iter().map(|r| r.0.last_token().map_or(0, i64::from)).collect();
        let out = model.step(
            &StepInput {
                batch: n,
                input_ids: &ids,
                attention_mask: &vec![1; n * (len + 1)],
                position_ids: &vec![len as i64; n],
            },
            &cache,
        )?;
        for (i, row) in rows.iter_mut().enumerate() {
            row.advance(&out.logits, &out.last_hidden_state, i, 0, &rules)?;
        }
        cache = out.present;
    }
    Ok(rows.into_iter().map(|r| r.0.finish()).collect())
}

/// A rollout fed from owned `[b, s, _]` arrays.
struct Row(RolloutState);

impl Row {
    fn advance(
        &mut self,
        logits: &Array3<f32>,
        hidden: &Array3<f32>,
        row: usize,
        pos: usize,
        rules: &StepRules<'_>,
    ) -> Result<()> {
        let l = logits.slice(s![row, pos, ..]);
        let h = hidden.slice(s![row, pos, ..]);
        let contiguous = || Error::Request { problem: "model output is not contiguous".into() };
        self.0.advance(
            l.as_slice().ok_or_else(contiguous)?,
            h.as_slice().ok_or_else(contiguous)?,
            rules,
        )
    }
}

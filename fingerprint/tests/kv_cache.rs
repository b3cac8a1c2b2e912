//! Through ONNX Runtime: decoding with the KV cache (prefill, then one token at a time) gives the
//! same logits and last hidden states as one full forward pass, for one row and for a
//! left-padded batch of two.

// Test helpers outside #[test] fns panic on purpose when a fixture is broken.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use grail_fingerprint::{KvCache, ModelSession, SessionOptions, StepInput};
use ndarray::{concatenate, s, Array3, Axis};

/// Worst absolute difference allowed between cached and full-pass outputs (f32 on CPU).
const TOLERANCE: f32 = 1e-4;

const TOKENS: [i64; 12] = [1, 77, 198, 314, 261, 12, 400, 95, 230, 17, 2, 0];

fn load() -> ModelSession {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny/model.onnx");
    ModelSession::load(&path, &SessionOptions { intra_threads: Some(1) }).unwrap()
}

/// Columns `[from, to)` of a row-major `[b, n]` matrix.
fn columns(values: &[i64], b: usize, from: usize, to: usize) -> Vec<i64> {
    let n = values.len() / b;
    (0..b).flat_map(|r| values[r * n + from..r * n + to].to_vec()).collect()
}

/// Max |a - b| over the positions where `mask` (row-major `[b, s]`) is 1.
fn max_diff(a: &Array3<f32>, b: &Array3<f32>, mask: &[i64]) -> f32 {
    let s = a.shape()[1];
    a.indexed_iter()
        .filter(|((row, pos, _), _)| mask[row * s + pos] == 1)
        .map(|((row, pos, k), x)| (x - b[[row, pos, k]]).abs())
        .fold(0f32, f32::max)
}

/// Full pass and incremental decoding over the same batch; returns (logits diff, hidden diff).
fn compare(
    model: &mut ModelSession,
    batch: usize,
    ids: &[i64],
    mask: &[i64],
    pos: &[i64],
) -> (f32, f32) {
    let spec = *model.spec();
    let s = ids.len() / batch;
    let full = model
        .step(
            &StepInput { batch, input_ids: ids, attention_mask: mask, position_ids: pos },
            &KvCache::empty(&spec, batch),
        )
        .unwrap();
    assert_eq!(full.logits.shape(), &[batch, s, spec.vocab_size]);
    assert_eq!(full.last_hidden_state.shape(), &[batch, s, spec.hidden_size]);
    assert_eq!(full.present.past_len(), s);

    let prefix = 5;
    let first = model
        .step(
            &StepInput {
                batch,
                input_ids: &columns(ids, batch, 0, prefix),
                attention_mask: &columns(mask, batch, 0, prefix),
                position_ids: &columns(pos, batch, 0, prefix),
            },
            &KvCache::empty(&spec, batch),
        )
        .unwrap();
    let (mut logits, mut hidden, mut cache) =
        (vec![first.logits], vec![first.last_hidden_state], first.present);
    for t in prefix..s {
        let out = model
            .step(
                &StepInput {
                    batch,
                    input_ids: &columns(ids, batch, t, t + 1),
                    attention_mask: &columns(mask, batch, 0, t + 1),
                    position_ids: &columns(pos, batch, t, t + 1),
                },
                &cache,
            )
            .unwrap();
        assert_eq!(out.present.past_len(), t + 1);
        logits.push(out.logits);
        hidden.push(out.last_hidden_state);
        cache = out.present;
    }
    let views = |parts: &[Array3<f32>]| {
        concatenate(Axis(1), &parts.iter().map(|a| a.view()).collect::<Vec<_>>()).unwrap()
    };
    let (inc_logits, inc_hidden) = (views(&logits), views(&hidden));
    // The cache must match the full pass's present at real positions. (At pad positions it
    // differs, harmlessly: a pad query sees no real key, so its output depends on which masked
    // keys exist yet; no real query ever reads those entries.)
    for (l, (k, v)) in cache.layers.iter().enumerate() {
        let (full_k, full_v) = &full.present.layers[l];
        let d = k
            .indexed_iter()
            .chain(v.indexed_iter())
            .zip(full_k.iter().chain(full_v.iter()))
            .filter(|(((row, _, t, _), _), _)| mask[row * s + t] == 1)
            .fold(0f32, |m, ((_, x), y)| m.max((x - y).abs()));
        assert!(d < TOLERANCE, "layer {l} cache differs by {d}");
    }
    (
        max_diff(&inc_logits, &full.logits, mask),
        max_diff(&inc_hidden, &full.last_hidden_state, mask),
    )
}

#[test]
fn incremental_decoding_equals_full_pass() {
    let mut model = load();
    let spec = *model.spec();
    assert_eq!((spec.num_layers, spec.kv_heads, spec.head_dim, spec.hidden_size), (2, 2, 16, 64));
    let pos: Vec<i64> = (0..12).collect();
    let (dl, dh) = compare(&mut model, 1, &TOKENS, &[1; 12], &pos);
    println!("single row: max |incremental - full| logits {dl:.3e}, last_hidden_state {dh:.3e}");
    assert!(dl < TOLERANCE && dh < TOLERANCE, "logits {dl}, hidden {dh}");

    // Logits must not be flat: sampling from them should not be uniform.
    let out = model
        .step(
            &StepInput {
                batch: 1,
                input_ids: &TOKENS,
                attention_mask: &[1; 12],
                position_ids: &pos,
            },
            &KvCache::empty(&spec, 1),
        )
        .unwrap();
    let last = out.logits.slice(s![0, 11, ..]);
    let spread =
        last.iter().fold(f32::MIN, |m, &x| m.max(x)) - last.iter().fold(f32::MAX, |m, &x| m.min(x));
    assert!(spread > 5.0, "logit spread {spread}");
}

#[test]
fn left_padded_batch_matches_and_padding_does_not_leak() {
    let mut model = load();
    // Row 0: all 12 tokens. Row 1: 3 pads, then the last 9 tokens.
    let mut ids = TOKENS.to_vec();
    ids.extend([0, 0, 0]);
    ids.extend(&TOKENS[3..]);
    let mut mask = vec![1i64; 12];
    mask.extend([0, 0, 0]);
    mask.extend([1; 9]);
    let mut pos: Vec<i64> = (0..12).collect();
    pos.extend([0, 0, 0]);
    pos.extend(0..9);
    let (dl, dh) = compare(&mut model, 2, &ids, &mask, &pos);
    println!("left-padded batch of 2: max |incremental - full| logits {dl:.3e}, last_hidden_state {dh:.3e}");
    assert!(dl < TOLERANCE && dh < TOLERANCE, "logits {dl}, hidden {dh}");

    // Row 1 alone, unpadded, must give the same outputs as its padded copy in the batch.
    let spec = *model.spec();
    let batch = model
        .step(
            &StepInput { batch: 2, input_ids: &ids, attention_mask: &mask, position_ids: &pos },
            &KvCache::empty(&spec, 2),
        )
        .unwrap();
    let alone = model
        .step(
            &StepInput {
                batch: 1,
                input_ids: &TOKENS[3..],
                attention_mask: &[1; 9],
                position_ids: &pos[15..],
            },
            &KvCache::empty(&spec, 1),
        )
        .unwrap();
    let padded = batch.logits.slice(s![1, 3.., ..]);
    let d = (&padded - &alone.logits.slice(s![0, .., ..])).iter().fold(0f32, |m, x| m.max(x.abs()));
    println!("padded row vs the same row alone: max |logits diff| {d:.3e}");
    assert!(d < TOLERANCE, "padding changed row 1's logits by {d}");
}

//! The engine's drift figures on the real model (SmolLM2-135M, `scripts/fetch-model.sh
//! smollm2-135m`): a group of 16 against each rollout alone, the full prefill against
//! decoding, and the shared-prompt prefill against both. Ignored by default (minutes on 2
//! cores; the model is not in git):
//! `cargo test --release -p grail-fingerprint --test engine_smollm2 -- --ignored --nocapture`.

// Test helpers outside #[test] fns panic on purpose when a fixture is broken.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use grail_fingerprint::{Engine, EngineOptions, Error, GroupRequest, Sequence};
use grail_protocol::commitment::{CommitmentKey, DEFAULT_COMMIT_TOLERANCE};
use grail_protocol::hash::uniform_f64;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::DEFAULT_TEMPERATURE;
use grail_protocol::sampler::{check_sample, DEFAULT_SAMPLING_TOLERANCE};
use grail_protocol::seeds::sample_stream;

const SEED: [u8; 32] = [0x33; 32];

#[test]
#[ignore = "needs models/smollm2-135m and minutes of CPU"]
fn smollm2_group_alone_and_prefill_agree() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/smollm2-135m");
    let threads = std::env::var("GRAIL_TEST_THREADS").ok().and_then(|v| v.parse().ok());
    let options = EngineOptions { intra_threads: threads.or(Some(2)), ..Default::default() };
    let mut e = Engine::load(&dir, &options).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let text = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by \
                Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 17 + 25? Answer briefly.\
                <|im_end|>\n<|im_start|>assistant\n";
    let prompt = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
    let key = CommitmentKey::derive(&SEED, e.spec().hidden_size).unwrap();
    let stops = e.config().stop_token_ids.clone();
    let streams = |rows: std::ops::Range<u32>| -> Vec<_> {
        rows.map(|r| sample_stream(&SEED, &Hotkey([9; 32]), 0, r)).collect()
    };
    let request = |s| GroupRequest {
        prompt: &prompt,
        streams: s,
        temperature: DEFAULT_TEMPERATURE,
        max_new_tokens: 48,
        stop_ids: &stops,
        commitment: Some(&key),
    };
    let group = e.generate_group(&request(streams(0..16))).unwrap();

    let mut differ = 0;
    for (r, in_group) in group.iter().enumerate() {
        let alone = e.generate_group(&request(streams(r as u32..r as u32 + 1))).unwrap();
        if alone[0].tokens != in_group.tokens {
            differ += 1;
            let at =
                alone[0].tokens.iter().zip(&in_group.tokens).take_while(|(a, b)| a == b).count();
            println!("rollout {r}: group and alone part at token {at}");
        }
    }

    let seqs: Vec<_> =
        group.iter().map(|r| Sequence { prompt: &prompt, completion: &r.tokens }).collect();
    let mut s = streams(0..16);
    let (mut misses, mut rejected, mut tokens, mut dl, mut dc) = (0, 0, 0, 0f32, 0f64);
    e.prefill::<Error, _>(&seqs, |i, rows| {
        for t in 0..rows.len() {
            let u = uniform_f64(&mut s[i]);
            let c = check_sample(
                rows.logits(t).unwrap(),
                DEFAULT_TEMPERATURE,
                u,
                group[i].tokens[t],
                DEFAULT_SAMPLING_TOLERANCE,
            )?;
            misses += usize::from(c.distance != 0.0);
            rejected += usize::from(!c.accepted);
            dl = dl.max((c.logprob - group[i].logprobs[t]).abs());
            let k = key.check(
                rows.hidden(t).unwrap(),
                group[i].commitments[t],
                DEFAULT_COMMIT_TOLERANCE,
            )?;
            dc = dc.max(k.worst_distance);
            tokens += 1;
        }
        Ok(())
    })
    .unwrap();
    println!(
        "SmolLM2: {differ}/16 rollouts differ between the group and alone; prefill over {tokens} \
         tokens: {misses} boundary misses ({rejected} rejected), max |logprob diff| {dl:.3e}, \
         worst commitment distance {dc:.3e} (tolerance {DEFAULT_COMMIT_TOLERANCE})"
    );
    assert_eq!(rejected, 0);
    assert!(dc < DEFAULT_COMMIT_TOLERANCE);
}

/// Max |a − b| over two equally long lists of rows.
fn max_abs(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
#[ignore = "needs models/smollm2-135m and a minute of CPU"]
fn smollm2_shared_prefill_matches_the_full_prefill() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/smollm2-135m");
    // Asked for by name (it is ignored otherwise): a missing model is a failure, not a pass.
    assert!(
        dir.join("model.onnx").is_file(),
        "{} is absent: run scripts/fetch-model.sh smollm2-135m first",
        dir.display()
    );
    let threads = std::env::var("GRAIL_TEST_THREADS").ok().and_then(|v| v.parse().ok());
    let options = EngineOptions { intra_threads: threads.or(Some(2)), ..Default::default() };
    let mut e = Engine::load(&dir, &options).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    // About the length of a benchmark prompt (~300 tokens).
    let clauses: String =
        (0..40).map(|i| format!("(x{} or not x{}) ", i % 17, (i * 7) % 19)).collect();
    let text = format!(
        "<|im_start|>user\nFind an assignment satisfying {clauses}. Answer in <SOLUTION> tags.\
         <|im_end|>\n<|im_start|>assistant\n"
    );
    let prompt = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
    let key = CommitmentKey::derive(&SEED, e.spec().hidden_size).unwrap();
    let stops = e.config().stop_token_ids.clone();
    let request = GroupRequest {
        prompt: &prompt,
        streams: (0..4).map(|r| sample_stream(&SEED, &Hotkey([9; 32]), 1, r)).collect(),
        temperature: DEFAULT_TEMPERATURE,
        max_new_tokens: 48,
        stop_ids: &stops,
        commitment: Some(&key),
    };
    let group = e.generate_group(&request).unwrap();
    let completions: Vec<&[u32]> = group.iter().map(|r| r.tokens.as_slice()).collect();
    let seqs: Vec<_> =
        completions.iter().map(|&completion| Sequence { prompt: &prompt, completion }).collect();
    let copy = |rows: &grail_fingerprint::PrefillRows<'_>| -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        (0..rows.len())
            .map(|t| (rows.logits(t).unwrap().to_vec(), rows.hidden(t).unwrap().to_vec()))
            .unzip()
    };
    let mut full = Vec::new();
    e.prefill::<Error, _>(&seqs, |_, rows| {
        full.push(copy(rows));
        Ok(())
    })
    .unwrap();
    let (mut dl, mut dh, mut dlp, mut dc) = (0f32, 0f32, 0f32, 0f64);
    e.prefill_shared::<Error, _>(&prompt, &completions, |i, rows| {
        let (logits, hidden) = copy(rows);
        dl = dl.max(max_abs(&logits, &full[i].0));
        dh = dh.max(max_abs(&hidden, &full[i].1));
        let mut s = sample_stream(&SEED, &Hotkey([9; 32]), 1, i as u32);
        for t in 0..rows.len() {
            let u = uniform_f64(&mut s);
            let c = check_sample(
                &logits[t],
                DEFAULT_TEMPERATURE,
                u,
                group[i].tokens[t],
                DEFAULT_SAMPLING_TOLERANCE,
            )?;
            assert!(c.accepted, "rollout {i} token {t}: {c:?}");
            dlp = dlp.max((c.logprob - group[i].logprobs[t]).abs());
            let k = key.check(&hidden[t], group[i].commitments[t], DEFAULT_COMMIT_TOLERANCE)?;
            dc = dc.max(k.worst_distance);
        }
        Ok(())
    })
    .unwrap();
    println!(
        "SmolLM2, prompt of {} tokens: full vs shared prefill max |logit diff| {dl:.3e}, max \
         |hidden diff| {dh:.3e}; shared vs decoding max |logprob diff| {dlp:.3e}, worst \
         commitment distance {dc:.3e}",
        prompt.len()
    );
    // Measured 0 (bitwise equal) on CPU; the bound is decoding's drift against prefill.
    assert!(dl < 1e-3 && dh < 1e-3, "{dl} {dh}");
    assert!(dc < DEFAULT_COMMIT_TOLERANCE);
}

//! The generation engine on the tiny fixture model: reproducible sampling from the seeds, batch
//! invariance (a rollout in a group of 16 against the same rollout alone), the validator's
//! prefill reproducing tokens, logprobs and commitments, the baseline loop agreeing with the
//! engine, and the load-time errors.

// Test helpers outside #[test] fns panic on purpose when a fixture is broken.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use grail_fingerprint::engine::baseline;
use grail_fingerprint::{
    Device, Engine, EngineOptions, Error, GeneratedRollout, GroupRequest, Sequence, StopReason,
};
use grail_protocol::commitment::{CommitmentKey, DEFAULT_COMMIT_TOLERANCE};
use grail_protocol::hash::uniform_f64;
use grail_protocol::keys::Hotkey;
use grail_protocol::sampler::{check_sample, DEFAULT_SAMPLING_TOLERANCE};
use grail_protocol::seeds::sample_stream;
use grail_protocol::verify_params::DEFAULT_LOGPROB_QUANTILE_MAX;
use rand_chacha::ChaCha20Rng;

const WINDOW_SEED: [u8; 32] = [0x5a; 32];
const TEMPERATURE: f32 = 1.0;
/// Stop ids wide enough that many rollouts end by EOS within the cap (the fixture's own stop
/// ids, 0 and 2, almost never come up in a random model of 512 tokens).
const STOPS: [u32; 24] =
    [0, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83];

fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny")
}

fn engine(drop_finished: usize) -> Engine {
    let options = EngineOptions {
        device: Device::Cpu,
        intra_threads: Some(1),
        drop_finished,
        ..Default::default()
    };
    Engine::load(&tiny_dir(), &options).unwrap()
}

fn prompt(j: u32) -> Vec<u32> {
    // Chat-like: <|im_start|>, some words, <|im_end|>, <|im_start|>.
    let mut p = vec![1];
    p.extend((0..5 + j % 7).map(|i| 100 + (j * 37 + i * 11) % 400));
    p.extend([2, 1]);
    p
}

fn streams(j: u32, n: u32) -> Vec<ChaCha20Rng> {
    (0..n).map(|r| sample_stream(&WINDOW_SEED, &Hotkey([7; 32]), j, r)).collect()
}

fn key() -> CommitmentKey {
    CommitmentKey::derive(&WINDOW_SEED, 64).unwrap()
}

fn request<'a>(prompt: &'a [u32], j: u32, key: &'a CommitmentKey, max: usize) -> GroupRequest<'a> {
    GroupRequest {
        prompt,
        streams: streams(j, 16),
        temperature: TEMPERATURE,
        max_new_tokens: max,
        stop_ids: &STOPS,
        commitment: Some(key),
    }
}

fn check_shape(rollouts: &[GeneratedRollout], max: usize) {
    for r in rollouts {
        assert!(!r.tokens.is_empty() && r.tokens.len() <= max);
        assert_eq!(r.logprobs.len(), r.tokens.len());
        assert_eq!(r.commitments.len(), r.tokens.len());
        let (last, body) = r.tokens.split_last().unwrap();
        assert!(body.iter().all(|t| !STOPS.contains(t)), "a stop token inside {:?}", r.tokens);
        match r.stop {
            StopReason::Eos => assert!(STOPS.contains(last)),
            StopReason::Length => assert_eq!(r.tokens.len(), max),
        }
        assert!(r.logprobs.iter().all(|&l| l <= 0.0 && l.is_finite()));
    }
}

#[test]
fn sampling_is_reproducible_from_the_seeds() {
    let mut e = engine(4);
    let key = key();
    let p = prompt(3);
    let a = e.generate_group(&request(&p, 3, &key, 24)).unwrap();
    let b = e.generate_group(&request(&p, 3, &key, 24)).unwrap();
    assert_eq!(a, b);
    check_shape(&a, 24);
    let stops = a.iter().filter(|r| r.stop == StopReason::Eos).count();
    println!("16 rollouts: {stops} stopped by EOS, {} by length", 16 - stops);
    assert!(stops > 0 && stops < 16, "the test needs both kinds of stop");
    // Another problem index gives other streams, hence other completions.
    let c = e.generate_group(&request(&p, 4, &key, 24)).unwrap();
    assert_ne!(a, c);
    // Rollouts differ from each other (each has its own stream).
    assert!(a.iter().skip(1).any(|r| r.tokens != a[0].tokens));
}

#[test]
fn dropping_finished_rows_changes_nothing_but_speed() {
    let key = key();
    let p = prompt(5);
    let kept = engine(0).generate_group(&request(&p, 5, &key, 32)).unwrap();
    let dropped = engine(1).generate_group(&request(&p, 5, &key, 32)).unwrap();
    assert_eq!(
        kept.iter().map(|r| &r.tokens).collect::<Vec<_>>(),
        dropped.iter().map(|r| &r.tokens).collect::<Vec<_>>()
    );
    let worst = kept
        .iter()
        .zip(&dropped)
        .flat_map(|(a, b)| a.logprobs.iter().zip(&b.logprobs).map(|(x, y)| (x - y).abs()))
        .fold(0f32, f32::max);
    println!("padded vs compacted batch: max |logprob diff| {worst:.3e}");
    assert!(worst < 1e-4);
}

/// The validator's view of one rollout: one prefill, then the sampling check at every position,
/// logprob and commitment distances. Returns (boundary misses, max |logprob diff|, worst
/// commitment distance); panics on a rejected token or commitment.
fn verify(
    e: &mut Engine,
    prompt: &[u32],
    j: u32,
    rollouts: &[GeneratedRollout],
) -> (usize, f32, f64) {
    let key = key();
    let seqs: Vec<Sequence<'_>> =
        rollouts.iter().map(|r| Sequence { prompt, completion: &r.tokens }).collect();
    let mut streams = streams(j, rollouts.len() as u32);
    let (mut misses, mut dl, mut dc) = (0usize, 0f32, 0f64);
    e.prefill::<Error, _>(&seqs, |i, rows| {
        let r = &rollouts[i];
        assert_eq!(rows.len(), r.tokens.len());
        for t in 0..rows.len() {
            let u = uniform_f64(&mut streams[i]);
            let logits = rows.logits(t).unwrap();
            let c = check_sample(logits, TEMPERATURE, u, r.tokens[t], DEFAULT_SAMPLING_TOLERANCE)?;
            assert!(c.accepted, "rollout {i} token {t}: {c:?}");
            misses += usize::from(c.distance != 0.0);
            dl = dl.max((c.logprob - r.logprobs[t]).abs());
            let k =
                key.check(rows.hidden(t).unwrap(), r.commitments[t], DEFAULT_COMMIT_TOLERANCE)?;
            assert!(k.accepted, "rollout {i} commitment {t}: {k:?}");
            dc = dc.max(k.worst_distance);
        }
        assert!(rows.logits(rows.len()).is_none());
        Ok(())
    })
    .unwrap();
    (misses, dl, dc)
}

#[test]
fn prefill_reproduces_tokens_logprobs_and_commitments() {
    let mut e = engine(4);
    let key = key();
    let (mut misses, mut dl, mut dc, mut tokens) = (0, 0f32, 0f64, 0);
    for j in 0..4 {
        let p = prompt(j);
        let rollouts = e.generate_group(&request(&p, j, &key, 40)).unwrap();
        tokens += rollouts.iter().map(|r| r.tokens.len()).sum::<usize>();
        let (m, l, c) = verify(&mut e, &p, j, &rollouts);
        (misses, dl, dc) = (misses + m, dl.max(l), dc.max(c));
    }
    println!(
        "prefill vs decoding over {tokens} tokens: {misses} boundary misses, max |logprob diff| \
         {dl:.3e}, worst commitment distance {dc:.3e} (tolerance {DEFAULT_COMMIT_TOLERANCE})"
    );
    assert!(dl < 1e-3, "logprobs differ by {dl}");
    assert!(dc < DEFAULT_COMMIT_TOLERANCE);
}

#[test]
fn a_rollout_in_a_group_equals_the_same_rollout_alone() {
    let mut e = engine(4);
    let key = key();
    let (mut same, mut differ, mut misses) = (0, 0, 0);
    for j in 0..4 {
        let p = prompt(j);
        let group = e.generate_group(&request(&p, j, &key, 32)).unwrap();
        for (r, in_group) in group.iter().enumerate() {
            let mut alone = request(&p, j, &key, 32);
            alone.streams = vec![alone.streams.swap_remove(r)];
            let alone = e.generate_group(&alone).unwrap().pop().unwrap();
            if alone.tokens == in_group.tokens {
                same += 1;
            } else {
                differ += 1;
            }
        }
        // Whatever drift did, the validator accepts the group's rollouts.
        misses += verify(&mut e, &p, j, &group).0;
    }
    println!(
        "{same} of {} rollouts identical in a group of 16 and alone, {differ} differ; \
         {misses} tokens accepted only through the sampling tolerance",
        same + differ
    );
    assert!(differ * 20 <= same + differ, "{differ} of {} rollouts differ", same + differ);
}

#[test]
fn baseline_loop_produces_the_same_tokens() {
    let mut e = engine(4);
    let key = key();
    let p = prompt(6);
    let fast = e.generate_group(&request(&p, 6, &key, 32)).unwrap();
    let plain = baseline::generate_group(&mut e, &request(&p, 6, &key, 32)).unwrap();
    assert_eq!(fast.len(), plain.len());
    for (a, b) in fast.iter().zip(&plain) {
        assert_eq!(a.tokens, b.tokens);
        assert_eq!(a.stop, b.stop);
        for (x, y) in a.logprobs.iter().zip(&b.logprobs) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }
}

#[test]
fn greedy_decoding_is_deterministic_and_capped() {
    let mut e = engine(4);
    let p = prompt(1);
    let a = e.generate_greedy(&p, 20, &[0, 2]).unwrap();
    let b = e.generate_greedy(&p, 20, &[0, 2]).unwrap();
    assert_eq!(a, b);
    assert!(!a.tokens.is_empty() && a.tokens.len() <= 20);
    assert!(a.commitments.is_empty());
    // Greedy is sampling at u = 0 of the most likely token: the first step agrees with prefill.
    let mut first = None;
    e.prefill::<Error, _>(&[Sequence { prompt: &p, completion: &a.tokens }], |_, rows| {
        first = Some(grail_protocol::sampler::argmax(rows.logits(0).unwrap())?);
        Ok(())
    })
    .unwrap();
    assert_eq!(first, Some(a.tokens[0]));
}

#[test]
fn bad_requests_are_named() {
    let mut e = engine(4);
    let key = key();
    let p = prompt(0);
    let mut r = request(&p, 0, &key, 8);
    r.temperature = 0.0;
    let msg = e.generate_group(&r).unwrap_err().to_string();
    assert!(msg.contains("temperature"), "{msg}");
    let big = [1, 600];
    let msg = e.generate_group(&request(&big, 0, &key, 8)).unwrap_err().to_string();
    assert!(msg.contains("600") && msg.contains("512"), "{msg}");
    let wrong_key = CommitmentKey::derive(&WINDOW_SEED, 65).unwrap();
    let msg = e.generate_group(&request(&p, 0, &wrong_key, 8)).unwrap_err().to_string();
    assert!(msg.contains("hidden size 65"), "{msg}");
    let msg = e.generate_group(&request(&p, 0, &key, 0)).unwrap_err().to_string();
    assert!(msg.contains("max_new_tokens"), "{msg}");
}

#[test]
fn cuda_on_a_cpu_only_runtime_is_a_clear_error() {
    let options = EngineOptions { device: Device::Cuda { device_id: 0 }, ..Default::default() };
    let err = Engine::load(&tiny_dir(), &options).unwrap_err();
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, Error::DeviceUnavailable { .. }), "{msg}");
    assert!(msg.contains("cuda:0") && !msg.contains('\n'), "{msg}");
}

/// A CUDA miner's rollouts pass a CPU validator's prefill and a CPU miner's pass a CUDA
/// validator's: every token accepted, every commitment within its tolerance, logprobs within
/// the quantile limit of the logprob check.
#[test]
#[ignore = "needs an NVIDIA GPU and the GPU runtime (.ort-gpu): scripts/gpu-check.sh runs it"]
fn cuda_and_cpu_verify_each_others_rollouts() {
    let cuda = EngineOptions {
        device: Device::Cuda { device_id: 0 },
        intra_threads: Some(1),
        drop_finished: 4,
        ..Default::default()
    };
    let mut engines = [Engine::load(&tiny_dir(), &cuda).unwrap(), engine(4)];
    let key = key();
    let (mut dl, mut dc, mut tokens) = (0f32, 0f64, 0);
    for j in 0..4 {
        let p = prompt(j);
        for miner in [0, 1] {
            let rollouts = engines[miner].generate_group(&request(&p, j, &key, 40)).unwrap();
            tokens += rollouts.iter().map(|r| r.tokens.len()).sum::<usize>();
            let (_, l, c) = verify(&mut engines[1 - miner], &p, j, &rollouts);
            (dl, dc) = (dl.max(l), dc.max(c));
        }
    }
    println!(
        "CPU and cuda:0 over {tokens} tokens: max |logprob diff| {dl:.3e}, worst commitment \
         distance {dc:.3e} (tolerance {DEFAULT_COMMIT_TOLERANCE})"
    );
    assert!(f64::from(dl) < DEFAULT_LOGPROB_QUANTILE_MAX, "logprobs differ by {dl}");
    assert!(dc < DEFAULT_COMMIT_TOLERANCE);
}

fn copy_tiny(dir: &Path) {
    for name in ["model.onnx", "config.json", "tokenizer.json", "chat_template.jinja"] {
        std::fs::copy(tiny_dir().join(name), dir.join(name)).unwrap();
    }
}

#[test]
fn load_errors_name_what_is_wrong() {
    let options = EngineOptions::default();
    let tmp = tempfile::tempdir().unwrap();
    let msg = Engine::load(&tmp.path().join("nope"), &options).unwrap_err().to_string();
    assert!(msg.contains("nope") && msg.contains("no such model folder"), "{msg}");

    copy_tiny(tmp.path());
    std::fs::remove_file(tmp.path().join("model.onnx")).unwrap();
    let msg = Engine::load(tmp.path(), &options).unwrap_err().to_string();
    assert!(msg.contains("model.onnx"), "{msg}");

    // A tokenizer with one token more than the logits (the library renumbers it to 512).
    copy_tiny(tmp.path());
    let path = tmp.path().join("tokenizer.json");
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    tok["added_tokens"].as_array_mut().unwrap().push(serde_json::json!({
        "id": 700, "content": "<|extra|>", "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": false, "special": true
    }));
    std::fs::write(&path, tok.to_string()).unwrap();
    let msg = Engine::load(tmp.path(), &options).unwrap_err().to_string();
    assert!(msg.contains("tokenizer.json") && msg.contains("up to 512"), "{msg}");

    // A config that disagrees with the graph.
    copy_tiny(tmp.path());
    let path = tmp.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"hidden_size\": 64", "\"hidden_size\": 96");
    std::fs::write(&path, text).unwrap();
    let msg = Engine::load(tmp.path(), &options).unwrap_err().to_string();
    assert!(msg.contains("hidden_size 96") && msg.contains("64"), "{msg}");
}

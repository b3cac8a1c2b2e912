//! The shared-prompt prefill on the tiny fixture model: its rows against the full prefill of
//! the same sequences (completions of different lengths, a one-token prompt), against decoding
//! (the miner's tokens, logprobs and commitments check), on the external-data copy of the
//! model, and its request errors.

// Test helpers outside #[test] fns panic on purpose when a fixture is broken.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use grail_fingerprint::{Device, Engine, EngineOptions, Error, GroupRequest, Sequence};
use grail_protocol::commitment::{CommitmentKey, DEFAULT_COMMIT_TOLERANCE};
use grail_protocol::hash::uniform_f64;
use grail_protocol::keys::Hotkey;
use grail_protocol::sampler::{check_sample, DEFAULT_SAMPLING_TOLERANCE};
use grail_protocol::seeds::sample_stream;

const SEED: [u8; 32] = [0x5b; 32];

/// Bound on |full − shared| over logits and hidden states. Measured with ONNX Runtime's CPU
/// kernels at 1 and 2 threads: 0 (bitwise equal rows; printed by the tests), on the tiny model
/// and on SmolLM2-135M. The bound is that of decoding against prefill (about 5e-6 in logprob
/// here), for kernels that reduce in another order.
const ROW_BOUND: f32 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(name)
}

fn engine_at(dir: &Path, threads: usize) -> Engine {
    let options =
        EngineOptions { device: Device::Cpu, intra_threads: Some(threads), ..Default::default() };
    Engine::load(dir, &options).unwrap()
}

/// Each sequence's rows, copied out: `(logits, hidden)` per completion position.
type Rows = Vec<(Vec<f32>, Vec<f32>)>;

fn full_rows(e: &mut Engine, prompt: &[u32], completions: &[&[u32]]) -> Vec<Rows> {
    let seqs: Vec<Sequence<'_>> =
        completions.iter().map(|&completion| Sequence { prompt, completion }).collect();
    let mut out = vec![Vec::new(); seqs.len()];
    e.prefill::<Error, _>(&seqs, |i, rows| {
        out[i] = (0..rows.len())
            .map(|t| (rows.logits(t).unwrap().to_vec(), rows.hidden(t).unwrap().to_vec()))
            .collect();
        Ok(())
    })
    .unwrap();
    out
}

fn shared_rows(e: &mut Engine, prompt: &[u32], completions: &[&[u32]]) -> Vec<Rows> {
    let mut out = vec![Vec::new(); completions.len()];
    let mut order = Vec::new();
    e.prefill_shared::<Error, _>(prompt, completions, |i, rows| {
        order.push(i);
        assert_eq!(rows.len(), completions[i].len());
        assert!(rows.logits(rows.len()).is_none() && rows.hidden(rows.len()).is_none());
        out[i] = (0..rows.len())
            .map(|t| (rows.logits(t).unwrap().to_vec(), rows.hidden(t).unwrap().to_vec()))
            .collect();
        Ok(())
    })
    .unwrap();
    assert_eq!(order, (0..completions.len()).collect::<Vec<_>>());
    out
}

/// Max |a − b| over logits and over hidden states.
fn max_diff(a: &[Rows], b: &[Rows]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let (mut dl, mut dh) = (0f32, 0f32);
    for (ra, rb) in a.iter().zip(b) {
        assert_eq!(ra.len(), rb.len());
        for ((la, ha), (lb, hb)) in ra.iter().zip(rb) {
            dl = la.iter().zip(lb).map(|(x, y)| (x - y).abs()).fold(dl, f32::max);
            dh = ha.iter().zip(hb).map(|(x, y)| (x - y).abs()).fold(dh, f32::max);
        }
    }
    (dl, dh)
}

fn tokens(seed: u32, n: usize) -> Vec<u32> {
    (0..n as u32).map(|t| 3 + (seed * 97 + t * 31) % 500).collect()
}

#[test]
fn shared_rows_match_the_full_prefill() {
    let prompt = tokens(1, 23);
    let owned: Vec<Vec<u32>> = [1, 7, 16, 2, 1, 11].iter().map(|&n| tokens(n as u32, n)).collect();
    let completions: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
    for threads in [1, 2] {
        let mut e = engine_at(&fixture("tiny"), threads);
        let full = full_rows(&mut e, &prompt, &completions);
        let shared = shared_rows(&mut e, &prompt, &completions);
        let (dl, dh) = max_diff(&full, &shared);
        println!("{threads} thread(s): full vs shared, max |logit diff| {dl:.2e}, max |hidden diff| {dh:.2e}");
        assert!(dl < ROW_BOUND && dh < ROW_BOUND, "{dl} {dh}");
        // One completion alone, and a batch of one, give the same rows as in the batch.
        let alone = shared_rows(&mut e, &prompt, &completions[2..3]);
        let (dl, dh) = max_diff(&alone, &shared[2..3]);
        assert!(dl < ROW_BOUND && dh < ROW_BOUND, "{dl} {dh}");
    }
}

#[test]
fn a_one_token_prompt_and_an_empty_completion() {
    let mut e = engine_at(&fixture("tiny"), 1);
    let prompt = [1u32];
    let owned = [tokens(4, 9), tokens(5, 1), Vec::new()];
    let completions: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
    let full = full_rows(&mut e, &prompt, &completions);
    let shared = shared_rows(&mut e, &prompt, &completions);
    assert!(shared[2].is_empty());
    let (dl, dh) = max_diff(&full, &shared);
    println!("one-token prompt: max |logit diff| {dl:.2e}, max |hidden diff| {dh:.2e}");
    assert!(dl < ROW_BOUND && dh < ROW_BOUND, "{dl} {dh}");
}

#[test]
fn the_external_data_copy_gives_the_same_rows() {
    // tiny-external holds the same weights in an external-data file; it has no config.json.
    let tmp = tempfile::tempdir().unwrap();
    for name in ["model.onnx", "model.onnx.data"] {
        std::fs::copy(fixture("tiny-external").join(name), tmp.path().join(name)).unwrap();
    }
    std::fs::copy(fixture("tiny").join("config.json"), tmp.path().join("config.json")).unwrap();
    let prompt = tokens(6, 15);
    let owned = [tokens(7, 12), tokens(8, 3)];
    let completions: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
    let mut ext = engine_at(tmp.path(), 1);
    let full = full_rows(&mut ext, &prompt, &completions);
    let shared = shared_rows(&mut ext, &prompt, &completions);
    let inline = shared_rows(&mut engine_at(&fixture("tiny"), 1), &prompt, &completions);
    let (dl, dh) = max_diff(&full, &shared);
    println!(
        "tiny-external: full vs shared, max |logit diff| {dl:.2e}, max |hidden diff| {dh:.2e}"
    );
    assert!(dl < ROW_BOUND && dh < ROW_BOUND, "{dl} {dh}");
    assert_eq!(max_diff(&shared, &inline), (0.0, 0.0));
}

#[test]
fn decoded_rollouts_check_against_the_shared_prefill() {
    let mut e = engine_at(&fixture("tiny"), 1);
    let key = CommitmentKey::derive(&SEED, e.spec().hidden_size).unwrap();
    let stops = [0, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31];
    let (mut tokens_seen, mut misses, mut dl, mut dc) = (0, 0, 0f32, 0f64);
    for j in 0..3u32 {
        let prompt = tokens(j + 10, 12 + j as usize * 5);
        let streams = |n: u32| -> Vec<_> {
            (0..n).map(|r| sample_stream(&SEED, &Hotkey([3; 32]), j, r)).collect()
        };
        let request = GroupRequest {
            prompt: &prompt,
            streams: streams(16),
            temperature: 1.0,
            max_new_tokens: 32,
            stop_ids: &stops,
            commitment: Some(&key),
        };
        let group = e.generate_group(&request).unwrap();
        let completions: Vec<&[u32]> = group.iter().map(|r| r.tokens.as_slice()).collect();
        let mut s = streams(16);
        // In chunks, as the validator runs it.
        for (c, chunk) in completions.chunks(5).enumerate() {
            e.prefill_shared::<Error, _>(&prompt, chunk, |k, rows| {
                let (i, r) = (c * 5 + k, &group[c * 5 + k]);
                for t in 0..rows.len() {
                    let u = uniform_f64(&mut s[i]);
                    let check = check_sample(
                        rows.logits(t).unwrap(),
                        1.0,
                        u,
                        r.tokens[t],
                        DEFAULT_SAMPLING_TOLERANCE,
                    )?;
                    assert!(check.accepted, "group {j} rollout {i} token {t}: {check:?}");
                    misses += usize::from(check.distance != 0.0);
                    dl = dl.max((check.logprob - r.logprobs[t]).abs());
                    let k = key.check(
                        rows.hidden(t).unwrap(),
                        r.commitments[t],
                        DEFAULT_COMMIT_TOLERANCE,
                    )?;
                    assert!(k.accepted, "group {j} rollout {i} commitment {t}: {k:?}");
                    dc = dc.max(k.worst_distance);
                }
                tokens_seen += rows.len();
                Ok(())
            })
            .unwrap();
        }
    }
    println!(
        "shared prefill vs decoding over {tokens_seen} tokens: {misses} boundary misses, max \
         |logprob diff| {dl:.3e}, worst commitment distance {dc:.3e}"
    );
    assert!(dl < 1e-4, "logprobs differ by {dl}");
    assert!(dc < DEFAULT_COMMIT_TOLERANCE / 10.0, "{dc}");
}

#[test]
fn bad_requests_name_the_sequence_and_the_limit() {
    let mut e = engine_at(&fixture("tiny"), 1);
    let ok = [5u32, 6];
    let run = |e: &mut Engine, prompt: &[u32], completions: &[&[u32]]| {
        e.prefill_shared::<Error, _>(prompt, completions, |_, _| Ok(())).unwrap_err().to_string()
    };
    let msg = run(&mut e, &[], &[&ok]);
    assert!(msg.contains("prompt is empty"), "{msg}");
    let msg = run(&mut e, &[1, 512], &[&ok]);
    assert!(msg.contains("prompt") && msg.contains("512") && msg.contains("vocabulary"), "{msg}");
    let msg = run(&mut e, &ok, &[&ok, &[4, 900]]);
    assert!(msg.contains("sequence 1") && msg.contains("900") && msg.contains("512"), "{msg}");
    // No completions: nothing to run, nothing visited.
    e.prefill_shared::<Error, _>(&ok, &[], |_, _| panic!("visited")).unwrap();
}

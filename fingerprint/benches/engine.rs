//! Decoding speed of the engine against the baseline loop, with and without commitments.
//!
//! `cargo bench -p grail-fingerprint --bench engine` with, optionally:
//! `GRAIL_BENCH_MODEL` (folder, default the tiny fixture), `GRAIL_BENCH_THREADS` (2),
//! `GRAIL_BENCH_GROUPS` (1), `GRAIL_BENCH_GROUP_SIZE` (16), `GRAIL_BENCH_TOKENS` (128),
//! `GRAIL_BENCH_STOP` (1: stop at the model's stop tokens; 0: always the full length),
//! `GRAIL_BENCH_DROP` (rows idle before compaction, default the engine's),
//! `GRAIL_BENCH_LOOPS` (`engine,engine-commit,baseline`), `GRAIL_BENCH_ROUNDS` (1).
//! One JSON line per loop and round on stdout.

use std::path::PathBuf;

use grail_fingerprint::engine::bench::{time_groups, LoopKind};
use grail_fingerprint::engine::DEFAULT_DROP_FINISHED;
use grail_fingerprint::{Engine, EngineOptions, GroupRequest};
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::DEFAULT_TEMPERATURE;
use grail_protocol::seeds::sample_stream;

const QUESTIONS: [&str; 4] = [
    "What is the capital of France?",
    "Explain why the sky is blue.",
    "Write a short poem about the sea.",
    "List three uses of a paperclip.",
];

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = std::env::var("GRAIL_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("fixtures/models/tiny"));
    let threads: usize = var("GRAIL_BENCH_THREADS", 2);
    let groups: usize = var("GRAIL_BENCH_GROUPS", 1);
    let size: u32 = var("GRAIL_BENCH_GROUP_SIZE", 16);
    let tokens: usize = var("GRAIL_BENCH_TOKENS", 128);
    let stop: u8 = var("GRAIL_BENCH_STOP", 1);
    let rounds: usize = var("GRAIL_BENCH_ROUNDS", 1);
    let drop: usize = var("GRAIL_BENCH_DROP", DEFAULT_DROP_FINISHED);
    let loops = std::env::var("GRAIL_BENCH_LOOPS")
        .unwrap_or_else(|_| "engine,engine-commit,baseline".into());

    let options =
        EngineOptions { intra_threads: Some(threads), drop_finished: drop, ..Default::default() };
    let mut engine = Engine::load(&model, &options)?;
    let tokenizer = tokenizers::Tokenizer::from_file(model.join("tokenizer.json"))?;
    // SmolLM2's ChatML template, written out (this crate does not render templates).
    let prompts = (0..groups)
        .map(|j| {
            let text = format!(
                "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by \
                 Hugging Face<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
                QUESTIONS[j % QUESTIONS.len()]
            );
            Ok(tokenizer.encode(text, false)?.get_ids().to_vec())
        })
        .collect::<Result<Vec<Vec<u32>>, tokenizers::Error>>()?;
    let stop_ids = if stop == 1 { engine.config().stop_token_ids.clone() } else { Vec::new() };
    let seed = [0x42u8; 32];
    let key = CommitmentKey::derive(&seed, engine.spec().hidden_size)?;
    let requests = |commit: bool| -> Vec<GroupRequest<'_>> {
        prompts
            .iter()
            .enumerate()
            .map(|(j, prompt)| GroupRequest {
                prompt,
                streams: (0..size)
                    .map(|r| sample_stream(&seed, &Hotkey([1; 32]), j as u32, r))
                    .collect(),
                temperature: DEFAULT_TEMPERATURE,
                max_new_tokens: tokens,
                stop_ids: &stop_ids,
                commitment: commit.then_some(&key),
            })
            .collect()
    };
    for round in 0..rounds {
        for name in loops.split(',') {
            let (kind, commit) = match name {
                "engine" => (LoopKind::Engine, false),
                "engine-commit" => (LoopKind::Engine, true),
                "baseline" => (LoopKind::Baseline, false),
                "baseline-commit" => (LoopKind::Baseline, true),
                other => return Err(format!("unknown loop {other:?}").into()),
            };
            let timed = time_groups(&mut engine, kind, &requests(commit))?;
            println!(
                "{}",
                serde_json::json!({
                    "loop": name,
                    "round": round,
                    "model": model.display().to_string(),
                    "threads": threads,
                    "groups": groups,
                    "group_size": size,
                    "max_new_tokens": tokens,
                    "stop": stop == 1,
                    "drop_finished": drop,
                    "rollouts": timed.rollouts,
                    "tokens": timed.tokens,
                    "seconds": timed.seconds,
                    "tokens_per_s": timed.tokens_per_s(),
                })
            );
        }
    }
    Ok(())
}

//! One window mined end to end: start `grail-beacon` and run `grail-miner mine --from-window W
//! --until-window W --problems 2` on the tiny model with a fresh wallet and a temp storage
//! folder; then decode the uploaded file and recompute everything a validator can without a
//! forward pass: signatures, the mining beacon, block hash, seeds, problems and prompt tokens,
//! rewards, advantages, Merkle roots, model_id and fingerprint.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use grail_chain::local_block_hash;
use grail_challenges::env::{environment_by_id, grpo_advantages};
use grail_challenges::prompt::PromptRenderer;
use grail_drand::{dev, verify_beacon, Beacon};
use grail_fingerprint::ModelConfig;
use grail_protocol::codec::{decode, Limits};
use grail_protocol::keys::Hotkey;
use grail_protocol::params::GROUP_SIZE;
use grail_protocol::seeds::{problem_seed, window_seed};
use grail_protocol::signing::verify_window_file;
use grail_protocol::window_file::window_file_key;
use grail_tests::{bin, ci_scale, fixture, KillOnDrop, LocalBeacon};
use serde_json::Value;

const WINDOW: u64 = 2;
const BLOCKS: u64 = 2;
const PROBLEMS: u32 = 2;
const MAX_NEW_TOKENS: u32 = 24;

fn json_line(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

fn wallet_args(dir: &Path) -> Vec<String> {
    vec![
        "--wallet.path".into(),
        dir.join("wallets").display().to_string(),
        "--wallet.name".into(),
        "miner".into(),
        "--wallet.hotkey".into(),
        "h0".into(),
    ]
}

#[test]
fn a_mined_window_file_recomputes_exactly() {
    let beacon = LocalBeacon::start(1);
    let started = &beacon.info;
    let url = started["url"].as_str().unwrap();
    let genesis = started["genesis_time"].as_u64().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let storage = tmp.path().join("storage");
    let model = fixture("models/tiny");

    let key = json_line(
        &Command::new(bin("grail-miner"))
            .arg("keygen")
            .args(wallet_args(tmp.path()))
            .output()
            .unwrap(),
    );
    let hotkey: Hotkey = key["ss58"].as_str().unwrap().parse().unwrap();

    let genesis_s = genesis.to_string();
    let mined = Command::new(bin("grail-miner"))
        .arg("mine")
        .args(wallet_args(tmp.path()))
        .arg("--model")
        .arg(&model)
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(["--chain.genesis", &genesis_s, "--chain.block-time", "1"])
        .args(["--window.blocks", &BLOCKS.to_string()])
        .args(["--from-window", &WINDOW.to_string(), "--until-window", &WINDOW.to_string()])
        .args(["--problems", &PROBLEMS.to_string()])
        .args(["--max-new-tokens", &MAX_NEW_TOKENS.to_string(), "--threads", "1"])
        .arg("--storage.path")
        .arg(&storage)
        .env("GRAIL_LOG_LEVEL", "info")
        .output()
        .unwrap();
    let report = json_line(&mined);

    let file_key = window_file_key(WINDOW, &hotkey);
    assert_eq!(report["key"], file_key.as_str());
    assert_eq!(report["hotkey"], hotkey.to_ss58().as_str());
    // In the miner's own part of the store.
    let bytes = std::fs::read(storage.join(hotkey.to_ss58()).join(&file_key)).unwrap();
    let file = decode(&bytes, &Limits::default()).unwrap();
    verify_window_file(&file).unwrap();
    let h = &file.header;
    assert_eq!((h.window, h.hotkey), (WINDOW, hotkey));
    assert_eq!(h.generation.max_new_tokens, MAX_NEW_TOKENS);
    assert_eq!(h.environment.id, "sat");
    let onnx = model.join("model.onnx");
    assert_eq!(h.model_id, grail_fingerprint::model_id(&onnx).unwrap().to_bytes());

    // The mining beacon: the round at the window's start, verified against the local key.
    let start = genesis + WINDOW * BLOCKS;
    let chain = dev::dev_chain_info(genesis, 1).unwrap();
    assert_eq!(h.beacon.round, chain.round_at(start).unwrap());
    let beacon = Beacon {
        round: h.beacon.round,
        signature: h.beacon.signature.clone(),
        previous_signature: None,
        randomness: Some(h.beacon.randomness),
    };
    let verified = verify_beacon(&dev::dev_chain_key(), &beacon).unwrap();
    assert_eq!(verified.randomness(), &h.beacon.randomness);
    assert_eq!(h.first_block_hash, local_block_hash(genesis, WINDOW * BLOCKS));
    assert_eq!(h.fingerprint, grail_fingerprint::fingerprint(&onnx, &h.beacon.randomness).unwrap());

    // Problems 0..n, complete groups in order, each re-derived from the seeds.
    let seed = window_seed(WINDOW, &h.beacon.randomness, &h.first_block_hash);
    let env = environment_by_id(&h.environment.id).unwrap();
    let renderer = PromptRenderer::from_model_dir(&model).unwrap();
    let stop_ids = ModelConfig::load(&model).unwrap().stop_token_ids;
    assert_eq!(file.rollouts.len(), (PROBLEMS * GROUP_SIZE) as usize);
    let mut completion_tokens = 0;
    for (j, group) in (0u32..).zip(file.rollouts.chunks(GROUP_SIZE as usize)) {
        let problem = env.generate(problem_seed(&seed, &hotkey, j));
        let prompt = renderer.problem_tokens(&problem).unwrap();
        let mut rewards = Vec::new();
        for (r, ro) in (0u32..).zip(group) {
            assert_eq!((ro.problem_index, ro.rollout_index), (j, r));
            assert_eq!(ro.prompt_tokens, prompt, "problem {j} rollout {r}");
            let n = ro.completion_tokens.len();
            assert!(n >= 1 && n <= MAX_NEW_TOKENS as usize, "length {n}");
            assert_eq!((ro.logprobs.len(), ro.commitments.len()), (n, n));
            assert!(ro.logprobs.iter().all(|l| l.is_finite() && *l <= 0.0));
            assert_eq!(ro.merkle_root, ro.compute_merkle_root().unwrap());
            let text = renderer.decode_completion(&ro.completion_tokens, &stop_ids).unwrap();
            let reward = env.score(&problem, &text).unwrap();
            assert_eq!(
                (ro.reward.to_bits(), ro.success),
                (reward.reward.to_bits(), reward.success)
            );
            rewards.push(ro.reward);
            completion_tokens += n;
        }
        let advantages: Vec<f32> = group.iter().map(|r| r.advantage).collect();
        assert_eq!(advantages, grpo_advantages(&rewards).unwrap(), "problem {j}");
    }

    assert_eq!(report["problems"], PROBLEMS);
    assert_eq!(report["bytes"], bytes.len());
    assert_eq!(report["completion_tokens"], completion_tokens);
    // Where the bytes go: each group's prompt is stored once (the codec repeats it with a
    // marker), and it still weighs on short completions.
    let prompt_bytes: usize =
        file.rollouts.iter().step_by(GROUP_SIZE as usize).map(|r| 4 * r.prompt_tokens.len()).sum();
    assert!(prompt_bytes < bytes.len());
    let per_token = bytes.len() as f64 / completion_tokens as f64;
    println!(
        "window file: {} bytes, {completion_tokens} completion tokens, {per_token:.2} bytes per \
         completion token ({:.2} without the prompts' {prompt_bytes} bytes)",
        bytes.len(),
        (bytes.len() - prompt_bytes) as f64 / completion_tokens as f64,
    );
}

#[test]
fn an_unreachable_beacon_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin("grail-miner"))
        .arg("keygen")
        .args(wallet_args(tmp.path()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(bin("grail-miner"))
        .arg("mine")
        .args(wallet_args(tmp.path()))
        .arg("--model")
        .arg(fixture("models/tiny"))
        .args(["--beacon.chain", "local", "--beacon.relay", "http://127.0.0.1:9"])
        .args(["--from-window", "1", "--until-window", "1", "--problems", "1"])
        .arg("--storage.path")
        .arg(tmp.path().join("storage"))
        .env("GRAIL_LOG_LEVEL", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("beacon"), "{stderr}");
}

#[test]
fn the_continuous_loop_fills_windows_until_their_deadlines() {
    // 4 s windows with 1 s blocks (8 s under CI=true).
    let blocks = 4 * ci_scale();
    const GRACE: u64 = 2;
    let beacon = LocalBeacon::start(1);
    let started = &beacon.info;
    let url = started["url"].as_str().unwrap().to_owned();
    let genesis = started["genesis_time"].as_u64().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin("grail-miner"))
        .arg("keygen")
        .args(wallet_args(tmp.path()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let child = Command::new(bin("grail-miner"))
        .arg("mine")
        .args(wallet_args(tmp.path()))
        .arg("--model")
        .arg(fixture("models/tiny"))
        .args(["--beacon.chain", "local", "--beacon.relay", &url])
        .args(["--chain.genesis", &genesis.to_string(), "--chain.block-time", "1"])
        .args(["--window.blocks", &blocks.to_string(), "--window.grace", &GRACE.to_string()])
        .args(["--window.margin", "1", "--max-new-tokens", "16", "--threads", "1"])
        .arg("--storage.path")
        .arg(tmp.path().join("storage"))
        .env("GRAIL_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut miner = KillOnDrop(child);
    let stdout = miner.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut reports = Vec::new();
    while reports.len() < 2 {
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("no window report in 60 s");
        reports.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    drop(miner);

    let windows: Vec<u64> = reports.iter().map(|r| r["window"].as_u64().unwrap()).collect();
    assert_eq!(windows[1], windows[0] + 1, "{reports:?}");
    for r in &reports {
        println!("{r}");
        let w = r["window"].as_u64().unwrap();
        let deadline = genesis + (w + 1) * blocks + GRACE;
        assert_eq!(r["deadline_unix"], deadline);
        assert!(r["uploaded_unix"].as_u64().unwrap() <= deadline, "{r}");
        assert!(r["problems"].as_u64().unwrap() >= 1, "{r}");
        let part = tmp.path().join("storage").join(r["hotkey"].as_str().unwrap());
        let bytes = std::fs::read(part.join(r["key"].as_str().unwrap())).unwrap();
        let file = decode(&bytes, &Limits::default()).unwrap();
        verify_window_file(&file).unwrap();
        let problems = r["problems"].as_u64().unwrap() as u32;
        let indices: Vec<(u32, u32)> =
            file.rollouts.iter().map(|ro| (ro.problem_index, ro.rollout_index)).collect();
        let want: Vec<(u32, u32)> =
            (0..problems).flat_map(|j| (0..GROUP_SIZE).map(move |r| (j, r))).collect();
        assert_eq!(indices, want, "window {w}: problems 0..{problems}, complete groups");
    }
}

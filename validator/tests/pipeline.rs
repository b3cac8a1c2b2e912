//! A whole window on the tiny model: honest files generated here the way the miner makes them
//! (problem -> prompt -> `generate_group` with the sampling streams and the commitment key ->
//! reward, advantages, Merkle roots -> signature), uploaded to a local store with tampered
//! copies, fetched and verified. Honest miners pass; each tampering is rejected at its stage.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use grail_beacon::LocalBeacon;
use grail_chain::LocalClockChain;
use grail_challenges::assembly::{reseal, seal, window_header, HeaderFields, Scorer};
use grail_challenges::env::{environment_by_id, Environment};
use grail_challenges::prompt::PromptRenderer;
use grail_drand::{verify_beacon, VerifiedBeacon};
use grail_fingerprint::{Device, Engine, EngineOptions, GroupRequest};
use grail_protocol::codec::encode;
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::hash::Hash32;
use grail_protocol::keys::{Hotkey, HotkeyPair};
use grail_protocol::params::{EnvironmentSpec, NetworkParams};
use grail_protocol::seeds::{group_streams, problem_seed, window_seed};
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window::ChainClock;
use grail_protocol::window_file::{window_file_key, WindowFile};
use grail_storage::WindowStore;
use grail_validator::pipeline::{
    upload_deadline, verify_window, window_schedule, FetchedObject, ModelVerifier, WindowInputs,
};
use grail_validator::state::{Stage, State, VerdictResult};

const WINDOW: u64 = 0;
const MAX_NEW_TOKENS: u32 = 16;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny")
}

fn options() -> EngineOptions {
    EngineOptions { device: Device::Cpu, intra_threads: Some(1), ..Default::default() }
}

/// What a miner of this window knows.
struct Miner<'a> {
    engine: Engine,
    renderer: &'a PromptRenderer,
    env: &'a dyn Environment,
    network: &'a NetworkParams,
    mining: &'a VerifiedBeacon,
    first_block_hash: Hash32,
    model_id: Vec<u8>,
    fingerprint: [u8; 32],
    seed: Hash32,
    key: CommitmentKey,
}

impl Miner<'_> {
    /// The honest file of `problems` problems, made the way the miner makes it.
    fn file(&mut self, pair: &HotkeyPair, problems: u32) -> WindowFile {
        let hotkey = pair.hotkey();
        let stop_ids = self.engine.config().stop_token_ids.clone();
        let scorer = Scorer { env: self.env, renderer: self.renderer, stop_ids: &stop_ids };
        let mut rollouts = Vec::new();
        for j in 0..problems {
            let problem = self.env.generate(problem_seed(&self.seed, &hotkey, j));
            let prompt = self.renderer.problem_tokens(&problem).unwrap();
            let generated = self
                .engine
                .generate_group(&GroupRequest {
                    prompt: &prompt,
                    streams: group_streams(&self.seed, &hotkey, j),
                    temperature: self.network.generation.temperature,
                    max_new_tokens: MAX_NEW_TOKENS as usize,
                    stop_ids: &stop_ids,
                    commitment: Some(&self.key),
                })
                .unwrap();
            rollouts.extend(scorer.assemble_group(j, &prompt, &problem, generated).unwrap());
        }
        let header = window_header(HeaderFields {
            window: WINDOW,
            hotkey,
            model_id: self.model_id.clone(),
            beacon: self.mining.record(),
            first_block_hash: self.first_block_hash,
            fingerprint: self.fingerprint,
            environment: EnvironmentSpec { id: self.env.id().into(), version: self.env.version() },
            generation: self.network.generation,
        });
        seal(pair, header, rollouts).unwrap().0
    }
}

/// Another token that is not a stop token.
fn flipped(token: u32, stop_ids: &[u32]) -> u32 {
    let mut t = (token + 1) % 512;
    while stop_ids.contains(&t) || t == token {
        t = (t + 1) % 512;
    }
    t
}

#[test]
fn honest_miners_pass_and_each_tampering_fails_at_its_stage() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let genesis = now - 5;
    let clock = ChainClock { genesis_unix: genesis, block_time_s: 12 };
    let mut network = NetworkParams::default();
    network.generation.max_new_tokens = MAX_NEW_TOKENS;
    let verify = VerifyParams { rollouts_checked: 8, ..Default::default() };
    let beacon = LocalBeacon::new(genesis, 3).unwrap();
    let drand = beacon.info().clone();
    let times = window_schedule(WINDOW, &network, &clock, &drand).unwrap();
    let due = |round| beacon.beacon_if_due(round, u64::MAX).unwrap();
    let mining = verify_beacon(&drand.key(), &due(times.mining_round)).unwrap();
    let challenge = verify_beacon(&drand.key(), &due(times.challenge_round)).unwrap();
    let first_block_hash = LocalClockChain::new(genesis, 12).unwrap().hash_of(0);

    let mut verifier = ModelVerifier::load(&tiny(), &options()).unwrap();
    let renderer = PromptRenderer::from_model_dir(&tiny()).unwrap();
    let env = environment_by_id(&network.environment.id).unwrap();
    let seed = window_seed(WINDOW, mining.randomness(), &first_block_hash);
    let engine = Engine::load(&tiny(), &options()).unwrap();
    let stop_ids = engine.config().stop_token_ids.clone();
    let mut miner = Miner {
        key: CommitmentKey::derive(&seed, engine.spec().hidden_size).unwrap(),
        engine,
        renderer: &renderer,
        env: env.as_ref(),
        network: &network,
        mining: &mining,
        first_block_hash,
        model_id: verifier.model_id().to_vec(),
        fingerprint: grail_fingerprint::fingerprint(
            &tiny().join("model.onnx"),
            mining.randomness(),
        )
        .unwrap(),
        seed,
    };

    let pairs: Vec<HotkeyPair> =
        (1..=9u8).map(|i| HotkeyPair::from_mini_secret(&[i; 32]).unwrap()).collect();
    let hk = |i: usize| pairs[i].hotkey();
    let mut files: Vec<(usize, WindowFile)> = Vec::new();
    // 0, 1: honest.
    files.push((0, miner.file(&pairs[0], 1)));
    files.push((1, miner.file(&pairs[1], 1)));
    // 2: one flipped token, not signed again.
    let mut f = miner.file(&pairs[2], 1);
    f.rollouts[5].completion_tokens[0] = flipped(f.rollouts[5].completion_tokens[0], &stop_ids);
    files.push((2, f));
    // 3: a flipped token in every rollout, Merkle roots recomputed and signed again.
    let mut f = miner.file(&pairs[3], 1);
    for r in &mut f.rollouts {
        r.completion_tokens[0] = flipped(r.completion_tokens[0], &stop_ids);
    }
    reseal(&pairs[3], &mut f).unwrap();
    files.push((3, f));
    // 4: zeroed commitments.
    let mut f = miner.file(&pairs[4], 1);
    f.rollouts.iter_mut().for_each(|r| r.commitments.iter_mut().for_each(|c| *c = 0));
    reseal(&pairs[4], &mut f).unwrap();
    files.push((4, f));
    // 5: a forged reward (advantages recomputed so the structure is consistent).
    let mut f = miner.file(&pairs[5], 1);
    f.rollouts[9].reward += 0.5;
    reseal(&pairs[5], &mut f).unwrap();
    files.push((5, f));
    // 6: a NaN logprob.
    let mut f = miner.file(&pairs[6], 1);
    f.rollouts[2].logprobs[1] = f32::NAN;
    reseal(&pairs[6], &mut f).unwrap();
    files.push((6, f));
    // 7: registered, no file. 8: excluded, with an honest file.
    files.push((8, miner.file(&pairs[8], 1)));

    let dir = tempfile::tempdir().unwrap();
    let store = WindowStore::open_local(dir.path()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (i, f) in &files {
        let key = window_file_key(WINDOW, &hk(*i));
        rt.block_on(store.put(&key, encode(f).unwrap())).unwrap();
    }
    // What the watcher reads: each registered miner's key, read by the deadline.
    let read_at = upload_deadline(&times, &verify);
    let mut objects: Vec<FetchedObject> = (0..9)
        .filter_map(|i| {
            let key = window_file_key(WINDOW, &hk(i));
            let (_, bytes) = rt.block_on(store.read(&key, verify.max_file_bytes)).unwrap()?;
            Some(FetchedObject {
                key,
                size: bytes.len() as u64,
                uploaded_unix: read_at,
                bytes: Some(bytes),
            })
        })
        .collect();
    assert_eq!(objects.len(), files.len());
    objects.push(FetchedObject {
        key: "windows/0/stray.txt".into(),
        size: 5,
        uploaded_unix: read_at,
        bytes: Some(b"hello".to_vec()),
    });

    let miners: BTreeMap<Hotkey, u16> = (0..9).map(|i| (hk(i), i as u16 + 1)).collect();
    let excluded: BTreeSet<Hotkey> = [hk(8)].into();
    let model_id = verifier.model_id().to_vec();
    let inputs = WindowInputs {
        window: WINDOW,
        network: &network,
        verify: &verify,
        clock,
        drand: &drand,
        mining_beacon: &mining,
        challenge_beacon: &challenge,
        first_block_hash,
        model_id: &model_id,
        miners: &miners,
        excluded: &excluded,
        objects: &objects,
        processed_at_unix: now,
    };
    let report = verify_window(&mut verifier, &inputs).unwrap();
    let outcome = &report.outcome;
    let verdict = |i: usize| outcome.verdicts.iter().find(|v| v.hotkey == hk(i)).unwrap();
    for i in [0, 1] {
        let v = verdict(i);
        assert_eq!((v.result, v.stage), (VerdictResult::Pass, Stage::Duplicates), "{v:?}");
        assert_eq!((v.rollouts_in_file, v.rollouts_checked), (16, 8));
        assert!(v.unique_verified > 0 && v.unique_verified <= 8, "{v:?}");
        assert_eq!(v.unique_estimated, v.unique_verified * 2);
        assert!(report.forward[&hk(i)].tokens > 0);
    }
    // A token flipped without signing again is not the miner's file: absent, not failed.
    let unsigned = verdict(2);
    assert_eq!((unsigned.result, unsigned.stage), (VerdictResult::Absent, Stage::File));
    assert!(unsigned.reason.as_deref().unwrap_or("").contains("not signed by"), "{unsigned:?}");
    let expected =
        [(3, Stage::Sampling), (4, Stage::Commitments), (5, Stage::Reward), (6, Stage::Rollouts)];
    for (i, stage) in expected {
        let v = verdict(i);
        assert_eq!((v.result, v.stage), (VerdictResult::Fail, stage), "miner {i}: {v:?}");
        assert!(v.reason.is_some());
        let e = outcome.exclusions.iter().find(|e| e.hotkey == hk(i)).unwrap();
        assert_eq!((e.from_window, e.until_window), (1, 1 + verify.exclusion_windows));
    }
    assert_eq!(outcome.exclusions.len(), expected.len());
    assert_eq!(verdict(7).result, VerdictResult::Absent);
    assert_eq!((verdict(8).result, verdict(8).stage), (VerdictResult::Unchecked, Stage::Excluded));
    assert_eq!(report.ignored.len(), 1);
    assert_eq!(outcome.beacon_round, times.challenge_round);
    assert_eq!(outcome.files, objects.len() as u64);

    // The same inputs give the same outcome, whatever the prefill batch size.
    verifier.set_prefill_batch(3);
    let again = verify_window(&mut verifier, &inputs).unwrap();
    assert_eq!(again.outcome, report.outcome);

    // Three of the six candidates (every miner with an attributable file) checked: the others
    // are unchecked, and a failure excludes for ⌈6 / 3⌉ = 2 times the windows. Four of the six
    // fail when checked, so at least one of the three does.
    let half = VerifyParams { miners_checked: 3, ..verify };
    let paced = verify_window(&mut verifier, &WindowInputs { verify: &half, ..inputs }).unwrap();
    let checked: Vec<_> = paced
        .outcome
        .verdicts
        .iter()
        .filter(|v| matches!(v.result, VerdictResult::Pass | VerdictResult::Fail))
        .collect();
    assert_eq!((checked.len(), paced.selected), (3, 3), "{:?}", paced.outcome.verdicts);
    let unchecked = paced.outcome.verdicts.iter().filter(|v| {
        v.reason.as_deref() == Some("not selected for checking this window")
            && v.result == VerdictResult::Unchecked
    });
    assert_eq!(unchecked.count(), 3);
    let failed = checked.iter().filter(|v| v.result == VerdictResult::Fail).count();
    assert!(failed >= 1);
    assert_eq!(paced.outcome.exclusions.len(), failed);
    for e in &paced.outcome.exclusions {
        assert_eq!((e.from_window, e.until_window), (1, 1 + 2 * verify.exclusion_windows));
    }

    // The outcome is what the state records.
    let data = tempfile::tempdir().unwrap();
    let mut state = State::open(data.path()).unwrap();
    state.record_window(&report.outcome).unwrap();
    assert_eq!(state.verdicts(WINDOW).unwrap().len(), 9);
    assert!(state.excluded(&hk(3), 1).unwrap().is_some());
}

#[test]
fn a_wrong_beacon_is_the_validators_error_not_a_verdict() {
    let genesis = 1_700_000_000;
    let clock = ChainClock { genesis_unix: genesis, block_time_s: 12 };
    let network = NetworkParams::default();
    let verify = VerifyParams::default();
    let beacon = LocalBeacon::new(genesis, 3).unwrap();
    let drand = beacon.info().clone();
    let times = window_schedule(WINDOW, &network, &clock, &drand).unwrap();
    let due = |round| verify_beacon(&drand.key(), &beacon.beacon_if_due(round, u64::MAX).unwrap());
    let mining = due(times.mining_round).unwrap();
    let wrong = due(times.challenge_round + 1).unwrap();
    let mut verifier = ModelVerifier::load(&tiny(), &options()).unwrap();
    let model_id = verifier.model_id().to_vec();
    let (miners, excluded) = (BTreeMap::new(), BTreeSet::new());
    let mut inputs = WindowInputs {
        window: WINDOW,
        network: &network,
        verify: &verify,
        clock,
        drand: &drand,
        mining_beacon: &mining,
        challenge_beacon: &wrong,
        first_block_hash: [0; 32],
        model_id: &model_id,
        miners: &miners,
        excluded: &excluded,
        objects: &[],
        processed_at_unix: 0,
    };
    let err = verify_window(&mut verifier, &inputs).unwrap_err();
    assert!(err.to_string().contains("challenge beacon"), "{err}");
    assert!(err.to_string().contains(&format!("needs round {}", times.challenge_round)), "{err}");
    // The mining beacon of another round.
    let right = due(times.challenge_round).unwrap();
    inputs.challenge_beacon = &right;
    inputs.mining_beacon = &wrong;
    let err = verify_window(&mut verifier, &inputs).unwrap_err();
    assert!(err.to_string().contains("mining beacon"), "{err}");
    inputs.mining_beacon = &mining;
    // Another model than the loaded one.
    let other = grail_protocol::cid::cid_of_bytes(b"other").to_bytes();
    inputs.model_id = &other;
    let err = verify_window(&mut verifier, &inputs).unwrap_err();
    assert!(err.to_string().contains("model_id"), "{err}");
    inputs.model_id = &model_id;
    let empty = verify_window(&mut verifier, &inputs).unwrap();
    assert!(empty.outcome.verdicts.is_empty());
}

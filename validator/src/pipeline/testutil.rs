//! Inputs for the stage tests, built with the protocol types directly: a hotkey, a verified
//! dev-chain mining beacon, a header, and structurally valid signed files whose problems,
//! prompts, rewards, advantages and Merkle roots are the real ones (the completions are
//! arbitrary tokens, not model samples; the forward checks have their own tests).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use grail_beacon::LocalBeacon;
use grail_challenges::assembly::{reseal, Scorer};
use grail_challenges::env::sat::format_bits;
use grail_challenges::env::{environment_by_id, AnswerKey, Environment};
use grail_challenges::prompt::PromptRenderer;
use grail_drand::{verify_beacon, VerifiedBeacon};
use grail_protocol::hash::Hash32;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::params::{NetworkParams, GROUP_SIZE, PROTOCOL_VERSION};
use grail_protocol::seeds::window_seed;
use grail_protocol::window_file::{Rollout, WindowFile, WindowHeader};

use super::header::HeaderExpectations;
use super::structure::{derive_problem, StructureContext};

const STOP_IDS: [u32; 2] = [0, 2];
const VOCAB: usize = 512;

pub(crate) fn pair(seed: u8) -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[seed; 32]).unwrap()
}

pub(crate) fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny")
}

/// A signed, structurally valid file of one problem for `pair` in `window`.
pub(crate) fn sample_file(pair: &HotkeyPair, window: u64) -> WindowFile {
    let mut f = Fixture::at(0, window);
    f.pair = pair.clone();
    f.file(1)
}

pub(crate) struct Fixture {
    pub(crate) pair: HotkeyPair,
    pub(crate) window: u64,
    pub(crate) seed: Hash32,
    pub(crate) mining: VerifiedBeacon,
    pub(crate) network: NetworkParams,
    pub(crate) first_block_hash: Hash32,
    pub(crate) model_id: Vec<u8>,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) renderer: PromptRenderer,
    pub(crate) env: Box<dyn Environment>,
}

impl Fixture {
    pub(crate) fn new(key_seed: u8) -> Self {
        Self::at(key_seed, 3)
    }

    pub(crate) fn at(key_seed: u8, window: u64) -> Self {
        let beacon = LocalBeacon::new(1_700_000_000, 3).unwrap();
        let chain = beacon.info().clone();
        let mining =
            verify_beacon(&chain.key(), &beacon.beacon_if_due(10, u64::MAX).unwrap()).unwrap();
        let network = NetworkParams::default();
        let first_block_hash = [0x33; 32];
        Self {
            pair: pair(key_seed),
            window,
            seed: window_seed(window, mining.randomness(), &first_block_hash),
            mining,
            env: environment_by_id(&network.environment.id).unwrap(),
            network,
            first_block_hash,
            model_id: grail_protocol::cid::cid_of_bytes(b"model").to_bytes(),
            fingerprint: [4; 32],
            renderer: PromptRenderer::from_model_dir(&tiny_dir()).unwrap(),
        }
    }

    pub(crate) fn expectations(&self) -> HeaderExpectations<'_> {
        HeaderExpectations {
            window: self.window,
            model_id: &self.model_id,
            mining_beacon: &self.mining,
            first_block_hash: &self.first_block_hash,
            network: &self.network,
        }
    }

    pub(crate) fn header(&self) -> WindowHeader {
        WindowHeader {
            protocol_version: PROTOCOL_VERSION,
            window: self.window,
            hotkey: self.pair.hotkey(),
            model_id: self.model_id.clone(),
            beacon: self.mining.record(),
            first_block_hash: self.first_block_hash,
            fingerprint: self.fingerprint,
            environment: self.network.environment.clone(),
            generation: self.network.generation,
            signature: [0; 64],
        }
    }

    pub(crate) fn structure_context(&self) -> StructureContext<'_> {
        StructureContext {
            window_seed: &self.seed,
            env: self.env.as_ref(),
            renderer: &self.renderer,
            vocab_size: VOCAB,
            max_new_tokens: self.network.generation.max_new_tokens,
            stop_ids: &STOP_IDS,
        }
    }

    pub(crate) fn reward_context(&self) -> Scorer<'_> {
        Scorer { env: self.env.as_ref(), renderer: &self.renderer, stop_ids: &STOP_IDS }
    }

    /// `problems` complete groups with arbitrary completions (1 to 16 tokens, no stop token).
    pub(crate) fn file(&self, problems: u32) -> WindowFile {
        self.build(problems, |_, _| None)
    }

    /// Like [`Fixture::file`], with rollout 0 of problem 0 answering correctly.
    pub(crate) fn file_with_answer(&self, problems: u32) -> WindowFile {
        self.build(problems, |j, r| (j == 0 && r == 0).then_some(()))
    }

    fn build(&self, problems: u32, answer: impl Fn(u32, u32) -> Option<()>) -> WindowFile {
        let ctx = self.structure_context();
        let hotkey = self.pair.hotkey();
        let mut rollouts = Vec::new();
        for j in 0..problems {
            let (problem, prompt) = derive_problem(&ctx, &hotkey, j).unwrap();
            let mut group = Vec::new();
            for r in 0..GROUP_SIZE {
                let tokens: Vec<u32> = match (answer(j, r), &problem.answer) {
                    (Some(()), AnswerKey::Sat(key)) => {
                        let text = format!("<SOLUTION>{}</SOLUTION>", format_bits(&key.planted));
                        self.renderer.encode(&text).unwrap()
                    }
                    _ => {
                        let len = 1 + (j * 16 + r) % 16;
                        (0..len).map(|t| 3 + (j * 31 + r * 7 + t * 13) % 500).collect()
                    }
                };
                let text = self.renderer.decode_completion(&tokens, &STOP_IDS).unwrap();
                let scored = self.env.score(&problem, &text).unwrap();
                let n = tokens.len();
                let rollout = Rollout {
                    problem_index: j,
                    rollout_index: r,
                    prompt_tokens: prompt.clone(),
                    completion_tokens: tokens,
                    logprobs: vec![-0.5; n],
                    commitments: (0..n as u32).collect(),
                    merkle_root: [0; 32],
                    reward: scored.reward,
                    success: scored.success,
                    advantage: 0.0,
                    signature: [0; 64],
                };
                group.push(rollout);
            }
            rollouts.extend(group);
        }
        let mut file = WindowFile { header: self.header(), rollouts };
        reseal(&self.pair, &mut file).unwrap();
        file
    }
}

//! The fixed benchmark workload shared by `grail-audit bench miner`, `grail-audit bench validator`
//! and `grail-audit calibrate`: window [`BENCH_WINDOW`] with a fixed mining-beacon randomness
//! and first-block hash (so a fixed window seed `S_w`), a fixed hotkey, problems `0..groups`
//! of the network's default environment rendered with the model's chat template, and the
//! group streams of DESIGN.md 3.4. Nothing depends on the clock or the network, so two runs on
//! the same model generate the same tokens (up to the engine's floating-point drift).
//!
//! It knows the model only by its hidden size and stop tokens; [`Workload::request`] is group
//! `j`'s engine request.

use grail_fingerprint::GroupRequest;
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::generated::GeneratedRollout;
use grail_protocol::hash::Hash32;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::params::{EnvironmentSpec, GenerationParams, NetworkParams};
use grail_protocol::seeds::{group_streams, problem_seed, window_seed};
use grail_protocol::window_file::{BeaconRecord, Rollout, WindowHeader};
use grail_protocol::ProtocolError;
use rand_chacha::ChaCha20Rng;

use grail_challenges::assembly::{window_header, AssemblyError, HeaderFields, Scorer};
use grail_challenges::env::{environment_by_id, EnvError, Environment, Problem};
use grail_challenges::prompt::{PromptError, PromptRenderer};

/// The benchmark's window number.
pub const BENCH_WINDOW: u64 = 1_000;
/// The mining beacon randomness the window seed is derived from.
pub const BENCH_RANDOMNESS: [u8; 32] = [0x5a; 32];
/// The window's first block hash.
pub const BENCH_BLOCK_HASH: [u8; 32] = [0x33; 32];
/// Mini-secret of the benchmark's hotkey.
pub const BENCH_HOTKEY_SEED: [u8; 32] = [0x07; 32];

/// The size of the workload (`--groups`, `--new-tokens`), shared by both benches.
#[derive(Debug, Clone, Copy, clap::Args)]
#[command(next_help_heading = "Workload")]
pub struct WorkloadArgs {
    /// Groups of 16 rollouts (problems 0..groups), all in one window file.
    #[arg(
        id = "groups",
        long = "groups",
        env = "GRAIL_GROUPS",
        default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub groups: u32,
    /// Length cap of every rollout, in tokens.
    #[arg(
        id = "new_tokens",
        long = "new-tokens",
        env = "GRAIL_NEW_TOKENS",
        default_value_t = 128,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub new_tokens: u32,
}

/// What can go wrong building the workload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// The hotkey or the commitment key could not be derived.
    #[error("workload keys: {0}")]
    Keys(#[from] ProtocolError),
    /// The network's default environment is unknown.
    #[error("workload environment: {0}")]
    Environment(#[from] EnvError),
    /// A problem's prompt could not be rendered.
    #[error("rendering problem {problem}: {source}")]
    Prompt {
        /// Problem index.
        problem: u32,
        /// The renderer's error.
        source: PromptError,
    },
}

/// The fixed workload: seed, hotkey, problems and prompts.
pub struct Workload {
    /// The window seed `S_w`.
    pub seed: Hash32,
    /// The hotkey that signs (and keys the streams and problems).
    pub pair: HotkeyPair,
    /// The commitment key of `S_w`.
    pub key: CommitmentKey,
    /// The network's default environment.
    pub env: Box<dyn Environment>,
    /// Problem `j` of the hotkey in the window.
    pub problems: Vec<Problem>,
    /// Problem `j`'s prompt tokens (the model's chat template).
    pub prompts: Vec<Vec<u32>>,
    /// Temperature and length cap (`max_new_tokens` = the bench's `--new-tokens`).
    pub generation: GenerationParams,
    /// The model's stop tokens (scoring and verification use them).
    pub model_stop_ids: Vec<u32>,
    /// Stop tokens generation stops at: the model's, or none so that every rollout runs to
    /// the length cap.
    pub stop_ids: Vec<u32>,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("groups", &self.prompts.len())
            .field("generation", &self.generation)
            .field("stop_ids", &self.stop_ids)
            .finish_non_exhaustive()
    }
}

impl Workload {
    /// `groups` problems for a model of `hidden_size` with `model_stop_ids`, `new_tokens`
    /// tokens each; `stop` chooses whether generation stops at the model's stop tokens.
    pub fn new(
        renderer: &PromptRenderer,
        hidden_size: usize,
        model_stop_ids: Vec<u32>,
        groups: u32,
        new_tokens: u32,
        stop: bool,
    ) -> Result<Self, WorkloadError> {
        let pair = HotkeyPair::from_mini_secret(&BENCH_HOTKEY_SEED)?;
        Self::for_miner(renderer, hidden_size, model_stop_ids, groups, new_tokens, stop, pair)
    }

    /// [`Workload::new`] for the miner `pair` in the same window: its own problems and
    /// streams, as another miner of the window would have.
    pub fn for_miner(
        renderer: &PromptRenderer,
        hidden_size: usize,
        model_stop_ids: Vec<u32>,
        groups: u32,
        new_tokens: u32,
        stop: bool,
        pair: HotkeyPair,
    ) -> Result<Self, WorkloadError> {
        let seed = window_seed(BENCH_WINDOW, &BENCH_RANDOMNESS, &BENCH_BLOCK_HASH);
        let key = CommitmentKey::derive(&seed, hidden_size)?;
        let network = NetworkParams::default();
        let env = environment_by_id(&network.environment.id)?;
        let hotkey = pair.hotkey();
        let mut problems = Vec::new();
        let mut prompts = Vec::new();
        for j in 0..groups {
            let problem = env.generate(problem_seed(&seed, &hotkey, j));
            let prompt = renderer
                .problem_tokens(&problem)
                .map_err(|source| WorkloadError::Prompt { problem: j, source })?;
            problems.push(problem);
            prompts.push(prompt);
        }
        Ok(Self {
            seed,
            pair,
            key,
            env,
            problems,
            prompts,
            generation: GenerationParams { max_new_tokens: new_tokens, ..network.generation },
            stop_ids: if stop { model_stop_ids.clone() } else { Vec::new() },
            model_stop_ids,
        })
    }

    /// The network parameters of the workload (defaults with its generation parameters).
    pub fn network(&self) -> NetworkParams {
        NetworkParams { generation: self.generation, ..NetworkParams::default() }
    }

    /// The generation request of group `j`, with or without commitments.
    pub fn request(&self, j: usize, commit: bool) -> GroupRequest<'_> {
        GroupRequest::sampled(
            &self.prompts[j],
            self.streams(u32::try_from(j).unwrap_or(u32::MAX)),
            &self.generation,
            &self.stop_ids,
            commit.then_some(&self.key),
        )
    }

    /// The sampling streams of group `j`.
    pub fn streams(&self, j: u32) -> Vec<ChaCha20Rng> {
        group_streams(&self.seed, &self.pair.hotkey(), j)
    }

    /// The scorer the miner uses (the model's stop tokens).
    pub fn scorer<'a>(&'a self, renderer: &'a PromptRenderer) -> Scorer<'a> {
        Scorer { env: self.env.as_ref(), renderer, stop_ids: &self.model_stop_ids }
    }

    /// Group `j`'s generated completions assembled as the miner assembles them (rewards,
    /// advantages, Merkle roots), unsigned.
    pub fn assemble(
        &self,
        renderer: &PromptRenderer,
        j: u32,
        generated: Vec<GeneratedRollout>,
    ) -> Result<Vec<Rollout>, AssemblyError> {
        let (prompt, problem) = (&self.prompts[j as usize], &self.problems[j as usize]);
        self.scorer(renderer).assemble_group(j, prompt, problem, generated)
    }

    /// The unsigned header of the workload's window file.
    pub fn header(&self, model_id: Vec<u8>, fingerprint: [u8; 32]) -> WindowHeader {
        window_header(HeaderFields {
            window: BENCH_WINDOW,
            hotkey: self.pair.hotkey(),
            model_id,
            beacon: BeaconRecord { round: 1, randomness: BENCH_RANDOMNESS, signature: vec![0; 96] },
            first_block_hash: BENCH_BLOCK_HASH,
            fingerprint,
            environment: EnvironmentSpec { id: self.env.id().into(), version: self.env.version() },
            generation: self.generation,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_workload_is_fixed_and_keyed_by_the_hotkey() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny");
        let renderer = PromptRenderer::from_model_dir(&dir).unwrap();
        let a = Workload::new(&renderer, 64, vec![0, 2], 3, 32, true).unwrap();
        let b = Workload::new(&renderer, 64, vec![0, 2], 3, 32, false).unwrap();
        assert_eq!(a.prompts, b.prompts);
        assert_eq!(a.prompts.len(), 3);
        assert_ne!(a.prompts[0], a.prompts[1], "problems differ");
        assert_eq!(a.stop_ids, vec![0, 2]);
        assert!(b.stop_ids.is_empty());
        assert_eq!(b.model_stop_ids, vec![0, 2]);
        assert_eq!(a.generation.max_new_tokens, 32);
        // Group j's streams are the protocol's sample streams of (S_w, hotkey, j, r).
        let hotkey = a.pair.hotkey();
        let mut s = a.streams(2);
        let mut want = grail_protocol::seeds::sample_stream(&a.seed, &hotkey, 2, 5);
        use rand_core::Rng;
        assert_eq!(s[5].next_u64(), want.next_u64());
        assert_eq!(s.len(), 16);
        assert_eq!(a.header(vec![1], [0; 32]).window, BENCH_WINDOW);
    }
}

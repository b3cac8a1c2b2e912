//! From generated groups to the signed, encoded window file (DESIGN.md 3.3-3.7).
//!
//! - [`Scorer::assemble_group`]: one problem's 16 generated completions become [`Rollout`]s:
//!   each completion is decoded without its stop token and scored by the environment (reward,
//!   success), the group gets its GRPO advantages, and each rollout its Merkle root. Signatures
//!   are left zero until [`seal`].
//! - [`window_header`] fills the header; [`seal`] signs header and rollouts and encodes the
//!   file in the protocol's wire format.
//!
//! The validator recomputes all of this from the file, so nothing here may depend on anything
//! but the file's own contents, the environment and the tokenizer; its reward stage scores
//! with the same [`Scorer`].

use grail_protocol::generated::{GeneratedRollout, StopReason};
use grail_protocol::keys::{Hotkey, HotkeyPair};
use grail_protocol::params::{EnvironmentSpec, GenerationParams, GROUP_SIZE, PROTOCOL_VERSION};
use grail_protocol::window_file::{BeaconRecord, Rollout, WindowFile, WindowHeader};
use grail_protocol::{codec, signing, ProtocolError};

use crate::env::{grpo_advantages, EnvError, Environment, Problem};
use crate::prompt::{PromptError, PromptRenderer};

/// What can go wrong assembling a window file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssemblyError {
    /// A group does not hold exactly `GROUP_SIZE` completions.
    #[error("problem {problem}: group has {got} completions, a group is {want}")]
    GroupSize {
        /// Problem index.
        problem: u32,
        /// Completions given.
        got: usize,
        /// `GROUP_SIZE`.
        want: u32,
    },
    /// A completion's per-token vectors disagree in length.
    #[error(
        "problem {problem} rollout {rollout}: {tokens} tokens but {logprobs} logprobs and \
         {commitments} commitments"
    )]
    Lengths {
        /// Problem index.
        problem: u32,
        /// Rollout index.
        rollout: u32,
        /// Completion tokens.
        tokens: usize,
        /// Logprobs.
        logprobs: usize,
        /// Commitments.
        commitments: usize,
    },
    /// A completion said it stopped on EOS but does not end in a stop token.
    #[error("problem {problem} rollout {rollout}: stopped on EOS without a stop token at the end")]
    BadStop {
        /// Problem index.
        problem: u32,
        /// Rollout index.
        rollout: u32,
    },
    /// The problem is of another environment than the scorer's.
    #[error("problem {problem}: {source}")]
    Environment {
        /// Problem index.
        problem: u32,
        /// The environment's error.
        source: EnvError,
    },
    /// A completion could not be decoded.
    #[error("problem {problem} rollout {rollout}: decoding the completion: {source}")]
    Decode {
        /// Problem index.
        problem: u32,
        /// Rollout index.
        rollout: u32,
        /// The tokenizer's error.
        source: PromptError,
    },
    /// Merkle root, signing or encoding failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// Scores completions the way the validator re-scores them: decode without the final stop
/// token, then the environment's reward.
#[derive(Debug, Clone, Copy)]
pub struct Scorer<'a> {
    /// The window's environment.
    pub env: &'a dyn Environment,
    /// The model's tokenizer and chat template.
    pub renderer: &'a PromptRenderer,
    /// The model's stop tokens.
    pub stop_ids: &'a [u32],
}

impl Scorer<'_> {
    /// `(reward, success)` of one completion of `problem`.
    pub fn score(
        &self,
        problem_index: u32,
        rollout_index: u32,
        problem: &Problem,
        completion: &[u32],
    ) -> Result<(f32, bool), AssemblyError> {
        let text =
            self.renderer.decode_completion(completion, self.stop_ids).map_err(|source| {
                AssemblyError::Decode { problem: problem_index, rollout: rollout_index, source }
            })?;
        let reward = self
            .env
            .score(problem, &text)
            .map_err(|source| AssemblyError::Environment { problem: problem_index, source })?;
        Ok((reward.reward, reward.success))
    }

    /// The rollouts of problem `problem_index` from its generated group, in rollout order,
    /// unsigned.
    pub fn assemble_group(
        &self,
        problem_index: u32,
        prompt_tokens: &[u32],
        problem: &Problem,
        generated: Vec<GeneratedRollout>,
    ) -> Result<Vec<Rollout>, AssemblyError> {
        if generated.len() != GROUP_SIZE as usize {
            return Err(AssemblyError::GroupSize {
                problem: problem_index,
                got: generated.len(),
                want: GROUP_SIZE,
            });
        }
        let mut rollouts = Vec::with_capacity(generated.len());
        for (r, g) in (0u32..).zip(generated) {
            if g.logprobs.len() != g.tokens.len() || g.commitments.len() != g.tokens.len() {
                return Err(AssemblyError::Lengths {
                    problem: problem_index,
                    rollout: r,
                    tokens: g.tokens.len(),
                    logprobs: g.logprobs.len(),
                    commitments: g.commitments.len(),
                });
            }
            if g.stop == StopReason::Eos
                && !g.tokens.last().is_some_and(|t| self.stop_ids.contains(t))
            {
                return Err(AssemblyError::BadStop { problem: problem_index, rollout: r });
            }
            let (reward, success) = self.score(problem_index, r, problem, &g.tokens)?;
            let mut rollout = Rollout {
                problem_index,
                rollout_index: r,
                prompt_tokens: prompt_tokens.to_vec(),
                completion_tokens: g.tokens,
                logprobs: g.logprobs,
                commitments: g.commitments,
                merkle_root: [0; 32],
                reward,
                success,
                advantage: 0.0,
                signature: [0; 64],
            };
            rollout.merkle_root = rollout.compute_merkle_root()?;
            rollouts.push(rollout);
        }
        let rewards: Vec<f32> = rollouts.iter().map(|r| r.reward).collect();
        let advantages = grpo_advantages(&rewards)
            .map_err(|source| AssemblyError::Environment { problem: problem_index, source })?;
        for (rollout, a) in rollouts.iter_mut().zip(advantages) {
            rollout.advantage = a;
        }
        Ok(rollouts)
    }
}

/// The header fields a window's file is made of.
#[derive(Debug, Clone)]
pub struct HeaderFields {
    /// Window number.
    pub window: u64,
    /// The miner's hotkey.
    pub hotkey: Hotkey,
    /// Binary CIDv1 of the model's weights.
    pub model_id: Vec<u8>,
    /// The window's verified mining beacon.
    pub beacon: BeaconRecord,
    /// Hash of the window's first block.
    pub first_block_hash: [u8; 32],
    /// BN254 fingerprint keyed by the mining beacon's randomness.
    pub fingerprint: [u8; 32],
    /// Environment of the problems.
    pub environment: EnvironmentSpec,
    /// Generation parameters used.
    pub generation: GenerationParams,
}

/// The header of this protocol version, unsigned.
pub fn window_header(f: HeaderFields) -> WindowHeader {
    WindowHeader {
        protocol_version: PROTOCOL_VERSION,
        window: f.window,
        hotkey: f.hotkey,
        model_id: f.model_id,
        beacon: f.beacon,
        first_block_hash: f.first_block_hash,
        fingerprint: f.fingerprint,
        environment: f.environment,
        generation: f.generation,
        signature: [0; 64],
    }
}

/// Makes an edited file whole again: every rollout's Merkle root and every group's advantages
/// (rollouts in file order, 16 per group) recomputed from the file's own contents, then the
/// header and every rollout signed with `pair`. A file built honestly is unchanged by it; the
/// audit tool's forgeries and the tests use it after changing a field.
pub fn reseal(pair: &HotkeyPair, file: &mut WindowFile) -> Result<(), AssemblyError> {
    for r in &mut file.rollouts {
        r.merkle_root = r.compute_merkle_root()?;
    }
    for (k, group) in file.rollouts.chunks_mut(GROUP_SIZE as usize).enumerate() {
        let rewards: Vec<f32> = group.iter().map(|r| r.reward).collect();
        let problem = group.first().map_or(k as u32, |r| r.problem_index);
        let advantages = grpo_advantages(&rewards)
            .map_err(|source| AssemblyError::Environment { problem, source })?;
        group.iter_mut().zip(advantages).for_each(|(r, a)| r.advantage = a);
    }
    signing::sign_window_file(pair, file)?;
    Ok(())
}

/// Signs the header and every rollout with `pair` and encodes the file.
pub fn seal(
    pair: &HotkeyPair,
    header: WindowHeader,
    rollouts: Vec<Rollout>,
) -> Result<(WindowFile, Vec<u8>), AssemblyError> {
    let mut file = WindowFile { header, rollouts };
    signing::sign_window_file(pair, &mut file)?;
    let bytes = codec::encode(&file)?;
    Ok((file, bytes))
}

#[cfg(test)]
#[path = "assembly_tests.rs"]
mod tests;

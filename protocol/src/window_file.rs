//! The window file: one per miner per window (DESIGN.md 3.7). Its wire format is in `codec`,
//! the bytes its signatures cover in `signing`.

use crate::error::ProtocolError;
use crate::hash::Hash32;
use crate::keys::{Hotkey, SignatureBytes};
use crate::merkle::{completion_leaves, merkle_root};
use crate::params::{EnvironmentSpec, GenerationParams};

/// A drand beacon as recorded in a window file, so anyone can re-verify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconRecord {
    /// drand round number.
    pub round: u64,
    /// The beacon's randomness (SHA-256 of its signature).
    pub randomness: [u8; 32],
    /// The beacon's BLS signature bytes (48 B on quicknet, 96 B on mainnet).
    pub signature: Vec<u8>,
}

/// Everything a file's rollouts depend on, signed once.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowHeader {
    /// Protocol version (`PROTOCOL_VERSION`).
    pub protocol_version: u32,
    /// Window number.
    pub window: u64,
    /// The miner's hotkey (the signer).
    pub hotkey: Hotkey,
    /// `model_id`: the binary CIDv1 of the model's canonical weights.
    pub model_id: Vec<u8>,
    /// Mining beacon of the window.
    pub beacon: BeaconRecord,
    /// Hash of the window's first block.
    pub first_block_hash: [u8; 32],
    /// Beacon-keyed BN254 fingerprint of the weights, a scalar in little-endian bytes.
    pub fingerprint: [u8; 32],
    /// Environment the problems come from.
    pub environment: EnvironmentSpec,
    /// Generation parameters used.
    pub generation: GenerationParams,
    /// sr25519 signature of `signing::header_digest`.
    pub signature: SignatureBytes,
}

/// One sampled completion with its proofs.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Problem index `j`.
    pub problem_index: u32,
    /// Rollout index `r` within the group, below `GROUP_SIZE`.
    pub rollout_index: u32,
    /// Prompt tokens as the chat template renders them.
    pub prompt_tokens: Vec<u32>,
    /// Sampled completion tokens.
    pub completion_tokens: Vec<u32>,
    /// `ln p` of each completion token under the sampling distribution.
    pub logprobs: Vec<f32>,
    /// Hidden-state commitment of each completion position (opaque 4 bytes).
    pub commitments: Vec<u32>,
    /// Merkle root over the completion's leaves.
    pub merkle_root: Hash32,
    /// Reward of the completion.
    pub reward: f32,
    /// Whether the completion solved the problem.
    pub success: bool,
    /// GRPO advantage within the group.
    pub advantage: f32,
    /// sr25519 signature of `signing::rollout_digest`.
    pub signature: SignatureBytes,
}

impl Rollout {
    /// The Merkle root recomputed from the completion, logprobs and commitments.
    pub fn compute_merkle_root(&self) -> Result<Hash32, ProtocolError> {
        Ok(merkle_root(&completion_leaves(
            &self.completion_tokens,
            &self.logprobs,
            &self.commitments,
        )?))
    }
}

/// A whole window file.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFile {
    /// The header.
    pub header: WindowHeader,
    /// The rollouts, in file order.
    pub rollouts: Vec<Rollout>,
}

/// Storage key of a window file: `windows/{w}/{hotkey SS58}.grail`.
pub fn window_file_key(window: u64, hotkey: &Hotkey) -> String {
    format!("windows/{window}/{hotkey}.{}", crate::codec::FILE_EXTENSION)
}

/// A small, fully populated file for tests (unsigned: signatures are zero).
#[cfg(test)]
pub(crate) fn sample_file(hotkey: Hotkey) -> WindowFile {
    let rollout = |j: u32, r: u32, n: u32| {
        let completion_tokens: Vec<u32> = (0..n).map(|t| 100 + t + r).collect();
        let logprobs: Vec<f32> = (0..n).map(|t| -0.1 * (t + 1) as f32).collect();
        let commitments: Vec<u32> = (0..n).map(|t| t * 0x0101_0101).collect();
        let mut ro = Rollout {
            problem_index: j,
            rollout_index: r,
            prompt_tokens: vec![1, 2, 3, j],
            completion_tokens,
            logprobs,
            commitments,
            merkle_root: [0; 32],
            reward: 0.5 * r as f32,
            success: r % 2 == 1,
            advantage: -0.25 + r as f32,
            signature: [0; 64],
        };
        ro.merkle_root = ro.compute_merkle_root().expect("lengths agree");
        ro
    };
    WindowFile {
        header: WindowHeader {
            protocol_version: crate::params::PROTOCOL_VERSION,
            window: 42,
            hotkey,
            model_id: crate::cid::cid_of_bytes(b"model").to_bytes(),
            beacon: BeaconRecord { round: 1234, randomness: [7; 32], signature: vec![9; 48] },
            first_block_hash: [3; 32],
            fingerprint: [4; 32],
            environment: EnvironmentSpec { id: "sat".into(), version: 1 },
            generation: GenerationParams::default(),
            signature: [0; 64],
        },
        rollouts: vec![rollout(0, 0, 3), rollout(0, 1, 0), rollout(1, 5, 7)],
    }
}

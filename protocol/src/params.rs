//! Protocol constants (fixed by the protocol version) and network parameters (chosen by the
//! network, recorded in every window file and transcript).

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;

/// The protocol version written into every window header.
pub const PROTOCOL_VERSION: u32 = 2;
/// Rollouts per problem (one GRPO group).
pub const GROUP_SIZE: u32 = 16;
/// `K`: completion positions whose hidden-state commitments the validator checks per rollout.
pub const CHALLENGE_POSITIONS: usize = 32;

/// Default `L`: blocks per window.
pub const DEFAULT_BLOCKS_PER_WINDOW: u64 = 30;
/// Default block time of the chain, in seconds.
pub const DEFAULT_BLOCK_TIME_S: u64 = 12;
/// Default grace period after the start of window `w+1` during which window `w` may still be
/// uploaded, in seconds (covers upload latency and clock skew).
pub const DEFAULT_GRACE_PERIOD_S: u64 = 30;
/// Default buffer after the upload deadline before the challenge beacon round, in seconds, so
/// that the challenge randomness is unknown to everyone until every upload is final.
pub const DEFAULT_CHALLENGE_BUFFER_S: u64 = 30;

/// Default sampling temperature.
pub const DEFAULT_TEMPERATURE: f32 = 0.7;
/// Default cap on generated tokens per completion.
pub const DEFAULT_MAX_NEW_TOKENS: u32 = 512;
/// Default floor on the EOS probability at the step where a completion stops on EOS: 0, off.
///
/// Verifiable sampling already decides where a completion stops: a stop token is accepted only
/// where the step's uniform falls in its CDF interval, which the validator checks strictly at
/// the final position (no boundary-miss allowance there). A positive floor would reject an
/// honest miner whose sampler drew a stop token of probability below it, which happens with
/// probability `Σ_t p_stop(t)·[p_stop(t) < floor]` per rollout. Networks may still set one.
pub const DEFAULT_EOS_PROBABILITY_FLOOR: f32 = 0.0;

/// How completions are generated. Recorded in every window header and signed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationParams {
    /// Softmax temperature (> 0); no top-k or top-p masks are ever applied. Default 0.7.
    pub temperature: f32,
    /// Length cap of a completion, in tokens. Default 512.
    pub max_new_tokens: u32,
    /// A completion that stops on EOS needs the EOS probability (under the sampling
    /// distribution) at that step to be at least this. Default 0 (off; see
    /// [`DEFAULT_EOS_PROBABILITY_FLOOR`]).
    pub eos_probability_floor: f32,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            temperature: DEFAULT_TEMPERATURE,
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            eos_probability_floor: DEFAULT_EOS_PROBABILITY_FLOOR,
        }
    }
}

impl GenerationParams {
    /// Rejects values no honest network would use (zero or non-finite temperature, zero cap,
    /// a floor outside `[0, 1]`).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(ProtocolError::BadTemperature(self.temperature));
        }
        if self.max_new_tokens == 0 {
            return Err(ProtocolError::ZeroParameter { name: "max_new_tokens" });
        }
        if !(0.0..=1.0).contains(&self.eos_probability_floor) {
            return Err(ProtocolError::InvalidValue {
                field: "eos_probability_floor".into(),
                reason: format!("{} is outside [0, 1]", self.eos_probability_floor),
            });
        }
        Ok(())
    }
}

/// Which environment generates the problems, and which version of its generator and reward.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// Environment id, e.g. `sat` or `arith`. Default `sat`.
    pub id: String,
    /// Version of that environment's generator and reward. Default 1.
    pub version: u32,
}

impl Default for EnvironmentSpec {
    fn default() -> Self {
        Self { id: "sat".into(), version: 1 }
    }
}

/// Parameters a network chooses; every role of one network must use the same values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkParams {
    /// `L`, blocks per window. Default 30.
    pub blocks_per_window: u64,
    /// Seconds per block. Default 12.
    pub block_time_s: u64,
    /// Grace period after the start of the next window, in seconds. Default 30.
    pub grace_period_s: u64,
    /// Buffer after the upload deadline before the challenge beacon, in seconds. Default 30.
    pub challenge_buffer_s: u64,
    /// Generation parameters.
    pub generation: GenerationParams,
    /// Environment.
    pub environment: EnvironmentSpec,
}

impl Default for NetworkParams {
    fn default() -> Self {
        Self {
            blocks_per_window: DEFAULT_BLOCKS_PER_WINDOW,
            block_time_s: DEFAULT_BLOCK_TIME_S,
            grace_period_s: DEFAULT_GRACE_PERIOD_S,
            challenge_buffer_s: DEFAULT_CHALLENGE_BUFFER_S,
            generation: GenerationParams::default(),
            environment: EnvironmentSpec::default(),
        }
    }
}

impl NetworkParams {
    /// Rejects zero block counts and times, and bad generation parameters.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.blocks_per_window == 0 {
            return Err(ProtocolError::ZeroParameter { name: "blocks_per_window" });
        }
        if self.block_time_s == 0 {
            return Err(ProtocolError::ZeroParameter { name: "block_time_s" });
        }
        self.generation.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fill_missing_fields() {
        let p: NetworkParams =
            serde_json::from_str(r#"{"generation": {"temperature": 1.0}}"#).unwrap();
        assert_eq!(p.blocks_per_window, DEFAULT_BLOCKS_PER_WINDOW);
        assert_eq!(p.generation.temperature, 1.0);
        assert_eq!(p.generation.max_new_tokens, DEFAULT_MAX_NEW_TOKENS);
        p.validate().unwrap();
        NetworkParams::default().validate().unwrap();
    }

    #[test]
    fn bad_values_are_rejected() {
        let mut p = NetworkParams { blocks_per_window: 0, ..Default::default() };
        assert!(p.validate().is_err());
        p.blocks_per_window = 30;
        p.generation.temperature = 0.0;
        assert!(p.validate().is_err());
        p.generation.temperature = f32::NAN;
        assert!(p.validate().is_err());
        p.generation.temperature = 1.0;
        p.generation.eos_probability_floor = 1.5;
        assert!(p.validate().is_err());
        assert!(serde_json::from_str::<NetworkParams>(r#"{"blocks": 3}"#).is_err());
    }
}

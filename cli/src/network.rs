//! `--window.*`, `--env`, `--temperature`, `--max-new-tokens`: the parameters every role of a
//! network must agree on (`NetworkParams`).

use grail_challenges::env::environment_by_id;
use grail_protocol::params::{
    EnvironmentSpec, GenerationParams, NetworkParams, DEFAULT_BLOCKS_PER_WINDOW,
    DEFAULT_CHALLENGE_BUFFER_S, DEFAULT_GRACE_PERIOD_S, DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_TEMPERATURE,
};

/// A network parameter the flags cannot use.
#[derive(Debug, thiserror::Error)]
pub enum NetworkArgsError {
    /// `--env` names no environment.
    #[error("--env: {0}")]
    Environment(#[from] grail_challenges::env::EnvError),
    /// The parameters together are not a network (zero block counts, bad temperature, ...).
    #[error("network parameters: {0}")]
    Invalid(#[from] grail_protocol::ProtocolError),
}

/// The network's windows and generation.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Network")]
pub struct NetworkArgs {
    /// Blocks per window, L.
    #[arg(
        id = "window.blocks",
        long = "window.blocks",
        env = "GRAIL_WINDOW_BLOCKS",
        default_value_t = DEFAULT_BLOCKS_PER_WINDOW
    )]
    pub blocks: u64,
    /// Upload grace period after the next window starts, in seconds.
    #[arg(
        id = "window.grace",
        long = "window.grace",
        env = "GRAIL_WINDOW_GRACE",
        default_value_t = DEFAULT_GRACE_PERIOD_S
    )]
    pub grace: u64,
    /// Seconds after the upload deadline whose drand round is the challenge beacon.
    #[arg(
        id = "window.challenge_buffer",
        long = "window.challenge-buffer",
        env = "GRAIL_WINDOW_CHALLENGE_BUFFER",
        default_value_t = DEFAULT_CHALLENGE_BUFFER_S
    )]
    pub challenge_buffer: u64,
    #[command(flatten)]
    pub generation: GenerationArgs,
}

/// The environment and how completions are generated: what a checkpoint names with its model.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Network")]
pub struct GenerationArgs {
    /// Problem environment: sat or arith.
    #[arg(id = "env", long = "env", env = "GRAIL_ENV", default_value = "sat")]
    pub env: String,
    /// Sampling temperature.
    #[arg(
        id = "temperature",
        long = "temperature",
        env = "GRAIL_TEMPERATURE",
        default_value_t = DEFAULT_TEMPERATURE
    )]
    pub temperature: f32,
    /// Completion length cap, in tokens.
    #[arg(
        id = "max_new_tokens",
        long = "max-new-tokens",
        env = "GRAIL_MAX_NEW_TOKENS",
        default_value_t = DEFAULT_MAX_NEW_TOKENS
    )]
    pub max_new_tokens: u32,
}

impl GenerationArgs {
    /// The environment (one this build runs) and the generation parameters, validated.
    pub fn spec(&self) -> Result<(EnvironmentSpec, GenerationParams), NetworkArgsError> {
        let env = environment_by_id(&self.env)?;
        let environment = EnvironmentSpec { id: env.id().into(), version: env.version() };
        let generation = GenerationParams {
            temperature: self.temperature,
            max_new_tokens: self.max_new_tokens,
            ..GenerationParams::default()
        };
        generation.validate()?;
        Ok((environment, generation))
    }
}

impl NetworkArgs {
    /// The network's parameters on a chain of `block_time_s` seconds per block, validated.
    pub fn params(&self, block_time_s: u64) -> Result<NetworkParams, NetworkArgsError> {
        let (environment, generation) = self.generation.spec()?;
        let params = NetworkParams {
            blocks_per_window: self.blocks,
            block_time_s,
            grace_period_s: self.grace,
            challenge_buffer_s: self.challenge_buffer,
            generation,
            environment,
        };
        params.validate()?;
        Ok(params)
    }
}

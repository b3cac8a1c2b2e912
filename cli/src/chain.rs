//! `--chain.*`: the chain whose blocks make the windows (today the local clock chain).

use grail_chain::{ChainError, LocalClockChain};
use grail_protocol::params::DEFAULT_BLOCK_TIME_S;

/// The chain's clock.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Chain")]
pub struct ChainArgs {
    /// Unix time (s) of block 0 of the local clock chain.
    #[arg(
        id = "chain.genesis",
        long = "chain.genesis",
        env = "GRAIL_CHAIN_GENESIS",
        default_value_t = 0
    )]
    pub genesis: u64,
    /// Seconds per block.
    #[arg(
        id = "chain.block_time",
        long = "chain.block-time",
        env = "GRAIL_CHAIN_BLOCK_TIME",
        default_value_t = DEFAULT_BLOCK_TIME_S
    )]
    pub block_time: u64,
}

impl ChainArgs {
    /// The local clock chain these flags describe.
    pub fn local_chain(&self) -> Result<LocalClockChain, ChainError> {
        LocalClockChain::new(self.genesis, self.block_time)
    }
}

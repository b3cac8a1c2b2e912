//! Either chain source, as a binary picks it from its flags: the local clock (offline runs)
//! or a subtensor node.

use grail_protocol::hash::Hash32;
use grail_protocol::window::ChainClock;

use crate::rpc::SubtensorClient;
use crate::{ChainError, ChainSource, LocalClockChain};

/// The local clock or a node.
#[derive(Debug, Clone)]
pub enum AnyChain {
    Local(LocalClockChain),
    Subtensor(SubtensorClient),
}

impl AnyChain {
    /// The node, when this is one.
    pub fn subtensor(&self) -> Option<&SubtensorClient> {
        match self {
            AnyChain::Local(_) => None,
            AnyChain::Subtensor(c) => Some(c),
        }
    }
}

impl ChainSource for AnyChain {
    fn describe(&self) -> String {
        match self {
            AnyChain::Local(c) => c.describe(),
            AnyChain::Subtensor(c) => c.describe(),
        }
    }

    fn estimated_clock(&self) -> ChainClock {
        match self {
            AnyChain::Local(c) => c.estimated_clock(),
            AnyChain::Subtensor(c) => c.estimated_clock(),
        }
    }

    async fn current_block(&self, now_unix: u64) -> Result<Option<u64>, ChainError> {
        match self {
            AnyChain::Local(c) => c.current_block(now_unix).await,
            AnyChain::Subtensor(c) => c.current_block(now_unix).await,
        }
    }

    async fn block_hash(&self, block: u64) -> Result<Hash32, ChainError> {
        match self {
            AnyChain::Local(c) => c.block_hash(block).await,
            AnyChain::Subtensor(c) => c.block_hash(block).await,
        }
    }

    async fn window_clock(
        &self,
        window: u64,
        blocks_per_window: u64,
    ) -> Result<ChainClock, ChainError> {
        match self {
            AnyChain::Local(c) => c.window_clock(window, blocks_per_window).await,
            AnyChain::Subtensor(c) => c.window_clock(window, blocks_per_window).await,
        }
    }
}

//! Where block numbers and block hashes come from (DESIGN.md 3.1).
//!
//! [`ChainSource`] is what the miner and the validator ask: the block in progress, the hash of
//! a block (the window seed takes the hash of the window's first block), and the clock that
//! maps block numbers onto unix time (window starts and upload deadlines).
//!
//! The embedded default, [`LocalClockChain`], is a stand-in for a real chain: blocks follow a
//! fixed clock from a genesis time, and the hash of block `n` is
//! `H("grail/v1/local-block", u64 genesis_unix, u64 n)`, so every role computes the same hash
//! with no node at all. It is predictable, so it adds no unpredictability to the window seed;
//! the drand beacon provides that. A source that reads block numbers and hashes from a
//! Bittensor subtensor node over JSON-RPC is [`rpc::SubtensorClient`]; [`any::AnyChain`] is
//! either, as the binaries choose it from their flags. Where miners' files are, as they publish
//! it on chain, is [`commitment`].
//!
//! Nothing here reads the clock: the current time is passed in by the caller (the binaries
//! read it at their edge).

pub mod any;
pub mod commitment;
pub mod events;
pub mod metadata;
pub mod network;
pub mod rpc;
pub mod scale_guard;
pub mod storage_key;
pub mod subnet;
pub mod tlock;

use std::future::Future;

use grail_protocol::hash::{DomainHasher, Hash32};
use grail_protocol::window::ChainClock;

/// Domain of a local-clock block hash.
pub const DOMAIN_LOCAL_BLOCK: &str = "grail/v1/local-block";

/// Errors of a chain source.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// The chain's block time is zero.
    #[error("block_time_s of the chain is 0")]
    ZeroBlockTime,
    /// The block has not been produced yet (a real chain cannot hash it; wait and retry).
    #[error("block {block} has not been produced yet (latest {latest:?})")]
    NotYetProduced {
        /// The block asked for.
        block: u64,
        /// The latest block the source knows, if any.
        latest: Option<u64>,
    },
    /// The node's runtime lacks calls, storage items or runtime APIs the roles use.
    #[error("chain source {source_name}: its runtime metadata lacks {missing}")]
    MissingInMetadata {
        /// Which source (an URL).
        source_name: String,
        /// The missing items, `Pallet.name (kind)`, comma-separated.
        missing: String,
    },
    /// A storage value is absent where it must exist, or does not decode as its type.
    #[error("storage {item}: {reason}")]
    BadStorage {
        /// The item and its keys, e.g. `SubtensorModule.Keys(81, 2)`.
        item: String,
        /// What is wrong.
        reason: String,
    },
    /// The node refused a submitted extrinsic (its transaction pool's verdict).
    #[error("chain source {source_name}: {call} refused: {code} {message}{}", data.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected {
        /// Which source (an URL).
        source_name: String,
        /// `Pallet.call`.
        call: String,
        /// The JSON-RPC error code (1010 invalid, 1011 unknown validity, 1001 bad format, ...).
        code: i32,
        /// Its message.
        message: String,
        /// The runtime's reason (`Transaction is outdated`, ...).
        data: Option<String>,
    },
    /// An included extrinsic failed in the runtime (`System.ExtrinsicFailed`).
    #[error("chain source {source_name}: {call} failed in block {block}: {error}")]
    DispatchFailed {
        /// Which source (an URL).
        source_name: String,
        /// `Pallet.call`.
        call: String,
        /// The block that included it.
        block: u64,
        /// The error, `Pallet.Name` for a pallet's error.
        error: String,
    },
    /// The node no longer holds the state at the block asked for: a pruned node (Substrate's
    /// `--state-pruning N`, the default of a lite node) discards the state of older blocks, and
    /// only an archive node can answer. It does not heal by retrying.
    #[error("chain source {source_name}: {method}: the node has discarded the state at that block (a pruned node keeps only its recent blocks' state; an archive node keeps all): {message}")]
    StateDiscarded {
        /// Which source (an URL).
        source_name: String,
        /// The request, e.g. `state_getStorage(Timestamp.Now)`.
        method: String,
        /// The node's answer, which names the block's hash.
        message: String,
    },
    /// The chain could not be reached or answered nonsense.
    #[error("chain source {source_name}: {detail}")]
    Unavailable {
        /// Which source (an URL, or `local`).
        source_name: String,
        /// What went wrong.
        detail: String,
    },
}

/// A source of block numbers and hashes.
///
/// The methods return futures so that a source backed by a node (JSON-RPC) fits the same
/// trait; the local clock answers at once.
pub trait ChainSource: Send + Sync + std::fmt::Debug {
    /// Where blocks come from, for logs: `local clock` or the node's URL.
    fn describe(&self) -> String;

    /// An estimate of the block clock, to decide when to wake up and what the current window
    /// is. Never a protocol value: those come from [`ChainSource::window_clock`].
    fn estimated_clock(&self) -> ChainClock;

    /// The latest block the roles act on at unix time `now_unix` (a node's finalized head);
    /// `None` before genesis. A source backed by a node ignores `now_unix`.
    fn current_block(
        &self,
        now_unix: u64,
    ) -> impl Future<Output = Result<Option<u64>, ChainError>> + Send;

    /// The hash of block `block`. [`ChainError::NotYetProduced`] while the block is not
    /// produced (for a node: not finalized).
    fn block_hash(&self, block: u64) -> impl Future<Output = Result<Hash32, ChainError>> + Send;

    /// The clock of `window`: anchored at the timestamp of the window's first block
    /// (`genesis_unix = t(w·L) − w·L·block_time_s`), so its start is when that block was
    /// produced and its deadline the nominal window length later. Every role reads the same
    /// timestamp from the chain. [`ChainError::NotYetProduced`] before that block.
    fn window_clock(
        &self,
        window: u64,
        blocks_per_window: u64,
    ) -> impl Future<Output = Result<ChainClock, ChainError>> + Send;
}

/// The clock of a window whose first block `first_block` has timestamp `t_ms` (unix ms):
/// `genesis_unix = floor(t_ms / 1000) − first_block·block_time_s`.
pub fn anchored_clock(
    first_block: u64,
    t_ms: u64,
    block_time_s: u64,
) -> Result<ChainClock, ChainError> {
    if block_time_s == 0 {
        return Err(ChainError::ZeroBlockTime);
    }
    let start = t_ms / 1000;
    let genesis_unix = first_block
        .checked_mul(block_time_s)
        .and_then(|elapsed| start.checked_sub(elapsed))
        .ok_or_else(|| ChainError::BadStorage {
            item: format!("Timestamp.Now at block {first_block}"),
            reason: format!(
                "{t_ms} ms is earlier than {first_block} blocks of {block_time_s} s after unix 0"
            ),
        })?;
    Ok(ChainClock { genesis_unix, block_time_s })
}

/// The embedded local chain: block `n` starts at `genesis_unix + n·block_time_s`; its hash is
/// `H("grail/v1/local-block", genesis_unix, n)`. A development stand-in for subtensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalClockChain {
    /// Unix time (s) at which block 0 starts.
    pub genesis_unix: u64,
    /// Seconds per block (> 0).
    pub block_time_s: u64,
}

impl LocalClockChain {
    /// A local chain; a zero block time is an error.
    pub fn new(genesis_unix: u64, block_time_s: u64) -> Result<Self, ChainError> {
        if block_time_s == 0 {
            return Err(ChainError::ZeroBlockTime);
        }
        Ok(Self { genesis_unix, block_time_s })
    }

    /// The block in progress at `now_unix` (synchronous form of [`ChainSource::current_block`]).
    pub fn block_at(&self, now_unix: u64) -> Result<Option<u64>, ChainError> {
        self.clock().block_at(now_unix).map_err(|_| ChainError::ZeroBlockTime)
    }

    /// `H("grail/v1/local-block", u64 genesis_unix, u64 block)`.
    pub fn hash_of(&self, block: u64) -> Hash32 {
        local_block_hash(self.genesis_unix, block)
    }
}

/// The block hash of the local clock chain with this genesis.
pub fn local_block_hash(genesis_unix: u64, block: u64) -> Hash32 {
    DomainHasher::new(DOMAIN_LOCAL_BLOCK).u64(genesis_unix).u64(block).finish()
}

impl LocalClockChain {
    /// The clock of this chain (exact: blocks follow it).
    pub fn clock(&self) -> ChainClock {
        ChainClock { genesis_unix: self.genesis_unix, block_time_s: self.block_time_s }
    }
}

impl ChainSource for LocalClockChain {
    fn describe(&self) -> String {
        format!("local clock (genesis {}, {} s blocks)", self.genesis_unix, self.block_time_s)
    }

    fn estimated_clock(&self) -> ChainClock {
        self.clock()
    }

    fn current_block(
        &self,
        now_unix: u64,
    ) -> impl Future<Output = Result<Option<u64>, ChainError>> + Send {
        std::future::ready(self.block_at(now_unix))
    }

    fn block_hash(&self, block: u64) -> impl Future<Output = Result<Hash32, ChainError>> + Send {
        std::future::ready(Ok(self.hash_of(block)))
    }

    fn window_clock(
        &self,
        _window: u64,
        _blocks_per_window: u64,
    ) -> impl Future<Output = Result<ChainClock, ChainError>> + Send {
        std::future::ready(Ok(self.clock()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const VECTORS: &str =
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/local_chain.json"));

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        genesis_unix: u64,
        block_time_s: u64,
        block: u64,
        hash: String,
        block_start: u64,
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn golden_vectors() {
        let v: Vectors = serde_json::from_str(VECTORS).unwrap();
        assert!(v.cases.len() >= 3);
        for c in v.cases {
            let chain = LocalClockChain::new(c.genesis_unix, c.block_time_s).unwrap();
            assert_eq!(hex::encode(block_on(chain.block_hash(c.block)).unwrap()), c.hash);
            assert_eq!(chain.clock().block_start(c.block).unwrap(), c.block_start);
            let at_start = block_on(chain.current_block(c.block_start)).unwrap();
            assert_eq!(at_start, Some(c.block));
        }
    }

    #[test]
    fn hashes_depend_on_genesis_and_block() {
        let a = LocalClockChain::new(1_700_000_000, 12).unwrap();
        let b = LocalClockChain::new(1_700_000_001, 12).unwrap();
        assert_ne!(a.hash_of(5), a.hash_of(6));
        assert_ne!(a.hash_of(5), b.hash_of(5));
    }

    #[test]
    fn time_is_passed_in() {
        let c = LocalClockChain::new(1000, 12).unwrap();
        assert_eq!(c.block_at(999).unwrap(), None);
        assert_eq!(c.block_at(1000).unwrap(), Some(0));
        assert_eq!(c.block_at(1000 + 12 * 7 + 11).unwrap(), Some(7));
        assert_eq!(LocalClockChain::new(1000, 0), Err(ChainError::ZeroBlockTime));
    }
}

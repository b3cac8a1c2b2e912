//! drand randomness, verified and fail-closed (DESIGN.md 3.2).
//!
//! - [`ChainInfo`]: pinned quicknet and mainnet, any other chain from its `/info` JSON, and the
//!   round clock (`round_at`, `time_of`, `first_round_at_or_after`).
//! - [`verify_beacon`]: BLS verification with `drand-verify`; the only way to get a
//!   [`VerifiedBeacon`].
//! - [`DrandClient`]: fetches rounds from relays with timeouts and retries and verifies them.
//! - [`PinnedChain`]: the chains a role can name on its command line, and connecting to them.
//! - [`dev`]: the key and chain info of the insecure local development beacon (the beacon
//!   itself, which signs, is the `grail-beacon` crate).

mod chain;
mod client;
pub mod dev;
mod error;
mod pinned;
mod verify;

pub use chain::{ChainInfo, ChainKey, Scheme, MAINNET_HASH, QUICKNET_HASH};
pub use client::{unix_now, ClientOptions, DrandClient};
pub use error::DrandError;
pub use pinned::{PinnedChain, DEFAULT_LOCAL_RELAY, DEFAULT_RELAYS};
pub use verify::{randomness_of, verify_beacon, Beacon, VerifiedBeacon};

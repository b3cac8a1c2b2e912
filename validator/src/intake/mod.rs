//! The validator's own record of what each miner had uploaded, and when: the store is watched
//! during every window's upload period, and a file counts only if the validator held its
//! exact bytes before the window's cutoff (docs/SECURITY.md, "Store and time").
//!
//! - Only the registered miners' keys are read (no listing): miner `h`'s file is
//!   `windows/{w}/{h}.grail` in `h`'s own store ([`MinerStores`]: the one its commitment
//!   names, else its part `{h}/` of the validator's store), so nothing another miner writes
//!   in its own store is read as `h`'s. Each read has the store's timeout, regular files only and no link followed
//!   ([`WindowStore::read`]).
//! - Bytes are kept only if [`attribute`]d to the miner: they parse, name this window and this
//!   hotkey, and carry its signatures. Anything else is counted and shown in `/status`, never
//!   the miner's failure, and never replaces what the miner signed.
//! - The upload time of a file is when the validator first held those bytes (its own clock);
//!   a store's last-modified time is whatever its writer set, and is not used.
//! - The cutoff is the end of the last on-time second (deadline + upload grace + 1 s), which
//!   [`grail_protocol::window::check_timing`] puts strictly before the challenge round is
//!   published: no file that counts can have been chosen knowing the challenge.
//! - What is kept is written to the [`Spool`] in the data folder before it counts, so a
//!   restarted validator keeps what it saw.
//! - A window no watcher polled before its cutoff is not verified: nothing shows that a file
//!   predates the challenge. With `--storage.trust-store-times` the store's own times stand in,
//!   for the validator's own store only ([`backfill`]).
//! - Reads per miner per window are bounded by a byte budget, so re-uploads cannot make the
//!   validator download without end.

mod backfill;
mod spool;
mod stores;
mod watch;

pub use backfill::{backfill, Backfill};
pub use spool::{Spool, Watched};
pub use stores::{storage_config, CommitmentPolicy, MinerStores};
pub use watch::{Progress, Watcher};

use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window::ChainClock;

use crate::pipeline::attribute;
use crate::PipelineError;

/// Bytes a watcher reads per miner and window, in files of the size limit: a miner may replace
/// its file a few times before the deadline; past this budget new versions are not read.
pub const READS_PER_MINER: u64 = 4;

/// Keys probed or read at once: a round over 256 miners on a remote store takes about
/// 256 / 16 round trips.
pub const READ_CONCURRENCY: usize = 16;

/// The end of `window`'s upload period on the validator's clock, unix milliseconds
/// (exclusive): the network's deadline plus the validator's upload grace, plus the whole last
/// second.
pub fn cutoff_ms(
    window: u64,
    network: &NetworkParams,
    verify: &VerifyParams,
    clock: &ChainClock,
) -> Result<u64, PipelineError> {
    let deadline =
        clock.upload_deadline(window, network.blocks_per_window, network.grace_period_s).map_err(
            |e| PipelineError::Setup { reason: format!("deadline of window {window}: {e}") },
        )?;
    Ok(deadline.saturating_add(verify.upload_grace_s).saturating_add(1).saturating_mul(1000))
}

/// Unix time in milliseconds (0 before 1970).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;

//! Windows no watcher polled before their cutoff (the validator started late, or was down):
//! with `--storage.trust-store-times`, each registered miner's file is read once and taken if
//! the store's last-modified time is before the cutoff. That time is the writer's claim on a
//! store a miner runs, so only the validator's own store is read this way, and only when its
//! operator vouches that no miner can set it (S3, R2: the provider sets it).

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use grail_protocol::keys::Hotkey;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window_file::window_file_key;

use super::{attribute, MinerStores, Spool};
use crate::ValidatorError;

/// What a backfill took and left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backfill {
    /// Files taken into the spool.
    pub taken: u64,
    /// Files whose store time is at or after the cutoff.
    pub late: u64,
    /// Miners whose commitment names their own store: not read (its times are theirs).
    pub own_store: u64,
    /// Files unreadable or not the miner's (wrong window, hotkey or signature).
    pub refused: u64,
}

/// Reads `window`'s file of each of `miners` from its part of the validator's own store, and
/// keeps in `spool` those modified before `cutoff_ms` (unix ms) and attributed to the miner,
/// with the store's time as their upload time.
pub async fn backfill(
    stores: &MinerStores,
    spool: &Spool,
    window: u64,
    cutoff_ms: u64,
    miners: &BTreeMap<Hotkey, u16>,
    verify: &VerifyParams,
) -> Result<Backfill, ValidatorError> {
    let mut out = Backfill::default();
    for hotkey in miners.keys() {
        let store = match stores.own_part_for(hotkey) {
            None => {
                out.own_store += 1;
                continue;
            }
            Some(Ok(store)) => store,
            Some(Err(reason)) => {
                tracing::warn!(window, %hotkey, reason, "backfill: the miner's part is unreadable");
                out.refused += 1;
                continue;
            }
        };
        let key = window_file_key(window, hotkey);
        let (info, bytes) = match store.read(&key, verify.max_file_bytes).await {
            Ok(Some(got)) => got,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(window, %hotkey, key, error = %e, "backfill: unreadable");
                out.refused += 1;
                continue;
            }
        };
        let modified_ms = info
            .last_modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        if modified_ms >= cutoff_ms {
            tracing::info!(window, %hotkey, modified_ms, cutoff_ms, "backfill: modified after the cutoff");
            out.late += 1;
            continue;
        }
        if let Err(why) = attribute(&bytes, window, hotkey, &verify.limits()) {
            tracing::warn!(window, %hotkey, key, why, "backfill: not the miner's file");
            out.refused += 1;
            continue;
        }
        spool.put(window, hotkey, &bytes, modified_ms / 1000)?;
        out.taken += 1;
    }
    Ok(out)
}

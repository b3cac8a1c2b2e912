//! The reveal of timelocked weight commits, which subtensor runs at the start of every block
//! (`block_step` → `reveal_crv3_commits`, in `on_initialize`, before the block's extrinsics),
//! with the epoch layout of the vendored runtime (`Epochs`, before the stateful epoch index):
//!
//! - with `cur_epoch` the block's epoch and `reveal_epoch = cur_epoch − RevealPeriodEpochs`,
//!   the queues of earlier epochs are dropped and that of `reveal_epoch` is taken;
//! - a commit whose round has no pulse in `Drand.Pulses` yet is put back, to be tried again in
//!   the next block of the epoch;
//! - any other is decrypted with the pulse's signature and decoded as `WeightsTlockPayload`
//!   (or the legacy payload without a hotkey); one whose hotkey is not the committer's, that
//!   does not decrypt or decode, or whose weights `set_weights`' rules refuse, is dropped and
//!   logged, as subtensor drops it; the others are written as `Weights`.

use grail_chain::storage_key::{hashed, storage_key, storage_prefix};
use grail_chain::tlock::{decrypt, WeightsTlockPayload};
use grail_chain::ChainError;
use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;

use crate::dispatch::weights::{commits, commits_key, do_set_weights, epochs, WeightsInput};
use crate::dispatch::{layered, Changes, DispatchFailure, Get, PALLET};
use crate::pulses::pulse;

/// The payload of commits made before it carried the hotkey.
#[derive(Debug, Decode)]
struct LegacyPayload {
    uids: Vec<u16>,
    values: Vec<u16>,
    version_key: u64,
}

/// Storage keys with a prefix, ascending.
pub type Keys<'a> = &'a dyn Fn(&[u8]) -> Vec<Vec<u8>>;

/// The reveals of block `block` for every subnet but the root, on the state before it.
pub fn reveal_block(
    md: &Metadata,
    get: Get<'_>,
    keys: Keys<'_>,
    block: u64,
) -> Result<Changes, ChainError> {
    let mut changes = Changes::new();
    for key in keys(&prefix_of(md, "NetworksAdded", None)?) {
        let Some(netuid) = netuid_of(md, &key)? else { continue };
        if netuid == 0 {
            continue;
        }
        let more = reveal_subnet(md, &layered(&changes, get), keys, netuid, block)?;
        changes.extend(more);
    }
    Ok(changes)
}

/// The netuid a `NetworksAdded` key is for (its last two bytes, when they give that key).
fn netuid_of(md: &Metadata, key: &[u8]) -> Result<Option<u16>, ChainError> {
    let Some(tail) = key.len().checked_sub(2).map(|i| &key[i..]) else { return Ok(None) };
    let netuid = u16::from_le_bytes([tail[0], tail[1]]);
    let own = storage_key(md, PALLET, "NetworksAdded", &[&netuid.encode()])?;
    Ok((own == key).then_some(netuid))
}

/// Subtensor's `reveal_crv3_commits_for_subnet` for mechanism 0.
pub fn reveal_subnet(
    md: &Metadata,
    get: Get<'_>,
    keys: Keys<'_>,
    netuid: u16,
    block: u64,
) -> Result<Changes, ChainError> {
    let mut changes = Changes::new();
    let period: u64 =
        crate::dispatch::value(md, get, "RevealPeriodEpochs", &[&netuid.encode()])?.unwrap_or(1);
    let cur_epoch = epochs(md, get, netuid)?.epoch_of(block);
    let reveal_epoch = cur_epoch.saturating_sub(period);
    let subnet_queues = prefix_of(md, "TimelockedWeightCommits", Some(&netuid.encode()))?;
    for key in keys(&subnet_queues) {
        let Some(epoch) = key.len().checked_sub(8).map(|i| &key[i..]) else { continue };
        let epoch = u64::from_le_bytes(epoch.try_into().unwrap_or([0; 8]));
        if epoch < reveal_epoch && key == commits_key(md, netuid, epoch)? {
            changes.push((key, None));
        }
    }
    if cur_epoch < period {
        return Ok(changes);
    }
    let queue = commits(md, get, netuid, reveal_epoch)?;
    if queue.is_empty() {
        return Ok(changes);
    }
    let mut unrevealed = Vec::new();
    for c in queue {
        let Some(p) = pulse(md, get, c.reveal_round)? else {
            tracing::trace!(netuid, round = c.reveal_round, "no pulse yet: the commit waits");
            unrevealed.push(c);
            continue;
        };
        let who = grail_protocol::keys::Hotkey(c.who);
        let Some(input) = open(netuid, &c.who, &c.commit, &p.signature) else { continue };
        let result = do_set_weights(md, &layered(&changes, get), &c.who, &input, block);
        match result {
            Ok(more) => {
                tracing::info!(netuid, hotkey = %who, epoch = reveal_epoch, "timelocked weights revealed");
                changes.extend(more);
            }
            Err(DispatchFailure::Module(e)) => {
                tracing::info!(netuid, hotkey = %who, error = ?e, "revealed weights refused: commit dropped");
            }
            Err(DispatchFailure::Internal(e)) => {
                tracing::error!(netuid, hotkey = %who, error = %e, "revealed weights not applied: commit dropped");
            }
        }
    }
    let queue_key = commits_key(md, netuid, reveal_epoch)?;
    let rest = (!unrevealed.is_empty()).then(|| unrevealed.encode());
    changes.push((queue_key, rest));
    Ok(changes)
}

/// The prefix of the keys of `SubtensorModule.entry`, with the first map key when given.
fn prefix_of(md: &Metadata, entry: &str, first: Option<&[u8]>) -> Result<Vec<u8>, ChainError> {
    let missing = || ChainError::MissingInMetadata {
        source_name: "grail-devchain".into(),
        missing: format!("{PALLET}.{entry} (storage)"),
    };
    let storage = md.pallet_by_name(PALLET).and_then(|p| p.storage()).ok_or_else(missing)?;
    let item = storage.entry_by_name(entry).ok_or_else(missing)?;
    let mut out = storage_prefix(storage.prefix(), entry).to_vec();
    if let Some(first) = first {
        let hasher = item.keys().next().ok_or_else(missing)?.hasher;
        out.extend(hashed(hasher, first));
    }
    Ok(out)
}

/// The weights in `commit` by `who`, opened with its round's signature; `None` (logged) when
/// it does not decrypt, decode, or name `who`.
fn open(netuid: u16, who: &[u8; 32], commit: &[u8], signature: &[u8]) -> Option<WeightsInput> {
    let hotkey = grail_protocol::keys::Hotkey(*who);
    let dropped = |why: &str| {
        tracing::info!(netuid, %hotkey, why, "timelocked commit dropped");
        None
    };
    let signature = signature.strip_prefix(b"0x").unwrap_or(signature);
    let plain = match decrypt(commit, signature) {
        Ok(p) => p,
        Err(e) => return dropped(&e.to_string()),
    };
    let input =
        |uids, values, version_key| Some(WeightsInput { netuid, uids, values, version_key });
    let legacy = || match LegacyPayload::decode(&mut plain.as_slice()) {
        Ok(l) => input(l.uids, l.values, l.version_key),
        Err(_) => dropped("the payload decodes in neither format"),
    };
    match WeightsTlockPayload::decode(&mut plain.as_slice()) {
        Ok(p) => match <[u8; 32]>::decode(&mut p.hotkey.as_slice()) {
            Ok(h) if &h == who => input(p.uids, p.values, p.version_key),
            Ok(_) => dropped("the payload's hotkey is not the committer"),
            Err(_) => legacy(),
        },
        Err(_) => legacy(),
    }
}

#[cfg(test)]
#[path = "reveal_tests.rs"]
mod tests;

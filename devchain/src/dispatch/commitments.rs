//! `Commitments.set_commitment(netuid, info)`, signed by a hotkey, as pallet-commitments
//! applies it in subtensor's runtime, in its order:
//!
//! - the hotkey must be registered on the netuid (`Uids(netuid, hotkey)`, the runtime's
//!   `CanCommit`): `AccountNotAllowedCommit`;
//! - at most `MaxFields` (3) fields: `TooManyFieldsInCommitmentInfo`. A signed extrinsic never
//!   gets here with more: `info.fields` is a `BoundedVec<Data, MaxFields>`, so the node cannot
//!   decode its call and refuses it at submission (1001, invalid format), as the pool does
//!   (`decode_checked`);
//! - space: the fields' bytes (`len_for_rate_limit`, at least 100) are added to
//!   `UsedSpaceOf(netuid, hotkey) = UsageTracker { last_epoch, used_space }`, reset when the
//!   subnet's epoch (`(block + netuid + 1) / (tempo + 1)`, finney's `get_epoch_index`)
//!   changed; over `MaxSpace` (3100 unless set): `SpaceLimitExceeded`;
//! - it stores `CommitmentOf(netuid, hotkey) = Registration { deposit, block, info }` (an
//!   earlier registration keeps its deposit, then the deposit becomes `InitialDeposit +
//!   fields · FieldDeposit`, both 0 in the metadata, the difference reserved from or returned
//!   to the free balance: `Balances.InsufficientBalance`), `LastCommitment(netuid, hotkey) =
//!   block`, `LastBondsReset(netuid, hotkey) = block` when a field is `ResetBondsFlag`, and
//!   adds `(netuid, hotkey)` to `TimelockedIndex` when a field is `TimelockEncrypted` (removes
//!   it otherwise).
//!
//! Left out: the bonds reset itself (the dev chain keeps no bonds), the reveal of timelocked
//! fields at `on_initialize` (into `RevealedCommitments`), the pallet's events
//! (`Commitment`, `TimelockCommitment`; the dev chain writes only `System` events), and the
//! root call `set_max_space`.

use grail_chain::commitment::{CommitmentInfo, Data, Registration, MAX_FIELDS};
use grail_chain::storage_key::storage_key;
use grail_chain::subnet::read_item;
use grail_chain::tlock::Epochs;
use grail_chain::ChainError;
use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;

use super::{account, decode_args, module_error, put_account, stored, value, Changes};
use super::{DispatchFailure, Get};

const COMMITMENTS: &str = "Commitments";

/// Pallet-commitments' least space a commitment counts for.
const MIN_USED_SPACE: u64 = 100;

/// `UsedSpaceOf`'s value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode)]
pub struct UsageTracker {
    pub last_epoch: u64,
    pub used_space: u64,
}

/// Decodes the arguments as the runtime does: more than `MaxFields` fields do not decode.
pub(crate) fn decode_checked(mut args: &[u8]) -> Result<(u16, CommitmentInfo), String> {
    let decoded = <(u16, CommitmentInfo)>::decode(&mut args).map_err(|e| e.to_string())?;
    if !args.is_empty() {
        return Err(format!("{} bytes after the arguments", args.len()));
    }
    Ok(decoded)
}

/// `Commitments.entry(keys)` through `get`, or the metadata's default.
fn item<T: Decode>(
    md: &Metadata,
    get: Get<'_>,
    entry: &str,
    keys: &[&[u8]],
) -> Result<Option<T>, ChainError> {
    read_item(md, COMMITMENTS, entry, keys, "", &mut |k| Ok(get(k)))
}

/// `Commitments.entry(keys)` if stored (an optional item).
fn optional<T: Decode>(
    md: &Metadata,
    get: Get<'_>,
    entry: &str,
    keys: &[&[u8]],
) -> Result<Option<T>, ChainError> {
    let key = storage_key(md, COMMITMENTS, entry, keys)?;
    get(&key)
        .map(|bytes| {
            T::decode(&mut bytes.as_slice()).map_err(|e| ChainError::BadStorage {
                item: format!("{COMMITMENTS}.{entry}"),
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// A constant of the pallet, decoded.
fn constant<T: Decode>(md: &Metadata, name: &str) -> Result<T, ChainError> {
    let missing = || ChainError::MissingInMetadata {
        source_name: "grail-devchain".into(),
        missing: format!("{COMMITMENTS}.{name} (constant)"),
    };
    let c = md
        .pallet_by_name(COMMITMENTS)
        .and_then(|p| p.constant_by_name(name))
        .ok_or_else(missing)?;
    T::decode(&mut c.value()).map_err(|_| missing())
}

/// `set_commitment` by `who` in block `block`.
pub fn set_commitment(
    md: &Metadata,
    get: Get<'_>,
    who: &[u8; 32],
    args: &[u8],
    block: u64,
) -> Result<Changes, DispatchFailure> {
    // Unbounded here, so that the pallet's own check below is the one that refuses.
    let (netuid, fields) = decode_args::<(u16, Vec<Data>)>("set_commitment", args)?;
    let fail = |name| Err(module_error(md, COMMITMENTS, name));
    let n_key = netuid.encode();
    if stored::<u16>(md, get, "Uids", &[&n_key, who])?.is_none() {
        return fail("AccountNotAllowedCommit");
    }
    let max_fields: u32 = constant(md, "MaxFields").unwrap_or(MAX_FIELDS as u32);
    if fields.len() > max_fields as usize {
        return fail("TooManyFieldsInCommitmentInfo");
    }
    let block_number = u32::try_from(block).map_err(|_| ChainError::BadStorage {
        item: "System.Number".into(),
        reason: "the chain passed u32::MAX blocks".into(),
    })?;
    let keys: &[&[u8]] = &[&n_key, who];
    let mut changes = Changes::new();

    let required: u64 =
        fields.iter().map(Data::len_for_rate_limit).sum::<u64>().max(MIN_USED_SPACE);
    let mut usage: UsageTracker = optional(md, get, "UsedSpaceOf", keys)?.unwrap_or_default();
    let tempo: u16 = value(md, get, "Tempo", &[&n_key])?.unwrap_or(0);
    let epoch = Epochs { tempo, netuid }.epoch_of(block);
    if usage.last_epoch != epoch {
        usage = UsageTracker { last_epoch: epoch, used_space: 0 };
    }
    if fields.iter().any(|f| matches!(f, Data::ResetBondsFlag)) {
        let key = storage_key(md, COMMITMENTS, "LastBondsReset", keys)?;
        changes.push((key, Some(block_number.encode())));
    }
    let max_space: u32 = item(md, get, "MaxSpace", &[])?.unwrap_or(3100);
    if usage.used_space.saturating_add(required) > u64::from(max_space) {
        return fail("SpaceLimitExceeded");
    }
    usage.used_space = usage.used_space.saturating_add(required);
    changes.push((storage_key(md, COMMITMENTS, "UsedSpaceOf", keys)?, Some(usage.encode())));

    let old: Option<Registration> = optional(md, get, "CommitmentOf", keys)?;
    let old_deposit = old.map_or(0, |r| r.deposit);
    let initial: u64 = constant(md, "InitialDeposit")?;
    let per_field: u64 = constant(md, "FieldDeposit")?;
    let deposit = initial.saturating_add((fields.len() as u64).saturating_mul(per_field));
    if deposit != old_deposit {
        let mut info = account(md, get, who)?;
        if deposit > old_deposit {
            let more = deposit - old_deposit;
            if info.data.free < more {
                return fail_balances(md);
            }
            info.data.free -= more;
            info.data.reserved += more;
        } else {
            let back = (old_deposit - deposit).min(info.data.reserved);
            info.data.reserved -= back;
            info.data.free += back;
        }
        changes.push(put_account(md, who, &info)?);
    }
    let timelocked = fields.iter().any(Data::is_timelock_encrypted);
    let registration =
        Registration { deposit, block: block_number, info: CommitmentInfo { fields } };
    changes
        .push((storage_key(md, COMMITMENTS, "CommitmentOf", keys)?, Some(registration.encode())));
    changes
        .push((storage_key(md, COMMITMENTS, "LastCommitment", keys)?, Some(block_number.encode())));

    let mut index: Vec<(u16, [u8; 32])> =
        item(md, get, "TimelockedIndex", &[])?.unwrap_or_default();
    let entry = (netuid, *who);
    let had = index.binary_search(&entry);
    let changed = match (timelocked, had) {
        (true, Err(at)) => {
            index.insert(at, entry);
            true
        }
        (false, Ok(at)) => {
            index.remove(at);
            true
        }
        _ => false,
    };
    if changed {
        changes.push((storage_key(md, COMMITMENTS, "TimelockedIndex", &[])?, Some(index.encode())));
    }
    Ok(changes)
}

fn fail_balances(md: &Metadata) -> Result<Changes, DispatchFailure> {
    Err(module_error(md, "Balances", "InsufficientBalance"))
}

#[cfg(test)]
#[path = "commitments_tests.rs"]
mod tests;

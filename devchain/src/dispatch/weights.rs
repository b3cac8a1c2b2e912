//! Weights, signed by a validator's hotkey, as subtensor applies them on mechanism 0 (whose
//! storage index is the netuid).
//!
//! `set_weights(netuid, dests, weights, version_key)` refuses, in subtensor's order:
//! `CommitRevealEnabled` (the subnet commits instead), `CanNotSetRootNetworkWeights`,
//! `WeightVecNotEqualSize`, `MechanismDoesNotExist`, `UidsLengthExceedUidsInSubNet`,
//! `HotKeyNotRegisteredInSubNet`, `NotEnoughStakeToSetWeights` (`TotalHotkeyAlpha` below
//! `StakeThreshold`, 0 unless set), `IncorrectWeightVersionKey` (a network key of 0 takes any),
//! `SettingWeightsTooFast` (`WeightsSetRateLimit` blocks since the uid's `LastUpdate`, 0 being
//! never; skipped under commit-reveal), `NeuronNoValidatorPermit` (a lone self-weight and the
//! subnet owner's uid pass), `DuplicateUids`, `UidVecContainInvalidOne`,
//! `WeightVecLengthIsLow` (fewer than min(`MinAllowedWeights`, `SubnetworkN`), a self-weight
//! passes) and, once the values are max-upscaled, `MaxWeightExceeded` (`MaxWeightsLimit`,
//! 65535 being none). It writes `Weights(netuid, uid)` and, without commit-reveal,
//! `LastUpdate(netuid)[uid]`.
//!
//! `commit_timelocked_weights(netuid, commit, reveal_round, commit_reveal_version)` refuses
//! `MechanismDoesNotExist`, `CommitRevealDisabled`, `IncorrectCommitRevealVersion`,
//! `HotKeyNotRegisteredInSubNet`, `CommittingWeightsTooFast` and `TooManyUnrevealedCommits`
//! (10 per hotkey and epoch), then appends `(hotkey, block, commit, reveal_round)` to
//! `TimelockedWeightCommits(netuid, epoch)` and sets `LastUpdate`. The epoch is the block's
//! ([`commit_epoch`]); `crate::reveal` applies the commit once its round's pulse is stored.

use grail_chain::storage_key::storage_key;
use grail_chain::tlock::{Epochs, MAX_COMMIT_BYTES};
use grail_chain::ChainError;
use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;

use super::{decode_args, module_error, stored, value, Changes, DispatchFailure, Get, PALLET};

/// Subtensor's limit of unrevealed commits per hotkey in one epoch's queue.
pub const MAX_UNREVEALED_COMMITS: usize = 10;

/// The root network, on which weights are set otherwise.
const ROOT: u16 = 0;

/// The arguments of `set_weights`.
#[derive(Debug, Clone, PartialEq, Eq, Decode)]
pub struct SetWeightsArgs {
    pub netuid: u16,
    pub dests: Vec<u16>,
    pub weights: Vec<u16>,
    pub version_key: u64,
}

/// The arguments of `commit_timelocked_weights`.
#[derive(Debug, Clone, PartialEq, Eq, Decode)]
pub struct CommitArgs {
    pub netuid: u16,
    pub commit: Vec<u8>,
    pub reveal_round: u64,
    pub commit_reveal_version: u16,
}

impl SetWeightsArgs {
    pub(crate) fn decode_checked(mut args: &[u8]) -> Result<Self, String> {
        Self::decode(&mut args).map_err(|e| e.to_string())
    }
}

impl CommitArgs {
    /// Decodes, with the commit's bound (`BoundedVec<u8, 5000>`).
    pub(crate) fn decode_checked(mut args: &[u8]) -> Result<Self, String> {
        let a = Self::decode(&mut args).map_err(|e| e.to_string())?;
        if a.commit.len() > MAX_COMMIT_BYTES {
            return Err(format!(
                "a commit of {} bytes, over the bound of {MAX_COMMIT_BYTES}",
                a.commit.len()
            ));
        }
        Ok(a)
    }
}

/// One entry of `TimelockedWeightCommits`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct TimelockedCommit {
    pub who: [u8; 32],
    pub commit_block: u64,
    pub commit: Vec<u8>,
    pub reveal_round: u64,
}

/// Weights to apply: those of a `set_weights` call or of a revealed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsInput {
    pub netuid: u16,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// `set_weights` by `hotkey` in block `block`.
pub fn set_weights(
    md: &Metadata,
    get: Get<'_>,
    hotkey: &[u8; 32],
    args: &[u8],
    block: u64,
) -> Result<Changes, DispatchFailure> {
    let a: SetWeightsArgs = decode_args("set_weights", args)?;
    if commit_reveal(md, get, a.netuid)? {
        return Err(module_error(md, PALLET, "CommitRevealEnabled"));
    }
    let input = WeightsInput {
        netuid: a.netuid,
        uids: a.dests,
        values: a.weights,
        version_key: a.version_key,
    };
    do_set_weights(md, get, hotkey, &input, block)
}

/// Subtensor's `internal_set_weights`: the checks of the module docs, then the writes.
pub fn do_set_weights(
    md: &Metadata,
    get: Get<'_>,
    hotkey: &[u8; 32],
    w: &WeightsInput,
    block: u64,
) -> Result<Changes, DispatchFailure> {
    let fail = |name| Err(module_error(md, PALLET, name));
    let n_key = w.netuid.encode();
    if w.netuid == ROOT {
        return fail("CanNotSetRootNetworkWeights");
    }
    if w.uids.len() != w.values.len() {
        return fail("WeightVecNotEqualSize");
    }
    if !subnet_exists(md, get, w.netuid)? {
        return fail("MechanismDoesNotExist");
    }
    let n: u16 = value(md, get, "SubnetworkN", &[&n_key])?.unwrap_or(0);
    if w.uids.len() > usize::from(n) {
        return fail("UidsLengthExceedUidsInSubNet");
    }
    let Some(uid) = uid_of(md, get, w.netuid, hotkey)? else {
        return fail("HotKeyNotRegisteredInSubNet");
    };
    let owner_uid = owner_uid(md, get, w.netuid)?;
    if owner_uid != Some(uid) {
        let stake: u64 = value(md, get, "TotalHotkeyAlpha", &[hotkey, &n_key])?.unwrap_or(0);
        let threshold: u64 = value(md, get, "StakeThreshold", &[])?.unwrap_or(0);
        if stake < threshold {
            return fail("NotEnoughStakeToSetWeights");
        }
    }
    let network_key: u64 = value(md, get, "WeightsVersionKey", &[&n_key])?.unwrap_or(0);
    if network_key != 0 && w.version_key < network_key {
        return fail("IncorrectWeightVersionKey");
    }
    let commit_reveal = commit_reveal(md, get, w.netuid)?;
    if !commit_reveal && !rate_limit_passes(md, get, w.netuid, uid, block)? {
        return fail("SettingWeightsTooFast");
    }
    let self_weight = w.values.len() == 1 && w.uids.first() == Some(&uid);
    let permits: Vec<bool> = value(md, get, "ValidatorPermit", &[&n_key])?.unwrap_or_default();
    let permit = permits.get(usize::from(uid)).copied().unwrap_or(false);
    if !(self_weight || owner_uid == Some(uid) || permit) {
        return fail("NeuronNoValidatorPermit");
    }
    if has_duplicates(&w.uids) {
        return fail("DuplicateUids");
    }
    for u in &w.uids {
        if stored::<[u8; 32]>(md, get, "Keys", &[&n_key, &u.encode()])?.is_none() {
            return fail("UidVecContainInvalidOne");
        }
    }
    let min_allowed: u16 = value(md, get, "MinAllowedWeights", &[&n_key])?.unwrap_or(0);
    if !self_weight && w.values.len() < usize::from(min_allowed.min(n)) {
        return fail("WeightVecLengthIsLow");
    }
    let upscaled = max_upscale(&w.values);
    let limit: u16 = value(md, get, "MaxWeightsLimit", &[&n_key])?.unwrap_or(u16::MAX);
    if !self_weight && limit != u16::MAX && !max_within(&upscaled, limit) {
        return fail("MaxWeightExceeded");
    }
    let zipped: Vec<(u16, u16)> = w.uids.iter().copied().zip(upscaled).collect();
    let weights_key = storage_key(md, PALLET, "Weights", &[&n_key, &uid.encode()])?;
    let mut changes: Changes = vec![(weights_key, Some(zipped.encode()))];
    if !commit_reveal {
        changes.push(last_update_change(md, get, w.netuid, uid, block)?);
    }
    Ok(changes)
}

/// `commit_timelocked_weights` by `hotkey` in block `block`.
pub fn commit_timelocked_weights(
    md: &Metadata,
    get: Get<'_>,
    hotkey: &[u8; 32],
    args: &[u8],
    block: u64,
) -> Result<Changes, DispatchFailure> {
    let a = CommitArgs::decode_checked(args).map_err(|reason| {
        DispatchFailure::Internal(ChainError::BadStorage {
            item: "commit_timelocked_weights arguments".into(),
            reason,
        })
    })?;
    let fail = |name| Err(module_error(md, PALLET, name));
    if !subnet_exists(md, get, a.netuid)? {
        return fail("MechanismDoesNotExist");
    }
    if !commit_reveal(md, get, a.netuid)? {
        return fail("CommitRevealDisabled");
    }
    let version: u16 = value(md, get, "CommitRevealWeightsVersion", &[])?.unwrap_or(0);
    if a.commit_reveal_version != version {
        return fail("IncorrectCommitRevealVersion");
    }
    let Some(uid) = uid_of(md, get, a.netuid, hotkey)? else {
        return fail("HotKeyNotRegisteredInSubNet");
    };
    if !rate_limit_passes(md, get, a.netuid, uid, block)? {
        return fail("CommittingWeightsTooFast");
    }
    let epoch = epochs(md, get, a.netuid)?.commit_epoch(block);
    let mut queue = commits(md, get, a.netuid, epoch)?;
    if queue.iter().filter(|c| &c.who == hotkey).count() >= MAX_UNREVEALED_COMMITS {
        return fail("TooManyUnrevealedCommits");
    }
    queue.push(TimelockedCommit {
        who: *hotkey,
        commit_block: block,
        commit: a.commit,
        reveal_round: a.reveal_round,
    });
    let queue_key = commits_key(md, a.netuid, epoch)?;
    Ok(vec![(queue_key, Some(queue.encode())), last_update_change(md, get, a.netuid, uid, block)?])
}

/// The subnet's epoch layout (`Tempo`).
pub fn epochs(md: &Metadata, get: Get<'_>, netuid: u16) -> Result<Epochs, ChainError> {
    let tempo: u16 = value(md, get, "Tempo", &[&netuid.encode()])?.unwrap_or(0);
    Ok(Epochs { tempo, netuid })
}

/// The key of `TimelockedWeightCommits(netuid, epoch)`.
pub fn commits_key(md: &Metadata, netuid: u16, epoch: u64) -> Result<Vec<u8>, ChainError> {
    storage_key(md, PALLET, "TimelockedWeightCommits", &[&netuid.encode(), &epoch.encode()])
}

/// `TimelockedWeightCommits(netuid, epoch)`: empty when absent.
pub fn commits(
    md: &Metadata,
    get: Get<'_>,
    netuid: u16,
    epoch: u64,
) -> Result<Vec<TimelockedCommit>, ChainError> {
    value(md, get, "TimelockedWeightCommits", &[&netuid.encode(), &epoch.encode()])
        .map(Option::unwrap_or_default)
}

/// `CommitRevealWeightsEnabled(netuid)`.
pub fn commit_reveal(md: &Metadata, get: Get<'_>, netuid: u16) -> Result<bool, ChainError> {
    Ok(value(md, get, "CommitRevealWeightsEnabled", &[&netuid.encode()])?.unwrap_or(false))
}

/// Subtensor's `ensure_mechanism_exists` for mechanism 0.
fn subnet_exists(md: &Metadata, get: Get<'_>, netuid: u16) -> Result<bool, ChainError> {
    let n_key = netuid.encode();
    let added: bool = value(md, get, "NetworksAdded", &[&n_key])?.unwrap_or(false);
    let mechanisms: u8 = value(md, get, "MechanismCountCurrent", &[&n_key])?.unwrap_or(1);
    Ok(added && mechanisms > 0)
}

fn uid_of(
    md: &Metadata,
    get: Get<'_>,
    netuid: u16,
    hotkey: &[u8; 32],
) -> Result<Option<u16>, ChainError> {
    stored(md, get, "Uids", &[&netuid.encode(), hotkey])
}

/// The uid of `SubnetOwnerHotkey(netuid)`, if it is set and registered.
fn owner_uid(md: &Metadata, get: Get<'_>, netuid: u16) -> Result<Option<u16>, ChainError> {
    match stored::<[u8; 32]>(md, get, "SubnetOwnerHotkey", &[&netuid.encode()])? {
        Some(owner) => uid_of(md, get, netuid, &owner),
        None => Ok(None),
    }
}

/// `LastUpdate(netuid)` as subtensor reads it: at least `SubnetworkN` long.
fn last_update(md: &Metadata, get: Get<'_>, netuid: u16) -> Result<Vec<u64>, ChainError> {
    let n_key = netuid.encode();
    let mut v: Vec<u64> = value(md, get, "LastUpdate", &[&n_key])?.unwrap_or_default();
    let n: u16 = value(md, get, "SubnetworkN", &[&n_key])?.unwrap_or(0);
    if v.len() < usize::from(n) {
        v.resize(usize::from(n), 0);
    }
    Ok(v)
}

fn last_update_change(
    md: &Metadata,
    get: Get<'_>,
    netuid: u16,
    uid: u16,
    block: u64,
) -> Result<(Vec<u8>, Option<Vec<u8>>), ChainError> {
    let mut v = last_update(md, get, netuid)?;
    if let Some(slot) = v.get_mut(usize::from(uid)) {
        *slot = block;
    }
    Ok((storage_key(md, PALLET, "LastUpdate", &[&netuid.encode()])?, Some(v.encode())))
}

/// Subtensor's `check_rate_limit`: the uid exists and set nothing yet, or set it at least
/// `WeightsSetRateLimit` blocks ago.
fn rate_limit_passes(
    md: &Metadata,
    get: Get<'_>,
    netuid: u16,
    uid: u16,
    block: u64,
) -> Result<bool, ChainError> {
    let n_key = netuid.encode();
    if stored::<[u8; 32]>(md, get, "Keys", &[&n_key, &uid.encode()])?.is_none() {
        return Ok(false);
    }
    let last = last_update(md, get, netuid)?.get(usize::from(uid)).copied().unwrap_or(0);
    if last == 0 {
        return Ok(true);
    }
    let limit: u64 = value(md, get, "WeightsSetRateLimit", &[&n_key])?.unwrap_or(0);
    Ok(block.saturating_sub(last) >= limit)
}

fn has_duplicates(uids: &[u16]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    uids.iter().any(|u| !seen.insert(*u))
}

/// One in I32F32, subtensor's fixed-point type: 32 fractional bits.
const ONE: u128 = 1 << 32;

/// I32F32 `round()` of a non-negative raw value: half away from zero.
fn round_raw(raw: u128) -> u128 {
    (raw + ONE / 2) / ONE
}

/// Subtensor's `vec_u16_max_upscale_to_u16` in its I32F32 arithmetic (divisions and products
/// truncate to 32 fractional bits, then round): the largest value becomes 65535.
pub fn max_upscale(values: &[u16]) -> Vec<u16> {
    let max = u128::from(values.iter().copied().max().unwrap_or(0));
    let to_u16 = |x: u128| u16::try_from(x).unwrap_or(u16::MAX);
    let u16_max = u128::from(u16::MAX);
    if max == 0 {
        return values.to_vec();
    }
    if max > 32768 {
        // e · (65535 / max): the quotient truncated first.
        let ratio = u16_max * ONE / max;
        values.iter().map(|&e| to_u16(round_raw(u128::from(e) * ratio))).collect()
    } else {
        // (e · 65535) / max, truncated to 32 fractional bits.
        values.iter().map(|&e| to_u16(round_raw(u128::from(e) * u16_max * ONE / max))).collect()
    }
}

/// Subtensor's `check_vec_max_limited`: the largest value, normalized to the sum, at most
/// `limit / 65535` (both in I32F32).
pub fn max_within(values: &[u16], limit: u16) -> bool {
    let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    let Some(max) = values.iter().copied().max() else { return true };
    let limit_raw = u128::from(limit) * ONE / u128::from(u16::MAX);
    let max_raw = (u128::from(max) * ONE).checked_div(sum).unwrap_or(0);
    max_raw <= limit_raw
}

#[cfg(test)]
#[path = "weights_tests.rs"]
mod tests;

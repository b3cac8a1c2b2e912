//! A subnet as subtensor stores it: its registered neurons (uid, hotkey, validator permit,
//! stake) and the hyperparameters weight setting depends on. [`SubnetState::read`] reads it
//! through any storage getter (a node's `state_getStorage`, or a map), with the metadata's
//! defaults for absent items as a node applies them; [`SubnetState::storage`] writes the
//! same state as the key/value pairs a node holds (the dev chain's genesis). Both take keys
//! and hashers from the metadata ([`crate::storage_key`]).
//!
//! Items (value types checked against finney's metadata in the tests): `SubnetworkN(netuid)
//! -> u16`, `Keys(netuid, uid) -> AccountId32`, `Uids(netuid, hotkey) -> u16`,
//! `ValidatorPermit(netuid) -> Vec<bool>`, `TotalHotkeyAlpha(hotkey, netuid) -> u64`,
//! `Tempo -> u16`, `CommitRevealWeightsEnabled -> bool`, `RevealPeriodEpochs -> u64`,
//! `WeightsVersionKey -> u64`, `WeightsSetRateLimit -> u64`, `MinAllowedWeights -> u16`,
//! `MaxWeightsLimit -> u16` (per netuid) and
//! `CommitRevealWeightsVersion -> u16`.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;

use crate::storage_key::storage_key;
use crate::ChainError;

const PALLET: &str = "SubtensorModule";

/// The most neurons a subnet read accepts: above any subtensor runtime's uid budget (256 under
/// Yuma, 2,500 under Null), so a node that claims more is refused before its keys are read.
pub const MAX_NEURONS: u16 = 4096;

/// What weight setting on the subnet depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hyperparameters {
    /// Blocks per epoch.
    pub tempo: u16,
    /// Weights must be committed (timelocked) rather than set.
    pub commit_reveal_enabled: bool,
    /// Epochs between a commit and its reveal.
    pub reveal_period_epochs: u64,
    /// The version key weights must carry.
    pub weights_version_key: u64,
    /// Blocks between two weight settings of one validator.
    pub weights_rate_limit: u64,
    /// The timelocked commit format the chain accepts.
    pub commit_reveal_version: u16,
    /// The fewest weights a validator may set (the chain uses min(this, neurons)).
    pub min_allowed_weights: u16,
    /// The largest weight after the chain max-upscales them (65535: no limit).
    pub max_weights_limit: u16,
}

/// One registered neuron.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetNeuron {
    pub uid: u16,
    /// The hotkey's public key.
    pub hotkey: [u8; 32],
    pub validator_permit: bool,
    /// `TotalHotkeyAlpha` on this subnet, in the chain's units.
    pub stake: u64,
}

/// A subnet's neurons (ascending by uid) and hyperparameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetState {
    pub netuid: u16,
    pub neurons: Vec<SubnetNeuron>,
    pub hyperparameters: Hyperparameters,
}

fn bad(item: String, reason: String) -> ChainError {
    ChainError::BadStorage { item, reason }
}

fn decode_value<T: Decode>(item: &str, bytes: &[u8]) -> Result<T, ChainError> {
    let mut input = bytes;
    let value = T::decode(&mut input)
        .map_err(|e| bad(item.to_owned(), format!("{} bytes do not decode: {e}", bytes.len())))?;
    if !input.is_empty() {
        return Err(bad(item.to_owned(), format!("{} bytes left over", input.len())));
    }
    Ok(value)
}

/// [`read_item`] of an item that must have a value or a default.
fn read_required<T: Decode>(
    md: &Metadata,
    entry: &str,
    keys: &[&[u8]],
    label: &str,
    get: &mut impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, ChainError>,
) -> Result<T, ChainError> {
    read_item(md, PALLET, entry, keys, label, get)?
        .ok_or_else(|| bad(format!("{PALLET}.{entry}{label}"), "absent, with no default".into()))
}

/// Reads `pallet.entry(keys)` through `get`: its value, or the metadata's default when the
/// node has none (as a node's runtime would), or `None` for an item without a default. `label`
/// names the keys in errors, e.g. `(81, 2)`.
pub fn read_item<T: Decode>(
    md: &Metadata,
    pallet: &str,
    entry: &str,
    keys: &[&[u8]],
    label: &str,
    get: &mut impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, ChainError>,
) -> Result<Option<T>, ChainError> {
    let key = storage_key(md, pallet, entry, keys)?;
    let item = format!("{pallet}.{entry}{label}");
    match get(&key)? {
        Some(bytes) => decode_value(&item, &bytes).map(Some),
        None => {
            let default = md
                .pallet_by_name(pallet)
                .and_then(|p| p.storage())
                .and_then(|s| s.entry_by_name(entry))
                .and_then(|e| e.default_value());
            default.map(|d| decode_value(&item, d)).transpose()
        }
    }
}

/// The keys of the items read once per subnet: `SubnetworkN`, `ValidatorPermit`, the
/// hyperparameters and `CommitRevealWeightsVersion` (a batched read's first request).
pub fn fixed_keys(md: &Metadata, netuid: u16) -> Result<Vec<Vec<u8>>, ChainError> {
    let n_key = netuid.encode();
    let mut keys = Vec::new();
    for entry in [
        "SubnetworkN",
        "ValidatorPermit",
        "Tempo",
        "CommitRevealWeightsEnabled",
        "RevealPeriodEpochs",
        "WeightsVersionKey",
        "WeightsSetRateLimit",
        "MinAllowedWeights",
        "MaxWeightsLimit",
    ] {
        keys.push(storage_key(md, PALLET, entry, &[&n_key])?);
    }
    keys.push(storage_key(md, PALLET, "CommitRevealWeightsVersion", &[])?);
    Ok(keys)
}

/// `SubnetworkN(netuid)` through `get`.
pub fn neuron_count(
    md: &Metadata,
    netuid: u16,
    get: &mut impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, ChainError>,
) -> Result<u16, ChainError> {
    let n = read_required(md, "SubnetworkN", &[&netuid.encode()], &format!("({netuid})"), get)?;
    checked_count(netuid, n)
}

fn checked_count(netuid: u16, n: u16) -> Result<u16, ChainError> {
    if n > MAX_NEURONS {
        return Err(bad(
            format!("{PALLET}.SubnetworkN({netuid})"),
            format!("{n} neurons, more than the {MAX_NEURONS} a subnet can hold"),
        ));
    }
    Ok(n)
}

/// The keys `Keys(netuid, uid)` for uids `0..n`.
pub fn hotkey_keys(md: &Metadata, netuid: u16, n: u16) -> Result<Vec<Vec<u8>>, ChainError> {
    let n_key = netuid.encode();
    (0..n).map(|uid| storage_key(md, PALLET, "Keys", &[&n_key, &uid.encode()])).collect()
}

/// The keys `TotalHotkeyAlpha(hotkey, netuid)` of the hotkeys stored under `hotkey_keys`
/// (read through `get`; absent ones are skipped, [`SubnetState::read`] reports them).
pub fn stake_keys(
    md: &Metadata,
    netuid: u16,
    hotkey_keys: &[Vec<u8>],
    get: &mut impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, ChainError>,
) -> Result<Vec<Vec<u8>>, ChainError> {
    let n_key = netuid.encode();
    let mut keys = Vec::with_capacity(hotkey_keys.len());
    for key in hotkey_keys {
        if let Some(bytes) = get(key)? {
            let hotkey: [u8; 32] = decode_value(&format!("{PALLET}.Keys"), &bytes)?;
            keys.push(storage_key(md, PALLET, "TotalHotkeyAlpha", &[&hotkey, &n_key])?);
        }
    }
    Ok(keys)
}

impl SubnetState {
    /// Reads subnet `netuid` through `get` (raw storage key to raw value, `None` when absent).
    pub fn read(
        md: &Metadata,
        netuid: u16,
        mut get: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, ChainError>,
    ) -> Result<Self, ChainError> {
        let n_key = netuid.encode();
        let at = format!("({netuid})");
        let n = checked_count(netuid, read_required(md, "SubnetworkN", &[&n_key], &at, &mut get)?)?;
        let permits: Vec<bool> = read_required(md, "ValidatorPermit", &[&n_key], &at, &mut get)?;
        let mut neurons = Vec::with_capacity(usize::from(n));
        for uid in 0..n {
            let uid_key = uid.encode();
            let label = format!("({netuid}, {uid})");
            let key = storage_key(md, PALLET, "Keys", &[&n_key, &uid_key])?;
            let Some(bytes) = get(&key)? else {
                return Err(bad(
                    format!("{PALLET}.Keys{label}"),
                    format!("absent, but SubnetworkN({netuid}) is {n}"),
                ));
            };
            let hotkey: [u8; 32] = decode_value(&format!("{PALLET}.Keys{label}"), &bytes)?;
            let stake_label = format!("(0x{}, {netuid})", hex_prefix(&hotkey));
            let stake: u64 = read_item(
                md,
                PALLET,
                "TotalHotkeyAlpha",
                &[&hotkey, &n_key],
                &stake_label,
                &mut get,
            )?
            .unwrap_or(0);
            neurons.push(SubnetNeuron {
                uid,
                hotkey,
                validator_permit: permits.get(usize::from(uid)).copied().unwrap_or(false),
                stake,
            });
        }
        let subnet: &[&[u8]] = &[&n_key];
        let tempo = read_required(md, "Tempo", subnet, &at, &mut get)?;
        let commit_reveal_enabled =
            read_required(md, "CommitRevealWeightsEnabled", subnet, &at, &mut get)?;
        let reveal_period_epochs = read_required(md, "RevealPeriodEpochs", subnet, &at, &mut get)?;
        let weights_version_key = read_required(md, "WeightsVersionKey", subnet, &at, &mut get)?;
        let weights_rate_limit = read_required(md, "WeightsSetRateLimit", subnet, &at, &mut get)?;
        let commit_reveal_version =
            read_required(md, "CommitRevealWeightsVersion", &[], "", &mut get)?;
        let min_allowed_weights = read_required(md, "MinAllowedWeights", subnet, &at, &mut get)?;
        let max_weights_limit = read_required(md, "MaxWeightsLimit", subnet, &at, &mut get)?;
        Ok(Self {
            netuid,
            neurons,
            hyperparameters: Hyperparameters {
                tempo,
                commit_reveal_enabled,
                reveal_period_epochs,
                weights_version_key,
                weights_rate_limit,
                commit_reveal_version,
                min_allowed_weights,
                max_weights_limit,
            },
        })
    }

    /// The key/value pairs a node holds for this state (every item written, defaults included).
    pub fn storage(&self, md: &Metadata) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, ChainError> {
        let n = u16::try_from(self.neurons.len())
            .map_err(|_| bad(format!("{PALLET}.SubnetworkN"), "more than 65535 neurons".into()))?;
        for (i, neuron) in self.neurons.iter().enumerate() {
            if usize::from(neuron.uid) != i {
                return Err(bad(
                    format!("{PALLET}.Keys"),
                    format!("neuron {i} has uid {}; uids must be 0..n in order", neuron.uid),
                ));
            }
        }
        let n_key = self.netuid.encode();
        let mut out = BTreeMap::new();
        let mut put = |entry: &str, keys: &[&[u8]], value: Vec<u8>| -> Result<(), ChainError> {
            out.insert(storage_key(md, PALLET, entry, keys)?, value);
            Ok(())
        };
        put("SubnetworkN", &[&n_key], n.encode())?;
        let permits: Vec<bool> = self.neurons.iter().map(|n| n.validator_permit).collect();
        put("ValidatorPermit", &[&n_key], permits.encode())?;
        for neuron in &self.neurons {
            put("Keys", &[&n_key, &neuron.uid.encode()], neuron.hotkey.encode())?;
            put("Uids", &[&n_key, &neuron.hotkey], neuron.uid.encode())?;
            put("TotalHotkeyAlpha", &[&neuron.hotkey, &n_key], neuron.stake.encode())?;
        }
        let h = &self.hyperparameters;
        put("Tempo", &[&n_key], h.tempo.encode())?;
        put("CommitRevealWeightsEnabled", &[&n_key], h.commit_reveal_enabled.encode())?;
        put("RevealPeriodEpochs", &[&n_key], h.reveal_period_epochs.encode())?;
        put("WeightsVersionKey", &[&n_key], h.weights_version_key.encode())?;
        put("WeightsSetRateLimit", &[&n_key], h.weights_rate_limit.encode())?;
        put("CommitRevealWeightsVersion", &[], h.commit_reveal_version.encode())?;
        put("MinAllowedWeights", &[&n_key], h.min_allowed_weights.encode())?;
        put("MaxWeightsLimit", &[&n_key], h.max_weights_limit.encode())?;
        Ok(out)
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>() + "…"
}

#[cfg(test)]
#[path = "subnet_tests.rs"]
mod tests;

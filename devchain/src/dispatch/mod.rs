//! Calls the dev chain applies, with subtensor's rules and error names for what they refuse.
//! Each reads the state through a getter (the block being built sees its earlier extrinsics)
//! and returns the storage it changes.
//!
//! `SubtensorModule.burned_register(netuid, hotkey)`, signed by the coldkey: the subnet must
//! exist (`SubnetNotExists`), at most `MaxRegistrationsPerBlock` registrations per block
//! (`TooManyRegistrationsThisBlock`), the hotkey not yet on the subnet
//! (`HotKeyAlreadyRegisteredInSubNet`), not owned by another coldkey (`NonAssociatedColdKey`),
//! the coldkey's free balance at least `Burn(netuid)` (`NotEnoughBalanceToStake`), and a free
//! uid below `MaxAllowedUids` (`NoNeuronIdAvailable`; subtensor would prune a neuron instead).
//! It appends the hotkey at uid `SubnetworkN`, records its owner and registration block, and
//! burns the cost from the coldkey.

use grail_chain::storage_key::storage_key;
use grail_chain::subnet::{read_item, SubnetNeuron, SubnetState};
use grail_chain::ChainError;
use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;

use crate::account::AccountInfo;
use crate::events::ModuleError;

/// Storage changes: key, and the new value (`None`: removed).
pub type Changes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Why a call was not applied.
#[derive(Debug)]
pub enum DispatchFailure {
    /// A pallet error, as `ExtrinsicFailed` reports it.
    Module(ModuleError),
    /// The dev chain itself could not read or write its state.
    Internal(ChainError),
}

impl From<ChainError> for DispatchFailure {
    fn from(e: ChainError) -> Self {
        Self::Internal(e)
    }
}

const PALLET: &str = "SubtensorModule";

fn module_error(md: &Metadata, pallet: &str, name: &str) -> DispatchFailure {
    let found = md.pallet_by_name(pallet).and_then(|p| {
        let v = p.error_variants()?.iter().find(|v| v.name == name)?;
        Some(ModuleError { pallet: p.error_index(), error: v.index })
    });
    match found {
        Some(e) => DispatchFailure::Module(e),
        None => DispatchFailure::Internal(ChainError::MissingInMetadata {
            source_name: "grail-devchain".into(),
            missing: format!("error {pallet}.{name}"),
        }),
    }
}

/// `SubtensorModule.entry(keys)` through `get`, or the metadata's default.
fn value<T: Decode>(
    md: &Metadata,
    get: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
    entry: &str,
    keys: &[&[u8]],
) -> Result<Option<T>, ChainError> {
    read_item(md, PALLET, entry, keys, "", &mut |k| Ok(get(k)))
}

/// The account of `who` (default when absent).
pub fn account(
    md: &Metadata,
    get: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
    who: &[u8; 32],
) -> Result<AccountInfo, ChainError> {
    let key = storage_key(md, "System", "Account", &[who])?;
    match get(&key) {
        None => Ok(AccountInfo::default()),
        Some(b) => AccountInfo::decode(&mut b.as_slice()).map_err(|e| ChainError::BadStorage {
            item: "System.Account".into(),
            reason: e.to_string(),
        }),
    }
}

/// The change writing `info` as `who`'s account.
pub fn put_account(
    md: &Metadata,
    who: &[u8; 32],
    info: &AccountInfo,
) -> Result<(Vec<u8>, Option<Vec<u8>>), ChainError> {
    Ok((storage_key(md, "System", "Account", &[who])?, Some(info.encode())))
}

/// `burned_register(netuid, hotkey)` by `coldkey` in block `block`, the `earlier`-th
/// registration of that block.
pub fn burned_register(
    md: &Metadata,
    get: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
    coldkey: &[u8; 32],
    args: &[u8],
    block: u64,
    earlier: u16,
) -> Result<Changes, DispatchFailure> {
    let (netuid, hotkey) = <(u16, [u8; 32])>::decode(&mut &*args).map_err(|e| {
        DispatchFailure::Internal(ChainError::BadStorage {
            item: "burned_register arguments".into(),
            reason: e.to_string(),
        })
    })?;
    let n_key = netuid.encode();
    let added: bool = value(md, get, "NetworksAdded", &[&n_key])?.unwrap_or(false);
    if !added {
        return Err(module_error(md, PALLET, "SubnetNotExists"));
    }
    let per_block: u16 = value(md, get, "MaxRegistrationsPerBlock", &[&n_key])?.unwrap_or(1);
    if earlier >= per_block {
        return Err(module_error(md, PALLET, "TooManyRegistrationsThisBlock"));
    }
    let uid_key = storage_key(md, PALLET, "Uids", &[&n_key, &hotkey])?;
    if get(&uid_key).is_some() {
        return Err(module_error(md, PALLET, "HotKeyAlreadyRegisteredInSubNet"));
    }
    let owner_key = storage_key(md, PALLET, "Owner", &[&hotkey])?;
    if let Some(owner) = get(&owner_key) {
        if owner.as_slice() != coldkey.as_slice() {
            return Err(module_error(md, PALLET, "NonAssociatedColdKey"));
        }
    }
    let burn: u64 = value(md, get, "Burn", &[&n_key])?.unwrap_or(0);
    let mut cold = account(md, get, coldkey)?;
    if cold.data.free < burn {
        return Err(module_error(md, PALLET, "NotEnoughBalanceToStake"));
    }
    let max_uids: u16 = value(md, get, "MaxAllowedUids", &[&n_key])?.unwrap_or(256);
    let mut subnet = SubnetState::read(md, netuid, |k| Ok(get(k)))?;
    let uid = u16::try_from(subnet.neurons.len()).unwrap_or(u16::MAX);
    if uid >= max_uids {
        return Err(module_error(md, PALLET, "NoNeuronIdAvailable"));
    }
    subnet.neurons.push(SubnetNeuron { uid, hotkey, validator_permit: false, stake: 0 });
    let mut changes: Changes = subnet.storage(md)?.into_iter().map(|(k, v)| (k, Some(v))).collect();
    changes.push((owner_key, Some(coldkey.encode())));
    let at = storage_key(md, PALLET, "BlockAtRegistration", &[&n_key, &uid.encode()])?;
    changes.push((at, Some(block.encode())));
    cold.data.free -= burn;
    changes.push(put_account(md, coldkey, &cold)?);
    Ok(changes)
}

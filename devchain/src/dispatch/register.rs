//! `SubtensorModule.burned_register(netuid, hotkey)`, signed by the coldkey: the subnet must
//! exist (`SubnetNotExists`), at most `MaxRegistrationsPerBlock` registrations per block
//! (`TooManyRegistrationsThisBlock`), the hotkey not yet on the subnet
//! (`HotKeyAlreadyRegisteredInSubNet`), not owned by another coldkey (`NonAssociatedColdKey`),
//! the coldkey's free balance at least `Burn(netuid)` (`NotEnoughBalanceToStake`), and a free
//! uid below `MaxAllowedUids` (`NoNeuronIdAvailable`; subtensor would prune a neuron instead).
//! It appends the hotkey at uid `SubnetworkN`, records its owner and registration block, and
//! burns the cost from the coldkey.

use grail_chain::storage_key::storage_key;
use grail_chain::subnet::{SubnetNeuron, SubnetState};
use parity_scale_codec::Encode;
use subxt_metadata::Metadata;

use super::{account, decode_args, module_error, put_account, value, Changes, DispatchFailure};
use super::{Get, PALLET};

/// `burned_register(netuid, hotkey)` by `coldkey` in block `block`, the `earlier`-th
/// registration of that block.
pub fn burned_register(
    md: &Metadata,
    get: Get<'_>,
    coldkey: &[u8; 32],
    args: &[u8],
    block: u64,
    earlier: u16,
) -> Result<Changes, DispatchFailure> {
    let (netuid, hotkey) = decode_args::<(u16, [u8; 32])>("burned_register", args)?;
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

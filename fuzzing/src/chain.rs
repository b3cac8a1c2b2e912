//! A node's answers: storage values (the subnet, commitments, events) and runtime metadata.

use std::collections::HashMap;
use std::sync::OnceLock;

use grail_chain::commitment::MinerCommitment;
use grail_chain::events::extrinsic_outcome;
use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
use grail_chain::rpc::commitments::decode_registration;
use grail_chain::subnet::{fixed_keys, hotkey_keys, neuron_count, stake_keys, SubnetState};
use grail_chain::ChainError;
use subxt_metadata::Metadata;

use crate::tape::Tape;

/// finney's runtime metadata, decoded once.
pub fn finney() -> &'static Metadata {
    static FINNEY: OnceLock<Metadata> = OnceLock::new();
    FINNEY.get_or_init(|| checked_metadata(FINNEY_METADATA, "finney.scale").expect("pinned"))
}

/// The first byte picks what the rest is, read against finney's metadata:
/// - 0: a subnet read the way the validator reads one (each storage value the next chunk);
/// - 1: a `CommitmentOf` value and the miner's commitment in it;
/// - 2: `System.Events` and the outcome of one extrinsic.
pub(crate) fn chain_storage(data: &[u8]) -> bool {
    let md = finney();
    let mut tape = Tape::new(data);
    match tape.byte() % 3 {
        0 => {
            let netuid = tape.u16();
            read_subnet(md, netuid, |_| tape.optional_chunk().map(<[u8]>::to_vec)).is_ok()
        }
        1 => {
            let Ok(registration) = decode_registration(81, &[7; 32], tape.rest()) else {
                return false;
            };
            registration.raw_fields().is_ok_and(|f| MinerCommitment::from_fields(&f).is_ok())
        }
        _ => {
            let index = u32::from(tape.byte());
            extrinsic_outcome(md, tape.rest(), index).is_ok()
        }
    }
}

/// Reads subnet `netuid` in the validator's three batched reads (`SubtensorClient::subnet_at`),
/// asking `value_of` for each key's value the first time the key is read.
pub fn read_subnet(
    md: &Metadata,
    netuid: u16,
    mut value_of: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Result<SubnetState, ChainError> {
    let mut values: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
    let mut get = |key: &[u8]| -> Result<Option<Vec<u8>>, ChainError> {
        Ok(values.entry(key.to_vec()).or_insert_with(|| value_of(key)).clone())
    };
    for key in fixed_keys(md, netuid)? {
        get(&key)?;
    }
    let n = neuron_count(md, netuid, &mut get)?;
    let keys = hotkey_keys(md, netuid, n)?;
    let stakes = stake_keys(md, netuid, &keys, &mut get)?;
    for key in &stakes {
        get(key)?;
    }
    let state = SubnetState::read(md, netuid, &mut get)?;
    assert_eq!(state.neurons.len(), usize::from(n), "a subnet of {n} read with another count");
    Ok(state)
}

/// Runtime metadata as `state_getMetadata` answers it: decoded and checked for every item the
/// roles use; metadata that passes yields the subnet's storage keys.
pub(crate) fn chain_metadata(data: &[u8]) -> bool {
    let Ok(md) = checked_metadata(data, "fuzz") else { return false };
    fixed_keys(&md, 81).is_ok() && grail_chain::events::events_type(&md).is_ok()
}

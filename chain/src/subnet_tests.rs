#![allow(clippy::unwrap_used)]

use scale_info::{TypeDef, TypeDefPrimitive};

use super::*;
use crate::metadata::{checked_metadata, FINNEY_METADATA};

fn finney() -> Metadata {
    checked_metadata(FINNEY_METADATA, "finney").unwrap()
}

fn state() -> SubnetState {
    SubnetState {
        netuid: 81,
        neurons: (0..4u16)
            .map(|uid| SubnetNeuron {
                uid,
                hotkey: [uid as u8 + 1; 32],
                validator_permit: uid == 0,
                stake: 1_000 * u64::from(uid),
            })
            .collect(),
        hyperparameters: Hyperparameters {
            tempo: 99,
            commit_reveal_enabled: false,
            reveal_period_epochs: 2,
            weights_version_key: 7,
            weights_rate_limit: 50,
            commit_reveal_version: 4,
            min_allowed_weights: 2,
            max_weights_limit: 60_000,
        },
    }
}

/// The encodings used here are the metadata's value types, shape for shape.
#[test]
fn value_types_are_the_metadatas() {
    let md = finney();
    let storage = md.pallet_by_name(PALLET).unwrap().storage().unwrap();
    let shape = |entry: &str| {
        md.types()
            .resolve(storage.entry_by_name(entry).unwrap().value_ty())
            .unwrap()
            .type_def
            .clone()
    };
    let primitive = |entry: &str, p: TypeDefPrimitive| {
        assert_eq!(shape(entry), TypeDef::Primitive(p), "{entry}");
    };
    primitive("SubnetworkN", TypeDefPrimitive::U16);
    primitive("Uids", TypeDefPrimitive::U16);
    primitive("TotalHotkeyAlpha", TypeDefPrimitive::U64);
    primitive("Tempo", TypeDefPrimitive::U16);
    primitive("CommitRevealWeightsEnabled", TypeDefPrimitive::Bool);
    primitive("RevealPeriodEpochs", TypeDefPrimitive::U64);
    primitive("WeightsVersionKey", TypeDefPrimitive::U64);
    primitive("WeightsSetRateLimit", TypeDefPrimitive::U64);
    primitive("CommitRevealWeightsVersion", TypeDefPrimitive::U16);
    primitive("MinAllowedWeights", TypeDefPrimitive::U16);
    primitive("MaxWeightsLimit", TypeDefPrimitive::U16);
    let TypeDef::Sequence(seq) = shape("ValidatorPermit") else { panic!("ValidatorPermit") };
    assert_eq!(
        md.types().resolve(seq.type_param.id).unwrap().type_def,
        TypeDef::Primitive(TypeDefPrimitive::Bool)
    );
    let keys_ty = md.types().resolve(storage.entry_by_name("Keys").unwrap().value_ty()).unwrap();
    assert_eq!(keys_ty.path.segments.join("::"), "sp_core::crypto::AccountId32");
}

#[test]
fn what_is_written_reads_back() {
    let md = finney();
    let s = state();
    let map = s.storage(&md).unwrap();
    assert_eq!(map.len(), 2 + 3 * 4 + 8);
    let read = SubnetState::read(&md, 81, |k| Ok(map.get(k).cloned())).unwrap();
    assert_eq!(read, s);
}

/// Absent hyperparameters take the chain's defaults, as a node does: tempo 360, commit-reveal
/// on, reveal period 1, rate limit 100, commit version 4.
#[test]
fn absent_items_take_the_metadatas_defaults() {
    let md = finney();
    let s = state();
    let mut map = s.storage(&md).unwrap();
    for entry in
        ["Tempo", "CommitRevealWeightsEnabled", "RevealPeriodEpochs", "WeightsSetRateLimit"]
    {
        map.remove(&storage_key(&md, PALLET, entry, &[&81u16.encode()]).unwrap());
    }
    map.remove(&storage_key(&md, PALLET, "CommitRevealWeightsVersion", &[]).unwrap());
    let read = SubnetState::read(&md, 81, |k| Ok(map.get(k).cloned())).unwrap();
    let h = read.hyperparameters;
    assert_eq!((h.tempo, h.commit_reveal_enabled, h.reveal_period_epochs), (360, true, 1));
    assert_eq!((h.weights_rate_limit, h.commit_reveal_version), (100, 4));
    // An unknown subnet reads as empty (SubnetworkN defaults to 0).
    let empty = SubnetState::read(&md, 5, |k| Ok(map.get(k).cloned())).unwrap();
    assert!(empty.neurons.is_empty());
}

#[test]
fn inconsistent_or_malformed_storage_is_named() {
    let md = finney();
    let s = state();
    let map = s.storage(&md).unwrap();
    let keys_2 = storage_key(&md, PALLET, "Keys", &[&81u16.encode(), &2u16.encode()]).unwrap();
    let mut missing = map.clone();
    missing.remove(&keys_2);
    let err = SubnetState::read(&md, 81, |k| Ok(missing.get(k).cloned())).unwrap_err().to_string();
    assert!(
        err.contains("SubtensorModule.Keys(81, 2)") && err.contains("SubnetworkN(81) is 4"),
        "{err}"
    );
    let mut short = map.clone();
    short.insert(keys_2, vec![1, 2, 3]);
    let err = SubnetState::read(&md, 81, |k| Ok(short.get(k).cloned())).unwrap_err().to_string();
    assert!(
        err.contains("SubtensorModule.Keys(81, 2)") && err.contains("3 bytes do not decode"),
        "{err}"
    );
    let tempo = storage_key(&md, PALLET, "Tempo", &[&81u16.encode()]).unwrap();
    let mut long = map;
    long.insert(tempo, vec![1, 0, 0]);
    let err = SubnetState::read(&md, 81, |k| Ok(long.get(k).cloned())).unwrap_err().to_string();
    assert!(
        err.contains("SubtensorModule.Tempo(81)") && err.contains("1 bytes left over"),
        "{err}"
    );
    let mut gap = state();
    gap.neurons.remove(1);
    let err = gap.storage(&md).unwrap_err().to_string();
    assert!(err.contains("uids must be 0..n"), "{err}");
}

#[test]
fn a_count_over_the_uid_budget_is_refused_before_any_key_is_read() {
    let md = finney();
    let mut map = state().storage(&md).unwrap();
    let n_key = storage_key(&md, PALLET, "SubnetworkN", &[&81u16.encode()]).unwrap();
    map.insert(n_key, (MAX_NEURONS + 1).encode());
    let mut reads = 0;
    let err = SubnetState::read(&md, 81, |k| {
        reads += 1;
        Ok(map.get(k).cloned())
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("SubnetworkN(81)") && err.contains("4097 neurons"), "{err}");
    assert_eq!(reads, 1);
    let err = neuron_count(&md, 81, &mut |k| Ok(map.get(k).cloned())).unwrap_err().to_string();
    assert!(err.contains("more than the 4096"), "{err}");
    map.insert(
        storage_key(&md, PALLET, "SubnetworkN", &[&81u16.encode()]).unwrap(),
        MAX_NEURONS.encode(),
    );
    assert_eq!(neuron_count(&md, 81, &mut |k| Ok(map.get(k).cloned())).unwrap(), MAX_NEURONS);
}

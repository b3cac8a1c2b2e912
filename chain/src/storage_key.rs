//! Storage keys as a Substrate runtime lays them out, driven by the metadata: `twox128(pallet
//! prefix) ‖ twox128(entry name)`, then each map key's SCALE encoding through the hasher the
//! metadata gives for it. The dev chain stores its genesis under these keys, and a client reads
//! them, so both must derive them the same way.

use subxt_metadata::{Metadata, StorageHasher};

use crate::ChainError;

/// `twox128(pallet) ‖ twox128(entry)`: the key of a plain item, the prefix of a map's keys.
pub fn storage_prefix(pallet_prefix: &str, entry: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&sp_crypto_hashing::twox_128(pallet_prefix.as_bytes()));
    out[16..].copy_from_slice(&sp_crypto_hashing::twox_128(entry.as_bytes()));
    out
}

/// `encoded` through `hasher`, as a map key part.
pub fn hashed(hasher: StorageHasher, encoded: &[u8]) -> Vec<u8> {
    use sp_crypto_hashing::{blake2_128, blake2_256, twox_128, twox_256, twox_64};
    match hasher {
        StorageHasher::Blake2_128 => blake2_128(encoded).to_vec(),
        StorageHasher::Blake2_256 => blake2_256(encoded).to_vec(),
        StorageHasher::Blake2_128Concat => [&blake2_128(encoded)[..], encoded].concat(),
        StorageHasher::Twox128 => twox_128(encoded).to_vec(),
        StorageHasher::Twox256 => twox_256(encoded).to_vec(),
        StorageHasher::Twox64Concat => [&twox_64(encoded)[..], encoded].concat(),
        StorageHasher::Identity => encoded.to_vec(),
    }
}

/// The full key of `pallet.entry` at the map keys `keys` (each SCALE-encoded), with the
/// metadata's pallet prefix and hashers; `keys` must be as many as the entry has.
pub fn storage_key(
    metadata: &Metadata,
    pallet: &str,
    entry: &str,
    keys: &[&[u8]],
) -> Result<Vec<u8>, ChainError> {
    let missing = |what: String| ChainError::MissingInMetadata {
        source_name: "the metadata in use".into(),
        missing: what,
    };
    let storage = metadata
        .pallet_by_name(pallet)
        .and_then(|p| p.storage())
        .ok_or_else(|| missing(format!("{pallet} (pallet storage)")))?;
    let item = storage
        .entry_by_name(entry)
        .ok_or_else(|| missing(format!("{pallet}.{entry} (storage)")))?;
    let hashers: Vec<StorageHasher> = item.keys().map(|k| k.hasher).collect();
    if hashers.len() != keys.len() {
        return Err(ChainError::Unavailable {
            source_name: "storage key".into(),
            detail: format!(
                "{pallet}.{entry} takes {} map keys, {} were given",
                hashers.len(),
                keys.len()
            ),
        });
    }
    let mut out = storage_prefix(storage.prefix(), entry).to_vec();
    for (hasher, key) in hashers.into_iter().zip(keys) {
        out.extend(hashed(hasher, key));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use parity_scale_codec::Encode;

    use super::*;
    use crate::metadata::{checked_metadata, FINNEY_METADATA};

    fn finney() -> Metadata {
        checked_metadata(FINNEY_METADATA, "finney").unwrap()
    }

    /// Keys every Substrate chain shares, as published by Substrate's tooling (polkadot.js
    /// "raw storage" and the Substrate docs): `System.Number`, `Timestamp.Now`, and
    /// `System.Account` of the dev account Alice.
    #[test]
    fn well_known_substrate_keys() {
        let md = finney();
        let hex = |k: Vec<u8>| hex::encode(k);
        assert_eq!(
            hex(storage_key(&md, "System", "Number", &[]).unwrap()),
            "26aa394eea5630e07c48ae0c9558cef702a5c1b19ab7a04f536c519aca4983ac"
        );
        assert_eq!(
            hex(storage_key(&md, "Timestamp", "Now", &[]).unwrap()),
            "f0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb"
        );
        let alice = hex::decode("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
            .unwrap();
        assert_eq!(
            hex(storage_key(&md, "System", "Account", &[&alice]).unwrap()),
            "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9\
             de1e86a9a8c739864cf3cc5ec2bea59fd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
    }

    /// Subtensor's double maps take the hashers the metadata names, in order.
    #[test]
    fn subtensor_keys_follow_the_metadatas_hashers() {
        let md = finney();
        let keys = md.pallet_by_name("SubtensorModule").unwrap().storage().unwrap();
        let hashers: Vec<StorageHasher> =
            keys.entry_by_name("Keys").unwrap().keys().map(|k| k.hasher).collect();
        assert_eq!(hashers.len(), 2, "Keys is (netuid, uid) -> hotkey");
        let (netuid, uid) = (81u16.encode(), 7u16.encode());
        let key = storage_key(&md, "SubtensorModule", "Keys", &[&netuid, &uid]).unwrap();
        let mut expected = storage_prefix("SubtensorModule", "Keys").to_vec();
        expected.extend(hashed(hashers[0], &netuid));
        expected.extend(hashed(hashers[1], &uid));
        assert_eq!(key, expected);
        assert!(key.ends_with(&uid), "a concat or identity hasher keeps the key readable");
        let err = storage_key(&md, "SubtensorModule", "Keys", &[&netuid]).unwrap_err();
        assert!(err.to_string().contains("takes 2 map keys, 1 were given"), "{err}");
        let err = storage_key(&md, "SubtensorModule", "NoSuchItem", &[]).unwrap_err();
        assert!(err.to_string().contains("SubtensorModule.NoSuchItem (storage)"), "{err}");
    }

    #[test]
    fn hashers_have_their_lengths() {
        let data = b"grail";
        for (h, len) in [
            (StorageHasher::Blake2_128, 16),
            (StorageHasher::Blake2_256, 32),
            (StorageHasher::Blake2_128Concat, 16 + 5),
            (StorageHasher::Twox128, 16),
            (StorageHasher::Twox256, 32),
            (StorageHasher::Twox64Concat, 8 + 5),
            (StorageHasher::Identity, 5),
        ] {
            assert_eq!(hashed(h, data).len(), len, "{h:?}");
        }
    }
}

//! Subtensor's runtime metadata: the vendored finney copy (`chain/metadata/`, with its
//! provenance) and the check that a node's metadata has every call, storage item and runtime
//! API the roles use, so that a node on another runtime is refused at connection with the
//! missing items named, rather than failing later on a decode.

use std::fmt;

use parity_scale_codec::Decode;
use subxt_metadata::Metadata;

use crate::ChainError;

/// The vendored finney metadata (V16), SCALE-encoded.
pub const FINNEY_METADATA: &[u8] = include_bytes!("../metadata/finney.scale");

/// What kind of item a [`Requirement`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A dispatchable call of the pallet.
    Call,
    /// A storage item of the pallet.
    Storage,
    /// A method of a runtime API trait (the "pallet" is the trait's name).
    RuntimeApi,
}

/// An item the roles use, by pallet (or runtime API) and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub kind: ItemKind,
    pub pallet: &'static str,
    pub name: &'static str,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ItemKind::Call => "call",
            ItemKind::Storage => "storage",
            ItemKind::RuntimeApi => "runtime API",
        };
        write!(f, "{}.{} ({kind})", self.pallet, self.name)
    }
}

const fn storage(pallet: &'static str, name: &'static str) -> Requirement {
    Requirement { kind: ItemKind::Storage, pallet, name }
}

const fn call(pallet: &'static str, name: &'static str) -> Requirement {
    Requirement { kind: ItemKind::Call, pallet, name }
}

/// Everything the miner and the validator read or send: the clock (`Timestamp.Now`), the
/// metagraph of a subnet, the subnet's weight-setting hyperparameters, miners' commitments, and
/// the calls that register, set or commit weights and publish a commitment.
pub const REQUIRED: &[Requirement] = &[
    storage("Timestamp", "Now"),
    storage("System", "Number"),
    storage("System", "BlockHash"),
    storage("System", "Account"),
    storage("SubtensorModule", "SubnetworkN"),
    storage("SubtensorModule", "Keys"),
    storage("SubtensorModule", "Uids"),
    storage("SubtensorModule", "ValidatorPermit"),
    storage("SubtensorModule", "TotalHotkeyAlpha"),
    storage("SubtensorModule", "Tempo"),
    storage("SubtensorModule", "CommitRevealWeightsEnabled"),
    storage("SubtensorModule", "RevealPeriodEpochs"),
    storage("SubtensorModule", "WeightsVersionKey"),
    storage("SubtensorModule", "WeightsSetRateLimit"),
    storage("SubtensorModule", "CommitRevealWeightsVersion"),
    storage("Commitments", "CommitmentOf"),
    call("SubtensorModule", "set_weights"),
    call("SubtensorModule", "commit_timelocked_weights"),
    call("SubtensorModule", "burned_register"),
    call("Commitments", "set_commitment"),
    Requirement {
        kind: ItemKind::RuntimeApi,
        pallet: "SubnetInfoRuntimeApi",
        name: "get_selective_metagraph",
    },
];

/// Decodes SCALE-encoded metadata (as `state_getMetadata` or `Metadata_metadata_at_version`
/// return it, after the option prefix) and checks every item of [`REQUIRED`]; the error names
/// every missing one.
pub fn checked_metadata(bytes: &[u8], source_name: &str) -> Result<Metadata, ChainError> {
    let metadata = Metadata::decode(&mut &bytes[..]).map_err(|e| ChainError::Unavailable {
        source_name: source_name.to_owned(),
        detail: format!("its runtime metadata does not decode ({} bytes): {e}", bytes.len()),
    })?;
    let missing = missing_items(&metadata, REQUIRED);
    if missing.is_empty() {
        return Ok(metadata);
    }
    Err(ChainError::MissingInMetadata {
        source_name: source_name.to_owned(),
        missing: missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
    })
}

/// The items of `required` that `metadata` lacks.
pub fn missing_items(metadata: &Metadata, required: &[Requirement]) -> Vec<Requirement> {
    required
        .iter()
        .filter(|r| {
            let present = match r.kind {
                ItemKind::Call => metadata
                    .pallet_by_name(r.pallet)
                    .and_then(|p| p.call_variant_by_name(r.name))
                    .is_some(),
                ItemKind::Storage => metadata
                    .pallet_by_name(r.pallet)
                    .and_then(|p| p.storage())
                    .and_then(|s| s.entry_by_name(r.name))
                    .is_some(),
                ItemKind::RuntimeApi => metadata
                    .runtime_api_trait_by_name(r.pallet)
                    .and_then(|t| t.method_by_name(r.name))
                    .is_some(),
            };
            !present
        })
        .copied()
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    use parity_scale_codec::Encode;
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn the_vendored_file_is_the_one_its_provenance_names() {
        assert_eq!(FINNEY_METADATA.len(), 314_898);
        assert_eq!(
            hex::encode(Sha256::digest(FINNEY_METADATA)),
            "27decab52d3bb92188347a95e010e270ad3978e3bba0d8f325279e96fff421df"
        );
    }

    #[test]
    fn finney_has_everything_the_roles_use_at_the_indices_the_reference_gives() {
        let md = checked_metadata(FINNEY_METADATA, "finney (vendored)").unwrap();
        let subtensor = md.pallet_by_name("SubtensorModule").unwrap();
        assert_eq!(subtensor.call_variant_by_name("set_weights").unwrap().index, 0);
        assert_eq!(subtensor.call_variant_by_name("commit_timelocked_weights").unwrap().index, 113);
        let commitments = md.pallet_by_name("Commitments").unwrap();
        assert_eq!(commitments.call_variant_by_name("set_commitment").unwrap().index, 0);
    }

    /// The vendored metadata with a pallet's storage item and a whole pallet taken out,
    /// re-encoded: refused, naming each missing item.
    #[test]
    fn metadata_lacking_an_item_is_refused_with_the_item_named() {
        let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &FINNEY_METADATA[..]).unwrap();
        let RuntimeMetadata::V16(v16) = &mut prefixed.1 else { panic!("not V16") };
        let subtensor = v16.pallets.iter_mut().find(|p| p.name == "SubtensorModule").unwrap();
        let entries = &mut subtensor.storage.as_mut().unwrap().entries;
        entries.retain(|e| e.name != "Keys");
        v16.pallets.retain(|p| p.name != "Commitments");
        let bytes = prefixed.encode();
        let err = checked_metadata(&bytes, "ws://127.0.0.1:9944").unwrap_err().to_string();
        for item in [
            "SubtensorModule.Keys (storage)",
            "Commitments.CommitmentOf (storage)",
            "Commitments.set_commitment (call)",
            "ws://127.0.0.1:9944",
        ] {
            assert!(err.contains(item), "{item} not in: {err}");
        }
        assert!(!err.contains("SubtensorModule.Uids"), "{err}");
    }

    #[test]
    fn bytes_that_are_not_metadata_are_one_clear_error() {
        let err = checked_metadata(b"not metadata", "http://x").unwrap_err().to_string();
        assert!(err.contains("does not decode") && err.contains("12 bytes"), "{err}");
    }
}

//! The metadata versions a node serves besides V16: V14 (`state_getMetadata`) and V15
//! (`Metadata_metadata_at_version(15)`, what Python clients ask for), derived from the vendored
//! V16 file. The type registry is the same in all three; the pallets lose the fields later
//! versions added (deprecation info, view functions, associated types), the runtime APIs lose
//! their versions, and the extrinsic gets the older form: V14 names the extrinsic type (the
//! registry's `fp_self_contained` `UncheckedExtrinsic`, as subtensor's V14 does) and both list
//! the signed extensions of extension version 0 with their implicit ("additional signed")
//! types; V15's `extra_ty` is a tuple of those extensions, added to the registry.

use frame_metadata::v14::{self, RuntimeMetadataV14};
use frame_metadata::v15::{self, RuntimeMetadataV15};
use frame_metadata::v16::{self, RuntimeMetadataV16};
use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
use parity_scale_codec::{Decode, Encode};
use scale_info::form::PortableForm;
use scale_info::{interner::UntrackedSymbol, Path, PortableType, Type, TypeDef, TypeDefTuple};

/// Metadata that cannot be derived.
#[derive(Debug, thiserror::Error)]
#[error("metadata: {0}")]
pub struct LegacyMetadataError(String);

type Sym = UntrackedSymbol<std::any::TypeId>;

fn sym(id: u32) -> Sym {
    Sym::from(id)
}

/// The V16 metadata in `bytes` (a `RuntimeMetadataPrefixed`).
pub fn decode_v16(bytes: &[u8]) -> Result<RuntimeMetadataV16, LegacyMetadataError> {
    let prefixed = RuntimeMetadataPrefixed::decode(&mut &*bytes)
        .map_err(|e| LegacyMetadataError(format!("does not decode: {e}")))?;
    match prefixed.1 {
        RuntimeMetadata::V16(m) => Ok(m),
        other => Err(LegacyMetadataError(format!("V{} where V16 was expected", other.version()))),
    }
}

fn find_type(md: &RuntimeMetadataV16, path: &[&str]) -> Option<u32> {
    md.types.types.iter().find(|t| t.ty.path.segments == path).map(|t| t.id)
}

/// The extensions of extension version 0, in order.
fn extensions(
    md: &RuntimeMetadataV16,
) -> Result<Vec<&v16::TransactionExtensionMetadata<PortableForm>>, LegacyMetadataError> {
    let indexes = md
        .extrinsic
        .transaction_extensions_by_version
        .get(&0)
        .ok_or_else(|| LegacyMetadataError("no transaction extensions of version 0".into()))?;
    indexes
        .iter()
        .map(|i| {
            md.extrinsic.transaction_extensions.get(i.0 as usize).ok_or_else(|| {
                LegacyMetadataError(format!("transaction extension index {} out of range", i.0))
            })
        })
        .collect()
}

fn signed_extensions(
    md: &RuntimeMetadataV16,
) -> Result<Vec<v14::SignedExtensionMetadata<PortableForm>>, LegacyMetadataError> {
    Ok(extensions(md)?
        .into_iter()
        .map(|e| v14::SignedExtensionMetadata {
            identifier: e.identifier.clone(),
            ty: e.ty,
            additional_signed: e.implicit,
        })
        .collect())
}

fn storage(
    s: &v16::PalletStorageMetadata<PortableForm>,
) -> v14::PalletStorageMetadata<PortableForm> {
    v14::PalletStorageMetadata {
        prefix: s.prefix.clone(),
        entries: s
            .entries
            .iter()
            .map(|e| v14::StorageEntryMetadata {
                name: e.name.clone(),
                modifier: e.modifier.clone(),
                ty: e.ty.clone(),
                default: e.default.clone(),
                docs: e.docs.clone(),
            })
            .collect(),
    }
}

fn constants(
    p: &v16::PalletMetadata<PortableForm>,
) -> Vec<v14::PalletConstantMetadata<PortableForm>> {
    p.constants
        .iter()
        .map(|c| v14::PalletConstantMetadata {
            name: c.name.clone(),
            ty: c.ty,
            value: c.value.clone(),
            docs: c.docs.clone(),
        })
        .collect()
}

/// The pallets in V14's form (the fields V15 and V16 added dropped).
fn pallets_v14(md: &RuntimeMetadataV16) -> Vec<v14::PalletMetadata<PortableForm>> {
    md.pallets
        .iter()
        .map(|p| v14::PalletMetadata {
            name: p.name.clone(),
            storage: p.storage.as_ref().map(storage),
            calls: p.calls.as_ref().map(|c| v14::PalletCallMetadata { ty: c.ty }),
            event: p.event.as_ref().map(|e| v14::PalletEventMetadata { ty: e.ty }),
            constants: constants(p),
            error: p.error.as_ref().map(|e| v14::PalletErrorMetadata { ty: e.ty }),
            index: p.index,
        })
        .collect()
}

/// The runtime type (`node_subtensor_runtime::Runtime`), which V14 and V15 name.
fn runtime_type(md: &RuntimeMetadataV16) -> Result<u32, LegacyMetadataError> {
    find_type(md, &["node_subtensor_runtime", "Runtime"])
        .ok_or_else(|| LegacyMetadataError("no node_subtensor_runtime::Runtime type".into()))
}

/// V14, as `state_getMetadata` serves it.
pub fn v14_of(md: &RuntimeMetadataV16) -> Result<RuntimeMetadataV14, LegacyMetadataError> {
    let extrinsic_ty =
        find_type(md, &["fp_self_contained", "unchecked_extrinsic", "UncheckedExtrinsic"])
            .ok_or_else(|| LegacyMetadataError("no UncheckedExtrinsic type".into()))?;
    Ok(RuntimeMetadataV14 {
        types: md.types.clone(),
        pallets: pallets_v14(md),
        extrinsic: v14::ExtrinsicMetadata {
            ty: sym(extrinsic_ty),
            version: 4,
            signed_extensions: signed_extensions(md)?,
        },
        ty: sym(runtime_type(md)?),
    })
}

/// V15, as `Metadata_metadata_at_version(15)` serves it.
pub fn v15_of(md: &RuntimeMetadataV16) -> Result<RuntimeMetadataV15, LegacyMetadataError> {
    let mut types = md.types.clone();
    // `extra_ty`: the tuple of the extensions' types, which V16 no longer names.
    let extra_id = u32::try_from(types.types.len())
        .map_err(|_| LegacyMetadataError("too many types".into()))?;
    let fields: Vec<Sym> = extensions(md)?.iter().map(|e| e.ty).collect();
    types.types.push(PortableType {
        id: extra_id,
        ty: Type {
            path: Path { segments: Vec::new() },
            type_params: Vec::new(),
            type_def: TypeDef::Tuple(TypeDefTuple { fields }),
            docs: Vec::new(),
        },
    });
    // V15's pallets are V14's with their docs.
    let pallets = pallets_v14(md)
        .into_iter()
        .zip(&md.pallets)
        .map(|(p, v16)| v15::PalletMetadata {
            name: p.name,
            storage: p.storage,
            calls: p.calls,
            event: p.event,
            constants: p.constants,
            error: p.error,
            index: p.index,
            docs: v16.docs.clone(),
        })
        .collect();
    let apis = md
        .apis
        .iter()
        .map(|a| v15::RuntimeApiMetadata {
            name: a.name.clone(),
            methods: a
                .methods
                .iter()
                .map(|m| v15::RuntimeApiMethodMetadata {
                    name: m.name.clone(),
                    inputs: m.inputs.clone(),
                    output: m.output,
                    docs: m.docs.clone(),
                })
                .collect(),
            docs: a.docs.clone(),
        })
        .collect();
    Ok(RuntimeMetadataV15 {
        types,
        pallets,
        extrinsic: v15::ExtrinsicMetadata {
            version: 4,
            address_ty: md.extrinsic.address_ty,
            call_ty: md.extrinsic.call_ty,
            signature_ty: md.extrinsic.signature_ty,
            extra_ty: sym(extra_id),
            signed_extensions: signed_extensions(md)?
                .into_iter()
                .map(|e| v15::SignedExtensionMetadata {
                    identifier: e.identifier,
                    ty: e.ty,
                    additional_signed: e.additional_signed,
                })
                .collect(),
        },
        ty: sym(runtime_type(md)?),
        apis,
        outer_enums: md.outer_enums.clone(),
        custom: md.custom.clone(),
    })
}

/// `metadata` as a `RuntimeMetadataPrefixed`'s encoding.
pub fn encode(metadata: RuntimeMetadata) -> Vec<u8> {
    RuntimeMetadataPrefixed(frame_metadata::META_RESERVED, metadata).encode()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};

    #[test]
    fn v14_and_v15_carry_every_item_the_roles_use() {
        let v16 = decode_v16(FINNEY_METADATA).unwrap();
        let v14 = encode(RuntimeMetadata::V14(v14_of(&v16).unwrap()));
        let v15 = encode(RuntimeMetadata::V15(v15_of(&v16).unwrap()));
        // V14 has no runtime APIs, so only V15 passes the whole check.
        checked_metadata(&v15, "V15").unwrap();
        for (label, bytes) in [("V14", &v14), ("V15", &v15)] {
            let md = subxt_metadata::Metadata::decode_from(bytes).unwrap();
            let storage = |p: &str, e: &str| {
                md.pallet_by_name(p)
                    .and_then(|p| p.storage())
                    .and_then(|s| s.entry_by_name(e))
                    .is_some()
            };
            assert!(storage("SubtensorModule", "Keys"), "{label}");
            assert!(storage("System", "Account"), "{label}");
            let exts = md.extrinsic().transaction_extensions_by_version(0).unwrap();
            let names: Vec<&str> = exts.map(|e| e.identifier()).collect();
            assert_eq!(names.first(), Some(&"CheckNonZeroSender"), "{label}");
            assert!(names.contains(&"CheckMortality") && names.contains(&"CheckNonce"), "{label}");
        }
    }
}

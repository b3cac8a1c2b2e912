//! An extrinsic's outcome from `System.Events`: the `ExtrinsicSuccess` or `ExtrinsicFailed`
//! record of its index in the block, decoded against the node's metadata (scale-value), with a
//! pallet error named `Pallet.Error` from the metadata.

use scale_value::{At, Value, ValueDef};
use subxt_metadata::Metadata;

use crate::ChainError;

/// What happened to the extrinsic at an index of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The dispatch error: `Pallet.Name` for a module error, else the variant's name.
    Failed(String),
}

fn bad(reason: String) -> ChainError {
    ChainError::BadStorage { item: "System.Events".into(), reason }
}

fn variant(v: &Value<u32>) -> Option<(&str, &Value<u32>)> {
    match &v.value {
        ValueDef::Variant(var) => Some((var.name.as_str(), v)),
        _ => None,
    }
}

fn first_field(v: &Value<u32>) -> Option<&Value<u32>> {
    match &v.value {
        ValueDef::Variant(var) => var.values.values().next(),
        ValueDef::Composite(c) => c.values().next(),
        _ => None,
    }
}

fn dispatch_error_name(md: &Metadata, e: &Value<u32>) -> String {
    match variant(e) {
        Some(("Module", module)) => {
            let inner = first_field(module);
            let index = inner.at("index").and_then(Value::as_u128);
            let error = inner.at("error").and_then(first_field).and_then(Value::as_u128);
            let named = index.zip(error).and_then(|(p, err)| {
                let p = md.pallet_by_error_index(u8::try_from(p).ok()?)?;
                let v = p.error_variant_by_index(u8::try_from(err).ok()?)?;
                Some(format!("{}.{}", p.name(), v.name))
            });
            named.unwrap_or_else(|| format!("Module {{ index: {index:?}, error: {error:?} }}"))
        }
        Some((name, _)) => name.to_owned(),
        None => "an undecodable dispatch error".into(),
    }
}

/// The type of `System.Events`' value (`Vec<EventRecord>`) in `md`.
pub fn events_type(md: &Metadata) -> Result<u32, ChainError> {
    md.pallet_by_name("System")
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name("Events"))
        .map(|e| e.value_ty())
        .ok_or_else(|| bad("the metadata has no System.Events".into()))
}

/// The outcome of extrinsic `index` from the encoded `System.Events` of its block.
pub fn extrinsic_outcome(md: &Metadata, events: &[u8], index: u32) -> Result<Outcome, ChainError> {
    let ty = events_type(md)?;
    crate::scale_guard::check_lengths(events, ty, md.types())
        .map_err(|e| bad(format!("{} bytes do not decode: {e}", events.len())))?;
    let mut input = events;
    let records: Value<u32> = scale_value::scale::decode_as_type(&mut input, ty, md.types())
        .map_err(|e| bad(format!("{} bytes do not decode: {e}", events.len())))?;
    let ValueDef::Composite(list) = &records.value else {
        return Err(bad("not a list of records".into()));
    };
    for record in list.values() {
        let Some(("ApplyExtrinsic", phase)) = record.at("phase").and_then(variant) else {
            continue;
        };
        if first_field(phase).and_then(Value::as_u128) != Some(u128::from(index)) {
            continue;
        }
        let Some(("System", event)) = record.at("event").and_then(variant) else { continue };
        match first_field(event).and_then(variant) {
            Some(("ExtrinsicSuccess", _)) => return Ok(Outcome::Success),
            Some(("ExtrinsicFailed", failed)) => {
                let e = failed.at("dispatch_error").or_else(|| first_field(failed));
                let name =
                    e.map_or_else(|| "no dispatch error".into(), |e| dispatch_error_name(md, e));
                return Ok(Outcome::Failed(name));
            }
            _ => {}
        }
    }
    Err(bad(format!("no ExtrinsicSuccess or ExtrinsicFailed for extrinsic {index}")))
}

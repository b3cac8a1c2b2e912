//! `System.Events` as a node writes it: `Vec<EventRecord>` with each extrinsic's
//! `ExtrinsicSuccess` or `ExtrinsicFailed`, encoded against the metadata's types with
//! scale-value, so field names and layouts are the runtime's own.

use scale_info::{form::PortableForm, TypeDef, TypeDefPrimitive};
use scale_value::{Composite, Value};
use subxt_metadata::Metadata;

/// A dispatch error of a pallet: `DispatchError::Module { index, error }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleError {
    /// The pallet's index in the runtime.
    pub pallet: u8,
    /// The error's index in the pallet's error enum.
    pub error: u8,
}

/// An encoding problem: the metadata lacks what an event needs.
#[derive(Debug, thiserror::Error)]
#[error("events: {0}")]
pub struct EventError(String);

/// A value of type `ty` with every field zero, every sequence empty, every enum its first
/// variant: the base that events fill in.
fn zero(md: &Metadata, ty: u32) -> Result<Value<()>, EventError> {
    let t = md.types().resolve(ty).ok_or_else(|| EventError(format!("no type {ty}")))?;
    Ok(match &t.type_def {
        TypeDef::<PortableForm>::Composite(c) => {
            composite(md, c.fields.iter().map(|f| (f.name.as_deref(), f.ty.id)))?
        }
        TypeDef::Variant(v) => {
            let first = v.variants.first().ok_or_else(|| EventError(format!("empty enum {ty}")))?;
            let fields = composite(md, first.fields.iter().map(|f| (f.name.as_deref(), f.ty.id)))?;
            Value::variant(first.name.clone(), into_composite(fields))
        }
        TypeDef::Sequence(_) | TypeDef::BitSequence(_) => Value::unnamed_composite([]),
        TypeDef::Array(a) => {
            let one = zero(md, a.type_param.id)?;
            Value::unnamed_composite((0..a.len).map(|_| one.clone()))
        }
        TypeDef::Tuple(tu) => Value::unnamed_composite(
            tu.fields.iter().map(|f| zero(md, f.id)).collect::<Result<Vec<_>, _>>()?,
        ),
        TypeDef::Primitive(TypeDefPrimitive::Bool) => Value::bool(false),
        TypeDef::Primitive(TypeDefPrimitive::Str) => Value::string(""),
        TypeDef::Primitive(TypeDefPrimitive::Char) => Value::char('\0'),
        TypeDef::Primitive(_) | TypeDef::Compact(_) => Value::u128(0),
    })
}

fn composite<'a>(
    md: &Metadata,
    fields: impl Iterator<Item = (Option<&'a str>, u32)>,
) -> Result<Value<()>, EventError> {
    let fields: Vec<(Option<&str>, u32)> = fields.collect();
    if fields.iter().all(|(n, _)| n.is_some()) && !fields.is_empty() {
        let named = fields
            .into_iter()
            .map(|(n, ty)| Ok((n.unwrap_or_default().to_owned(), zero(md, ty)?)))
            .collect::<Result<Vec<_>, EventError>>()?;
        Ok(Value::named_composite(named))
    } else {
        let unnamed =
            fields.into_iter().map(|(_, ty)| zero(md, ty)).collect::<Result<Vec<_>, _>>()?;
        Ok(Value::unnamed_composite(unnamed))
    }
}

fn into_composite(v: Value<()>) -> Composite<()> {
    match v.value {
        scale_value::ValueDef::Composite(c) => c,
        other => Composite::Unnamed(vec![Value { value: other, context: () }]),
    }
}

/// `RuntimeEvent::System(frame_system::Event::<variant> { .. })` with `set` fields replaced.
fn system_event(
    md: &Metadata,
    variant: &str,
    set: &[(&str, Value<()>)],
) -> Result<Value<()>, EventError> {
    let pallet =
        md.pallet_by_name("System").ok_or_else(|| EventError("no System pallet".into()))?;
    let v = pallet
        .event_variants()
        .and_then(|vs| vs.iter().find(|v| v.name == variant))
        .ok_or_else(|| EventError(format!("no System event {variant}")))?;
    let mut fields = Vec::new();
    for f in &v.fields {
        let name = f.name.clone().unwrap_or_default();
        let value = match set.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => value.clone(),
            None => zero(md, f.ty.id)?,
        };
        fields.push((name, value));
    }
    let inner = Value::named_variant(variant, fields);
    Ok(Value::unnamed_variant("System", [inner]))
}

/// One record: in phase `ApplyExtrinsic(index)`, no topics.
fn record(index: u32, event: Value<()>) -> Value<()> {
    Value::named_composite([
        ("phase", Value::unnamed_variant("ApplyExtrinsic", [Value::u128(u128::from(index))])),
        ("event", event),
        ("topics", Value::unnamed_composite([])),
    ])
}

/// The encoded `System.Events` of a block whose extrinsics had these outcomes, in order.
pub fn encode_events(
    md: &Metadata,
    outcomes: &[Result<(), ModuleError>],
) -> Result<Vec<u8>, EventError> {
    let ty = grail_chain::events::events_type(md).map_err(|e| EventError(e.to_string()))?;
    let mut records = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| EventError("too many extrinsics".into()))?;
        let event = match outcome {
            Ok(()) => system_event(md, "ExtrinsicSuccess", &[])?,
            Err(e) => {
                let module = Value::named_composite([
                    ("index", Value::u128(u128::from(e.pallet))),
                    (
                        "error",
                        Value::unnamed_composite(
                            [e.error, 0, 0, 0].map(|b| Value::u128(u128::from(b))),
                        ),
                    ),
                ]);
                let dispatch_error = Value::unnamed_variant("Module", [module]);
                system_event(md, "ExtrinsicFailed", &[("dispatch_error", dispatch_error)])?
            }
        };
        records.push(record(index, event));
    }
    let mut out = Vec::new();
    scale_value::scale::encode_as_type(
        &Value::unnamed_composite(records),
        ty,
        md.types(),
        &mut out,
    )
    .map_err(|e| EventError(e.to_string()))?;
    Ok(out)
}

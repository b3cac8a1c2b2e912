//! Checks SCALE bytes against their type before a decoder that allocates from counts reads
//! them: `scale_value` reserves room for a sequence's claimed length before reading any item,
//! so a node's answer claiming 10^9 items would abort the process. [`check_lengths`] walks
//! the bytes without allocating and refuses any sequence claiming more items than bytes left.

use scale_decode::visitor::types::{Array, Composite, Sequence, Tuple, Variant};
use scale_decode::visitor::{decode_with_visitor, DecodeError, TypeIdFor, Unexpected};
use scale_decode::{TypeResolver, Visitor};

/// Why [`check_lengths`] refused bytes.
#[derive(Debug, thiserror::Error)]
pub enum LengthError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A sequence claims more items than bytes follow its length.
    #[error("a sequence claims {claimed} items with {left} bytes left")]
    TooLong { claimed: usize, left: usize },
}

/// Walks `bytes` as a value of type `ty`: an error if they do not decode, or if a sequence
/// claims more items than there are bytes after its length.
pub fn check_lengths<R: TypeResolver>(
    bytes: &[u8],
    ty: R::TypeId,
    types: &R,
) -> Result<(), LengthError> {
    let mut input = bytes;
    decode_with_visitor(&mut input, ty, types, LengthCheck::<R>(std::marker::PhantomData))
}

struct LengthCheck<R>(std::marker::PhantomData<R>);

impl<R> LengthCheck<R> {
    fn again(&self) -> Self {
        Self(std::marker::PhantomData)
    }
}

fn all<T, E>(items: impl Iterator<Item = Result<T, E>>) -> Result<(), E> {
    for item in items {
        item?;
    }
    Ok(())
}

impl<R: TypeResolver> Visitor for LengthCheck<R> {
    type Value<'scale, 'resolver> = ();
    type Error = LengthError;
    type TypeResolver = R;

    fn visit_unexpected<'scale, 'resolver>(
        self,
        _unexpected: Unexpected,
    ) -> Result<Self::Value<'scale, 'resolver>, Self::Error> {
        Ok(())
    }

    fn visit_sequence<'scale, 'resolver>(
        self,
        value: &mut Sequence<'scale, 'resolver, R>,
        _type_id: TypeIdFor<Self>,
    ) -> Result<(), LengthError> {
        let left = value.bytes_from_undecoded().len();
        let claimed = value.remaining();
        if claimed > left {
            return Err(LengthError::TooLong { claimed, left });
        }
        all(std::iter::from_fn(|| value.decode_item(self.again())))
    }

    fn visit_array<'scale, 'resolver>(
        self,
        value: &mut Array<'scale, 'resolver, R>,
        _type_id: TypeIdFor<Self>,
    ) -> Result<(), LengthError> {
        all(std::iter::from_fn(|| value.decode_item(self.again())))
    }

    fn visit_composite<'scale, 'resolver>(
        self,
        value: &mut Composite<'scale, 'resolver, R>,
        _type_id: TypeIdFor<Self>,
    ) -> Result<(), LengthError> {
        all(std::iter::from_fn(|| value.decode_item(self.again())))
    }

    fn visit_tuple<'scale, 'resolver>(
        self,
        value: &mut Tuple<'scale, 'resolver, R>,
        _type_id: TypeIdFor<Self>,
    ) -> Result<(), LengthError> {
        all(std::iter::from_fn(|| value.decode_item(self.again())))
    }

    fn visit_variant<'scale, 'resolver>(
        self,
        value: &mut Variant<'scale, 'resolver, R>,
        _type_id: TypeIdFor<Self>,
    ) -> Result<(), LengthError> {
        let fields = value.fields();
        all(std::iter::from_fn(|| fields.decode_item(self.again())))
    }
}

#[cfg(test)]
mod tests {
    use parity_scale_codec::{Compact, Encode};

    use super::*;
    use crate::events::{events_type, extrinsic_outcome};
    use crate::metadata::{checked_metadata, FINNEY_METADATA};

    #[test]
    fn events_claiming_more_records_than_bytes_are_refused_before_anything_is_reserved() {
        let md = checked_metadata(FINNEY_METADATA, "finney").unwrap();
        let ty = events_type(&md).unwrap();
        // 10^9 records in 3 bytes: scale_value alone would reserve ~100 GB and abort.
        let mut events = Compact(1_000_000_000u32).encode();
        events.extend([0, 0, 0]);
        let err = check_lengths(&events, ty, md.types()).unwrap_err();
        assert!(matches!(err, LengthError::TooLong { claimed: 1_000_000_000, left: 3 }), "{err}");
        let err = extrinsic_outcome(&md, &events, 0).unwrap_err().to_string();
        assert!(err.contains("claims 1000000000 items with 3 bytes left"), "{err}");

        // No records at all pass the check, and the outcome is reported missing.
        let none = Compact(0u32).encode();
        check_lengths(&none, ty, md.types()).unwrap();
        let err = extrinsic_outcome(&md, &none, 0).unwrap_err().to_string();
        assert!(err.contains("no ExtrinsicSuccess or ExtrinsicFailed"), "{err}");
    }
}

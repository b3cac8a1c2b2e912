//! What weight setting leaves in storage, read at a block: `LastUpdate(netuid_index) ->
//! Vec<u64>` (the block of each uid's last weights or commit), `Weights(netuid_index, uid) ->
//! Vec<(u16, u16)>` (the revealed or set weights, max-upscaled), and
//! `TimelockedWeightCommits(netuid_index, epoch) -> VecDeque<(AccountId32, u64, BoundedVec<u8>,
//! u64)>` (the commits of an epoch awaiting reveal: committer, block, ciphertext, round). The
//! netuid index of mechanism 0 is the netuid.

use parity_scale_codec::{Decode, Encode};

use super::SubtensorClient;
use crate::subnet::read_item;
use crate::{ChainError, Hash32};

const PALLET: &str = "SubtensorModule";

/// A timelocked commit awaiting its reveal.
#[derive(Debug, Clone, PartialEq, Eq, Decode, Encode)]
pub struct TimelockedCommit {
    /// The committing hotkey.
    pub who: [u8; 32],
    /// The block it was included in.
    pub block: u64,
    /// The timelock ciphertext.
    pub commit: Vec<u8>,
    pub reveal_round: u64,
}

impl SubtensorClient {
    /// `SubtensorModule.entry(keys)` at block `at`, or its metadata default.
    async fn item_at<T: Decode>(
        &self,
        entry: &str,
        keys: &[&[u8]],
        label: &str,
        at: Hash32,
    ) -> Result<Option<T>, ChainError> {
        let md = self.metadata();
        let key = crate::storage_key::storage_key(md, PALLET, entry, keys)?;
        let value = self.storage_at(&[key], at).await?.pop().flatten();
        read_item(md, PALLET, entry, keys, label, &mut |_| Ok(value.clone()))
    }

    /// `LastUpdate(netuid)` at `at`: per uid, the block of its last weights or commit (0:
    /// never).
    pub async fn last_update(&self, netuid: u16, at: Hash32) -> Result<Vec<u64>, ChainError> {
        let label = format!("({netuid})");
        Ok(self.item_at("LastUpdate", &[&netuid.encode()], &label, at).await?.unwrap_or_default())
    }

    /// `Weights(netuid, uid)` at `at`: the weights the chain holds for `uid`.
    pub async fn weights_of(
        &self,
        netuid: u16,
        uid: u16,
        at: Hash32,
    ) -> Result<Vec<(u16, u16)>, ChainError> {
        let label = format!("({netuid}, {uid})");
        let keys: &[&[u8]] = &[&netuid.encode(), &uid.encode()];
        Ok(self.item_at("Weights", keys, &label, at).await?.unwrap_or_default())
    }

    /// `TimelockedWeightCommits(netuid, epoch)` at `at`: the commits made in `epoch` and not
    /// yet revealed or dropped.
    pub async fn timelocked_commits(
        &self,
        netuid: u16,
        epoch: u64,
        at: Hash32,
    ) -> Result<Vec<TimelockedCommit>, ChainError> {
        let label = format!("({netuid}, {epoch})");
        let keys: &[&[u8]] = &[&netuid.encode(), &epoch.encode()];
        Ok(self.item_at("TimelockedWeightCommits", keys, &label, at).await?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use scale_info::{TypeDef, TypeDefPrimitive};

    use crate::metadata::{checked_metadata, FINNEY_METADATA};

    /// The value's shape, flattened: primitives by name, sequences as `[..]`, tuples as `(..)`,
    /// composites of one field as that field, and AccountId32 as `AccountId32`.
    fn shape(md: &subxt_metadata::Metadata, id: u32) -> String {
        let ty = md.types().resolve(id).expect("type");
        if ty.path.segments.last().is_some_and(|s| s == "AccountId32") {
            return "AccountId32".into();
        }
        match &ty.type_def {
            TypeDef::Primitive(p) => match p {
                TypeDefPrimitive::U8 => "u8".into(),
                TypeDefPrimitive::U16 => "u16".into(),
                TypeDefPrimitive::U64 => "u64".into(),
                other => format!("{other:?}"),
            },
            TypeDef::Sequence(s) => format!("[{}]", shape(md, s.type_param.id)),
            TypeDef::Tuple(t) => {
                let parts: Vec<String> = t.fields.iter().map(|f| shape(md, f.id)).collect();
                format!("({})", parts.join(", "))
            }
            TypeDef::Composite(c) if c.fields.len() == 1 => shape(md, c.fields[0].ty.id),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn value_types_are_the_metadatas() {
        let md = checked_metadata(FINNEY_METADATA, "finney").expect("metadata");
        let storage =
            md.pallet_by_name("SubtensorModule").and_then(|p| p.storage()).expect("pallet");
        let of = |entry: &str| shape(&md, storage.entry_by_name(entry).expect(entry).value_ty());
        assert_eq!(of("LastUpdate"), "[u64]");
        assert_eq!(of("Weights"), "[(u16, u16)]");
        assert_eq!(of("TimelockedWeightCommits"), "[(AccountId32, u64, [u8], u64)]");
    }
}

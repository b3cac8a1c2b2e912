//! Miners' commitments read at a block: `Commitments.CommitmentOf(netuid, hotkey) ->
//! Registration { deposit, block, info }` (keys `Identity` netuid, `Twox64Concat` account; an
//! optional item: absent when the hotkey never committed). Parse the fields with
//! [`crate::commitment::MinerCommitment::from_data`].

use grail_protocol::keys::Hotkey;
use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;

use super::{SubtensorClient, STORAGE_BATCH};
use crate::commitment::Registration;
use crate::storage_key::storage_key;
use crate::{ChainError, Hash32};

const PALLET: &str = "Commitments";
const ENTRY: &str = "CommitmentOf";

/// The storage key of `CommitmentOf(netuid, hotkey)`.
pub fn commitment_key(
    md: &Metadata,
    netuid: u16,
    hotkey: &[u8; 32],
) -> Result<Vec<u8>, ChainError> {
    storage_key(md, PALLET, ENTRY, &[&netuid.encode(), hotkey])
}

/// Decodes a stored `CommitmentOf(netuid, hotkey)` value (all of its bytes).
pub fn decode_registration(
    netuid: u16,
    hotkey: &[u8; 32],
    bytes: &[u8],
) -> Result<Registration, ChainError> {
    let bad = |reason: String| ChainError::BadStorage {
        item: format!("{PALLET}.{ENTRY}({netuid}, {})", Hotkey(*hotkey).to_ss58()),
        reason,
    };
    let mut input = bytes;
    let r = Registration::decode(&mut input)
        .map_err(|e| bad(format!("{} bytes do not decode: {e}", bytes.len())))?;
    if !input.is_empty() {
        return Err(bad(format!("{} bytes left over", input.len())));
    }
    Ok(r)
}

impl SubtensorClient {
    /// `CommitmentOf(netuid, hotkey)` at block `at`; `None` if the hotkey has no commitment.
    pub async fn commitment_of(
        &self,
        netuid: u16,
        hotkey: &[u8; 32],
        at: Hash32,
    ) -> Result<Option<Registration>, ChainError> {
        Ok(self.commitments_of(netuid, std::slice::from_ref(hotkey), at).await?.pop().flatten())
    }

    /// `CommitmentOf(netuid, hotkey)` of each of `hotkeys` at block `at`, in their order, in
    /// batched requests.
    pub async fn commitments_of(
        &self,
        netuid: u16,
        hotkeys: &[[u8; 32]],
        at: Hash32,
    ) -> Result<Vec<Option<Registration>>, ChainError> {
        let md = self.metadata();
        let mut out = Vec::with_capacity(hotkeys.len());
        for chunk in hotkeys.chunks(STORAGE_BATCH) {
            let keys = chunk
                .iter()
                .map(|h| commitment_key(md, netuid, h))
                .collect::<Result<Vec<_>, _>>()?;
            let values = self.storage_at(&keys, at).await?;
            for (hotkey, value) in chunk.iter().zip(values) {
                out.push(value.map(|v| decode_registration(netuid, hotkey, &v)).transpose()?);
            }
        }
        Ok(out)
    }
}

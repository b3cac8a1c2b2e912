//! Calls the dev chain applies, with subtensor's rules and error names for what they refuse.
//! Each reads the state through a getter (the block being built sees its earlier extrinsics)
//! and returns the storage it changes.
//!
//! - [`register`]: `burned_register`, signed by a coldkey;
//! - [`weights`]: `set_weights` and `commit_timelocked_weights`, signed by a hotkey;
//! - [`commitments`]: `Commitments.set_commitment`, signed by a hotkey.

pub mod commitments;
pub mod register;
pub mod weights;

use grail_chain::storage_key::storage_key;
use grail_chain::subnet::read_item;
use grail_chain::ChainError;
use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;

use crate::account::AccountInfo;
use crate::events::ModuleError;
use crate::extrinsic::Checked;

pub use register::burned_register;

/// Storage changes: key, and the new value (`None`: removed).
pub type Changes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Reads the raw value of a storage key (`None`: absent).
pub type Get<'a> = &'a dyn Fn(&[u8]) -> Option<Vec<u8>>;

/// Why a call was not applied.
#[derive(Debug)]
pub enum DispatchFailure {
    /// A pallet error, as `ExtrinsicFailed` reports it.
    Module(ModuleError),
    /// The dev chain itself could not read or write its state.
    Internal(ChainError),
}

impl From<ChainError> for DispatchFailure {
    fn from(e: ChainError) -> Self {
        Self::Internal(e)
    }
}

pub(crate) const PALLET: &str = "SubtensorModule";

/// What a call needs of the block it is applied in.
#[derive(Debug, Clone, Copy)]
pub struct InBlock {
    pub number: u64,
    /// Registrations applied earlier in the block.
    pub registrations: u16,
}

/// Applies the call of `checked` in `block`.
pub fn apply(
    md: &Metadata,
    get: Get<'_>,
    checked: &Checked,
    block: &mut InBlock,
) -> Result<Changes, DispatchFailure> {
    let (who, args, number) = (&checked.signer, checked.args.as_slice(), block.number);
    match (checked.pallet.as_str(), checked.call.as_str()) {
        (PALLET, "burned_register") => {
            let changes = burned_register(md, get, who, args, number, block.registrations)?;
            block.registrations += 1;
            Ok(changes)
        }
        (PALLET, "set_weights") => weights::set_weights(md, get, who, args, number),
        (PALLET, "commit_timelocked_weights") => {
            weights::commit_timelocked_weights(md, get, who, args, number)
        }
        ("Commitments", "set_commitment") => {
            commitments::set_commitment(md, get, who, args, number)
        }
        (pallet, call) => Err(DispatchFailure::Internal(ChainError::BadStorage {
            item: format!("{pallet}.{call}"),
            reason: "admitted but not applied by the dev chain".into(),
        })),
    }
}

/// Whether the arguments of an applied call decode as the runtime decodes them (bounds
/// included); a node refuses bytes that do not at submission.
pub fn check_args(checked: &Checked) -> Result<(), String> {
    let args = checked.args.as_slice();
    let result = match (checked.pallet.as_str(), checked.call.as_str()) {
        (PALLET, "set_weights") => weights::SetWeightsArgs::decode_checked(args).map(drop),
        (PALLET, "commit_timelocked_weights") => {
            weights::CommitArgs::decode_checked(args).map(drop)
        }
        ("Commitments", "set_commitment") => commitments::decode_checked(args).map(drop),
        _ => Ok(()),
    };
    result.map_err(|e| format!("{}.{}: {e}", checked.pallet, checked.call))
}

pub(crate) fn module_error(md: &Metadata, pallet: &str, name: &str) -> DispatchFailure {
    let found = md.pallet_by_name(pallet).and_then(|p| {
        let v = p.error_variants()?.iter().find(|v| v.name == name)?;
        Some(ModuleError { pallet: p.error_index(), error: v.index })
    });
    match found {
        Some(e) => DispatchFailure::Module(e),
        None => DispatchFailure::Internal(ChainError::MissingInMetadata {
            source_name: "grail-devchain".into(),
            missing: format!("error {pallet}.{name}"),
        }),
    }
}

/// `SubtensorModule.entry(keys)` through `get`, or the metadata's default.
pub(crate) fn value<T: Decode>(
    md: &Metadata,
    get: Get<'_>,
    entry: &str,
    keys: &[&[u8]],
) -> Result<Option<T>, ChainError> {
    read_item(md, PALLET, entry, keys, "", &mut |k| Ok(get(k)))
}

/// `SubtensorModule.entry(keys)` if stored (no default: an optional item).
pub(crate) fn stored<T: Decode>(
    md: &Metadata,
    get: Get<'_>,
    entry: &str,
    keys: &[&[u8]],
) -> Result<Option<T>, ChainError> {
    let key = storage_key(md, PALLET, entry, keys)?;
    get(&key)
        .map(|bytes| {
            T::decode(&mut bytes.as_slice()).map_err(|e| ChainError::BadStorage {
                item: format!("{PALLET}.{entry}"),
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// The arguments of `call`, SCALE-decoded.
pub(crate) fn decode_args<T: Decode>(call: &str, args: &[u8]) -> Result<T, DispatchFailure> {
    T::decode(&mut &*args).map_err(|e| {
        DispatchFailure::Internal(ChainError::BadStorage {
            item: format!("{call} arguments"),
            reason: e.to_string(),
        })
    })
}

/// The account of `who` (default when absent).
pub fn account(md: &Metadata, get: Get<'_>, who: &[u8; 32]) -> Result<AccountInfo, ChainError> {
    let key = storage_key(md, "System", "Account", &[who])?;
    match get(&key) {
        None => Ok(AccountInfo::default()),
        Some(b) => AccountInfo::decode(&mut b.as_slice()).map_err(|e| ChainError::BadStorage {
            item: "System.Account".into(),
            reason: e.to_string(),
        }),
    }
}

/// The change writing `info` as `who`'s account.
pub fn put_account(
    md: &Metadata,
    who: &[u8; 32],
    info: &AccountInfo,
) -> Result<(Vec<u8>, Option<Vec<u8>>), ChainError> {
    Ok((storage_key(md, "System", "Account", &[who])?, Some(info.encode())))
}

/// `get` with `changes` on top (the latest change of a key wins).
pub fn layered<'a>(
    changes: &'a [(Vec<u8>, Option<Vec<u8>>)],
    get: Get<'a>,
) -> impl Fn(&[u8]) -> Option<Vec<u8>> + 'a {
    move |k| {
        changes
            .iter()
            .rev()
            .find(|(ck, _)| ck.as_slice() == k)
            .map_or_else(|| get(k), |(_, v)| v.clone())
    }
}

//! Submitted extrinsics checked as a subtensor node's transaction pool checks them: decoded
//! against the metadata (frame-decode), the signer's `MultiAddress::Id`, the era's birth block,
//! and the sr25519 signature over the call, the transaction extensions and their implicit data
//! (spec and transaction version, genesis hash, birth block hash, metadata hash), each extension
//! in the metadata's order. A failure is answered with Substrate's author-RPC error: code 1001
//! for bytes that do not decode, 1010 (`InvalidTransaction`) and 1011 (`UnknownTransaction`)
//! with the runtime's reason as `data`. The nonce is checked by the pool against the account.

use frame_decode::extrinsics::{decode_extrinsic, ExtrinsicType};
use grail_protocol::keys::Hotkey;
use parity_scale_codec::{Compact, Decode, Encode};
use scale_info::{form::PortableForm, TypeDef};
use subxt::utils::Era;
use subxt_metadata::Metadata;

/// How many past block hashes the runtime keeps (`BlockHashCount`): an era born earlier is
/// ancient.
pub const BLOCK_HASH_COUNT: u64 = 4096;

/// An author-RPC error: code, message and the runtime's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxError {
    pub code: i32,
    pub message: String,
    pub data: Option<String>,
}

impl TxError {
    /// 1001: the bytes are not an extrinsic of this runtime.
    pub fn bad_format(reason: impl std::fmt::Display) -> Self {
        Self { code: 1001, message: format!("Extrinsic has invalid format: {reason}"), data: None }
    }

    /// 1010 with an `InvalidTransaction` reason.
    pub fn invalid(reason: &str) -> Self {
        Self { code: 1010, message: "Invalid Transaction".into(), data: Some(reason.into()) }
    }

    /// 1011 with an `UnknownTransaction` reason.
    pub fn unknown(reason: &str) -> Self {
        Self {
            code: 1011,
            message: "Unknown Transaction Validity".into(),
            data: Some(reason.into()),
        }
    }
}

/// `InvalidTransaction::BadProof`.
pub const BAD_PROOF: &str = "Transaction has a bad signature";
/// `InvalidTransaction::Stale`.
pub const STALE: &str = "Transaction is outdated";
/// `InvalidTransaction::AncientBirthBlock`.
pub const ANCIENT_BIRTH_BLOCK: &str = "Transaction has an ancient birth block";
/// `InvalidTransaction::Call`.
pub const UNEXPECTED_CALL: &str = "Transaction call is not expected";
/// `InvalidTransaction::Payment`.
pub const PAYMENT: &str = "Inability to pay some fees (e.g. account balance too low)";
/// `UnknownTransaction::CannotLookup`.
pub const CANNOT_LOOKUP: &str = "Could not lookup information required to validate the transaction";
/// `UnknownTransaction::NoUnsignedValidator`.
pub const NO_UNSIGNED_VALIDATOR: &str =
    "Could not find an unsigned validator for the unsigned transaction";

/// What the check needs of the chain.
pub struct Context<'a> {
    pub metadata: &'a Metadata,
    pub genesis: [u8; 32],
    pub spec_version: u32,
    pub transaction_version: u32,
    /// The block the pool validates on (the best block); the extrinsic would go into the next.
    pub best: u64,
    /// The hash of a produced block.
    pub block_hash: &'a dyn Fn(u64) -> Option<[u8; 32]>,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("best", &self.best).finish_non_exhaustive()
    }
}

/// A signed extrinsic whose signature, era and genesis hold.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The encoded extrinsic as submitted.
    pub bytes: Vec<u8>,
    /// blake2-256 of `bytes`, the transaction hash.
    pub hash: [u8; 32],
    /// The signer's public key.
    pub signer: [u8; 32],
    pub nonce: u64,
    /// The last block it may be included in.
    pub last_valid: u64,
    pub pallet: String,
    pub call: String,
    /// The call's arguments, SCALE-encoded.
    pub args: Vec<u8>,
}

/// The birth block of `era` for a transaction validated for block `current`
/// (sp-runtime's `Era::birth`).
pub fn era_birth(era: &Era, current: u64) -> u64 {
    match *era {
        Era::Immortal => 0,
        Era::Mortal { period, phase } => {
            (current.max(phase) - phase) / period.max(1) * period.max(1) + phase
        }
    }
}

/// The first block at which `era` no longer holds (sp-runtime's `Era::death`).
pub fn era_death(era: &Era, current: u64) -> u64 {
    match *era {
        Era::Immortal => u64::MAX,
        Era::Mortal { period, .. } => era_birth(era, current) + period,
    }
}

/// The extensions whose implicit data `check` computes (in its match); every other one must
/// have none.
const WITH_IMPLICIT: [&str; 5] =
    ["CheckSpecVersion", "CheckTxVersion", "CheckGenesis", "CheckMortality", "CheckMetadataHash"];

fn zero_sized(md: &Metadata, ty: u32) -> bool {
    match md.types().resolve(ty).map(|t| &t.type_def) {
        Some(TypeDef::<PortableForm>::Tuple(t)) => t.fields.is_empty(),
        Some(TypeDef::<PortableForm>::Composite(c)) => {
            c.fields.iter().all(|f| zero_sized(md, f.ty.id))
        }
        _ => false,
    }
}

/// Decodes and checks `bytes` (one encoded extrinsic, with its length prefix).
pub fn check(bytes: &[u8], ctx: &Context<'_>) -> Result<Checked, TxError> {
    let md = ctx.metadata;
    let mut cursor = bytes;
    let ext = decode_extrinsic(&mut cursor, md, md.types()).map_err(TxError::bad_format)?;
    if !cursor.is_empty() {
        return Err(TxError::bad_format(format!("{} bytes after the extrinsic", cursor.len())));
    }
    if ext.ty() != ExtrinsicType::Signed {
        return Err(TxError::unknown(NO_UNSIGNED_VALIDATOR));
    }
    let (Some(sig), Some(exts)) = (ext.signature_payload(), ext.transaction_extension_payload())
    else {
        return Err(TxError::bad_format("a signed extrinsic without its signature"));
    };
    // MultiAddress::Id(AccountId32) is the only address subtensor looks up.
    let address = &bytes[sig.address_range()];
    let signer: [u8; 32] = match address.split_first() {
        Some((0, id)) if id.len() == 32 => id.try_into().map_err(TxError::bad_format)?,
        _ => return Err(TxError::unknown(CANNOT_LOOKUP)),
    };
    // MultiSignature::Sr25519; the dev chain verifies no other scheme.
    let signature: [u8; 64] = match bytes[sig.signature_range()].split_first() {
        Some((1, s)) if s.len() == 64 => s.try_into().map_err(TxError::bad_format)?,
        _ => return Err(TxError::invalid(BAD_PROOF)),
    };

    let current = ctx.best + 1;
    let mut nonce = None;
    let mut last_valid = u64::MAX;
    let mut implicit = Vec::new();
    for arg in exts.iter() {
        let mut value = &bytes[arg.range()];
        match arg.name() {
            "CheckSpecVersion" => ctx.spec_version.encode_to(&mut implicit),
            "CheckTxVersion" => ctx.transaction_version.encode_to(&mut implicit),
            "CheckGenesis" => ctx.genesis.encode_to(&mut implicit),
            "CheckMortality" => {
                let era = Era::decode(&mut value).map_err(TxError::bad_format)?;
                let birth = era_birth(&era, current);
                // Block 0's hash is never pruned.
                let hash = if birth != 0 && birth + BLOCK_HASH_COUNT < current {
                    None
                } else {
                    (ctx.block_hash)(birth)
                };
                let hash = hash.ok_or_else(|| TxError::invalid(ANCIENT_BIRTH_BLOCK))?;
                hash.encode_to(&mut implicit);
                last_valid = era_death(&era, current).saturating_sub(1);
            }
            "CheckNonce" => {
                nonce = Some(Compact::<u64>::decode(&mut value).map_err(TxError::bad_format)?.0);
            }
            "CheckMetadataHash" => match value.first() {
                // Mode::Disabled: the implicit metadata hash is None.
                Some(0) => 0u8.encode_to(&mut implicit),
                _ => {
                    return Err(TxError::invalid(
                        "CheckMetadataHash mode 1 needs the metadata's merkle hash, which grail-devchain does not compute",
                    ))
                }
            },
            _ => {}
        }
    }
    // Extensions not named above must have no implicit data, or the payload is unknown here.
    if let Some(list) = md.extrinsic().transaction_extensions_by_version(0) {
        for e in list {
            if !WITH_IMPLICIT.contains(&e.identifier()) && !zero_sized(md, e.additional_ty()) {
                return Err(TxError::invalid(UNEXPECTED_CALL));
            }
        }
    }
    let mut payload = bytes[ext.call_data_range()].to_vec();
    payload.extend_from_slice(&bytes[exts.range()]);
    payload.extend_from_slice(&implicit);
    if payload.len() > 256 {
        payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
    }
    Hotkey(signer).verify(&payload, &signature).map_err(|_| TxError::invalid(BAD_PROOF))?;
    Ok(Checked {
        bytes: bytes.to_vec(),
        hash: sp_crypto_hashing::blake2_256(bytes),
        signer,
        nonce: nonce.unwrap_or(0),
        last_valid,
        pallet: ext.pallet_name().to_owned(),
        call: ext.call_name().to_owned(),
        args: bytes[ext.call_data_args_range()].to_vec(),
    })
}

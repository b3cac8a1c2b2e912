//! Checkpoint manifests (DESIGN.md 3.11): the trainer's signed statement that from window
//! `from_window` on the network's model is `model_id`, whose files are listed with their
//! content ids, and which network parameters go with it.
//!
//! A manifest travels as JSON ([`parse_manifest`] bounds and checks every field). The trainer
//! signs [`manifest_digest`], `H("grail/v1/checkpoint-sig", ...)` over every field but the
//! signature, in the order of `protocol/README.md` section 11, with sr25519 under the context
//! `substrate`, like a window file.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;
use crate::hash::{DomainHasher, Hash32};
use crate::keys::{Hotkey, HotkeyPair, SIGNATURE_LEN};
use crate::params::{EnvironmentSpec, GenerationParams};

/// Domain of the manifest digest.
pub const DOMAIN_CHECKPOINT_SIG: &str = "grail/v1/checkpoint-sig";
/// The manifest format this code writes and reads.
pub const MANIFEST_VERSION: u32 = 1;
/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Most files one checkpoint may list.
pub const MAX_CHECKPOINT_FILES: usize = 32;
/// Longest file name, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 128;
/// Longest `location`, in bytes.
pub const MAX_LOCATION_BYTES: usize = 1024;
/// Longest environment id, in bytes.
pub const MAX_ENVIRONMENT_ID_BYTES: usize = 64;
/// The file a checkpoint's model is loaded from; every manifest lists it.
pub const MODEL_FILE: &str = "model.onnx";

/// One file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointFile {
    /// Plain file name (`model.onnx`, `tokenizer.json`, ...): letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// CIDv1 (raw, sha2-256) of the file's bytes, as text.
    pub cid: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A trainer's signed checkpoint manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointManifest {
    /// Manifest format, [`MANIFEST_VERSION`].
    pub version: u32,
    /// The first window this checkpoint holds for (until a later manifest's).
    pub from_window: u64,
    /// `model_id` of the weights: the CIDv1 text of their canonical encoding.
    pub model_id: String,
    /// Where the files are: a key prefix in the store that holds the manifest, or an
    /// `s3://bucket/prefix` or `file:///path` URL.
    pub location: String,
    /// The files, sorted by name, names unique.
    pub files: Vec<CheckpointFile>,
    /// The environment the network runs under this model.
    pub environment: EnvironmentSpec,
    /// How completions are generated under this model.
    pub generation: GenerationParams,
    /// The trainer's hotkey (SS58), which signs.
    pub trainer: String,
    /// sr25519 signature of [`manifest_digest`], hex.
    pub signature: String,
}

/// Digest of every manifest field except the signature, in declaration order.
pub fn manifest_digest(m: &CheckpointManifest) -> Result<Hash32, ProtocolError> {
    let trainer = Hotkey::from_ss58(&m.trainer)?;
    let mut h = DomainHasher::new(DOMAIN_CHECKPOINT_SIG)
        .u64(u64::from(m.version))
        .u64(m.from_window)
        .bytes(&cid_bytes("model_id", &m.model_id)?)
        .bytes(m.location.as_bytes())
        .u64(m.files.len() as u64);
    for (i, f) in m.files.iter().enumerate() {
        h = h
            .bytes(f.name.as_bytes())
            .bytes(&cid_bytes(&format!("files[{i}].cid"), &f.cid)?)
            .u64(f.bytes);
    }
    Ok(h.bytes(m.environment.id.as_bytes())
        .u64(u64::from(m.environment.version))
        .u64(u64::from(m.generation.temperature.to_bits()))
        .u64(u64::from(m.generation.max_new_tokens))
        .u64(u64::from(m.generation.eos_probability_floor.to_bits()))
        .bytes(trainer.as_bytes())
        .finish())
}

/// Sets `trainer` to `pair`'s hotkey and signs the manifest.
pub fn sign_manifest(pair: &HotkeyPair, m: &mut CheckpointManifest) -> Result<(), ProtocolError> {
    m.trainer = pair.hotkey().to_ss58();
    check_fields(m)?;
    m.signature = hex::encode(pair.sign(&manifest_digest(m)?));
    Ok(())
}

/// Checks that `m` is well formed and signed by `trainer`.
pub fn verify_manifest(m: &CheckpointManifest, trainer: &Hotkey) -> Result<(), ProtocolError> {
    check_fields(m)?;
    let signer = Hotkey::from_ss58(&m.trainer)?;
    if signer != *trainer {
        return Err(ProtocolError::InvalidValue {
            field: "trainer".into(),
            reason: format!("{signer} is not the configured trainer {trainer}"),
        });
    }
    let sig = hex::decode(&m.signature)
        .ok()
        .and_then(|b| <[u8; SIGNATURE_LEN]>::try_from(b).ok())
        .ok_or_else(|| ProtocolError::InvalidValue {
            field: "signature".into(),
            reason: format!("not {SIGNATURE_LEN} bytes of hex"),
        })?;
    trainer.verify(&manifest_digest(m)?, &sig).map_err(|_| ProtocolError::BadSignature {
        what: format!("checkpoint manifest of window {}", m.from_window),
        hotkey: trainer.to_ss58(),
    })
}

/// Parses a manifest's JSON: at most [`MAX_MANIFEST_BYTES`], every field checked (the
/// signature is not; see [`verify_manifest`]).
pub fn parse_manifest(bytes: &[u8]) -> Result<CheckpointManifest, ProtocolError> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ProtocolError::TooLarge {
            field: "checkpoint manifest bytes".into(),
            value: bytes.len() as u64,
            limit: MAX_MANIFEST_BYTES,
        });
    }
    let m: CheckpointManifest = serde_json::from_slice(bytes).map_err(|e| {
        ProtocolError::InvalidValue { field: "checkpoint manifest".into(), reason: e.to_string() }
    })?;
    check_fields(&m)?;
    Ok(m)
}

/// The manifest's canonical JSON (what the trainer publishes).
pub fn manifest_json(m: &CheckpointManifest) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(m).unwrap_or_default();
    out.push(b'\n');
    out
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidValue { field: field.into(), reason: reason.into() }
}

fn too_large(field: &str, value: usize, limit: usize) -> ProtocolError {
    ProtocolError::TooLarge { field: field.into(), value: value as u64, limit: limit as u64 }
}

fn cid_bytes(field: &str, text: &str) -> Result<Vec<u8>, ProtocolError> {
    cid::Cid::try_from(text)
        .map(|c| c.to_bytes())
        .map_err(|e| invalid(field, format!("{text:?} is not a CID: {e}")))
}

/// A file name is plain: 1 to [`MAX_FILE_NAME_BYTES`] of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn check_file_name(field: &str, name: &str) -> Result<(), ProtocolError> {
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(too_large(field, name.len(), MAX_FILE_NAME_BYTES));
    }
    let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if name.is_empty() || !plain || name == "." || name == ".." {
        return Err(invalid(field, format!("{name:?} is not a plain file name ([A-Za-z0-9._-])")));
    }
    Ok(())
}

fn check_fields(m: &CheckpointManifest) -> Result<(), ProtocolError> {
    if m.version != MANIFEST_VERSION {
        return Err(invalid(
            "version",
            format!("{} (this code reads {MANIFEST_VERSION})", m.version),
        ));
    }
    cid_bytes("model_id", &m.model_id)?;
    if m.location.len() > MAX_LOCATION_BYTES {
        return Err(too_large("location", m.location.len(), MAX_LOCATION_BYTES));
    }
    if m.location.chars().any(char::is_control) {
        return Err(invalid("location", "holds a control character"));
    }
    if m.files.len() > MAX_CHECKPOINT_FILES {
        return Err(too_large("files", m.files.len(), MAX_CHECKPOINT_FILES));
    }
    let mut names = BTreeSet::new();
    for (i, f) in m.files.iter().enumerate() {
        check_file_name(&format!("files[{i}].name"), &f.name)?;
        cid_bytes(&format!("files[{i}].cid"), &f.cid)?;
        if names.last().is_some_and(|last: &&str| *last >= f.name.as_str()) {
            return Err(invalid(
                format!("files[{i}].name"),
                format!("{:?} is out of order or repeated (names are sorted, unique)", f.name),
            ));
        }
        names.insert(f.name.as_str());
    }
    if !names.contains(MODEL_FILE) {
        return Err(invalid("files", format!("no {MODEL_FILE}")));
    }
    if m.environment.id.is_empty() || m.environment.id.len() > MAX_ENVIRONMENT_ID_BYTES {
        return Err(invalid(
            "environment.id",
            format!("{} bytes (1 to {MAX_ENVIRONMENT_ID_BYTES})", m.environment.id.len()),
        ));
    }
    m.generation.validate()?;
    Hotkey::from_ss58(&m.trainer)?;
    Ok(())
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;

//! `model_id`: the content ID of a model's weights (DESIGN.md 3.6).
//!
//! `model_id = CIDv1(raw, sha2-256(E))` where `E` is the canonical encoding, framed like every
//! protocol hash (`u64be(len) || bytes` for each part, see `grail_protocol::hash`):
//!
//! ```text
//! E = part("grail/v1/model-id") || part(u64be(n_tensors))
//!     || for each tensor, sorted by name:
//!        part(name utf-8) || part(u64be(data_type)) || part(u64be(dim_0) || ... || u64be(dim_k-1))
//!        || part(element bytes, little-endian, row-major)
//! ```
//!
//! Which tensors are weights, and how their bytes are read, is defined in [`crate::weights`].

use std::path::Path;

use cid::Cid;
use grail_protocol::cid::{cid_from_sha256, CODEC_RAW};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::weights::{read_weights, Weights};

/// Domain tag that starts the canonical encoding.
pub const MODEL_ID_DOMAIN: &str = "grail/v1/model-id";

/// The `model_id` of the ONNX model at `path` (external-data files beside it included).
pub fn model_id(path: &Path) -> Result<Cid> {
    model_id_of(&read_weights(path)?)
}

/// The `model_id` of weights already read.
pub fn model_id_of(weights: &Weights) -> Result<Cid> {
    let mut h = Sha256::new();
    part(&mut h, MODEL_ID_DOMAIN.as_bytes());
    part(&mut h, &(weights.tensors.len() as u64).to_be_bytes());
    for t in &weights.tensors {
        part(&mut h, t.name.as_bytes());
        part(&mut h, &(t.data_type as u64).to_be_bytes());
        let dims: Vec<u8> = t.dims.iter().flat_map(|d| d.to_be_bytes()).collect();
        part(&mut h, &dims);
        h.update(t.byte_len().to_be_bytes());
        t.for_each_chunk(false, |chunk| h.update(chunk))?;
    }
    Ok(cid_from_sha256(CODEC_RAW, h.finalize().into()))
}

fn part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

//! The beacon-keyed fingerprint of a model's weights (DESIGN.md 3.6).
//!
//! `F(W; α) = Σ_i enc(w_i)·α^i` over the BN254 scalar field, where `w_0, w_1, ...` are the
//! elements of all weight tensors in canonical order ([`crate::weights`]: tensors sorted by
//! name, each flattened row-major), `enc(w)` is the element's little-endian bytes read as an
//! unsigned integer (an f32 is its u32 bit pattern, an i64 its two's-complement u64), and
//! `α = Fr::from_le_bytes_mod_order(H("grail/v1/fingerprint-alpha", beacon randomness))`.
//! The output is `F` as 32 little-endian bytes. It is evaluated by Horner's rule from the last
//! element back to the first, so each element costs one multiplication and one addition.

use std::path::Path;

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use grail_protocol::hash::domain_hash;

use crate::error::Result;
use crate::weights::{read_weights, Weights};

/// Domain tag of the derivation of `α`.
pub const ALPHA_DOMAIN: &str = "grail/v1/fingerprint-alpha";

/// Bytes between two progress log lines.
const PROGRESS_BYTES: u64 = 64 << 20;

/// `α` for a window, from its mining beacon's randomness.
pub fn fingerprint_alpha(beacon_randomness: &[u8]) -> Fr {
    Fr::from_le_bytes_mod_order(&domain_hash(ALPHA_DOMAIN, &[beacon_randomness]))
}

/// The fingerprint of the ONNX model at `path` under the given beacon randomness.
pub fn fingerprint(path: &Path, beacon_randomness: &[u8]) -> Result<[u8; 32]> {
    fingerprint_of(&read_weights(path)?, beacon_randomness)
}

/// The fingerprint of weights already read.
pub fn fingerprint_of(weights: &Weights, beacon_randomness: &[u8]) -> Result<[u8; 32]> {
    let alpha = fingerprint_alpha(beacon_randomness);
    let total: u64 = weights.tensors.iter().map(|t| t.byte_len()).sum();
    let (mut done, mut next_log) = (0u64, PROGRESS_BYTES);
    let mut acc = Fr::from(0u64);
    for t in weights.tensors.iter().rev() {
        let size = t.element_size();
        t.for_each_chunk(true, |chunk| {
            for element in chunk.rchunks_exact(size) {
                let mut le = [0u8; 8];
                le[..size].copy_from_slice(element);
                acc = acc * alpha + Fr::from(u64::from_le_bytes(le));
            }
            done += chunk.len() as u64;
            if done >= next_log {
                next_log += PROGRESS_BYTES;
                tracing::info!(
                    done_mb = done >> 20,
                    total_mb = total >> 20,
                    "fingerprinting weights"
                );
            }
        })?;
    }
    Ok(field_to_bytes(acc))
}

/// A field element as 32 little-endian bytes.
pub fn field_to_bytes(x: Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_le());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horner_matches_the_power_sum() {
        let alpha = fingerprint_alpha(b"beacon");
        let values = [7u64, 0, u64::MAX, 3];
        let mut direct = Fr::from(0u64);
        let mut power = Fr::from(1u64);
        for v in values {
            direct += Fr::from(v) * power;
            power *= alpha;
        }
        let horner = values.iter().rev().fold(Fr::from(0u64), |acc, &v| acc * alpha + Fr::from(v));
        assert_eq!(direct, horner);
    }

    #[test]
    fn alpha_depends_on_the_randomness() {
        assert_ne!(fingerprint_alpha(b"a"), fingerprint_alpha(b"b"));
    }
}

//! The hidden-state commitment `c_t` of DESIGN.md 3.5: two random ±1 projections of the last
//! hidden state, each stored as an IEEE half float, packed into one u32 (4 bytes per token).
//!
//! With `h` the hidden state (length `D`) and `s_k ∈ {−1, +1}^D` the k-th sign vector of the
//! window's key, `p_k = (Σ_i s_k[i]·h_i) / √D`, summed in f64 in index order. For a hidden
//! state with root-mean-square `rms(h)`, each `p_k/rms(h)` is about standard normal, so a
//! relative tolerance `τ` on every projection leaves a forger without `h` a per-projection pass
//! probability of about `2τ/√(2π)` (the bound itself is measured by `grail-audit calibrate`).
//!
//! The sign vectors come from `ChaCha20(H("grail/v1/commit-key", S_w, D))`: one `next_u64` per
//! 64 coordinates, bit `i mod 64` (least significant first) set meaning −1, projection `k`'s
//! words drawn after projection `k−1`'s. Keying by the window seed means no key exists before
//! the window's mining beacon.

use half::f16;

use crate::error::ProtocolError;
use crate::hash::{DomainHasher, Hash32};

/// Projections per commitment.
pub const PROJECTIONS: usize = 2;

/// Default relative tolerance: a projection passes when `|claimed − own| ≤ τ·rms(h)`.
/// Calibrated (`grail-audit calibrate`, docs/SECURITY.md): the worst honest distance on the
/// CPU is about 1e-3 (the claim's half-float rounding), so 0.01 keeps 10× headroom, while a
/// model with 1% weight noise or an int8 copy lands beyond it at nearly every position.
pub const DEFAULT_COMMIT_TOLERANCE: f64 = 0.01;

/// Largest finite half float; projections beyond it saturate instead of becoming infinite.
const F16_MAX: f64 = 65504.0;

/// The window's projection key for a model with hidden size `D`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitmentKey {
    hidden_size: usize,
    /// `PROJECTIONS` sign vectors, each `hidden_size` long, as ±1.0.
    signs: Vec<f64>,
}

/// The validator's verdict on one committed position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitCheck {
    /// Every projection lies within the tolerance.
    pub accepted: bool,
    /// The largest `|claimed − own| / rms(h)` over the projections (infinite when the claimed
    /// value is not finite).
    pub worst_distance: f64,
}

impl CommitmentKey {
    /// Derives the key of window seed `S_w` for hidden size `D`.
    pub fn derive(window_seed: &Hash32, hidden_size: usize) -> Result<Self, ProtocolError> {
        if hidden_size == 0 {
            return Err(ProtocolError::ZeroParameter { name: "hidden_size" });
        }
        let mut rng = DomainHasher::new("grail/v1/commit-key")
            .bytes(window_seed)
            .u64(hidden_size as u64)
            .stream();
        let mut signs = Vec::with_capacity(PROJECTIONS * hidden_size);
        for _ in 0..PROJECTIONS {
            let mut word = 0u64;
            for i in 0..hidden_size {
                if i % 64 == 0 {
                    word = rand_core::Rng::next_u64(&mut rng);
                }
                signs.push(if (word >> (i % 64)) & 1 == 1 { -1.0 } else { 1.0 });
            }
        }
        Ok(Self { hidden_size, signs })
    }

    /// Hidden size `D` this key is for.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// The projections `p_k` of a hidden state, in f64.
    pub fn project(&self, hidden: &[f32]) -> Result<[f64; PROJECTIONS], ProtocolError> {
        if hidden.len() != self.hidden_size {
            return Err(ProtocolError::BadHiddenState {
                reason: format!("length {} but the key is for {}", hidden.len(), self.hidden_size),
            });
        }
        if let Some(i) = hidden.iter().position(|v| !v.is_finite()) {
            return Err(ProtocolError::BadHiddenState {
                reason: format!("value {} at index {i} is not finite", hidden[i]),
            });
        }
        let norm = (self.hidden_size as f64).sqrt();
        let mut out = [0.0f64; PROJECTIONS];
        for (k, p) in out.iter_mut().enumerate() {
            let signs = &self.signs[k * self.hidden_size..(k + 1) * self.hidden_size];
            let sum: f64 = signs.iter().zip(hidden).map(|(s, &h)| s * f64::from(h)).sum();
            *p = sum / norm;
        }
        Ok(out)
    }

    /// The commitment `c_t` of a hidden state.
    pub fn commit(&self, hidden: &[f32]) -> Result<u32, ProtocolError> {
        Ok(pack(&self.project(hidden)?))
    }

    /// Checks a claimed commitment against the validator's own hidden state with relative
    /// tolerance `tol`.
    pub fn check(
        &self,
        hidden: &[f32],
        claimed: u32,
        tol: f64,
    ) -> Result<CommitCheck, ProtocolError> {
        let own = self.project(hidden)?;
        let rms = rms(hidden);
        let mut worst = 0.0f64;
        for (k, own_k) in own.iter().enumerate() {
            let claimed_k = unpack(claimed, k);
            let diff = (claimed_k - own_k).abs();
            let distance = if !diff.is_finite() {
                f64::INFINITY
            } else if rms > 0.0 {
                diff / rms
            } else if diff == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            worst = worst.max(distance);
        }
        Ok(CommitCheck { accepted: worst <= tol, worst_distance: worst })
    }
}

/// Root mean square of a hidden state, in f64.
pub fn rms(hidden: &[f32]) -> f64 {
    if hidden.is_empty() {
        return 0.0;
    }
    let sum: f64 = hidden.iter().map(|&h| f64::from(h) * f64::from(h)).sum();
    (sum / hidden.len() as f64).sqrt()
}

/// Packs projections as half floats (round to nearest even, saturating), projection `k` in
/// bits `16k..16k+16`.
pub fn pack(projections: &[f64; PROJECTIONS]) -> u32 {
    projections.iter().enumerate().fold(0u32, |acc, (k, &p)| {
        let bits = f16::from_f64(p.clamp(-F16_MAX, F16_MAX)).to_bits();
        acc | (u32::from(bits) << (16 * k))
    })
}

/// Projection `k` of a packed commitment, as f64 (NaN or infinite if the miner sent that).
pub fn unpack(commitment: u32, k: usize) -> f64 {
    f16::from_bits(((commitment >> (16 * k)) & 0xffff) as u16).to_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{uniform_f64, DomainHasher};

    fn hidden(seed: u64, d: usize) -> Vec<f32> {
        let mut rng = DomainHasher::new("grail/v1/test").u64(seed).stream();
        (0..d).map(|_| (uniform_f64(&mut rng) * 4.0 - 2.0) as f32).collect()
    }

    fn key() -> CommitmentKey {
        CommitmentKey::derive(&[7u8; 32], 64).unwrap()
    }

    #[test]
    fn own_commitment_passes_with_small_distance() {
        let key = key();
        for seed in 0..200 {
            let h = hidden(seed, 64);
            let c = key.commit(&h).unwrap();
            let check = key.check(&h, c, DEFAULT_COMMIT_TOLERANCE).unwrap();
            assert!(check.accepted, "{check:?}");
            // Only the half-float rounding separates them: at most 2^-11 relative per projection.
            assert!(check.worst_distance < 2e-3, "{check:?}");
        }
    }

    #[test]
    fn small_drift_passes_and_another_state_fails() {
        let key = key();
        let mut other_passes = 0;
        for seed in 0..200 {
            let h = hidden(seed, 64);
            let c = key.commit(&h).unwrap();
            let drifted: Vec<f32> = h.iter().map(|v| v * (1.0 + 1e-5)).collect();
            assert!(key.check(&drifted, c, DEFAULT_COMMIT_TOLERANCE).unwrap().accepted);
            let other = hidden(seed + 10_000, 64);
            other_passes +=
                usize::from(key.check(&other, c, DEFAULT_COMMIT_TOLERANCE).unwrap().accepted);
        }
        assert_eq!(other_passes, 0);
    }

    #[test]
    fn zero_and_non_finite_claims_fail() {
        let key = key();
        let h = hidden(1, 64);
        let zero = key.check(&h, 0, DEFAULT_COMMIT_TOLERANCE).unwrap();
        assert!(!zero.accepted, "{zero:?}");
        let nan = pack(&[0.0, f64::NAN]);
        let c = key.check(&h, nan, DEFAULT_COMMIT_TOLERANCE).unwrap();
        assert!(!c.accepted && c.worst_distance.is_infinite());
        let inf = u32::from(f16::INFINITY.to_bits());
        assert!(!key.check(&h, inf, DEFAULT_COMMIT_TOLERANCE).unwrap().accepted);
    }

    #[test]
    fn keys_differ_by_window_and_size_and_bad_states_are_errors() {
        assert_ne!(key(), CommitmentKey::derive(&[8u8; 32], 64).unwrap());
        assert!(CommitmentKey::derive(&[7u8; 32], 0).is_err());
        let key = key();
        assert!(key.commit(&[0.0; 63]).is_err());
        let mut h = hidden(2, 64);
        h[5] = f32::NAN;
        assert!(key.commit(&h).is_err());
    }

    #[test]
    fn pack_round_trips_and_saturates() {
        let c = pack(&[1.5, -0.25]);
        assert_eq!(unpack(c, 0), 1.5);
        assert_eq!(unpack(c, 1), -0.25);
        assert_eq!(c, 0xb400_3e00);
        let c = pack(&[1e6, -1e6]);
        assert_eq!(unpack(c, 0), F16_MAX);
        assert_eq!(unpack(c, 1), -F16_MAX);
    }
}

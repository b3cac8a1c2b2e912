//! Domain-separated hashing and the ChaCha20 streams derived from it.
//!
//! `H(domain, parts...) = SHA-256(u64be(len(domain)) || domain || u64be(len(p1)) || p1 || ...)`.
//! Integers enter as 8-byte big-endian parts. Every pseudo-random stream in the protocol is
//! `ChaCha20Rng::from_seed(H(...))`.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 output.
pub type Hash32 = [u8; 32];

/// Incremental builder for `H(domain, parts...)`.
#[derive(Debug, Clone)]
pub struct DomainHasher {
    inner: Sha256,
}

impl DomainHasher {
    /// Starts a hash under an ASCII domain tag such as `grail/v1/problem`.
    pub fn new(domain: &str) -> Self {
        let mut inner = Sha256::new();
        inner.update((domain.len() as u64).to_be_bytes());
        inner.update(domain.as_bytes());
        Self { inner }
    }

    /// Appends one length-prefixed byte string.
    pub fn bytes(mut self, part: &[u8]) -> Self {
        self.inner.update((part.len() as u64).to_be_bytes());
        self.inner.update(part);
        self
    }

    /// Appends an unsigned integer as an 8-byte big-endian part.
    pub fn u64(self, value: u64) -> Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Finishes the hash.
    pub fn finish(self) -> Hash32 {
        self.inner.finalize().into()
    }

    /// Finishes the hash and seeds a ChaCha20 stream with it.
    pub fn stream(self) -> ChaCha20Rng {
        ChaCha20Rng::from_seed(self.finish())
    }
}

/// `H(domain, parts...)` over byte-string parts.
pub fn domain_hash(domain: &str, parts: &[&[u8]]) -> Hash32 {
    parts.iter().fold(DomainHasher::new(domain), |h, p| h.bytes(p)).finish()
}

/// Plain SHA-256, for content that is not a protocol derivation (file bodies, beacon signatures).
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Sha256::digest(bytes).into()
}

/// One uniform draw in `[0, 1)` with 53 bits of precision: `(next_u64 >> 11) * 2^-53`.
///
/// This is the only way the protocol turns a stream into a real number.
pub fn uniform_f64(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `[0, bound)` by rejection sampling on `next_u64`, so it has no modulo bias.
///
/// Returns 0 when `bound` is 0 or 1.
pub fn uniform_below(rng: &mut ChaCha20Rng, bound: u64) -> u64 {
    if bound <= 1 {
        return 0;
    }
    // Largest multiple of `bound` that fits in u64; values at or above it are redrawn.
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % bound;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_separates_parts() {
        assert_ne!(domain_hash("d", &[b"ab", b"c"]), domain_hash("d", &[b"a", b"bc"]));
        assert_ne!(domain_hash("d1", &[b"x"]), domain_hash("d", &[b"1x"]));
    }

    #[test]
    fn builder_equals_slice_form() {
        let a = DomainHasher::new("grail/v1/test").bytes(b"abc").u64(7).finish();
        let b = domain_hash("grail/v1/test", &[b"abc", &7u64.to_be_bytes()]);
        assert_eq!(a, b);
    }

    #[test]
    fn uniform_is_in_unit_interval() {
        let mut rng = DomainHasher::new("grail/v1/test").stream();
        for _ in 0..10_000 {
            let u = uniform_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn uniform_below_stays_below() {
        let mut rng = DomainHasher::new("grail/v1/test").stream();
        for bound in [2u64, 3, 7, 1000, u64::MAX] {
            for _ in 0..1000 {
                assert!(uniform_below(&mut rng, bound) < bound);
            }
        }
        assert_eq!(uniform_below(&mut rng, 0), 0);
    }
}

//! grail-beacon: a local drand-compatible beacon for the embedded default and for tests: real BLS
//! signatures in quicknet's scheme (`bls-unchained-g1-rfc9380`) under a development key, so the
//! client and the verifier of `grail-drand` run unchanged against it.
//!
//! INSECURE: the development key is derived from a public seed, so anyone can sign any round
//! of the "local" chain. It exists for local runs and tests only; never trust it on a network.
//!
//! - secret = `Scalar::from_bytes_wide(sha512(DEV_KEY_SEED))` (bls12_381 0.8, reduction mod r);
//! - public key = secret · G2 generator, 96 bytes compressed: `grail_drand::dev::DEV_PUBLIC_KEY_HEX`,
//!   which is what verifiers pin (a unit test checks the two agree);
//! - signature of round r = secret · H(sha256(r as u64 BE)), H = RFC 9380 hash to G1 with
//!   `ExpandMsgXmd<SHA-256>` and DST `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`, 48 bytes;
//! - chain info: `grail_drand::dev::dev_chain_info`;
//! - [`server`]: drand's v1 HTTP API over a [`LocalBeacon`].

use bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use bls12_381::{G1Affine, G1Projective, G2Affine, Scalar};
use grail_drand::dev::dev_chain_info;
use grail_drand::{randomness_of, Beacon, ChainInfo, DrandError};
use sha2::{Digest, Sha256, Sha512};

pub mod cli;
pub mod server;

pub use server::{router, router_with_clock, serve};

/// Public seed of the development key. Anyone can sign with it: development use only.
pub const DEV_KEY_SEED: &[u8] =
    b"grail-rs/v1/local-beacon/dev-key: INSECURE, PUBLIC SEED, DEVELOPMENT ONLY";
const DST_G1: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// The development signer. Its secret never leaves this type.
pub struct DevSigner {
    secret: Scalar,
    public_key: [u8; 96],
}

impl std::fmt::Debug for DevSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSigner").field("public_key", &hex::encode(self.public_key)).finish()
    }
}

impl DevSigner {
    /// The pinned, insecure development key.
    pub fn insecure_dev() -> Self {
        let wide: [u8; 64] = Sha512::digest(DEV_KEY_SEED).into();
        let secret = Scalar::from_bytes_wide(&wide);
        let public_key = G2Affine::from(G2Affine::generator() * secret).to_compressed();
        Self { secret, public_key }
    }

    /// Compressed G2 public key.
    pub fn public_key(&self) -> &[u8; 96] {
        &self.public_key
    }

    /// Signs `round` unconditionally; only [`LocalBeacon::beacon_if_due`] calls it, after
    /// checking the clock.
    fn sign(&self, round: u64) -> [u8; 48] {
        let msg = Sha256::digest(round.to_be_bytes());
        let point = <G1Projective as HashToCurve<ExpandMsgXmd<sha2_09::Sha256>>>::hash_to_curve(
            msg.as_slice(),
            DST_G1,
        );
        G1Affine::from(point * self.secret).to_compressed()
    }
}

/// A clock-driven beacon: round r exists from `time_of(r)` on, never before.
#[derive(Debug)]
pub struct LocalBeacon {
    signer: DevSigner,
    info: ChainInfo,
}

impl LocalBeacon {
    /// The development chain with this genesis and period.
    pub fn new(genesis_time: u64, period: u64) -> Result<Self, DrandError> {
        let signer = DevSigner::insecure_dev();
        let info = dev_chain_info(genesis_time, period)?;
        Ok(Self { signer, info })
    }

    /// The chain this beacon serves.
    pub fn info(&self) -> &ChainInfo {
        &self.info
    }

    /// The latest round at unix time `now`, or `None` before genesis.
    pub fn latest_round(&self, now: u64) -> Option<u64> {
        self.info.round_at(now).ok()
    }

    /// The signed beacon of `round` if it is due at unix time `now`; `None` for round 0 and
    /// for future rounds, which are never signed early.
    pub fn beacon_if_due(&self, round: u64, now: u64) -> Option<Beacon> {
        if round == 0 || round > self.latest_round(now)? {
            return None;
        }
        let signature = self.signer.sign(round);
        Some(Beacon {
            round,
            randomness: Some(randomness_of(&signature)),
            signature: signature.to_vec(),
            previous_signature: None,
        })
    }
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;

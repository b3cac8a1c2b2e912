//! A local beacon for the embedded default and for tests: real BLS signatures in quicknet's
//! scheme (`bls-unchained-g1-rfc9380`) under a development key, so the client and the verifier
//! run unchanged against it.
//!
//! INSECURE: the development key is derived from a public seed, so anyone can sign any round
//! of the "local" chain. It exists for local runs and tests only; never trust it on a network.
//!
//! - secret = `Scalar::from_bytes_wide(sha512(DEV_KEY_SEED))` (bls12_381 0.8, reduction mod r);
//! - public key = secret · G2 generator, 96 bytes compressed;
//! - signature of round r = secret · H(sha256(r as u64 BE)), H = RFC 9380 hash to G1 with
//!   `ExpandMsgXmd<SHA-256>` and DST `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`, 48 bytes;
//! - chain info: genesis and period as given, beacon id [`LOCAL_BEACON_ID`], group hash
//!   `sha256("grail-rs/local-beacon/group" ‖ public key)`, chain hash as drand computes it
//!   ([`ChainInfo::compute_hash`]), so it changes with genesis and period.

use bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use bls12_381::{G1Affine, G1Projective, G2Affine, Scalar};
use sha2::{Digest, Sha256, Sha512};

use super::chain::{ChainInfo, ChainKey, Scheme};
use super::verify::{randomness_of, Beacon};
use super::DrandError;

pub use super::local_server::{router, router_with_clock, serve};

/// Public seed of the development key. Anyone can sign with it: development use only.
pub const DEV_KEY_SEED: &[u8] =
    b"grail-rs/v1/local-beacon/dev-key: INSECURE, PUBLIC SEED, DEVELOPMENT ONLY";
/// drand beacon id of the local chain.
pub const LOCAL_BEACON_ID: &str = "grail-local-dev";
/// Name of the local chain on the command line.
pub const LOCAL_CHAIN_NAME: &str = "local";
const GROUP_DOMAIN: &[u8] = b"grail-rs/local-beacon/group";
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

/// Key and scheme of the local chain (all a verifier needs; no clock).
pub fn dev_chain_key() -> ChainKey {
    local_key(DevSigner::insecure_dev().public_key())
}

fn local_key(public_key: &[u8; 96]) -> ChainKey {
    ChainKey::from_fixed(public_key.to_vec(), Scheme::BlsUnchainedG1Rfc9380, LOCAL_CHAIN_NAME)
}

/// Chain info of the local chain for `genesis_time` and `period` (seconds).
pub fn dev_chain_info(genesis_time: u64, period: u64) -> Result<ChainInfo, DrandError> {
    let signer = DevSigner::insecure_dev();
    chain_info_for(signer.public_key(), genesis_time, period)
}

fn chain_info_for(
    public_key: &[u8; 96],
    genesis_time: u64,
    period: u64,
) -> Result<ChainInfo, DrandError> {
    let group = Sha256::new().chain_update(GROUP_DOMAIN).chain_update(public_key).finalize();
    ChainInfo::new(
        public_key.to_vec(),
        genesis_time,
        period,
        Scheme::BlsUnchainedG1Rfc9380,
        group.to_vec(),
        LOCAL_BEACON_ID,
    )
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
        let info = chain_info_for(signer.public_key(), genesis_time, period)?;
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
#[path = "local_tests.rs"]
mod tests;

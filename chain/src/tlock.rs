//! Timelocked weight commits, as subtensor reveals them (`commit_timelocked_weights`).
//!
//! - The payload is the SCALE encoding of [`WeightsTlockPayload`]: the committer's 32-byte
//!   hotkey, the uids, the values and the version key. At reveal the chain decodes it and drops
//!   the commit when the hotkey is not the committer.
//! - It is encrypted with the `timelock` crate (the release whose wire format subtensor reads) (Boneh-Franklin identity-based encryption over
//!   BLS12-381 with the AES-GCM cipher, drand quicknet's `TinyBLS381` engine: signatures on G1,
//!   public key on G2) to the identity `sha256(round as u64 big-endian)`, the message drand
//!   signs for that round. The ciphertext is arkworks' compressed serialization.
//! - Anyone holding the beacon's signature of the round decrypts it ([`decrypt`]).
//!
//! The reveal round is chosen so that the round's pulse exists a few blocks into the epoch in
//! which the chain reveals ([`reveal_round`]).

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use parity_scale_codec::{Decode, Encode};
use rand_core_06::{CryptoRng, RngCore};
use timelock::curves::drand::TinyBLS381;
use timelock::ibe::fullident::Identity;
use timelock::stream_ciphers::AESGCMStreamCipherProvider;
use timelock::tlock::{tld, tle, TLECiphertext};
use w3f_bls::EngineBLS;

/// The most bytes `commit_timelocked_weights` accepts (`MAX_CRV3_COMMIT_SIZE_BYTES`).
pub const MAX_COMMIT_BYTES: usize = 5000;

/// Blocks past the first block of the reveal epoch at which the reveal round's pulse is aimed,
/// so that the chain holds it when it reveals (the SDK's `SECURITY_BLOCK_OFFSET`).
pub const SECURITY_BLOCK_OFFSET: u64 = 3;

/// What is encrypted: subtensor's `WeightsTlockPayload`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct WeightsTlockPayload {
    /// The committing hotkey's public key (32 bytes, encoded as a `Vec<u8>`).
    pub hotkey: Vec<u8>,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// Errors of timelock encryption and decryption.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlockError {
    /// The beacon public key is not a compressed G2 point.
    #[error("beacon public key ({len} bytes) is not a compressed BLS12-381 G2 point")]
    BadPublicKey { len: usize },
    /// The round signature is not a compressed G1 point.
    #[error("round signature ({len} bytes) is not a compressed BLS12-381 G1 point")]
    BadSignature { len: usize },
    /// The ciphertext does not deserialize.
    #[error("timelock ciphertext ({len} bytes) does not deserialize")]
    BadCiphertext { len: usize },
    /// The signature does not open the ciphertext (another round, or tampered bytes).
    #[error("timelock decryption failed: {reason}")]
    Decrypt { reason: String },
    /// Encryption itself failed.
    #[error("timelock encryption failed: {reason}")]
    Encrypt { reason: String },
    /// The ciphertext is longer than the chain accepts.
    #[error("timelocked commit is {len} bytes; the chain accepts at most {max}")]
    TooLarge { len: usize, max: usize },
}

/// The identity a round's ciphertext is encrypted to: `sha256(round as u64 big-endian)`.
pub fn round_message(round: u64) -> [u8; 32] {
    sp_crypto_hashing::sha2_256(&round.to_be_bytes())
}

/// Encrypts `plaintext` to `round` under the beacon key `public_key` (96-byte compressed G2),
/// drawing the ephemeral key and nonces from `rng`.
pub fn encrypt<R: RngCore + CryptoRng>(
    public_key: &[u8],
    round: u64,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, TlockError> {
    let key = <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(public_key)
        .map_err(|_| TlockError::BadPublicKey { len: public_key.len() })?;
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let identity = Identity::new(b"", vec![round_message(round).to_vec()]);
    let ct =
        tle::<TinyBLS381, AESGCMStreamCipherProvider, _>(key, secret, plaintext, identity, rng)
            .map_err(|e| TlockError::Encrypt { reason: format!("{e:?}") })?;
    let mut out = Vec::new();
    ct.serialize_compressed(&mut out).map_err(|e| TlockError::Encrypt { reason: e.to_string() })?;
    Ok(out)
}

/// Decrypts `ciphertext` with the beacon's signature of its round (48-byte compressed G1).
pub fn decrypt(ciphertext: &[u8], signature: &[u8]) -> Result<Vec<u8>, TlockError> {
    let ct = TLECiphertext::<TinyBLS381>::deserialize_compressed(ciphertext)
        .map_err(|_| TlockError::BadCiphertext { len: ciphertext.len() })?;
    let sig = <TinyBLS381 as EngineBLS>::SignatureGroup::deserialize_compressed(signature)
        .map_err(|_| TlockError::BadSignature { len: signature.len() })?;
    tld::<TinyBLS381, AESGCMStreamCipherProvider>(ct, sig)
        .map_err(|e| TlockError::Decrypt { reason: format!("{e:?}") })
}

/// Encrypts `payload` to `round`, checking the chain's size limit.
pub fn encrypt_weights<R: RngCore + CryptoRng>(
    public_key: &[u8],
    round: u64,
    payload: &WeightsTlockPayload,
    rng: &mut R,
) -> Result<Vec<u8>, TlockError> {
    let ct = encrypt(public_key, round, &payload.encode(), rng)?;
    if ct.len() > MAX_COMMIT_BYTES {
        return Err(TlockError::TooLarge { len: ct.len(), max: MAX_COMMIT_BYTES });
    }
    Ok(ct)
}

/// A subnet's epoch layout: epochs of `tempo + 1` blocks, shifted by `netuid + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    pub tempo: u16,
    pub netuid: u16,
}

impl Epochs {
    fn len(self) -> u64 {
        u64::from(self.tempo) + 1
    }

    fn shift(self) -> u64 {
        u64::from(self.netuid) + 1
    }

    /// The epoch `block` is in: `(block + netuid + 1) / (tempo + 1)`.
    pub fn epoch_of(self, block: u64) -> u64 {
        block.saturating_add(self.shift()) / self.len()
    }

    /// The first block of `epoch`: `epoch·(tempo + 1) − (netuid + 1)`, at least 0.
    pub fn first_block(self, epoch: u64) -> u64 {
        epoch.saturating_mul(self.len()).saturating_sub(self.shift())
    }

    /// The epoch under which subtensor queues a timelocked commit included in `block`: the
    /// block's own, except that a commit in the block where the subnet's epoch runs (its
    /// last) belongs to the next (`should_run_epoch`).
    pub fn commit_epoch(self, block: u64) -> u64 {
        if self.tempo == 0 {
            self.epoch_of(block)
        } else {
            self.epoch_of(block.saturating_add(1))
        }
    }

    /// Whether an epoch starts at `block` (`block + netuid + 1` divisible by `tempo + 1`).
    pub fn starts_at(self, block: u64) -> bool {
        block.saturating_add(self.shift()) % self.len() == 0
    }
}

/// The drand schedule rounds are counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundSchedule {
    /// Unix time of round 1.
    pub genesis_time: u64,
    /// Seconds between rounds.
    pub period: u64,
}

impl RoundSchedule {
    /// drand quicknet: genesis 1692803367, a round every 3 s.
    pub const QUICKNET: RoundSchedule = RoundSchedule { genesis_time: 1_692_803_367, period: 3 };
}

/// Where a commit made at `current_block` is revealed, and the round it is encrypted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RevealTarget {
    /// Epoch of the commit block.
    pub commit_epoch: u64,
    /// Epoch in which the chain reveals it.
    pub reveal_epoch: u64,
    /// First block of the reveal epoch.
    pub first_reveal_block: u64,
    /// The round the commit is encrypted to.
    pub reveal_round: u64,
}

/// The reveal round of a commit sent at `current_block` (time `now_unix`, seconds), as the
/// Bittensor SDK computes it: the first block of the epoch `reveal_period_epochs` after the
/// commit's, plus [`SECURITY_BLOCK_OFFSET`], projected to wall time with `block_time_s`, and
/// the last round at or before that time (at least 1).
pub fn reveal_round(
    epochs: Epochs,
    reveal_period_epochs: u64,
    current_block: u64,
    now_unix: f64,
    block_time_s: f64,
    schedule: RoundSchedule,
) -> RevealTarget {
    let commit_epoch = epochs.epoch_of(current_block);
    let reveal_epoch = commit_epoch.saturating_add(reveal_period_epochs);
    let first_reveal_block = epochs.first_block(reveal_epoch);
    let target_block = first_reveal_block.saturating_add(SECURITY_BLOCK_OFFSET);
    let blocks_ahead = target_block.saturating_sub(current_block);
    let target_time = now_unix + blocks_ahead as f64 * block_time_s;
    let since_genesis =
        (target_time - schedule.genesis_time as f64) / schedule.period.max(1) as f64;
    // Float to int casts saturate; a time before genesis gives 0, lifted to 1.
    let reveal_round = (since_genesis.floor() as u64).max(1);
    RevealTarget { commit_epoch, reveal_epoch, first_reveal_block, reveal_round }
}

#[cfg(test)]
#[path = "tlock_tests.rs"]
mod tests;

//! Beacons and their BLS verification (`drand-verify`). A [`VerifiedBeacon`] can only be made
//! here, by checking the signature against a chain key, so holding one means it was verified.

use drand_verify::{G1Pubkey, G2PubkeyRfc, Pubkey};
use grail_protocol::window_file::BeaconRecord;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::{check_len, decode_hex, ChainKey, Scheme};
use super::DrandError;

/// A drand beacon as relays serve it (`/public/{round}`), bytes decoded from hex.
///
/// `randomness` is what the source claims; verification recomputes it as sha256(signature)
/// and rejects a beacon whose claim disagrees. It may be absent (drand's v2 API omits it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BeaconJson", into = "BeaconJson")]
pub struct Beacon {
    /// Round number (≥ 1).
    pub round: u64,
    /// Compressed BLS signature.
    pub signature: Vec<u8>,
    /// Previous round's signature (chained schemes only; the group hash for round 1).
    pub previous_signature: Option<Vec<u8>>,
    /// Claimed randomness.
    pub randomness: Option<[u8; 32]>,
}

impl Beacon {
    /// Builds a beacon from hex strings, naming the field whose hex is bad. An empty
    /// `previous_signature` counts as absent.
    pub fn from_hex(
        round: u64,
        signature: &str,
        previous_signature: Option<&str>,
        randomness: Option<&str>,
    ) -> Result<Self, DrandError> {
        let signature = decode_hex("signature", signature)?;
        let previous_signature = match previous_signature {
            Some(p) if !p.is_empty() => Some(decode_hex("previous_signature", p)?),
            _ => None,
        };
        let randomness = match randomness {
            Some(r) => {
                let bytes = decode_hex("randomness", r)?;
                check_len("randomness", &bytes, 32)?;
                let mut out = [0u8; 32];
                out.copy_from_slice(&bytes);
                Some(out)
            }
            None => None,
        };
        Ok(Self { round, signature, previous_signature, randomness })
    }

    /// Parses drand's beacon JSON.
    pub fn from_json(json: &[u8]) -> Result<Self, DrandError> {
        serde_json::from_slice(json).map_err(|error| DrandError::Json { what: "beacon", error })
    }
}

#[derive(Deserialize, Serialize)]
struct BeaconJson {
    round: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    randomness: Option<String>,
    signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_signature: Option<String>,
}

impl TryFrom<BeaconJson> for Beacon {
    type Error = DrandError;

    fn try_from(raw: BeaconJson) -> Result<Self, DrandError> {
        Self::from_hex(
            raw.round,
            &raw.signature,
            raw.previous_signature.as_deref(),
            raw.randomness.as_deref(),
        )
    }
}

impl From<Beacon> for BeaconJson {
    fn from(b: Beacon) -> Self {
        Self {
            round: b.round,
            randomness: b.randomness.map(hex::encode),
            signature: hex::encode(&b.signature),
            previous_signature: b.previous_signature.map(hex::encode),
        }
    }
}

/// A beacon whose signature verified against a chain key. Only [`verify_beacon`] makes one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "Beacon")]
pub struct VerifiedBeacon {
    beacon: Beacon,
    randomness: [u8; 32],
}

impl VerifiedBeacon {
    /// Round number.
    pub fn round(&self) -> u64 {
        self.beacon.round
    }

    /// sha256(signature): the beacon's randomness.
    pub fn randomness(&self) -> &[u8; 32] {
        &self.randomness
    }

    /// The verified signature.
    pub fn signature(&self) -> &[u8] {
        &self.beacon.signature
    }

    /// The previous signature (chained schemes).
    pub fn previous_signature(&self) -> Option<&[u8]> {
        self.beacon.previous_signature.as_deref()
    }

    /// The beacon, with `randomness` filled in, for recording (anyone can re-verify it).
    pub fn beacon(&self) -> &Beacon {
        &self.beacon
    }

    /// The beacon as a window file's header records it: round, randomness, signature.
    pub fn record(&self) -> BeaconRecord {
        BeaconRecord {
            round: self.round(),
            randomness: self.randomness,
            signature: self.beacon.signature.clone(),
        }
    }
}

impl From<VerifiedBeacon> for Beacon {
    fn from(v: VerifiedBeacon) -> Self {
        v.beacon
    }
}

/// randomness = sha256(signature), as drand defines it.
pub fn randomness_of(signature: &[u8]) -> [u8; 32] {
    Sha256::digest(signature).into()
}

/// Verifies `beacon` against `key`: round ≥ 1, signature length, the previous signature for
/// chained schemes (and none for unchained ones), the BLS signature, and the claimed
/// randomness.
pub fn verify_beacon(key: &ChainKey, beacon: &Beacon) -> Result<VerifiedBeacon, DrandError> {
    let round = beacon.round;
    if round == 0 {
        return Err(DrandError::RoundZero);
    }
    let scheme = key.scheme();
    let chain = || key.label().to_owned();
    check_len("signature", &beacon.signature, scheme.signature_len())?;
    let previous: &[u8] = match (scheme.is_chained(), beacon.previous_signature.as_deref()) {
        (true, Some(p)) => p,
        (true, None) => return Err(DrandError::MissingPreviousSignature { round, chain: chain() }),
        (false, None) => &[],
        (false, Some(_)) => {
            return Err(DrandError::UnexpectedPreviousSignature { round, chain: chain() })
        }
    };
    let bad_key = |e: drand_verify::InvalidPoint| DrandError::BadPublicKey {
        chain: chain(),
        detail: e.to_string(),
    };
    let verdict = match scheme {
        Scheme::PedersenBlsChained | Scheme::PedersenBlsUnchained => G1Pubkey::from_variable(
            key.public_key(),
        )
        .map_err(bad_key)?
        .verify(round, previous, &beacon.signature),
        Scheme::BlsUnchainedG1Rfc9380 => G2PubkeyRfc::from_variable(key.public_key())
            .map_err(bad_key)?
            .verify(round, previous, &beacon.signature),
    };
    match verdict {
        Ok(true) => {}
        Ok(false) => return Err(DrandError::BadSignature { round, chain: chain() }),
        Err(e) => {
            return Err(DrandError::InvalidSignaturePoint {
                round,
                chain: chain(),
                detail: e.to_string(),
            })
        }
    }
    let randomness = randomness_of(&beacon.signature);
    if let Some(claimed) = beacon.randomness {
        if claimed != randomness {
            return Err(DrandError::RandomnessMismatch {
                round,
                claimed: hex::encode(claimed),
                actual: hex::encode(randomness),
            });
        }
    }
    let mut beacon = beacon.clone();
    beacon.randomness = Some(randomness);
    Ok(VerifiedBeacon { beacon, randomness })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;

//! Chain info: which key signs a drand chain and when its rounds happen.
//!
//! quicknet and mainnet are pinned here (values from `fixtures/drand/beacons.json`, checked by
//! tests against the chain hash drand itself computes). Any other chain is read from drand's
//! `/info` JSON, and its `hash` must be the hash of its own fields.

use grail_protocol::window::RoundClock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DrandError;

/// The signing scheme of a chain (drand's `schemeID`).
///
/// `bls-unchained-on-g1` (the retired fastnet, which hashed to G1 with the G2 domain tag) is
/// deliberately not supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// mainnet: key on G1, signature on G2, message sha256(previous_signature ‖ round).
    PedersenBlsChained,
    /// key on G1, signature on G2, message sha256(round).
    PedersenBlsUnchained,
    /// quicknet: key on G2, signature on G1 (RFC 9380 hash-to-curve), message sha256(round).
    BlsUnchainedG1Rfc9380,
}

impl Scheme {
    /// drand's `schemeID` string.
    pub fn id(self) -> &'static str {
        match self {
            Self::PedersenBlsChained => "pedersen-bls-chained",
            Self::PedersenBlsUnchained => "pedersen-bls-unchained",
            Self::BlsUnchainedG1Rfc9380 => "bls-unchained-g1-rfc9380",
        }
    }

    /// Parses drand's `schemeID`.
    pub fn from_id(id: &str) -> Result<Self, DrandError> {
        [Self::PedersenBlsChained, Self::PedersenBlsUnchained, Self::BlsUnchainedG1Rfc9380]
            .into_iter()
            .find(|s| s.id() == id)
            .ok_or_else(|| DrandError::UnsupportedScheme(id.to_owned()))
    }

    /// Whether each signature also covers the previous one.
    pub fn is_chained(self) -> bool {
        matches!(self, Self::PedersenBlsChained)
    }

    /// Compressed public key length in bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            Self::PedersenBlsChained | Self::PedersenBlsUnchained => 48,
            Self::BlsUnchainedG1Rfc9380 => 96,
        }
    }

    /// Compressed signature length in bytes.
    pub fn signature_len(self) -> usize {
        match self {
            Self::PedersenBlsChained | Self::PedersenBlsUnchained => 96,
            Self::BlsUnchainedG1Rfc9380 => 48,
        }
    }
}

/// What a signature depends on: the public key and the scheme. Enough to verify a beacon,
/// without the chain's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainKey {
    public_key: Vec<u8>,
    scheme: Scheme,
    label: String,
}

impl ChainKey {
    /// A key of `scheme`; `label` names the chain in error messages.
    pub fn new(public_key: Vec<u8>, scheme: Scheme, label: &str) -> Result<Self, DrandError> {
        check_len("public_key", &public_key, scheme.public_key_len())?;
        Ok(Self { public_key, scheme, label: label.to_owned() })
    }

    /// For keys whose length the caller's type already fixes.
    pub(crate) fn from_fixed(public_key: Vec<u8>, scheme: Scheme, label: &str) -> Self {
        Self { public_key, scheme, label: label.to_owned() }
    }

    /// Compressed public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Signing scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Name used in messages.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// A drand chain: key, clock and identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    hash: [u8; 32],
    public_key: Vec<u8>,
    genesis_time: u64,
    period: u64,
    scheme: Scheme,
    group_hash: Vec<u8>,
    beacon_id: String,
}

/// Chain hash of League of Entropy quicknet.
pub const QUICKNET_HASH: &str = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971";
/// Chain hash of League of Entropy mainnet (beacon id "default").
pub const MAINNET_HASH: &str = "8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce";

const QUICKNET_KEY: [u8; 96] = hex_array(
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
);
const QUICKNET_GROUP: [u8; 32] =
    hex_array("f477d5c89f21a17c863a7f937c6a6d15859414d2be09cd448d4279af331c5d3e");
const MAINNET_KEY: [u8; 48] = hex_array(
    "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a569937c529eeda66c7293784a9402801af31",
);
const MAINNET_GROUP: [u8; 32] =
    hex_array("176f93498eac9ca337150b46d21dd58673ea4e3581185f869672e59fa4cb390a");

impl ChainInfo {
    /// A chain from its fields; the hash is computed as drand does (see [`ChainInfo::compute_hash`]).
    pub fn new(
        public_key: Vec<u8>,
        genesis_time: u64,
        period: u64,
        scheme: Scheme,
        group_hash: Vec<u8>,
        beacon_id: &str,
    ) -> Result<Self, DrandError> {
        check_len("public_key", &public_key, scheme.public_key_len())?;
        if period == 0 || period > u64::from(u32::MAX) {
            return Err(DrandError::BadPeriod { got: period, max: u64::from(u32::MAX) });
        }
        if i64::try_from(genesis_time).is_err() {
            return Err(DrandError::Overflow { round: genesis_time, chain: beacon_id.to_owned() });
        }
        let beacon_id = if beacon_id.is_empty() { "default" } else { beacon_id };
        let mut info = Self {
            hash: [0; 32],
            public_key,
            genesis_time,
            period,
            scheme,
            group_hash,
            beacon_id: beacon_id.to_owned(),
        };
        info.hash = info.compute_hash();
        Ok(info)
    }

    /// League of Entropy quicknet (3 s, unchained, G1 signatures, RFC 9380).
    pub fn quicknet() -> Self {
        Self::pinned_unchecked(
            &QUICKNET_KEY,
            1_692_803_367,
            3,
            Scheme::BlsUnchainedG1Rfc9380,
            &QUICKNET_GROUP,
            "quicknet",
        )
    }

    /// League of Entropy mainnet, beacon id "default" (30 s, chained).
    pub fn mainnet() -> Self {
        Self::pinned_unchecked(
            &MAINNET_KEY,
            1_595_431_050,
            30,
            Scheme::PedersenBlsChained,
            &MAINNET_GROUP,
            "default",
        )
    }

    /// A pinned chain by name: "quicknet" or "mainnet".
    pub fn pinned(name: &str) -> Option<Self> {
        match name {
            "quicknet" => Some(Self::quicknet()),
            "mainnet" => Some(Self::mainnet()),
            _ => None,
        }
    }

    // Pinned values are constants whose lengths the types fix; tests check their hashes.
    fn pinned_unchecked(
        key: &[u8],
        genesis_time: u64,
        period: u64,
        scheme: Scheme,
        group: &[u8],
        beacon_id: &str,
    ) -> Self {
        let mut info = Self {
            hash: [0; 32],
            public_key: key.to_vec(),
            genesis_time,
            period,
            scheme,
            group_hash: group.to_vec(),
            beacon_id: beacon_id.to_owned(),
        };
        info.hash = info.compute_hash();
        info
    }

    /// Parses drand's `/info` JSON and checks that `hash` is the hash of its fields.
    ///
    /// The beacon id is read from `metadata.beaconID` (drand's format) or a top-level
    /// `beaconID`; a missing `schemeID` means `pedersen-bls-chained`, as in drand.
    pub fn from_json(json: &[u8]) -> Result<Self, DrandError> {
        let raw: InfoJson = serde_json::from_slice(json)
            .map_err(|error| DrandError::Json { what: "chain info", error })?;
        let scheme = Scheme::from_id(raw.scheme_id.as_deref().unwrap_or("pedersen-bls-chained"))?;
        let beacon_id = raw
            .metadata
            .and_then(|m| m.beacon_id)
            .or(raw.beacon_id)
            .unwrap_or_else(|| "default".to_owned());
        let info = Self::new(
            decode_hex("public_key", &raw.public_key)?,
            raw.genesis_time,
            raw.period,
            scheme,
            decode_hex("groupHash", &raw.group_hash)?,
            &beacon_id,
        )?;
        let claimed = decode_hex("hash", &raw.hash)?;
        if claimed != info.hash {
            return Err(DrandError::ChainHashMismatch {
                claimed: raw.hash,
                computed: hex::encode(info.hash),
            });
        }
        Ok(info)
    }

    /// drand's `/info` JSON (v1 format).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "public_key": hex::encode(&self.public_key),
            "period": self.period,
            "genesis_time": self.genesis_time,
            "hash": hex::encode(self.hash),
            "groupHash": hex::encode(&self.group_hash),
            "schemeID": self.scheme.id(),
            "metadata": { "beaconID": self.beacon_id },
        })
    }

    /// drand's chain hash: sha256(period as u32 BE ‖ genesis as i64 BE ‖ public key ‖
    /// group hash ‖ beacon id unless it is "default"). The scheme is not hashed.
    pub fn compute_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((self.period as u32).to_be_bytes());
        h.update((self.genesis_time as i64).to_be_bytes());
        h.update(&self.public_key);
        h.update(&self.group_hash);
        if self.beacon_id != "default" {
            h.update(self.beacon_id.as_bytes());
        }
        h.finalize().into()
    }

    /// Chain hash.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Chain hash as lowercase hex (the path segment relays use).
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// Compressed group public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Unix time (s) of round 1.
    pub fn genesis_time(&self) -> u64 {
        self.genesis_time
    }

    /// Seconds between rounds.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Signing scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// drand's beacon id ("default" for mainnet).
    pub fn beacon_id(&self) -> &str {
        &self.beacon_id
    }

    /// "quicknet" or "mainnet" for the pinned chains, else the beacon id and short hash.
    pub fn label(&self) -> String {
        match self.hash_hex().as_str() {
            QUICKNET_HASH => "quicknet".to_owned(),
            MAINNET_HASH => "mainnet".to_owned(),
            h => format!("{}/{}", self.beacon_id, &h[..8]),
        }
    }

    /// The key and scheme, for verification.
    pub fn key(&self) -> ChainKey {
        ChainKey { public_key: self.public_key.clone(), scheme: self.scheme, label: self.label() }
    }

    /// Checks chain info served by `source_name` against this (pinned) chain: hash, key,
    /// genesis, period and scheme must all agree.
    pub fn ensure_same(&self, served: &Self, source_name: &str) -> Result<(), DrandError> {
        // Most specific field first; the hash last, as it differs whenever anything does.
        let fields: [(&'static str, String, String); 5] = [
            ("public_key", hex::encode(&self.public_key), hex::encode(&served.public_key)),
            ("genesis_time", self.genesis_time.to_string(), served.genesis_time.to_string()),
            ("period", self.period.to_string(), served.period.to_string()),
            ("schemeID", self.scheme.id().to_owned(), served.scheme.id().to_owned()),
            ("hash", self.hash_hex(), served.hash_hex()),
        ];
        for (field, expected, got) in fields {
            if expected != got {
                return Err(DrandError::InfoMismatch {
                    source_name: source_name.to_owned(),
                    chain: self.label(),
                    field,
                    expected,
                    got,
                });
            }
        }
        Ok(())
    }

    /// The round current at unix time `t`: `floor((t - genesis) / period) + 1`.
    /// Round 1 starts at genesis. A time before genesis is an error (no round exists yet).
    pub fn round_at(&self, t: u64) -> Result<u64, DrandError> {
        if t < self.genesis_time {
            return Err(DrandError::BeforeGenesis {
                time: t,
                genesis: self.genesis_time,
                chain: self.label(),
            });
        }
        self.round_clock().round_at(t).map_err(|_| self.overflow(t))
    }

    /// The round clock (genesis and period) of the protocol's window schedule.
    pub fn round_clock(&self) -> RoundClock {
        RoundClock { genesis_time: self.genesis_time, period: self.period }
    }

    /// Unix time at which `round` is produced: `genesis + (round - 1) * period`.
    pub fn time_of(&self, round: u64) -> Result<u64, DrandError> {
        let steps = round.checked_sub(1).ok_or(DrandError::RoundZero)?;
        steps
            .checked_mul(self.period)
            .and_then(|d| d.checked_add(self.genesis_time))
            .ok_or_else(|| self.overflow(round))
    }

    /// The first round produced at or after unix time `t`: `ceil((t - genesis) / period) + 1`,
    /// and round 1 for any `t` up to genesis. Unlike [`ChainInfo::round_at`], a `t` strictly
    /// between two rounds gives the later one, so its randomness did not exist at `t`.
    pub fn first_round_at_or_after(&self, t: u64) -> Result<u64, DrandError> {
        let Some(since) = t.checked_sub(self.genesis_time) else { return Ok(1) };
        since.div_ceil(self.period).checked_add(1).ok_or_else(|| self.overflow(t))
    }

    fn overflow(&self, round: u64) -> DrandError {
        DrandError::Overflow { round, chain: self.label() }
    }
}

#[derive(Deserialize, Serialize)]
struct InfoJson {
    public_key: String,
    period: u64,
    genesis_time: u64,
    hash: String,
    #[serde(rename = "groupHash")]
    group_hash: String,
    #[serde(rename = "schemeID", default)]
    scheme_id: Option<String>,
    #[serde(rename = "beaconID", default)]
    beacon_id: Option<String>,
    #[serde(default)]
    metadata: Option<InfoMetadata>,
}

#[derive(Deserialize, Serialize)]
struct InfoMetadata {
    #[serde(rename = "beaconID", default)]
    beacon_id: Option<String>,
}

/// Decodes hex, naming `field` on failure.
pub(crate) fn decode_hex(field: &'static str, s: &str) -> Result<Vec<u8>, DrandError> {
    hex::decode(s).map_err(|error| DrandError::BadHex { field, error })
}

pub(crate) fn check_len(
    field: &'static str,
    bytes: &[u8],
    expected: usize,
) -> Result<(), DrandError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(DrandError::WrongLength { field, expected, actual: bytes.len() })
    }
}

/// Lowercase hex to bytes at compile time (a bad constant fails the build).
pub(crate) const fn hex_array<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    assert!(b.len() == 2 * N, "hex constant has the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("hex constant is not lowercase hex"),
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;

//! sr25519 hotkeys as Substrate and Bittensor use them: mini secret seeds expanded in Ed25519
//! mode, the signing context `substrate`, and SS58 addresses.

use std::fmt;
use std::str::FromStr;

use blake2::{Blake2b512, Digest};
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey, PublicKey, SecretKey, Signature};

use crate::error::ProtocolError;

/// Signing context of Substrate's sr25519 (`sp_core::sr25519`), used by Bittensor wallets.
pub const SIGNING_CONTEXT: &[u8] = b"substrate";
/// The generic Substrate SS58 prefix used by Bittensor (addresses start with `5`).
pub const SS58_PREFIX: u16 = 42;
/// Length of an sr25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An sr25519 signature as its 64 bytes.
pub type SignatureBytes = [u8; SIGNATURE_LEN];

const SS58_CHECKSUM_PREFIX: &[u8] = b"SS58PRE";

/// A miner's or validator's sr25519 public key. Displays and parses as SS58 (prefix 42).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hotkey(pub [u8; 32]);

impl Hotkey {
    /// The 32 public-key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SS58 address with prefix 42.
    pub fn to_ss58(&self) -> String {
        ss58_encode(SS58_PREFIX, &self.0)
    }

    /// Parses an SS58 address, requiring prefix 42 and a valid checksum.
    pub fn from_ss58(address: &str) -> Result<Self, ProtocolError> {
        let (prefix, key) = ss58_decode(address)?;
        if prefix != SS58_PREFIX {
            return Err(ProtocolError::Ss58 {
                address: address.into(),
                reason: format!("prefix {prefix}, expected {SS58_PREFIX}"),
            });
        }
        Ok(Self(key))
    }

    /// Verifies an sr25519 signature of `message` under this key with the Substrate context.
    pub fn verify(&self, message: &[u8], signature: &SignatureBytes) -> Result<(), ProtocolError> {
        let public = PublicKey::from_bytes(&self.0)
            .map_err(|e| ProtocolError::Key { what: "public key", reason: e.to_string() })?;
        let sig = Signature::from_bytes(signature)
            .map_err(|e| ProtocolError::Key { what: "signature", reason: e.to_string() })?;
        public.verify_simple(SIGNING_CONTEXT, message, &sig).map_err(|_| {
            ProtocolError::BadSignature { what: "message".into(), hotkey: self.to_ss58() }
        })
    }
}

impl fmt::Display for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hotkey({})", self.to_ss58())
    }
}

impl FromStr for Hotkey {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_ss58(s)
    }
}

impl serde::Serialize for Hotkey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_ss58())
    }
}

impl<'de> serde::Deserialize<'de> for Hotkey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_ss58(&s).map_err(serde::de::Error::custom)
    }
}

/// A signing key pair. Its Debug output shows only the public key.
#[derive(Clone)]
pub struct HotkeyPair {
    keypair: Keypair,
}

impl fmt::Debug for HotkeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HotkeyPair({})", self.hotkey())
    }
}

impl HotkeyPair {
    /// The pair of a 32-byte mini secret seed (Bittensor's `secretSeed`), expanded in Ed25519
    /// mode as Substrate does.
    pub fn from_mini_secret(seed: &[u8; 32]) -> Result<Self, ProtocolError> {
        let mini = MiniSecretKey::from_bytes(seed)
            .map_err(|e| ProtocolError::Key { what: "mini secret", reason: e.to_string() })?;
        Ok(Self { keypair: mini.expand_to_keypair(ExpansionMode::Ed25519) })
    }

    /// The pair of a hex mini secret seed, with or without `0x` (as in a wallet's `secretSeed`).
    pub fn from_secret_seed_hex(seed: &str) -> Result<Self, ProtocolError> {
        let digits = seed.trim().trim_start_matches("0x");
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes).map_err(|e| ProtocolError::Key {
            what: "mini secret",
            reason: format!("expected 64 hex digits: {e}"),
        })?;
        Self::from_mini_secret(&bytes)
    }

    /// The pair of a 64-byte expanded secret as `bittensor-wallet` 4 (via `sp_core`) stores it
    /// in `privateKey`: the canonical secret scalar followed by the 32-byte nonce seed. For key
    /// files that lack `secretSeed`.
    pub fn from_secret_key_bytes(bytes: &[u8; 64]) -> Result<Self, ProtocolError> {
        let secret = SecretKey::from_bytes(bytes)
            .map_err(|e| ProtocolError::Key { what: "expanded secret", reason: e.to_string() })?;
        Ok(Self { keypair: secret.to_keypair() })
    }

    /// The pair of a 64-byte expanded secret in the Ed25519 layout (the scalar multiplied by
    /// the cofactor, then the nonce seed), as `py-sr25519-bindings` and older Python Bittensor
    /// wallets store `privateKey`.
    pub fn from_ed25519_secret_bytes(bytes: &[u8; 64]) -> Result<Self, ProtocolError> {
        let secret = SecretKey::from_ed25519_bytes(bytes)
            .map_err(|e| ProtocolError::Key { what: "expanded secret", reason: e.to_string() })?;
        Ok(Self { keypair: secret.to_keypair() })
    }

    /// The 64-byte expanded secret in the layout of [`Self::from_secret_key_bytes`], as a
    /// wallet's `privateKey`. Secret material: only for writing key files.
    pub fn secret_key_bytes(&self) -> [u8; 64] {
        self.keypair.secret.to_bytes()
    }

    /// The public key.
    pub fn hotkey(&self) -> Hotkey {
        Hotkey(self.keypair.public.to_bytes())
    }

    /// Signs `message` with the Substrate context. Randomized (OS randomness), as sr25519 is.
    pub fn sign(&self, message: &[u8]) -> SignatureBytes {
        self.keypair.sign_simple(SIGNING_CONTEXT, message).to_bytes()
    }
}

/// `base58(prefix || payload || blake2b-512("SS58PRE" || prefix || payload)[..2])` for a
/// 32-byte payload. Prefixes below 64 take one byte; 64..16383 take Substrate's two-byte form.
pub fn ss58_encode(prefix: u16, payload: &[u8; 32]) -> String {
    let mut data = prefix_bytes(prefix & 0x3fff);
    data.extend_from_slice(payload);
    let checksum = ss58_checksum(&data);
    data.extend_from_slice(&checksum[..2]);
    bs58::encode(data).into_string()
}

/// Parses an SS58 address of a 32-byte key, checking the checksum; returns (prefix, key).
pub fn ss58_decode(address: &str) -> Result<(u16, [u8; 32]), ProtocolError> {
    let bad = |reason: &str| ProtocolError::Ss58 { address: address.into(), reason: reason.into() };
    let data = bs58::decode(address).into_vec().map_err(|_| bad("not base58"))?;
    let (prefix, prefix_len) = match data.first() {
        Some(&b) if b < 64 => (u16::from(b), 1),
        Some(&b) if b < 128 => {
            let b1 = *data.get(1).ok_or_else(|| bad("too short"))?;
            // Substrate's two-byte form: 14 bits spread over both bytes.
            let lower = (b << 2) | (b1 >> 6);
            let upper = b1 & 0x3f;
            (u16::from(lower) | (u16::from(upper) << 8), 2)
        }
        Some(_) => return Err(bad("reserved prefix byte")),
        None => return Err(bad("empty")),
    };
    if data.len() != prefix_len + 32 + 2 {
        return Err(bad("not a 32-byte account address"));
    }
    let body = &data[..prefix_len + 32];
    if ss58_checksum(body)[..2] != data[prefix_len + 32..] {
        return Err(bad("checksum mismatch"));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[prefix_len..]);
    Ok((prefix, key))
}

fn prefix_bytes(prefix: u16) -> Vec<u8> {
    if prefix < 64 {
        vec![prefix as u8]
    } else {
        let first = (((prefix & 0b1111_1100) >> 2) as u8) | 0b0100_0000;
        let second = ((prefix >> 8) as u8) | (((prefix & 0b11) as u8) << 6);
        vec![first, second]
    }
}

fn ss58_checksum(body: &[u8]) -> [u8; 64] {
    let mut h = Blake2b512::new();
    h.update(SS58_CHECKSUM_PREFIX);
    h.update(body);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_SEED: &str = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";

    #[test]
    fn alice_is_the_well_known_alice() {
        let pair = HotkeyPair::from_secret_seed_hex(&format!("0x{ALICE_SEED}")).unwrap();
        assert_eq!(
            hex::encode(pair.hotkey().as_bytes()),
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
        assert_eq!(pair.hotkey().to_string(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    }

    #[test]
    fn ss58_round_trips_and_rejects_corruption() {
        let pair = HotkeyPair::from_secret_seed_hex(ALICE_SEED).unwrap();
        let addr = pair.hotkey().to_ss58();
        assert_eq!(addr.parse::<Hotkey>().unwrap(), pair.hotkey());
        // Change one character: checksum (or base58) must fail.
        let mut chars: Vec<char> = addr.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let bad: String = chars.into_iter().collect();
        assert!(Hotkey::from_ss58(&bad).is_err());
        // Another network's prefix is rejected by Hotkey but decodes generically.
        let polkadot = ss58_encode(0, pair.hotkey().as_bytes());
        assert!(Hotkey::from_ss58(&polkadot).is_err());
        assert_eq!(ss58_decode(&polkadot).unwrap(), (0, pair.hotkey().0));
        let wide = ss58_encode(1000, pair.hotkey().as_bytes());
        assert_eq!(ss58_decode(&wide).unwrap(), (1000, pair.hotkey().0));
        assert!(ss58_decode("").is_err());
        assert!(ss58_decode("0OIl").is_err());
    }

    #[test]
    fn signatures_verify_only_for_the_same_message_and_key() {
        let pair = HotkeyPair::from_secret_seed_hex(ALICE_SEED).unwrap();
        let sig = pair.sign(b"hello");
        pair.hotkey().verify(b"hello", &sig).unwrap();
        assert!(pair.hotkey().verify(b"hellO", &sig).is_err());
        let other = HotkeyPair::from_mini_secret(&[7u8; 32]).unwrap();
        assert!(other.hotkey().verify(b"hello", &sig).is_err());
        let mut flipped = sig;
        flipped[5] ^= 1;
        assert!(pair.hotkey().verify(b"hello", &flipped).is_err());
        assert!(HotkeyPair::from_secret_seed_hex("abc").is_err());
    }
}

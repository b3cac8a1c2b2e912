//! Content identifiers: CIDv1 with a sha2-256 multihash.

use cid::Cid;
use multihash::Multihash;

use crate::hash::{sha256, Hash32};

/// Multicodec code of raw bytes.
pub const CODEC_RAW: u64 = 0x55;
/// Multihash code of sha2-256.
pub const MULTIHASH_SHA2_256: u64 = 0x12;

/// The CIDv1 (raw codec, sha2-256) of a byte string.
pub fn cid_of_bytes(bytes: &[u8]) -> Cid {
    cid_from_sha256(CODEC_RAW, sha256(bytes))
}

/// A CIDv1 from a SHA-256 digest that was computed elsewhere (for streamed content).
pub fn cid_from_sha256(codec: u64, digest: Hash32) -> Cid {
    // A 32-byte digest always fits the 64-byte multihash.
    let mh = Multihash::<64>::wrap(MULTIHASH_SHA2_256, &digest)
        .unwrap_or_else(|_| unreachable!("32-byte digest fits a 64-byte multihash"));
    Cid::new_v1(codec, mh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bytes_cid_is_the_well_known_one() {
        // CIDv1 raw sha2-256 of the empty string, as printed by `ipfs add --raw-leaves --cid-version 1`.
        assert_eq!(
            cid_of_bytes(b"").to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
    }
}

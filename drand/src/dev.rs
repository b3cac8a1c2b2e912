//! The local development chain as a verifier sees it: its pinned public key and its chain info.
//!
//! INSECURE: the development key is derived from a public seed (the `grail-beacon` crate holds
//! the signer), so anyone can sign any round of the "local" chain. It exists for local runs and
//! tests only; never trust it on a network.
//!
//! - public key: [`DEV_PUBLIC_KEY_HEX`], 96 bytes compressed on G2 (quicknet's scheme,
//!   `bls-unchained-g1-rfc9380`);
//! - chain info: genesis and period as given, beacon id [`LOCAL_BEACON_ID`], group hash
//!   `sha256("grail-rs/local-beacon/group" ‖ public key)`, chain hash as drand computes it
//!   ([`ChainInfo::compute_hash`]), so it changes with genesis and period.

use sha2::{Digest, Sha256};

use crate::chain::{ChainInfo, ChainKey, Scheme};
use crate::DrandError;

/// drand beacon id of the local chain.
pub const LOCAL_BEACON_ID: &str = "grail-local-dev";
/// Name of the local chain on the command line.
pub const LOCAL_CHAIN_NAME: &str = "local";
/// Public key of the insecure development key (`grail-beacon` checks that its signer has it).
pub const DEV_PUBLIC_KEY_HEX: &str = "b0b225ae382ad3ea37c71c41442491b2a0ad9c903868b1b7949c6bb1644e8375a79b586dd8222f6782a191c0ad22fe0a1951a5ec18e55123916f4638852fba4f01f7ce441e9ee0d59b53390af55c9e82526b174aceec728f65555e5bb77f348c";
const GROUP_DOMAIN: &[u8] = b"grail-rs/local-beacon/group";

/// The 96 bytes of [`DEV_PUBLIC_KEY_HEX`].
pub fn dev_public_key() -> [u8; 96] {
    let mut key = [0u8; 96];
    // A constant of 192 hex digits: decoding cannot fail (a unit test checks it).
    if hex::decode_to_slice(DEV_PUBLIC_KEY_HEX, &mut key).is_err() {
        key = [0u8; 96];
    }
    key
}

/// Key and scheme of the local chain (all a verifier needs; no clock).
pub fn dev_chain_key() -> ChainKey {
    ChainKey::from_fixed(dev_public_key().to_vec(), Scheme::BlsUnchainedG1Rfc9380, LOCAL_CHAIN_NAME)
}

/// Chain info of the local chain for `genesis_time` and `period` (seconds).
pub fn dev_chain_info(genesis_time: u64, period: u64) -> Result<ChainInfo, DrandError> {
    let public_key = dev_public_key();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_key_decodes_and_its_info_is_valid() {
        assert_ne!(dev_public_key(), [0u8; 96]);
        let info = dev_chain_info(1_700_000_000, 3).expect("info");
        assert_eq!(info.public_key(), &dev_public_key()[..]);
        assert_eq!(dev_chain_key().public_key(), &dev_public_key()[..]);
        assert_eq!(
            info.hash_hex(),
            "2d40dcf73ac2e92c696476be4ab69dcdac00e3095093c4a784937003583e210e",
            "the chain hash recorded in grail-beacon's vectors"
        );
    }
}

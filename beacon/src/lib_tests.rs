use super::*;
use drand_verify::{G2PubkeyRfc, Pubkey};

use grail_drand::dev::{dev_chain_info, dev_chain_key, DEV_PUBLIC_KEY_HEX};
use grail_drand::{verify_beacon, Scheme};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/local_beacon.json");
const GENESIS: u64 = 1_700_000_000;
const PERIOD: u64 = 3;
const ROUNDS: [u64; 5] = [1, 2, 3, 1000, 1 << 40];

/// Everything the local beacon derives, in the form of `vectors/local_beacon.json`.
fn derived() -> serde_json::Value {
    let beacon = LocalBeacon::new(GENESIS, PERIOD).unwrap();
    let far_future = u64::MAX / 2;
    let rounds: Vec<_> = ROUNDS
        .iter()
        .map(|&r| serde_json::to_value(beacon.beacon_if_due(r, far_future).unwrap()).unwrap())
        .collect();
    serde_json::json!({
        "_about": "Local development beacon (INSECURE, public seed): key, chain info and signed rounds. \
                   Regenerate with GRAIL_WRITE_VECTORS=1 cargo test -p grail-beacon local_beacon_vectors",
        "dev_key_seed": String::from_utf8_lossy(DEV_KEY_SEED),
        "public_key": hex::encode(beacon.info().public_key()),
        "info": beacon.info().to_json(),
        "rounds": rounds,
    })
}

#[test]
fn local_beacon_vectors() {
    let got = derived();
    if std::env::var_os("GRAIL_WRITE_VECTORS").is_some() {
        std::fs::write(VECTORS_PATH, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(VECTORS_PATH).unwrap()).unwrap();
    assert_eq!(got, want);
}

#[test]
fn drand_verify_accepts_local_signatures_only_for_their_round() {
    let beacon = LocalBeacon::new(GENESIS, PERIOD).unwrap();
    let pk = G2PubkeyRfc::from_variable(beacon.info().public_key()).unwrap();
    let now = GENESIS + 10_000;
    for round in [1u64, 2, 1234] {
        let b = beacon.beacon_if_due(round, now).unwrap();
        assert!(pk.verify(round, b"", &b.signature).unwrap(), "round {round}");
        assert!(!pk.verify(round + 1, b"", &b.signature).unwrap());
        assert!(!pk.verify(round - 1, b"", &b.signature).unwrap());
        // And through our verifier, with the pinned local key.
        let v = verify_beacon(&dev_chain_key(), &b).unwrap();
        assert_eq!(v.randomness(), &randomness_of(&b.signature));
    }
    // The quicknet key does not accept local signatures.
    let b = beacon.beacon_if_due(1, now).unwrap();
    let quicknet = ChainInfo::quicknet().key();
    assert!(matches!(verify_beacon(&quicknet, &b), Err(DrandError::BadSignature { .. })));
}

#[test]
fn rounds_are_not_signed_before_they_are_due() {
    let beacon = LocalBeacon::new(GENESIS, PERIOD).unwrap();
    assert_eq!(beacon.latest_round(GENESIS - 1), None);
    assert!(beacon.beacon_if_due(1, GENESIS - 1).is_none());
    assert!(beacon.beacon_if_due(1, GENESIS).is_some());
    // Round 2 is due at GENESIS + 3, not one second earlier.
    assert!(beacon.beacon_if_due(2, GENESIS + PERIOD - 1).is_none());
    assert!(beacon.beacon_if_due(2, GENESIS + PERIOD).is_some());
    assert!(beacon.beacon_if_due(0, GENESIS + 100).is_none());
}

#[test]
fn local_chain_info_is_valid_drand_info() {
    let info = dev_chain_info(GENESIS, PERIOD).unwrap();
    let parsed = ChainInfo::from_json(&serde_json::to_vec(&info.to_json()).unwrap()).unwrap();
    assert_eq!(parsed, info);
    assert_eq!(info.scheme(), Scheme::BlsUnchainedG1Rfc9380);
    // The chain hash depends on genesis and period, as drand's does.
    assert_ne!(dev_chain_info(GENESIS + 1, PERIOD).unwrap().hash(), info.hash());
    assert_ne!(dev_chain_info(GENESIS, PERIOD + 1).unwrap().hash(), info.hash());
    assert_eq!(dev_chain_key().public_key(), info.public_key());
    assert!(dev_chain_info(GENESIS, 0).is_err());
}

#[test]
fn the_signer_has_the_key_verifiers_pin() {
    assert_eq!(hex::encode(DevSigner::insecure_dev().public_key()), DEV_PUBLIC_KEY_HEX);
}

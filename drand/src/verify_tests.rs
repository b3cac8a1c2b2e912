use super::*;
use crate::ChainInfo;

const BEACONS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/drand/beacons.json"));

fn entries(chain: &str) -> Vec<(serde_json::Value, Beacon)> {
    let v: serde_json::Value = serde_json::from_str(BEACONS).unwrap();
    v[chain]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e.clone(), Beacon::from_json(&serde_json::to_vec(e).unwrap()).unwrap()))
        .collect()
}

fn chains() -> [(&'static str, ChainInfo); 2] {
    [("quicknet", ChainInfo::quicknet()), ("mainnet", ChainInfo::mainnet())]
}

#[test]
fn every_real_beacon_verifies_with_its_randomness() {
    for (name, chain) in chains() {
        let all = entries(name);
        assert!(all.len() >= 5);
        for (json, beacon) in all {
            let v = verify_beacon(&chain.key(), &beacon).unwrap();
            assert_eq!(v.round(), json["round"].as_u64().unwrap());
            assert_eq!(hex::encode(v.randomness()), json["randomness"].as_str().unwrap());
            assert_eq!(*v.randomness(), drand_verify::derive_randomness(&beacon.signature));
            // Recorded form is drand's JSON, byte for byte the same fields.
            assert_eq!(serde_json::to_value(&v).unwrap(), json);
        }
    }
}

#[test]
fn any_flipped_signature_bit_is_rejected() {
    for (name, chain) in chains() {
        let (_, beacon) = entries(name).remove(0);
        for bit in [0usize, 7, 100, beacon.signature.len() * 8 - 1] {
            let mut b = beacon.clone();
            b.randomness = None;
            b.signature[bit / 8] ^= 1 << (bit % 8);
            let err = verify_beacon(&chain.key(), &b).unwrap_err();
            assert!(
                matches!(
                    err,
                    DrandError::BadSignature { .. } | DrandError::InvalidSignaturePoint { .. }
                ),
                "{name} bit {bit}: {err}"
            );
        }
    }
}

#[test]
fn a_signature_does_not_verify_for_another_round() {
    for (name, chain) in chains() {
        let (_, mut beacon) = entries(name).remove(1);
        beacon.round += 1;
        let err = verify_beacon(&chain.key(), &beacon).unwrap_err();
        assert!(matches!(err, DrandError::BadSignature { .. }), "{err}");
        assert!(err.to_string().contains(&format!("round {}", beacon.round)), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn claimed_randomness_must_be_sha256_of_the_signature() {
    let (_, mut beacon) = entries("quicknet").remove(0);
    let mut wrong = beacon.randomness.unwrap();
    wrong[0] ^= 1;
    beacon.randomness = Some(wrong);
    let err = verify_beacon(&ChainInfo::quicknet().key(), &beacon).unwrap_err();
    assert!(matches!(err, DrandError::RandomnessMismatch { round: 1, .. }), "{err}");
}

#[test]
fn chained_beacons_need_the_right_previous_signature() {
    let key = ChainInfo::mainnet().key();
    let all = entries("mainnet");
    let mut missing = all[2].1.clone();
    missing.previous_signature = None;
    let err = verify_beacon(&key, &missing).unwrap_err();
    assert!(matches!(err, DrandError::MissingPreviousSignature { round: 3, .. }), "{err}");

    let mut wrong = all[2].1.clone();
    wrong.previous_signature = all[0].1.previous_signature.clone();
    assert!(matches!(verify_beacon(&key, &wrong), Err(DrandError::BadSignature { .. })));
}

#[test]
fn unchained_beacons_refuse_a_previous_signature() {
    let (_, mut beacon) = entries("quicknet").remove(0);
    beacon.previous_signature = Some(vec![0; 48]);
    let err = verify_beacon(&ChainInfo::quicknet().key(), &beacon).unwrap_err();
    assert!(matches!(err, DrandError::UnexpectedPreviousSignature { .. }), "{err}");
}

#[test]
fn wrong_lengths_and_round_zero_are_named() {
    let (_, beacon) = entries("quicknet").remove(0);
    // A quicknet signature (48 bytes) is not a mainnet one (96 bytes).
    let err = verify_beacon(&ChainInfo::mainnet().key(), &beacon).unwrap_err();
    assert!(matches!(
        err,
        DrandError::WrongLength { field: "signature", expected: 96, actual: 48 }
    ));
    let mut short = beacon.clone();
    short.signature.pop();
    let err = verify_beacon(&ChainInfo::quicknet().key(), &short).unwrap_err();
    assert!(matches!(
        err,
        DrandError::WrongLength { field: "signature", expected: 48, actual: 47 }
    ));
    let mut zero = beacon;
    zero.round = 0;
    assert!(matches!(
        verify_beacon(&ChainInfo::quicknet().key(), &zero),
        Err(DrandError::RoundZero)
    ));
}

#[test]
fn bad_hex_names_the_field() {
    let err = Beacon::from_hex(1, "xyz", None, None).unwrap_err();
    assert!(matches!(err, DrandError::BadHex { field: "signature", .. }));
    let err = Beacon::from_hex(1, "00", Some("0g"), None).unwrap_err();
    assert!(matches!(err, DrandError::BadHex { field: "previous_signature", .. }));
    let err = Beacon::from_hex(1, "00", None, Some("00")).unwrap_err();
    assert!(matches!(
        err,
        DrandError::WrongLength { field: "randomness", expected: 32, actual: 1 }
    ));
    let err = Beacon::from_json(br#"{"round": 1, "signature": "0q"}"#).unwrap_err();
    assert!(err.to_string().contains("`signature`"), "{err}");
    // drand's v2 shape (no randomness) is accepted; an empty previous signature is absent.
    let b =
        Beacon::from_json(br#"{"round": 1, "signature": "00", "previous_signature": ""}"#).unwrap();
    assert_eq!((b.randomness, b.previous_signature), (None, None));
}

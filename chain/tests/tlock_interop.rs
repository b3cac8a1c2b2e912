//! Timelocked weight commits against the Bittensor SDK's timelock code (`bittensor-drand`, in
//! the venv `scripts/bittensor-venv.sh` makes), with drand quicknet's real key and its real
//! signature of round 1000 (`fixtures/drand/beacons.json`).

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use grail_chain::tlock::{decrypt, encrypt_weights, WeightsTlockPayload};
use parity_scale_codec::Decode;
use rand_chacha_03::rand_core::SeedableRng;
use serde_json::Value;

const ROUND: u64 = 1000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn quicknet() -> (Vec<u8>, String) {
    let text = std::fs::read_to_string(root().join("fixtures/drand/beacons.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let q = &json["quicknet"];
    let pk = hex::decode(q["info"]["public_key"].as_str().unwrap()).unwrap();
    let entry = q["entries"].as_array().unwrap().iter().find(|e| e["round"] == ROUND).unwrap();
    (pk, entry["signature"].as_str().unwrap().to_owned())
}

fn python(args: &[&str]) -> Value {
    let out = Command::new("bash").arg(root().join("scripts/bittensor-venv.sh")).output().unwrap();
    assert!(out.status.success(), "bittensor-venv.sh: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(root().join(".venv-bittensor/bin/python"))
        .arg(root().join("scripts/interop/tlock_check.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tlock_check.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn payload() -> WeightsTlockPayload {
    WeightsTlockPayload {
        hotkey: (0u8..32).collect(),
        uids: vec![0, 1, 5, 200, 255],
        values: vec![65535, 1, 300, 40_000, 7],
        version_key: 1_234_567_890_123,
    }
}

#[test]
fn bittensor_drand_decrypts_our_commit() {
    let (pk, sig) = quicknet();
    let p = payload();
    let mut rng = rand_chacha_03::ChaCha20Rng::from_entropy();
    let ct = encrypt_weights(&pk, ROUND, &p, &mut rng).unwrap();
    let got = python(&["decrypt", &ROUND.to_string(), &hex::encode(&ct), &sig]);
    assert_eq!(got["hotkey"], hex::encode(&p.hotkey));
    assert_eq!(got["uids"], serde_json::json!(p.uids));
    assert_eq!(got["values"], serde_json::json!(p.values));
    assert_eq!(got["version_key"], p.version_key);
}

#[test]
fn we_decrypt_bittensor_drands_commit() {
    let (_, sig) = quicknet();
    let p = payload();
    let uids = p.uids.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let values = p.values.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let made = python(&[
        "encrypt",
        &ROUND.to_string(),
        &hex::encode(&p.hotkey),
        &uids,
        &values,
        &p.version_key.to_string(),
    ]);
    let ct = hex::decode(made["ciphertext"].as_str().unwrap()).unwrap();
    let plain = decrypt(&ct, &hex::decode(sig).unwrap()).unwrap();
    assert_eq!(hex::encode(&plain), made["payload"].as_str().unwrap());
    assert_eq!(WeightsTlockPayload::decode(&mut plain.as_slice()).unwrap(), p);
}

#[test]
fn the_sdks_own_commit_deserializes_as_ours() {
    // The SDK's commit helper encrypts to a round in the future, whose signature nobody has
    // yet: the ciphertext must still parse, and round 1000's signature must not open it.
    let (_, sig) = quicknet();
    let p = payload();
    let made = python(&["commit", &hex::encode(&p.hotkey), "0,1", "65535,9", "3"]);
    let ct = hex::decode(made["ciphertext"].as_str().unwrap()).unwrap();
    assert!(made["reveal_round"].as_u64().unwrap() > ROUND);
    let err = decrypt(&ct, &hex::decode(sig).unwrap()).unwrap_err();
    assert!(matches!(err, grail_chain::tlock::TlockError::Decrypt { .. }), "{err}");
}

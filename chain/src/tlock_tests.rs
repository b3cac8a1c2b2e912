use super::*;
use rand_chacha_03::rand_core::SeedableRng;
use rand_chacha_03::ChaCha20Rng;

/// drand quicknet's public key and its real signature of round 1000
/// (`fixtures/drand/beacons.json`).
const QUICKNET_PK: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";

fn quicknet_signature(round: u64) -> Vec<u8> {
    let text = include_str!("../../fixtures/drand/beacons.json");
    let json: serde_json::Value = serde_json::from_str(text).expect("fixture json");
    let entry = json["quicknet"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["round"] == round)
        .expect("round in fixture");
    hex::decode(entry["signature"].as_str().expect("signature")).expect("hex")
}

fn payload() -> WeightsTlockPayload {
    WeightsTlockPayload {
        hotkey: vec![7u8; 32],
        uids: vec![0, 3, 7],
        values: vec![65535, 4096, 120],
        version_key: 42,
    }
}

#[test]
fn payload_encoding_is_subtensors() {
    // Vec<u8> (compact length 32 = 0x80, then the bytes), Vec<u16> (compact 3 = 0x0c, LE
    // values) twice, u64 LE.
    let mut expected = vec![0x80];
    expected.extend([7u8; 32]);
    expected.extend([0x0c, 0x00, 0x00, 0x03, 0x00, 0x07, 0x00]);
    expected.extend([0x0c, 0xff, 0xff, 0x00, 0x10, 0x78, 0x00]);
    expected.extend(42u64.to_le_bytes());
    assert_eq!(payload().encode(), expected);
    assert_eq!(WeightsTlockPayload::decode(&mut expected.as_slice()).expect("decode"), payload());
}

#[test]
fn round_message_is_sha256_of_the_big_endian_round() {
    // sha256(00 00 00 00 00 00 03 e8), computed with Python's hashlib.
    assert_eq!(
        hex::encode(round_message(1000)),
        "f652498d092acd949bad74e40683bf3824fb817980504a0c7e6722cfc5a9c0a3"
    );
}

#[test]
fn quicknet_round_trip_with_the_real_signature() {
    let pk = hex::decode(QUICKNET_PK).expect("hex");
    let mut rng = ChaCha20Rng::from_seed([1u8; 32]);
    let ct = encrypt_weights(&pk, 1000, &payload(), &mut rng).expect("encrypt");
    let plain = decrypt(&ct, &quicknet_signature(1000)).expect("decrypt");
    assert_eq!(WeightsTlockPayload::decode(&mut plain.as_slice()).expect("decode"), payload());
    // Another round's signature does not open it.
    assert!(matches!(decrypt(&ct, &quicknet_signature(123)), Err(TlockError::Decrypt { .. })));
    // A flipped byte in the body is caught (AES-GCM tag, or the header no longer parses).
    let mut tampered = ct.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 1;
    assert!(decrypt(&tampered, &quicknet_signature(1000)).is_err());
    // The same seed gives the same ciphertext.
    let again = encrypt_weights(&pk, 1000, &payload(), &mut ChaCha20Rng::from_seed([1u8; 32]))
        .expect("encrypt");
    assert_eq!(again, ct);
}

#[test]
fn bad_inputs_are_named() {
    let mut rng = ChaCha20Rng::from_seed([1u8; 32]);
    assert_eq!(encrypt(&[1, 2, 3], 5, b"x", &mut rng), Err(TlockError::BadPublicKey { len: 3 }));
    assert_eq!(
        decrypt(&[0; 10], &quicknet_signature(1000)),
        Err(TlockError::BadCiphertext { len: 10 })
    );
    let pk = hex::decode(QUICKNET_PK).expect("hex");
    let ct = encrypt(&pk, 5, b"x", &mut rng).expect("encrypt");
    assert_eq!(decrypt(&ct, &[0; 48]), Err(TlockError::BadSignature { len: 48 }));
    let big = WeightsTlockPayload { values: vec![1; 2600], uids: vec![2; 2600], ..payload() };
    assert!(matches!(
        encrypt_weights(&pk, 5, &big, &mut rng),
        Err(TlockError::TooLarge { max: MAX_COMMIT_BYTES, .. })
    ));
}

#[test]
fn epochs_follow_subtensors_layout() {
    let e = Epochs { tempo: 360, netuid: 81 };
    // Epoch boundaries where (block + 82) is a multiple of 361.
    assert!(e.starts_at(279) && e.starts_at(640) && !e.starts_at(280));
    assert_eq!(e.epoch_of(278), 0);
    assert_eq!(e.epoch_of(279), 1);
    assert_eq!(e.first_block(1), 279);
    assert_eq!(e.first_block(0), 0);
    // The epoch runs in its last block, 278: a commit there is queued under the next.
    assert_eq!((e.commit_epoch(277), e.commit_epoch(278), e.commit_epoch(279)), (0, 1, 1));
    for block in [0u64, 278, 279, 1000, 123_456] {
        let epoch = e.epoch_of(block);
        assert!(e.first_block(epoch) <= block && block < e.first_block(epoch + 1), "{block}");
    }
}

#[test]
fn reveal_round_matches_the_sdk_formula() {
    // netuid 81, tempo 360, block 10000, reveal period 1, now 1_700_000_000.
    // epoch = 10082 / 361 = 27; first reveal block = 28·361 − 82 = 10026; target 10029,
    // 29 blocks of 12 s ahead: t = 1_700_000_348; round = floor((t − 1692803367) / 3).
    let t = reveal_round(
        Epochs { tempo: 360, netuid: 81 },
        1,
        10_000,
        1_700_000_000.0,
        12.0,
        RoundSchedule::QUICKNET,
    );
    assert_eq!(t.commit_epoch, 27);
    assert_eq!(t.reveal_epoch, 28);
    assert_eq!(t.first_reveal_block, 10_026);
    assert_eq!(t.reveal_round, (1_700_000_348 - 1_692_803_367) / 3);
    // Before the beacon's genesis the round is 1.
    let early =
        reveal_round(Epochs { tempo: 10, netuid: 1 }, 1, 0, 0.0, 12.0, RoundSchedule::QUICKNET);
    assert_eq!(early.reveal_round, 1);
}

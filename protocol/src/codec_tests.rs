use super::*;
use crate::keys::HotkeyPair;
use crate::signing::{sign_window_file, verify_window_file};
use crate::window_file::sample_file;

fn signed_bytes() -> (WindowFile, Vec<u8>) {
    let pair = HotkeyPair::from_mini_secret(&[21u8; 32]).unwrap();
    let mut file = sample_file(pair.hotkey());
    sign_window_file(&pair, &mut file).unwrap();
    let bytes = encode(&file).unwrap();
    (file, bytes)
}

fn message(bytes: &[u8], limits: &Limits) -> String {
    decode(bytes, limits).unwrap_err().to_string()
}

#[test]
fn round_trip_keeps_every_field_and_signatures() {
    let (file, bytes) = signed_bytes();
    let back = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(back, file);
    verify_window_file(&back).unwrap();
    assert_eq!(encode(&back).unwrap(), bytes);
    let empty = WindowFile { rollouts: vec![], ..file };
    assert_eq!(decode(&encode(&empty).unwrap(), &Limits::default()).unwrap(), empty);
}

#[test]
fn every_truncation_is_an_error() {
    let (_, bytes) = signed_bytes();
    for cut in 0..bytes.len() {
        match decode(&bytes[..cut], &Limits::default()) {
            Err(ProtocolError::Truncated { .. }) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn trailing_bytes_and_bad_magic_are_errors() {
    let (_, mut bytes) = signed_bytes();
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(decode(&long, &Limits::default()), Err(ProtocolError::TrailingBytes)));
    bytes[0] = b'X';
    assert!(matches!(decode(&bytes, &Limits::default()), Err(ProtocolError::BadMagic { .. })));
    let (_, mut bytes) = signed_bytes();
    // A version-1 file (8-byte commitments) is refused by its version, not misread.
    bytes[8] = 1;
    assert!(message(&bytes, &Limits::default()).contains("format version 1"));
}

/// Offset of rollout `i`'s first byte in an encoding of `sample_file`.
fn rollout_offset(file: &WindowFile, i: usize) -> usize {
    let mut head = file.clone();
    head.rollouts.truncate(i);
    encode(&head).unwrap().len()
}

#[test]
fn limits_are_enforced_with_field_names() {
    let (file, bytes) = signed_bytes();
    let limits = Limits { max_completion_tokens: 5, ..Limits::default() };
    assert_eq!(message(&bytes, &limits), "completion_tokens of rollout 2: 7 exceeds the limit 5");
    let limits = Limits { max_prompt_tokens: 3, ..Limits::default() };
    assert_eq!(message(&bytes, &limits), "prompt_tokens of rollout 0: 4 exceeds the limit 3");
    let limits = Limits { max_rollouts: 2, ..Limits::default() };
    assert_eq!(message(&bytes, &limits), "rollouts: 3 exceeds the limit 2");
    let limits = Limits { max_cid_bytes: 10, ..Limits::default() };
    assert_eq!(message(&bytes, &limits), "model_id: 36 exceeds the limit 10");
    let limits = Limits { max_beacon_signature_bytes: 47, ..Limits::default() };
    assert_eq!(message(&bytes, &limits), "beacon_signature: 48 exceeds the limit 47");
    let limits = Limits { max_environment_id_bytes: 2, ..Limits::default() };
    assert_eq!(message(&bytes, &limits), "environment_id: 3 exceeds the limit 2");
    let size = bytes.len() as u64;
    let limits = Limits { max_file_bytes: size - 1, ..Limits::default() };
    assert!(message(&bytes, &limits).contains(&format!("exceeds the limit {}", size - 1)));
    assert!(decode(&bytes, &Limits { max_file_bytes: size, ..Limits::default() }).is_ok());
    // A huge declared count fails on its limit before any allocation.
    let mut huge = bytes;
    let at = rollout_offset(&file, 0) + 8;
    huge[at..at + 4].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
    assert!(message(&huge, &Limits::default()).contains("prompt_tokens of rollout 0: 4294967294"));
    // The repeat marker on the first rollout has nothing to repeat.
    huge[at..at + 4].copy_from_slice(&REPEAT_PROMPT.to_le_bytes());
    assert!(message(&huge, &Limits::default()).contains("there is none"));
}

#[test]
fn inconsistent_fields_are_errors() {
    let (file, bytes) = signed_bytes();
    // logprobs count of rollout 0 (3 completion tokens) says 2.
    let r0 = rollout_offset(&file, 0);
    let logprobs_at = r0 + 8 + 4 + 4 * 4 + 4 + 3 * 4;
    let mut b = bytes.clone();
    b[logprobs_at..logprobs_at + 4].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        message(&b, &Limits::default()),
        "logprobs of rollout 0: 2 values, but 3 are required"
    );
    // success byte 2.
    let r1 = rollout_offset(&file, 1);
    let success_at = r1 - 64 - 4 - 1;
    let mut b = bytes.clone();
    assert_eq!(b[success_at], 0);
    b[success_at] = 2;
    assert!(message(&b, &Limits::default()).starts_with("success of rollout 0"));
    // rollout index outside the group.
    let mut b = bytes;
    b[r0 + 4..r0 + 8].copy_from_slice(&16u32.to_le_bytes());
    assert_eq!(
        message(&b, &Limits::default()),
        "rollout_index of rollout 0: 16 exceeds the limit 15"
    );
    // The encoder refuses what the decoder would refuse.
    let mut bad = file;
    bad.rollouts[1].commitments.push(1);
    assert!(encode(&bad).is_err());
}

#[test]
fn decoding_stops_at_the_size_limit_on_endless_input() {
    let (_, bytes) = signed_bytes();
    let endless = std::io::Read::chain(&bytes[..], std::io::repeat(0));
    let limits = Limits { max_file_bytes: bytes.len() as u64 + 1000, ..Limits::default() };
    // Valid file followed by zeros: trailing bytes, found after reading the file only.
    assert!(matches!(decode_from(endless, &limits), Err(ProtocolError::TrailingBytes)));
    let mut header_only = bytes.clone();
    let n_at = rollout_offset(&decode(&bytes, &limits).unwrap(), 0) - 4;
    header_only[n_at..n_at + 4].copy_from_slice(&4096u32.to_le_bytes());
    let endless = std::io::Read::chain(&header_only[..n_at + 4], std::io::repeat(0));
    let err = decode_from(endless, &limits).unwrap_err().to_string();
    assert!(err.starts_with("file size"), "{err}");
}

#[test]
fn a_group_prompt_is_stored_once_and_decodes_to_every_rollout() {
    let pair = HotkeyPair::from_mini_secret(&[21u8; 32]).unwrap();
    let mut file = sample_file(pair.hotkey());
    let prompt: Vec<u32> = (0..100).collect();
    for r in &mut file.rollouts {
        r.prompt_tokens = prompt.clone();
    }
    sign_window_file(&pair, &mut file).unwrap();
    let bytes = encode(&file).unwrap();
    let back = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(back, file);
    verify_window_file(&back).unwrap();
    // The prompt (400 bytes) appears once; later rollouts carry the 4-byte marker only.
    let n = file.rollouts.len();
    assert!(n >= 2);
    let distinct = encode(&WindowFile {
        rollouts: file
            .rollouts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r = r.clone();
                r.prompt_tokens.push(i as u32);
                r
            })
            .collect(),
        ..file.clone()
    })
    .unwrap();
    assert_eq!(distinct.len() - bytes.len(), (n - 1) * 400 + n * 4);
    // Truncations inside a repeated-prompt file are still clean errors.
    for cut in 0..bytes.len() {
        assert!(matches!(
            decode(&bytes[..cut], &Limits::default()),
            Err(ProtocolError::Truncated { .. })
        ));
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::params::{EnvironmentSpec, GenerationParams};
    use crate::window_file::{BeaconRecord, Rollout, WindowHeader};

    fn rollout(prompt: Vec<u32>) -> impl Strategy<Value = Rollout> {
        (
            (any::<u32>(), 0..GROUP_SIZE, proptest::collection::vec(any::<u32>(), 0..24)),
            (any::<[u8; 32]>(), any::<u32>(), any::<bool>(), any::<u32>(), any::<u32>()),
        )
            .prop_map(move |((j, r, tokens), (root, reward, success, advantage, seed))| {
                let n = tokens.len() as u32;
                Rollout {
                    problem_index: j,
                    rollout_index: r,
                    prompt_tokens: prompt.clone(),
                    // Any bit pattern, NaNs included: the codec keeps bits, not values.
                    logprobs: tokens.iter().map(|t| f32::from_bits(t.rotate_left(7))).collect(),
                    commitments: (0..n).map(|i| seed.wrapping_mul(i + 1)).collect(),
                    completion_tokens: tokens,
                    merkle_root: root,
                    reward: f32::from_bits(reward),
                    success,
                    advantage: f32::from_bits(advantage),
                    signature: [seed as u8; 64],
                }
            })
    }

    fn file() -> impl Strategy<Value = WindowFile> {
        let header = (
            (
                any::<u32>(),
                any::<u64>(),
                any::<[u8; 32]>(),
                proptest::collection::vec(any::<u8>(), 0..64),
            ),
            (any::<u64>(), any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 0..96)),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), "[a-z0-9_-]{0,16}", any::<u32>()),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u8>()),
        )
            .prop_map(|(a, b, c, d)| WindowHeader {
                protocol_version: a.0,
                window: a.1,
                hotkey: Hotkey(a.2),
                model_id: a.3,
                beacon: BeaconRecord { round: b.0, randomness: b.1, signature: b.2 },
                first_block_hash: c.0,
                fingerprint: c.1,
                environment: EnvironmentSpec { id: c.2, version: c.3 },
                generation: GenerationParams {
                    temperature: f32::from_bits(d.0),
                    max_new_tokens: d.1,
                    eos_probability_floor: f32::from_bits(d.2),
                },
                signature: [d.3; 64],
            });
        // Groups share a prompt, so the repeat marker is exercised as well as fresh prompts.
        let groups = proptest::collection::vec(
            (proptest::collection::vec(any::<u32>(), 0..16), 1usize..4),
            0..4,
        )
        .prop_flat_map(|groups| {
            let rollouts: Vec<_> = groups
                .into_iter()
                .flat_map(|(prompt, k)| (0..k).map(move |_| rollout(prompt.clone())))
                .collect();
            rollouts
        });
        (header, groups).prop_map(|(header, rollouts)| WindowFile { header, rollouts })
    }

    fn bits(f: &WindowFile) -> Vec<u32> {
        let h = &f.header.generation;
        let mut out = vec![h.temperature.to_bits(), h.eos_probability_floor.to_bits()];
        for r in &f.rollouts {
            out.extend(r.logprobs.iter().map(|l| l.to_bits()));
            out.extend([r.reward.to_bits(), r.advantage.to_bits()]);
        }
        out
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_the_same_file_bit_for_bit(f in file()) {
            let bytes = encode(&f).unwrap();
            let back = decode(&bytes, &Limits::default()).unwrap();
            prop_assert_eq!(bits(&back), bits(&f));
            prop_assert_eq!(encode(&back).unwrap(), bytes);
            // Every field but the floats compares equal directly.
            let mut zeroed = back;
            let mut original = f;
            for file in [&mut zeroed, &mut original] {
                file.header.generation.temperature = 0.0;
                file.header.generation.eos_probability_floor = 0.0;
                for r in &mut file.rollouts {
                    r.logprobs.iter_mut().for_each(|l| *l = 0.0);
                    r.reward = 0.0;
                    r.advantage = 0.0;
                }
            }
            prop_assert_eq!(zeroed, original);
        }
    }
}

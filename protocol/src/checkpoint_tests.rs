use super::*;
use crate::cid::cid_of_bytes;

fn pair(byte: u8) -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[byte; 32]).expect("a seed")
}

fn manifest() -> CheckpointManifest {
    let file = |name: &str, body: &[u8]| CheckpointFile {
        name: name.into(),
        cid: cid_of_bytes(body).to_string(),
        bytes: body.len() as u64,
    };
    CheckpointManifest {
        version: MANIFEST_VERSION,
        from_window: 12,
        model_id: cid_of_bytes(b"weights").to_string(),
        location: "checkpoints/12/".into(),
        files: vec![file("model.onnx", b"onnx"), file("tokenizer.json", b"{}")],
        environment: EnvironmentSpec::default(),
        generation: GenerationParams::default(),
        trainer: String::new(),
        signature: String::new(),
    }
}

fn signed() -> CheckpointManifest {
    let mut m = manifest();
    sign_manifest(&pair(7), &mut m).expect("signs");
    m
}

type Edit = (&'static str, fn(&mut CheckpointManifest));

fn message(e: &ProtocolError) -> String {
    e.to_string()
}

#[test]
fn a_signed_manifest_round_trips_and_verifies() {
    let m = signed();
    let parsed = parse_manifest(&manifest_json(&m)).expect("parses");
    assert_eq!(parsed, m);
    verify_manifest(&parsed, &pair(7).hotkey()).expect("verifies");
}

#[test]
fn every_signed_field_changes_the_digest() {
    let base = manifest_digest(&signed()).expect("digest");
    let edits: &[Edit] = &[
        ("version", |m| m.version = 2),
        ("from_window", |m| m.from_window += 1),
        ("model_id", |m| m.model_id = cid_of_bytes(b"other").to_string()),
        ("location", |m| m.location.push('x')),
        ("file name", |m| m.files[1].name = "vocab.json".into()),
        ("file cid", |m| m.files[0].cid = cid_of_bytes(b"x").to_string()),
        ("file bytes", |m| m.files[0].bytes += 1),
        ("file dropped", |m| {
            m.files.pop();
        }),
        ("environment id", |m| m.environment.id = "arith".into()),
        ("environment version", |m| m.environment.version += 1),
        ("temperature", |m| m.generation.temperature = 0.8),
        ("max_new_tokens", |m| m.generation.max_new_tokens += 1),
        ("eos floor", |m| m.generation.eos_probability_floor = 0.1),
        ("trainer", |m| m.trainer = pair(8).hotkey().to_ss58()),
    ];
    for (name, edit) in edits {
        let mut m = signed();
        edit(&mut m);
        assert_ne!(manifest_digest(&m).expect("digest"), base, "{name}");
        assert!(verify_manifest(&m, &pair(7).hotkey()).is_err(), "{name} still verifies");
    }
}

#[test]
fn another_trainer_or_a_bad_signature_is_refused_by_name() {
    let m = signed();
    let err = message(&verify_manifest(&m, &pair(8).hotkey()).expect_err("wrong trainer"));
    assert!(err.starts_with("trainer: invalid value"), "{err}");
    assert!(err.contains("is not the configured trainer"), "{err}");

    let mut forged = m.clone();
    forged.generation.max_new_tokens = 4096;
    let err = message(&verify_manifest(&forged, &pair(7).hotkey()).expect_err("forged"));
    assert!(err.contains("checkpoint manifest of window 12"), "{err}");

    let mut short = m;
    short.signature.truncate(10);
    let err = message(&verify_manifest(&short, &pair(7).hotkey()).expect_err("short"));
    assert_eq!(err, "signature: invalid value (not 64 bytes of hex)");
}

#[test]
fn malformed_manifests_name_the_field_and_the_limit() {
    let cases: &[Edit] = &[
        ("version: invalid value (3 (this code reads 1))", |m| m.version = 3),
        ("model_id: invalid value", |m| m.model_id = "bafy-not".into()),
        ("files[0].name: invalid value", |m| m.files[0].name = "../model.onnx".into()),
        ("files[1].name: invalid value", |m| m.files[1].name = "model.onnx".into()),
        ("files: invalid value (no model.onnx)", |m| m.files[0].name = "a.onnx".into()),
        ("files[1].cid: invalid value", |m| m.files[1].cid = String::new()),
        ("location: 1025 exceeds the limit 1024", |m| m.location = "x".repeat(1025)),
        ("files: 33 exceeds the limit 32", |m| {
            let f = m.files[0].clone();
            m.files =
                (0..33).map(|i| CheckpointFile { name: format!("f{i:02}"), ..f.clone() }).collect();
        }),
        ("environment.id: invalid value", |m| m.environment.id.clear()),
        ("temperature 0 must be finite and positive", |m| m.generation.temperature = 0.0),
    ];
    for (want, edit) in cases {
        let mut m = manifest();
        m.trainer = pair(7).hotkey().to_ss58();
        edit(&mut m);
        let err = message(&parse_manifest(&manifest_json(&m)).expect_err(want));
        assert!(err.starts_with(want), "{want}: {err}");
    }
    let err = message(&parse_manifest(&vec![b' '; 70_000]).expect_err("large"));
    assert_eq!(err, "checkpoint manifest bytes: 70000 exceeds the limit 65536");
    let err = message(&parse_manifest(br#"{"version": 1, "extra": 0}"#).expect_err("unknown"));
    assert!(err.starts_with("checkpoint manifest: invalid value"), "{err}");
}

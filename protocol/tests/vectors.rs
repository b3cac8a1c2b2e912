//! Golden vectors: `protocol/vectors/*.json` hold inputs and expected outputs for every
//! derivation; `vectors_match` recomputes each case from its input.
//!
//! Regenerate (only when a derivation changes on purpose):
//! `cargo test -p grail-protocol --test vectors -- --ignored write_vectors`

#[path = "vectors/compute.rs"]
mod compute;

use std::path::PathBuf;

use grail_protocol::checkpoint::{
    sign_manifest, CheckpointFile, CheckpointManifest, MANIFEST_VERSION,
};
use grail_protocol::keys::HotkeyPair;
use grail_protocol::merkle::{completion_leaves, merkle_root};
use grail_protocol::params::{EnvironmentSpec, GenerationParams, PROTOCOL_VERSION};
use grail_protocol::signing::{header_digest, rollout_digest};
use serde_json::{json, Value};

const ALICE_SEED: &str = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn h(byte: u8) -> String {
    hex::encode([byte; 32])
}

fn case(name: &str, kind: &str, input: Value) -> (String, String, Value) {
    (name.into(), kind.into(), input)
}

type File = (&'static str, &'static str, Vec<(String, String, Value)>);

fn hash_cases() -> File {
    let dom = |name, domain: &str, parts: &[&str]| {
        case(name, "domain_hash", json!({"domain": domain, "parts": parts}))
    };
    (
        "hash.json",
        "H(domain, parts) and the ChaCha20 streams seeded with it (hex bytes in, hex out)",
        vec![
            dom("no parts", "grail/v1/test", &[]),
            dom("one empty part", "grail/v1/test", &[""]),
            dom("two parts", "grail/v1/test", &["616263", "0000000000000007"]),
            dom("parts split differently", "grail/v1/test", &["6162", "630000000000000007"]),
            case(
                "stream",
                "stream",
                json!({"domain": "grail/v1/test", "parts": ["00"], "count": 4, "bounds": ["2", "3", "1000", "18446744073709551615", "0", "1"]}),
            ),
        ],
    )
}

fn window_cases() -> File {
    let c = |name, genesis: u64, block: u64, window: u64, time: u64| {
        case(
            name,
            "window",
            json!({"genesis_unix": genesis, "block_time_s": 12, "blocks_per_window": 30, "grace_period_s": 30,
                   "challenge_buffer_s": 30, "block": block, "window": window, "time": time}),
        )
    };
    let schedule = |name, genesis: u64, window: u64, drand_genesis: u64, period: u64| {
        case(
            name,
            "schedule",
            json!({"genesis_unix": genesis, "block_time_s": 12, "blocks_per_window": 30, "grace_period_s": 30,
                   "challenge_buffer_s": 30, "window": window, "drand_genesis": drand_genesis, "drand_period": period}),
        )
    };
    (
        "window.json",
        "window arithmetic and the window schedule; times in unix seconds; block_at_time/window_at_time are null before genesis",
        vec![
            c("origin", 0, 0, 0, 0),
            c("mid window", 1_700_000_000, 59, 2, 1_700_000_719),
            c("window boundary", 1_700_000_000, 60, 100_000, 1_700_000_720),
            c("before genesis", 1_700_000_000, 6_000_000, 200_000, 1_699_999_999),
            schedule("schedule", 1_700_000_000, 3, 1_700_000_000 - 7, 3),
            schedule("schedule of a later window", 1_700_000_000, 4_730_000, 1_692_000_000, 30),
            schedule("mining before drand's genesis", 1_700_000_000, 3, 1_700_000_000 + 2_000, 3),
        ],
    )
}

fn seeds_cases() -> File {
    let alice = HotkeyPair::from_secret_seed_hex(ALICE_SEED).expect("seed").hotkey();
    (
        "seeds.json",
        "window seed, problem seed and stream, sample seed and its first uniforms",
        vec![
            case(
                "zeros",
                "seeds",
                json!({"window": 0, "beacon_randomness": h(0), "first_block_hash": h(0),
                "hotkey": h(0), "problem_index": 0, "rollout_index": 0}),
            ),
            case(
                "alice",
                "seeds",
                json!({"window": 4_730_000, "beacon_randomness": h(0xab), "first_block_hash": h(0x12),
                "hotkey": hex::encode(alice.as_bytes()), "problem_index": 7, "rollout_index": 15}),
            ),
        ],
    )
}

fn challenge_cases() -> File {
    let cid = hex::encode(grail_protocol::cid::cid_of_bytes(b"window file").to_bytes());
    let r = h(0x5a);
    let roll = |name, n: u32, k: u32| {
        case(
            name,
            "challenge_rollouts",
            json!({"randomness": r, "cid": cid, "rollouts_in_file": n, "checked": k}),
        )
    };
    let pos = |name, i: u32, len: u32| {
        case(
            name,
            "challenge_positions",
            json!({"randomness": r, "cid": cid, "file_index": i, "completion_len": len, "k": 32}),
        )
    };
    let keys: Vec<String> = (1..=9u8).map(h).collect();
    (
        "challenge.json",
        "which rollouts, positions and miners are checked; indices sorted ascending",
        vec![
            roll("8 of 160", 160, 8),
            roll("all of 5", 5, 8),
            roll("none of 0", 0, 8),
            pos("32 of 200", 3, 200),
            pos("short completion", 0, 20),
            pos("exactly K", 1, 32),
            case(
                "3 of 9 miners",
                "challenge_miners",
                json!({"randomness": r, "hotkeys": keys, "checked": 3}),
            ),
        ],
    )
}

fn sampler_cases() -> File {
    let logits = json!([1.5, -0.25, 3.0, 0.0, 2.75, -4.0, 3.0, 0.5]);
    let s = |name, t: f64, u: f64| {
        case(name, "sample", json!({"logits": logits, "temperature": t, "u": u}))
    };
    let chk = |name, u: f64, token: u32| {
        case(
            name,
            "check_sample",
            json!({"logits": logits, "temperature": 0.7, "u": u, "token": token, "tol": 1e-4}),
        )
    };
    (
        "sampler.json",
        "inverse-CDF sampling over softmax(logits/temperature) in f64; logits are f32; floats derived through exp match to 1e-12",
        vec![
            s("u = 0", 1.0, 0.0),
            s("low u", 0.7, 0.123_456_789),
            s("mid u", 0.7, 0.5),
            s("high u", 0.7, 0.999_999),
            s("cold", 0.05, 0.9),
            case("stream", "sample_stream", json!({"logits": logits, "temperature": 0.7, "seed": h(0x33), "steps": 8})),
            chk("inside", 0.2, 2),
            chk("above hi by 5e-5, within tol", 0.040_95, 0),
            chk("below lo by 5.6e-5, within tol", 0.044_2, 2),
            chk("above hi by 2e-4, outside tol", 0.041_1, 0),
            chk("far outside", 0.9, 0),
            case("eos", "eos_probability", json!({"logits": logits, "temperature": 0.7, "eos": 4})),
            case("argmax ties take the first", "argmax", json!({"logits": logits})),
            case("zero temperature is an error", "sampler_error", json!({"logits": logits, "temperature": 0.0, "u": 0.5})),
            case("u = 1 is an error", "sampler_error", json!({"logits": logits, "temperature": 1.0, "u": 1.0})),
        ],
    )
}

fn merkle_cases() -> File {
    let leaves = |n: u32| -> Value {
        (0..n)
            .map(|t| json!({"position": t, "token": 1000 + 37 * t, "logprob": -0.125 * (t + 1) as f64, "commitment": t.wrapping_mul(0x89ab_cdef)}))
            .collect()
    };
    (
        "merkle.json",
        "leaf hashes, root and every inclusion proof (siblings bottom up); the last node of an odd level is promoted",
        vec![
            case("empty", "merkle_tree", json!({"leaves": leaves(0)})),
            case("one leaf", "merkle_tree", json!({"leaves": leaves(1)})),
            case("five leaves", "merkle_tree", json!({"leaves": leaves(5)})),
            case("eight leaves", "merkle_tree", json!({"leaves": leaves(8)})),
        ],
    )
}

fn keys_cases() -> File {
    let alice = HotkeyPair::from_secret_seed_hex(ALICE_SEED).expect("seed");
    let addr = alice.hotkey().to_ss58();
    let msg = b"grail golden vector";
    let sig = hex::encode(alice.sign(msg));
    let mut bad_addr = addr.clone();
    bad_addr.replace_range(47.., "Z");
    (
        "keys.json",
        "sr25519 (mini secret expanded in Ed25519 mode, context \"substrate\") and SS58 prefix 42",
        vec![
            case("alice", "ss58", json!({"mini_secret": ALICE_SEED})),
            case("seed 0x01..", "ss58", json!({"mini_secret": h(1)})),
            case("decode alice", "ss58_decode", json!({"address": addr})),
            case("bad checksum", "ss58_decode", json!({"address": bad_addr})),
            case(
                "valid signature",
                "verify",
                json!({"ss58": addr, "message": hex::encode(msg), "signature": sig}),
            ),
            case(
                "other message",
                "verify",
                json!({"ss58": addr, "message": hex::encode(b"grail golden vectoR"), "signature": sig}),
            ),
        ],
    )
}

fn window_file_cases() -> File {
    let alice = HotkeyPair::from_secret_seed_hex(ALICE_SEED).expect("seed");
    let header = json!({
        "protocol_version": PROTOCOL_VERSION, "window": 4_730_000, "hotkey": alice.hotkey().to_ss58(),
        "model_id": hex::encode(grail_protocol::cid::cid_of_bytes(b"model").to_bytes()),
        "beacon": {"round": 12_345_678, "randomness": h(0xab), "signature": hex::encode([0x8c; 48])},
        "first_block_hash": h(0x12), "fingerprint": h(0x04),
        "environment": EnvironmentSpec { id: "sat".into(), version: 1 },
        "generation": GenerationParams::default(), "signature": hex::encode([0u8; 64]),
    });
    let mut input = json!({"header": header, "rollouts": [
        {"problem_index": 0, "rollout_index": 0, "prompt_tokens": [1, 2, 3], "completion_tokens": [10, 11, 2],
         "logprobs": [-0.5, -1.25, -0.0625], "commitments": [1, u32::MAX, 19_088_743],
         "reward": 1.0, "success": true, "advantage": 0.75},
        {"problem_index": 0, "rollout_index": 1, "prompt_tokens": [1, 2, 3], "completion_tokens": [],
         "logprobs": [], "commitments": [], "reward": 0.0, "success": false, "advantage": -0.75},
    ]});
    // Fill in Merkle roots and real signatures, as a miner would.
    let mut file = {
        for r in input["rollouts"].as_array_mut().expect("rollouts") {
            r["merkle_root"] = json!(h(0));
            r["signature"] = json!(hex::encode([0u8; 64]));
        }
        compute::file_of(&input)
    };
    for (k, r) in file.rollouts.iter_mut().enumerate() {
        r.merkle_root = merkle_root(
            &completion_leaves(&r.completion_tokens, &r.logprobs, &r.commitments).expect("lengths"),
        );
        input["rollouts"][k]["merkle_root"] = json!(hex::encode(r.merkle_root));
    }
    let hd = header_digest(&file.header);
    input["header"]["signature"] = json!(hex::encode(alice.sign(&hd)));
    let count = file.rollouts.len();
    for (k, r) in file.rollouts.iter().enumerate() {
        let digest = rollout_digest(&hd, k, count, r);
        input["rollouts"][k]["signature"] = json!(hex::encode(alice.sign(&digest)));
    }
    (
        "window_file.json",
        "signed digests, encoding and CIDv1 (raw, sha2-256) of a small window file signed by Alice",
        vec![case("two rollouts", "window_file", input)],
    )
}

fn checkpoint_cases() -> File {
    let alice = HotkeyPair::from_secret_seed_hex(ALICE_SEED).expect("seed");
    let cid = |body: &[u8]| grail_protocol::cid::cid_of_bytes(body).to_string();
    let mut manifest = CheckpointManifest {
        version: MANIFEST_VERSION,
        from_window: 4_730_016,
        model_id: cid(b"model"),
        location: "checkpoints/4730016/".into(),
        files: vec![
            CheckpointFile { name: "model.onnx".into(), cid: cid(b"onnx"), bytes: 4 },
            CheckpointFile { name: "tokenizer.json".into(), cid: cid(b"{}"), bytes: 2 },
        ],
        environment: EnvironmentSpec { id: "arith".into(), version: 1 },
        generation: GenerationParams {
            temperature: 0.75,
            max_new_tokens: 256,
            eos_probability_floor: 0.0,
        },
        trainer: String::new(),
        signature: String::new(),
    };
    sign_manifest(&alice, &mut manifest).expect("signs");
    let mut forged = manifest.clone();
    forged.generation.max_new_tokens = 257;
    let input =
        |m: &CheckpointManifest| json!({ "manifest": m, "trainer": alice.hotkey().to_ss58() });
    (
        "checkpoint.json",
        "the signed digest of a checkpoint manifest and its verification under the trainer's hotkey (a manifest signed by Alice)",
        vec![
            case("signed by alice", "checkpoint", input(&manifest)),
            case("a field changed after signing", "checkpoint", input(&forged)),
        ],
    )
}

fn all_files() -> Vec<File> {
    vec![
        hash_cases(),
        window_cases(),
        seeds_cases(),
        challenge_cases(),
        sampler_cases(),
        merkle_cases(),
        keys_cases(),
        window_file_cases(),
        checkpoint_cases(),
    ]
}

/// Exact equality, except for floats derived through `exp`/`ln` which match to 1e-12.
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            (x - y).abs() <= 1e-12 * x.abs().max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| close(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn vectors_match() {
    for (name, _, expected_cases) in all_files() {
        let path = vectors_dir().join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file: Value = serde_json::from_str(&text).expect("valid JSON");
        let cases = file["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), expected_cases.len(), "{name}: case count");
        for c in cases {
            let kind = c["kind"].as_str().expect("kind");
            let got = compute::compute(kind, &c["input"]);
            assert!(
                close(&got, &c["expected"]),
                "{name} / {}: got {got}, file says {}",
                c["name"],
                c["expected"]
            );
        }
    }
}

#[test]
fn window_file_vector_is_honestly_signed_and_rooted() {
    let text =
        std::fs::read_to_string(vectors_dir().join("window_file.json")).expect("vector file");
    let file: Value = serde_json::from_str(&text).expect("JSON");
    let c = &file["cases"][0];
    assert_eq!(c["expected"]["signatures_valid"], json!(true));
    let roots: Vec<&Value> = c["input"]["rollouts"]
        .as_array()
        .expect("rollouts")
        .iter()
        .map(|r| &r["merkle_root"])
        .collect();
    let computed: Vec<&Value> =
        c["expected"]["computed_merkle_roots"].as_array().expect("roots").iter().collect();
    assert_eq!(roots, computed);
}

#[test]
#[ignore = "writes protocol/vectors/*.json; run only to regenerate"]
fn write_vectors() {
    std::fs::create_dir_all(vectors_dir()).expect("vectors dir");
    for (name, description, cases) in all_files() {
        let cases: Vec<Value> = cases
            .into_iter()
            .map(|(n, kind, input)| {
                let expected = compute::compute(&kind, &input);
                json!({"name": n, "kind": kind, "input": input, "expected": expected})
            })
            .collect();
        let doc = json!({"description": description, "cases": cases});
        let text = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
        std::fs::write(vectors_dir().join(name), text).expect("write vector file");
    }
}

//! Golden vectors of the hidden-state commitment (`protocol/vectors/commitment.json`).
//!
//! Regenerate (only when the derivation changes on purpose):
//! `cargo test -p grail-protocol --test commitment_vectors -- --ignored write`

use std::path::PathBuf;

use grail_protocol::commitment::{pack, unpack, CommitmentKey, PROJECTIONS};
use serde_json::{json, Value};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/commitment.json")
}

fn hidden(d: usize, salt: f32) -> Vec<f32> {
    (0..d).map(|i| ((i as f32 * 0.37 + salt).sin() * 3.0) - 0.5).collect()
}

/// The signs of a key, read back through single-coordinate projections.
fn signs(key: &CommitmentKey) -> Vec<Vec<i8>> {
    let d = key.hidden_size();
    let norm = (d as f64).sqrt();
    let mut out = vec![Vec::new(); PROJECTIONS];
    for i in 0..d {
        let mut e = vec![0.0f32; d];
        e[i] = 1.0;
        let p = key.project(&e).expect("unit vector");
        for k in 0..PROJECTIONS {
            out[k].push(if p[k] * norm > 0.0 { 1 } else { -1 });
        }
    }
    out
}

fn compute(input: &Value) -> Value {
    let seed: [u8; 32] = hex::decode(input["window_seed"].as_str().expect("seed"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let d = input["hidden_size"].as_u64().expect("d") as usize;
    let key = CommitmentKey::derive(&seed, d).expect("key");
    let h: Vec<f32> = input["hidden"]
        .as_array()
        .expect("hidden")
        .iter()
        .map(|v| v.as_f64().expect("f") as f32)
        .collect();
    let projections = key.project(&h).expect("project");
    let c = key.commit(&h).expect("commit");
    let claims: Vec<Value> = input["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .map(|claim| {
            let claimed = u32::from_str_radix(claim.as_str().expect("hex"), 16).expect("hex u32");
            let r = key.check(&h, claimed, input["tol"].as_f64().expect("tol")).expect("check");
            json!({"accepted": r.accepted, "worst_distance": r.worst_distance})
        })
        .collect();
    json!({
        "signs": signs(&key),
        "projections": projections,
        "commitment": format!("{c:08x}"),
        "commitment_halves": (0..PROJECTIONS).map(|k| unpack(c, k)).collect::<Vec<_>>(),
        "checks": claims,
    })
}

fn cases() -> Vec<Value> {
    let mut out = Vec::new();
    for (name, seed, d, salt) in [("d=8", 0x11u8, 8usize, 0.0f32), ("d=70", 0x22, 70, 1.0)] {
        let h = hidden(d, salt);
        let key = CommitmentKey::derive(&[seed; 32], d).expect("key");
        let honest = key.commit(&h).expect("commit");
        let p = key.project(&h).expect("project");
        let off = pack(&[p[0], p[1] + 0.2]);
        out.push(json!({
            "name": name,
            "input": {
                "window_seed": hex::encode([seed; 32]),
                "hidden_size": d,
                "hidden": h,
                "tol": 0.05,
                "claims": [format!("{honest:08x}"), "00000000", format!("{off:08x}")],
            },
        }));
    }
    out
}

#[test]
fn commitment_vectors_match() {
    let text = std::fs::read_to_string(path()).expect("vectors/commitment.json");
    let file: Value = serde_json::from_str(&text).expect("json");
    let cases = file["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        assert_eq!(compute(&case["input"]), case["output"], "case {}", case["name"]);
    }
}

#[test]
#[ignore = "rewrites the golden file"]
fn write() {
    let cases: Vec<Value> = cases()
        .into_iter()
        .map(|mut c| {
            c["output"] = compute(&c["input"]);
            c
        })
        .collect();
    let file = json!({
        "description": "hidden-state commitment: ±1 sign keys from ChaCha20(H(grail/v1/commit-key, S_w, D)), projections p_k = Σ s_k[i]·h_i / √D in f64, packed as 2 IEEE half floats (k in bits 16k..16k+16, hex u32), and the validator's check with relative tolerance tol·rms(h)",
        "cases": cases,
    });
    let text = serde_json::to_string_pretty(&file).expect("json") + "\n";
    std::fs::write(path(), text).expect("write");
}

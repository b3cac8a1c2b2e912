//! Recomputes the expected output of one golden-vector case from its input. The generator and
//! the checker share this, so a file is checked by recomputing every case from its inputs.

use grail_protocol::challenge::{select_miners, FileChallenge};
use grail_protocol::checkpoint::{manifest_digest, verify_manifest, CheckpointManifest};
use grail_protocol::codec::{decode, encode, Limits};
use grail_protocol::hash::{domain_hash, uniform_below, uniform_f64, DomainHasher};
use grail_protocol::keys::{ss58_decode, Hotkey, HotkeyPair};
use grail_protocol::merkle::{leaf_hash, MerkleTree};
use grail_protocol::params::NetworkParams;
use grail_protocol::params::{EnvironmentSpec, GenerationParams};
use grail_protocol::sampler::{argmax, check_sample, eos_probability, sample};
use grail_protocol::seeds::{problem_stream, sample_stream, window_seed};
use grail_protocol::signing::{header_digest, rollout_digest, verify_window_file};
use grail_protocol::window::{
    first_block_of_window, window_of_block, ChainClock, RoundClock, WindowSchedule,
};
use grail_protocol::window_file::{BeaconRecord, Rollout, WindowFile, WindowHeader};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::{json, Value};

pub(crate) fn hex_of(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    hex::decode(s.trim_start_matches("0x")).expect("valid hex")
}

pub(crate) fn arr32(v: &Value) -> [u8; 32] {
    hex_of(v).try_into().expect("32 bytes")
}

fn arr64(v: &Value) -> [u8; 64] {
    hex_of(v).try_into().expect("64 bytes")
}

fn u64_of(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().expect("decimal u64 string"),
        _ => v.as_u64().expect("u64"),
    }
}

fn u32_of(v: &Value) -> u32 {
    u32::try_from(u64_of(v)).expect("u32")
}

fn f32_of(v: &Value) -> f32 {
    v.as_f64().expect("number") as f32
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(f32_of).collect()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array().expect("array").iter().map(u32_of).collect()
}

fn hexs(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn stream_of(input: &Value) -> ChaCha20Rng {
    let parts = input["parts"].as_array().expect("parts");
    parts
        .iter()
        .fold(DomainHasher::new(input["domain"].as_str().expect("domain")), |h, p| {
            h.bytes(&hex_of(p))
        })
        .stream()
}

/// The expected output of one case of `kind`.
pub(crate) fn compute(kind: &str, i: &Value) -> Value {
    match kind {
        "domain_hash" => {
            let parts: Vec<Vec<u8>> =
                i["parts"].as_array().expect("parts").iter().map(hex_of).collect();
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            json!({ "hash": hexs(&domain_hash(i["domain"].as_str().expect("domain"), &refs)) })
        }
        "stream" => {
            let mut a = stream_of(i);
            let next: Vec<String> =
                (0..u64_of(&i["count"])).map(|_| a.next_u64().to_string()).collect();
            let mut b = stream_of(i);
            let unif: Vec<f64> = (0..u64_of(&i["count"])).map(|_| uniform_f64(&mut b)).collect();
            let mut c = stream_of(i);
            let below: Vec<String> = i["bounds"]
                .as_array()
                .expect("bounds")
                .iter()
                .map(|bound| uniform_below(&mut c, u64_of(bound)).to_string())
                .collect();
            json!({ "next_u64": next, "uniform_f64": unif, "uniform_below": below })
        }
        "window" => window(i),
        "schedule" => schedule(i),
        "seeds" => seeds(i),
        "challenge_rollouts" => {
            let (r, cid) = (arr32(&i["randomness"]), hex_of(&i["cid"]));
            let c = FileChallenge { randomness: &r, cid: &cid };
            json!({ "indices": c.rollouts(u32_of(&i["rollouts_in_file"]), u32_of(&i["checked"])) })
        }
        "challenge_positions" => {
            let (r, cid) = (arr32(&i["randomness"]), hex_of(&i["cid"]));
            let c = FileChallenge { randomness: &r, cid: &cid };
            let p = c.positions(
                u32_of(&i["file_index"]),
                u32_of(&i["completion_len"]),
                u32_of(&i["k"]),
            );
            json!({ "positions": p })
        }
        "challenge_miners" => {
            let keys: Vec<Hotkey> = i["hotkeys"]
                .as_array()
                .expect("hotkeys")
                .iter()
                .map(|h| Hotkey(arr32(h)))
                .collect();
            let sel = select_miners(&arr32(&i["randomness"]), &keys, u32_of(&i["checked"]));
            json!({ "selected": sel.iter().map(|h| hexs(h.as_bytes())).collect::<Vec<_>>() })
        }
        "sample" => {
            let s =
                sample(&f32s(&i["logits"]), f32_of(&i["temperature"]), i["u"].as_f64().expect("u"))
                    .expect("valid inputs");
            json!({ "token": s.token, "logprob": s.logprob })
        }
        "sample_stream" => {
            let logits = f32s(&i["logits"]);
            let mut rng = ChaCha20Rng::from_seed(arr32(&i["seed"]));
            let (mut us, mut tokens) = (vec![], vec![]);
            for _ in 0..u64_of(&i["steps"]) {
                let u = uniform_f64(&mut rng);
                us.push(u);
                tokens.push(sample(&logits, f32_of(&i["temperature"]), u).expect("valid").token);
            }
            json!({ "uniforms": us, "tokens": tokens })
        }
        "check_sample" => {
            let c = check_sample(
                &f32s(&i["logits"]),
                f32_of(&i["temperature"]),
                i["u"].as_f64().expect("u"),
                u32_of(&i["token"]),
                i["tol"].as_f64().expect("tol"),
            )
            .expect("valid inputs");
            json!({ "accepted": c.accepted, "distance": c.distance, "lo": c.lo, "hi": c.hi, "logprob": c.logprob })
        }
        "eos_probability" => {
            let p =
                eos_probability(&f32s(&i["logits"]), f32_of(&i["temperature"]), u32_of(&i["eos"]))
                    .expect("valid inputs");
            json!({ "probability": p })
        }
        "argmax" => json!({ "token": argmax(&f32s(&i["logits"])).expect("finite") }),
        "sampler_error" => {
            let r =
                sample(&f32s(&i["logits"]), f32_of(&i["temperature"]), i["u"].as_f64().expect("u"));
            json!({ "error": r.is_err() })
        }
        "merkle_tree" => merkle(i),
        "ss58" => {
            let pair = HotkeyPair::from_mini_secret(&arr32(&i["mini_secret"])).expect("seed");
            json!({ "public_key": hexs(pair.hotkey().as_bytes()), "ss58": pair.hotkey().to_ss58() })
        }
        "ss58_decode" => match ss58_decode(i["address"].as_str().expect("address")) {
            Ok((prefix, key)) => json!({ "prefix": prefix, "public_key": hexs(&key) }),
            Err(_) => json!({ "error": true }),
        },
        "verify" => {
            let key = Hotkey::from_ss58(i["ss58"].as_str().expect("ss58")).expect("address");
            let ok = key.verify(&hex_of(&i["message"]), &arr64(&i["signature"])).is_ok();
            json!({ "valid": ok })
        }
        "window_file" => window_file(i),
        "checkpoint" => checkpoint(i),
        other => panic!("unknown vector kind {other}"),
    }
}

fn window(i: &Value) -> Value {
    let clock = ChainClock {
        genesis_unix: u64_of(&i["genesis_unix"]),
        block_time_s: u64_of(&i["block_time_s"]),
    };
    let (l, w, grace, buffer) = (
        u64_of(&i["blocks_per_window"]),
        u64_of(&i["window"]),
        u64_of(&i["grace_period_s"]),
        u64_of(&i["challenge_buffer_s"]),
    );
    let t = u64_of(&i["time"]);
    json!({
        "window_of_block": window_of_block(u64_of(&i["block"]), l).expect("L > 0"),
        "first_block_of_window": first_block_of_window(w, l).expect("in range"),
        "window_start": clock.window_start(w, l).expect("in range"),
        "upload_deadline": clock.upload_deadline(w, l, grace).expect("in range"),
        "challenge_time": clock.challenge_time(w, l, grace, buffer).expect("in range"),
        "block_at_time": clock.block_at(t).expect("block time > 0"),
        "window_at_time": clock.window_at(t, l).expect("valid"),
    })
}

fn schedule(i: &Value) -> Value {
    let clock = ChainClock {
        genesis_unix: u64_of(&i["genesis_unix"]),
        block_time_s: u64_of(&i["block_time_s"]),
    };
    let network = NetworkParams {
        blocks_per_window: u64_of(&i["blocks_per_window"]),
        block_time_s: clock.block_time_s,
        grace_period_s: u64_of(&i["grace_period_s"]),
        challenge_buffer_s: u64_of(&i["challenge_buffer_s"]),
        ..NetworkParams::default()
    };
    let rounds = RoundClock {
        genesis_time: u64_of(&i["drand_genesis"]),
        period: u64_of(&i["drand_period"]),
    };
    match WindowSchedule::of(u64_of(&i["window"]), &network, &clock, &rounds) {
        Ok(s) => json!({
            "first_block": s.first_block,
            "start_unix": s.start_unix,
            "deadline_unix": s.deadline_unix,
            "challenge_unix": s.challenge_unix,
            "mining_round": s.mining_round,
            "challenge_round": s.challenge_round,
        }),
        Err(_) => json!({ "error": true }),
    }
}

fn seeds(i: &Value) -> Value {
    let sw = window_seed(
        u64_of(&i["window"]),
        &arr32(&i["beacon_randomness"]),
        &arr32(&i["first_block_hash"]),
    );
    let m = Hotkey(arr32(&i["hotkey"]));
    let (j, r) = (u32_of(&i["problem_index"]), u32_of(&i["rollout_index"]));
    let mut ps = problem_stream(&sw, &m, j);
    let mut ss = sample_stream(&sw, &m, j, r);
    json!({
        "window_seed": hexs(&sw),
        "problem_seed": hexs(&grail_protocol::seeds::problem_seed(&sw, &m, j)),
        "problem_stream_next_u64": (0..3).map(|_| ps.next_u64().to_string()).collect::<Vec<_>>(),
        "sample_seed": hexs(&grail_protocol::seeds::sample_seed(&sw, &m, j, r)),
        "sample_stream_uniforms": (0..3).map(|_| uniform_f64(&mut ss)).collect::<Vec<_>>(),
    })
}

fn merkle(i: &Value) -> Value {
    let leaves: Vec<[u8; 32]> = i["leaves"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|l| {
            leaf_hash(
                u32_of(&l["position"]),
                u32_of(&l["token"]),
                f32_of(&l["logprob"]),
                u32_of(&l["commitment"]),
            )
        })
        .collect();
    let tree = MerkleTree::new(leaves.clone());
    let proofs: Vec<Value> = (0..leaves.len() as u32)
        .map(|k| {
            let p = tree.proof(k).expect("in range");
            json!({ "index": k, "siblings": p.siblings.iter().map(|s| hexs(s)).collect::<Vec<_>>() })
        })
        .collect();
    json!({
        "leaf_hashes": leaves.iter().map(|l| hexs(l)).collect::<Vec<_>>(),
        "root": hexs(&tree.root()),
        "proofs": proofs,
    })
}

/// Builds the window file described by a case input.
pub(crate) fn file_of(i: &Value) -> WindowFile {
    let h = &i["header"];
    let header = WindowHeader {
        protocol_version: u32_of(&h["protocol_version"]),
        window: u64_of(&h["window"]),
        hotkey: Hotkey::from_ss58(h["hotkey"].as_str().expect("ss58")).expect("address"),
        model_id: hex_of(&h["model_id"]),
        beacon: BeaconRecord {
            round: u64_of(&h["beacon"]["round"]),
            randomness: arr32(&h["beacon"]["randomness"]),
            signature: hex_of(&h["beacon"]["signature"]),
        },
        first_block_hash: arr32(&h["first_block_hash"]),
        fingerprint: arr32(&h["fingerprint"]),
        environment: serde_json::from_value::<EnvironmentSpec>(h["environment"].clone())
            .expect("spec"),
        generation: serde_json::from_value::<GenerationParams>(h["generation"].clone())
            .expect("params"),
        signature: arr64(&h["signature"]),
    };
    let rollouts = i["rollouts"]
        .as_array()
        .expect("rollouts")
        .iter()
        .map(|r| Rollout {
            problem_index: u32_of(&r["problem_index"]),
            rollout_index: u32_of(&r["rollout_index"]),
            prompt_tokens: u32s(&r["prompt_tokens"]),
            completion_tokens: u32s(&r["completion_tokens"]),
            logprobs: f32s(&r["logprobs"]),
            commitments: r["commitments"]
                .as_array()
                .expect("commitments")
                .iter()
                .map(u32_of)
                .collect(),
            merkle_root: arr32(&r["merkle_root"]),
            reward: f32_of(&r["reward"]),
            success: r["success"].as_bool().expect("bool"),
            advantage: f32_of(&r["advantage"]),
            signature: arr64(&r["signature"]),
        })
        .collect();
    WindowFile { header, rollouts }
}

fn window_file(i: &Value) -> Value {
    let file = file_of(i);
    let hd = header_digest(&file.header);
    let bytes = encode(&file).expect("encodable");
    assert_eq!(decode(&bytes, &Limits::default()).expect("decodes"), file);
    let cid = grail_protocol::cid::cid_of_bytes(&bytes);
    json!({
        "header_digest": hexs(&hd),
        "rollout_digests": file.rollouts.iter().enumerate().map(|(i, r)| hexs(&rollout_digest(&hd, i, file.rollouts.len(), r))).collect::<Vec<_>>(),
        "computed_merkle_roots": file.rollouts.iter().map(|r| hexs(&r.compute_merkle_root().expect("lengths"))).collect::<Vec<_>>(),
        "signatures_valid": verify_window_file(&file).is_ok(),
        "encoded": hexs(&bytes),
        "cid": cid.to_string(),
        "cid_bytes": hexs(&cid.to_bytes()),
    })
}

fn checkpoint(i: &Value) -> Value {
    let m: CheckpointManifest = serde_json::from_value(i["manifest"].clone()).expect("manifest");
    let trainer = Hotkey::from_ss58(i["trainer"].as_str().expect("trainer")).expect("SS58");
    json!({
        "digest": hexs(&manifest_digest(&m).expect("digest")),
        "signature_valid": verify_manifest(&m, &trainer).is_ok(),
    })
}

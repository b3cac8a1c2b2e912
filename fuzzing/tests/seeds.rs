//! The seed corpora under `fuzz/seeds/`, written from the repository's real files: transcripts
//! and the window files in them, the generated example configurations, drand's beacons, the
//! finney metadata, and storage values and events as the development chain encodes them.
//! `cargo test -p grail-fuzzing --test seeds -- --ignored` writes them again; the test that
//! is not ignored checks the committed ones are exactly what it writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use grail_chain::commitment::{BoundedBytes, CommitmentInfo, Data, MinerCommitment, Registration};
use grail_chain::metadata::FINNEY_METADATA;
use grail_devchain::events::{encode_events, ModuleError};
use grail_devchain::genesis::{Genesis, GenesisNeuron};
use grail_fuzzing::chain::{finney, read_subnet};
use grail_fuzzing::tape::chunk;
use grail_protocol::keys::Hotkey;
use parity_scale_codec::Encode;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn with_prefix(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    [prefix, rest].concat()
}

/// Every seed: target name, file name, bytes.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["honest", "tampered-token"] {
        let bytes = read(&format!("fixtures/transcripts/{name}.json"));
        let t: Value = serde_json::from_slice(&bytes).expect("transcript JSON");
        let objects = t["objects"].as_array().expect("objects");
        for (i, o) in objects.iter().enumerate().take(3) {
            if let Some(b64) = o["bytes"].as_str() {
                let file = BASE64.decode(b64).expect("base64");
                out.push(("window_file", format!("{name}-{i}.bin"), file));
            }
        }
        if name == "honest" {
            let graph = serde_json::to_vec_pretty(&t["metagraph"]).expect("metagraph");
            out.push(("metagraph", format!("{name}.json"), graph));
        }
        out.push(("transcript", format!("{name}.json"), bytes));
    }
    // The subcommand byte: (index << 1) | binary, `run` and `mine` being index 2 of theirs.
    out.push((
        "config",
        "validator-run.toml".into(),
        with_prefix(&[4], &read("docs/config/validator.toml")),
    ));
    out.push((
        "config",
        "miner-mine.toml".into(),
        with_prefix(&[5], &read("docs/config/miner.toml")),
    ));

    let beacons: Value =
        serde_json::from_slice(&read("fixtures/drand/beacons.json")).expect("json");
    for (chain, v) in beacons.as_object().expect("chains").iter().filter(|(_, v)| v.is_object()) {
        let info = serde_json::to_vec(&v["info"]).expect("info");
        out.push(("drand", format!("{chain}-info.json"), with_prefix(&[0], &info)));
        for e in v["entries"].as_array().expect("entries").iter().take(2) {
            let round = e["round"].as_u64().expect("round");
            let entry = serde_json::to_vec(e).expect("entry");
            out.push(("drand", format!("{chain}-{round}.json"), with_prefix(&[1], &entry)));
        }
    }

    out.push(("chain_metadata", "finney.scale".into(), FINNEY_METADATA.to_vec()));
    out.push(("chain_storage", "subnet.bin".into(), subnet_tape()));
    out.push(("chain_storage", "commitment.bin".into(), with_prefix(&[1], &registration())));
    let md = finney();
    let events =
        encode_events(md, &[Ok(()), Err(ModuleError { pallet: 7, error: 3 })]).expect("events");
    for index in [0u8, 1] {
        out.push((
            "chain_storage",
            format!("events-{index}.bin"),
            with_prefix(&[2, index], &events),
        ));
    }

    let vectors: Value =
        serde_json::from_slice(&read("protocol/vectors/checkpoint.json")).expect("json");
    let manifest = &vectors["cases"][0]["input"]["manifest"];
    let mut json = serde_json::to_vec_pretty(manifest).expect("manifest");
    json.push(b'\n');
    out.push(("checkpoint", "signed.json".into(), json));

    let failing = Hotkey([1; 32]).to_ss58();
    for (name, target) in [
        ("status", "/status".to_owned()),
        ("health", "/health".to_owned()),
        ("page", "/".to_owned()),
        ("weights-recent", "/weights/recent?n=3".to_owned()),
        ("verdicts", format!("/verdicts/{failing}?since=5&limit=2")),
        ("rollouts", "/rollouts?since=5&until=6&limit=3&cursor=5/2/1".to_owned()),
    ] {
        out.push(("http_query", format!("{name}.txt"), with_prefix(&[0], target.as_bytes())));
    }
    out
}

/// A subnet of four neurons (one the owner) as the development chain stores it, recorded as
/// the answers of the validator's reads in the order it asks.
fn subnet_tape() -> Vec<u8> {
    let neurons = (0..4u8)
        .map(|i| GenesisNeuron {
            hotkey: Hotkey([10 + i; 32]),
            stake: 1_000 * u64::from(i + 1),
            validator_permit: i == 0,
        })
        .collect();
    let genesis = Genesis {
        netuid: 81,
        owner: Some(Hotkey([10; 32])),
        chain: "Development".into(),
        tempo: Some(20),
        commit_reveal_enabled: Some(true),
        reveal_period_epochs: Some(1),
        weights_version_key: None,
        weights_rate_limit: Some(10),
        commit_reveal_version: None,
        min_allowed_weights: None,
        max_weights_limit: None,
        neurons,
        balances: Vec::new(),
    };
    let md = finney();
    let storage: BTreeMap<Vec<u8>, Vec<u8>> = genesis.storage(md).expect("genesis storage");
    let mut tape = vec![0];
    tape.extend_from_slice(&81u16.to_le_bytes());
    let state = read_subnet(md, 81, |key| {
        let value = storage.get(key).cloned();
        tape.extend(chunk(value.as_deref()));
        value
    })
    .expect("the development chain's subnet reads");
    assert_eq!(state.neurons.len(), 4);
    tape
}

/// A `CommitmentOf` value holding an S3 store with read-only keys.
fn registration() -> Vec<u8> {
    let commitment = MinerCommitment {
        store_url: "s3://grail-windows/miner-a".into(),
        endpoint: Some("https://storage.example.com".into()),
        region: Some("auto".into()),
        allow_http: false,
        read_credentials: Some(("READKEY".into(), "readsecret".into())),
    };
    let fields = commitment
        .to_fields()
        .expect("fields")
        .into_iter()
        .map(|f| Data::Raw(BoundedBytes::new(f).expect("short field")))
        .collect();
    Registration { deposit: 0, block: 12, info: CommitmentInfo { fields } }.encode()
}

fn seeds_dir() -> PathBuf {
    root().join("fuzz/seeds")
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand after a format change"]
fn write_seeds() {
    let dir = seeds_dir();
    let _ = std::fs::remove_dir_all(&dir);
    for (target, name, bytes) in seeds() {
        let folder = dir.join(target);
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::write(folder.join(name), bytes).expect("write");
    }
}

#[test]
fn the_committed_seeds_are_what_the_generator_writes() {
    let mut expected = BTreeMap::new();
    for (target, name, bytes) in seeds() {
        expected.insert(format!("{target}/{name}"), bytes);
    }
    let mut committed = BTreeMap::new();
    for target in std::fs::read_dir(seeds_dir()).expect("fuzz/seeds") {
        let target = target.expect("entry").path();
        for file in std::fs::read_dir(&target).expect("target folder") {
            let file = file.expect("entry").path();
            let key = format!(
                "{}/{}",
                target.file_name().expect("name").to_string_lossy(),
                file.file_name().expect("name").to_string_lossy()
            );
            committed.insert(key, std::fs::read(&file).expect("read"));
        }
    }
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&committed), names(&expected), "run the ignored write_seeds test");
    for (key, bytes) in &expected {
        assert!(committed[key] == *bytes, "fuzz/seeds/{key} is stale: run write_seeds");
    }
}

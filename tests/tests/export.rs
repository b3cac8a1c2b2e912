//! Verified rollouts out of a real validator, read by an independent reader: two honest miners
//! mine one window on the tiny model, `grail-validator run` verifies it (keeping the passed
//! files), and `grail-validator export` writes the window's rollouts as Parquet and as JSON
//! Lines. pyarrow (pip, `scripts/pyarrow-venv.sh`) reads the Parquet file and Python's json
//! module the JSONL one (`scripts/interop/export_check.py`); the row count, the schema and every
//! rollout's tokens and logprobs must be the window files'.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use grail_protocol::codec::{decode, Limits};
use grail_protocol::keys::Hotkey;
use grail_protocol::window_file::window_file_key;
use grail_tests::{
    bin, ci_scale, clock_flags, keygen, miner_command_windows, validator_command_windows,
    window_ahead, write_metagraph, LocalBeacon,
};
use serde_json::Value;

/// Hotkey, problem index, rollout index.
type RolloutId = (String, u32, u32);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ok(name: &str, out: &Output) -> String {
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_export_reads_back_in_pyarrow_and_json_as_the_window_files() {
    let venv = Command::new("bash").arg(root().join("scripts/pyarrow-venv.sh")).output().unwrap();
    ok("pyarrow-venv.sh", &venv);
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hotkeys: Vec<String> = (1..=2).map(|i| keygen(dir, &format!("h{i}"))).collect();
    write_metagraph(dir, "metagraph.json", &[(1, &hotkeys[0]), (2, &hotkeys[1])]);
    let blocks = 4 * ci_scale();
    let w = window_ahead(genesis, blocks, 2);
    let chain = clock_flags(genesis, blocks);
    let miners: Vec<_> = (1..=2)
        .map(|i| {
            let mut cmd = miner_command_windows(dir, &url, i, w..=w, &chain);
            cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let data = dir.join("v");
    let run = validator_command_windows(dir, &data, &url, w..=w, 3, &chain).output().unwrap();
    let line: Value = serde_json::from_str(ok("validator", &run).trim()).unwrap();
    for m in miners {
        let out = m.wait_with_output().unwrap();
        assert!(out.status.success(), "miner: {}", String::from_utf8_lossy(&out.stderr));
    }
    let verdicts = line["verdicts"].as_array().unwrap();
    assert!(verdicts.iter().all(|v| v["result"] == "pass"), "{line}");

    // The window files, decoded here: what every row must match.
    let mut want: BTreeMap<RolloutId, (Vec<u32>, Vec<f32>)> = BTreeMap::new();
    for hk in &hotkeys {
        let key = window_file_key(w, &Hotkey::from_ss58(hk).unwrap());
        let bytes = std::fs::read(dir.join("storage").join(hk).join(&key)).unwrap();
        let file = decode(&bytes, &Limits::default()).unwrap();
        for r in file.rollouts {
            let id = (hk.clone(), r.problem_index, r.rollout_index);
            want.insert(id, (r.completion_tokens, r.logprobs));
        }
    }

    let export = |format: &str, out: &Path| {
        let o = Command::new(bin("grail-validator"))
            .arg("export")
            .arg("--data")
            .arg(&data)
            .args(["--since", &w.to_string(), "--format", format, "--out"])
            .arg(out)
            .output()
            .unwrap();
        let summary: Value = serde_json::from_str(ok("export", &o).trim()).unwrap();
        assert_eq!(summary["rows"], want.len() as u64, "{summary}");
        assert_eq!((summary["windows"].as_u64(), summary["files"].as_u64()), (Some(1), Some(2)));
        assert_eq!(summary["bytes"], std::fs::metadata(out).unwrap().len(), "{summary}");
        summary
    };
    let (parquet, jsonl) = (dir.join("rows.parquet"), dir.join("rows.jsonl"));
    export("parquet", &parquet);
    export("jsonl", &jsonl);

    let python = root().join(".venv-pyarrow/bin/python");
    let check = Command::new(python)
        .arg(root().join("scripts/interop/export_check.py"))
        .args([&parquet, &jsonl])
        .output()
        .unwrap();
    let read: Value = serde_json::from_str(ok("export_check.py", &check).trim()).unwrap();

    let schema: Vec<(String, String, bool)> = read["parquet"]["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (f[0].as_str().unwrap().into(), f[1].as_str().unwrap().into(), f[2].as_bool().unwrap())
        })
        .collect();
    let expected: Vec<(&str, &str)> = vec![
        ("window", "uint64"),
        ("hotkey", "string"),
        ("uid", "uint16"),
        ("problem_index", "uint32"),
        ("rollout_index", "uint32"),
        ("environment", "string"),
        ("environment_version", "uint32"),
        ("prompt_tokens", "list<item: uint32 not null>"),
        ("completion_tokens", "list<item: uint32 not null>"),
        ("logprobs", "list<item: float not null>"),
        ("reward", "float"),
        ("success", "bool"),
        ("advantage", "float"),
        ("model_id", "string"),
        ("file_cid", "string"),
        ("checked", "bool"),
    ];
    let got: Vec<(&str, &str)> = schema.iter().map(|(n, t, _)| (n.as_str(), t.as_str())).collect();
    assert_eq!(got, expected, "the Parquet schema as pyarrow reads it");
    assert!(schema.iter().all(|(_, _, nullable)| !nullable), "{schema:?}");
    let mut keys: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    keys.sort_unstable();
    assert_eq!(read["jsonl"]["keys"], serde_json::json!(keys), "every JSONL line's keys");

    for format in ["parquet", "jsonl"] {
        let part = &read[format];
        assert_eq!(part["rows"], want.len() as u64, "{format}");
        let mut checked = 0;
        for r in part["rollouts"].as_array().unwrap() {
            let id = &r[0];
            assert_eq!(id[0], w, "{format}: {r}");
            let key = (
                id[1].as_str().unwrap().to_owned(),
                u32::try_from(id[2].as_u64().unwrap()).unwrap(),
                u32::try_from(id[3].as_u64().unwrap()).unwrap(),
            );
            let (tokens, logprobs) = want.get(&key).unwrap_or_else(|| panic!("{format}: {key:?}"));
            let got_tokens: Vec<u32> =
                r[1].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
            assert_eq!(&got_tokens, tokens, "{format}: {key:?}");
            // Both readers hand back each f32 exactly (as a double); it must be the file's.
            let got_lp: Vec<f32> =
                r[2].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            assert_eq!(&got_lp, logprobs, "{format}: {key:?}");
            checked += usize::from(r[3] == true);
        }
        assert_eq!(checked, 2 * 3, "{format}: 3 rollouts checked in each of 2 files");
    }
}

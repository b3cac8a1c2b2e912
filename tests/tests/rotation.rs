//! The model rotated by signed checkpoints, across real processes: `grail-trainer publish`
//! names the second tiny model (`tiny-other`, with its own generation cap) from window `w+1`;
//! in the same store a manifest for `w+2` signed by another key and one for `w+3` whose
//! tokenizer was changed after publishing are refused. Two miners follow the checkpoints; a
//! third is stale and mines the first model throughout. The validator verifies `w` under the
//! first model, `w+1` to `w+3` under the second, rejects the stale file of `w+1` at the header
//! stage naming both model ids, and the transcript of `w+1` records the checkpoint and replays.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use grail_tests::{
    bin, ci_scale, clock_flags, fixture, keygen, miner_command_windows, validator_command_windows,
    window_ahead, write_metagraph, LocalBeacon,
};
use serde_json::Value;

fn ok(name: &str, out: &Output) -> String {
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `grail-trainer publish` of `model` from `window`, signed by wallet `m`'s hotkey `key`.
fn publish(dir: &Path, model: &str, window: u64, key: &str, max_new_tokens: u32) -> Value {
    let out = Command::new(bin("grail-trainer"))
        .arg("publish")
        .arg("--model")
        .arg(fixture(&format!("models/{model}")))
        .args(["--from-window", &window.to_string()])
        .args(["--max-new-tokens", &max_new_tokens.to_string()])
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", key])
        .arg("--storage.path")
        .arg(dir.join("trainer"))
        .output()
        .unwrap();
    serde_json::from_str(ok("grail-trainer publish", &out).trim()).unwrap()
}

fn checkpoint_flags(dir: &Path, trainer: &str, cache: &str) -> Vec<String> {
    vec![
        "--checkpoint.url".into(),
        format!("file://{}", dir.join("trainer").display()),
        "--checkpoint.trainer".into(),
        trainer.into(),
        "--checkpoint.cache".into(),
        dir.join(cache).display().to_string(),
    ]
}

fn verdict<'a>(lines: &'a [Value], window: u64, hotkey: &str) -> &'a Value {
    let line = lines.iter().find(|l| l["window"] == window).unwrap_or_else(|| panic!("{window}"));
    let verdicts = line["verdicts"].as_array().unwrap();
    verdicts.iter().find(|v| v["hotkey"] == hotkey).unwrap_or_else(|| panic!("{window} {hotkey}"))
}

#[test]
fn windows_switch_models_at_the_checkpoint_and_bad_manifests_keep_the_previous_model() {
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hotkeys: Vec<String> = (1..=3).map(|i| keygen(dir, &format!("h{i}"))).collect();
    let trainer = keygen(dir, "trainer");
    keygen(dir, "intruder");
    let neurons: Vec<(u16, &str)> = (1..).zip(hotkeys.iter().map(String::as_str)).collect();
    write_metagraph(dir, "metagraph.json", &neurons);
    let blocks = 5 * ci_scale();
    let w = window_ahead(genesis, blocks, 3);
    let chain = clock_flags(genesis, blocks);

    let first = grail_fingerprint::model_id(&fixture("models/tiny/model.onnx")).unwrap();
    let second = publish(dir, "tiny-other", w + 1, "trainer", 12);
    assert_eq!(second["from_window"], w + 1, "{second}");
    assert_eq!(second["trainer"], trainer.as_str());
    let second_id = second["model_id"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first.to_string());
    // A writer of the store without the trainer's key, and a file changed after publishing.
    let intruder = publish(dir, "tiny-noisy", w + 2, "intruder", 12);
    let changed = publish(dir, "tiny-int8", w + 3, "trainer", 12);
    let tokenizer =
        dir.join("trainer").join(changed["location"].as_str().unwrap()).join("tokenizer.json");
    let mut bytes = std::fs::read(&tokenizer).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&tokenizer, bytes).unwrap();

    // The trainer's own check of its store, as the roles will see it.
    let check = Command::new(bin("grail-trainer"))
        .arg("check")
        .args(checkpoint_flags(dir, &trainer, "check-cache"))
        .args(["--window", &(w + 3).to_string()])
        .output()
        .unwrap();
    assert!(!check.status.success(), "two manifests are refused");
    let checked: Value = serde_json::from_slice(&check.stdout).unwrap();
    let accepted = checked["accepted"].as_array().unwrap();
    assert_eq!(accepted.len(), 1, "{checked}");
    assert_eq!(accepted[0]["model_id"], second_id.as_str());
    assert_eq!(checked["refused"].as_array().unwrap().len(), 2, "{checked}");
    assert_eq!(checked["window"]["from_window"], w + 1, "{checked}");

    let miners: Vec<_> = (1..=3)
        .map(|i| {
            let last = if i == 3 { w + 1 } else { w + 3 };
            let mut cmd = miner_command_windows(dir, &url, i, w..=last, &chain);
            if i != 3 {
                cmd.args(checkpoint_flags(dir, &trainer, &format!("cache{i}")));
            }
            cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let data = dir.join("v");
    let run = validator_command_windows(dir, &data, &url, w..=w + 3, 2, &chain)
        .arg("--transcripts")
        .args(checkpoint_flags(dir, &trainer, "v/checkpoints"))
        .output()
        .unwrap();
    let stdout = ok("validator", &run);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let mut miner_logs = Vec::new();
    for m in miners {
        let out = m.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "miner: {log}");
        miner_logs.push(log);
    }
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{stdout}");

    // Window w under the first model, then the checkpoint's for everyone following it.
    for hk in &hotkeys {
        assert_eq!(verdict(&lines, w, hk)["result"], "pass", "{hk} in {w}: {stdout}");
    }
    for window in w + 1..=w + 3 {
        for hk in &hotkeys[..2] {
            let v = verdict(&lines, window, hk);
            assert_eq!(v["result"], "pass", "{hk} in {window}: {v}\n{stderr}");
        }
    }
    // The stale miner's file of w+1 is stopped at the header, naming both models.
    let stale = verdict(&lines, w + 1, &hotkeys[2]);
    assert_eq!(
        (stale["result"].as_str(), stale["stage"].as_str()),
        (Some("fail"), Some("header")),
        "{stale}"
    );
    let reason = stale["reason"].as_str().unwrap();
    assert!(reason.contains(&first.to_string()) && reason.contains(&second_id), "{reason}");

    // Both bad manifests were refused with their reasons, by the validator and the miners.
    for log in [&stderr, &miner_logs[0], &miner_logs[1]] {
        assert!(log.contains("checkpoint manifest refused"), "{log}");
        let intruder_key = format!("checkpoints/manifests/{}.json", w + 2);
        assert!(
            log.contains(&intruder_key) && log.contains("is not the configured trainer"),
            "{log}"
        );
        assert!(log.contains("file tokenizer.json"), "{log}");
        assert!(log.contains("model switched"), "{log}");
    }
    assert_eq!(intruder["trainer"].as_str().map(|t| t != trainer), Some(true));

    // The transcripts say which checkpoint each window ran under, and w+1's replays.
    let transcript = |window: u64| -> Value {
        let path = data.join("transcripts").join(format!("{window}.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    assert!(transcript(w).get("checkpoint").is_none());
    let t = transcript(w + 3);
    assert_eq!(t["checkpoint"]["from_window"], w + 1);
    assert_eq!(t["model_id"], second_id.as_str());
    assert_eq!(t["network"]["generation"]["max_new_tokens"], 12);
    let replay = |path: &Path| {
        Command::new(bin("grail-validator"))
            .arg("replay")
            .arg(path)
            .arg("--model")
            .arg(data.join("checkpoints").join(&second_id))
            .args(["--threads", "1"])
            .output()
            .unwrap()
    };
    let recorded = data.join("transcripts").join(format!("{}.json", w + 1));
    let replayed: Value = serde_json::from_str(ok("replay", &replay(&recorded)).trim()).unwrap();
    assert_eq!(replayed["match"], true, "{replayed}");
    // A transcript whose recorded manifest was edited no longer replays.
    let mut edited = transcript(w + 1);
    edited["checkpoint"]["generation"]["temperature"] = serde_json::json!(1.0);
    let path = dir.join("edited.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    let out = replay(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an edited manifest replayed: {stderr}");
    assert!(stderr.contains("checkpoint: signature of checkpoint manifest"), "{stderr}");
    assert!(stderr.contains("checkpoint: its environment or generation parameters"), "{stderr}");
}

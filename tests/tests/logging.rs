//! The logging flags every binary shares, on a real process (`grail-devchain`): `-v` logs the
//! grail crates at `debug` and keeps the others at `info`; `--log.format json` writes one JSON
//! object per line to stderr and to `--log.file`, which goes into a folder it creates, named
//! with the day (daily rotation), without terminal colours.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use grail_tests::{bin, KillOnDrop};
use serde_json::{json, Value};

/// The JSON lines of `text`, each checked to be one object with a level and a target.
fn json_lines(text: &str, what: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l}"));
            assert!(v["level"].is_string() && v["target"].is_string(), "{what}: {l}");
            v
        })
        .collect()
}

#[test]
fn verbose_json_logs_go_to_stderr_and_to_a_daily_file() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, json!({"netuid": 1, "tempo": 9, "neurons": []}).to_string()).unwrap();
    let file = dir.path().join("logs").join("devchain.log");
    let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let mut chain = KillOnDrop(
        Command::new(bin("grail-devchain"))
            .arg("--genesis")
            .arg(&genesis)
            .args(["--listen", "127.0.0.1:0", "--block-time-ms", "100", "-v"])
            .args(["--log.format", "json", "--log.file"])
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(chain.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    std::thread::sleep(Duration::from_millis(1500));
    drop(chain);

    let names: Vec<String> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let [name] = &names[..] else { panic!("one log file: {names:?}") };
    let day = name.strip_prefix("devchain.log.").unwrap_or_else(|| panic!("{name}"));
    let digits: Vec<usize> = day.split('-').map(str::len).collect();
    assert_eq!(digits, [4, 2, 2], "named with the day (YYYY-MM-DD): {name}");
    assert!(day.chars().all(|c| c.is_ascii_digit() || c == '-'), "{name}");

    let in_file = std::fs::read_to_string(dir.path().join("logs").join(name)).unwrap();
    let on_stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(!in_file.contains('\u{1b}'), "no terminal colours in the file");
    for (text, what) in [(&in_file, "file"), (&on_stderr, "stderr")] {
        let lines = json_lines(text, what);
        let has = |level: &str, message: &str| {
            lines.iter().any(|l| {
                l["level"] == level
                    && l["target"].as_str().unwrap().starts_with("grail_devchain")
                    && l["fields"]["message"] == message
            })
        };
        assert!(has("INFO", "dev chain serving"), "{what}: {text}");
        assert!(has("DEBUG", "block produced"), "-v: grail at debug; {what}: {text}");
        let other_debug = lines
            .iter()
            .find(|l| l["level"] == "DEBUG" && !l["target"].as_str().unwrap().starts_with("grail"));
        assert!(other_debug.is_none(), "-v keeps other crates at info: {other_debug:?}");
    }
}

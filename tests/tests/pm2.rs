//! The pm2 ecosystem (`deploy/pm2/ecosystem.config.js`) starts the demo's roles as services:
//! pm2 from npm (`scripts/test.sh` installs it into `.tools/`), a folder made by
//! `deploy/pm2/prepare.sh`, free loopback ports; the beacon, the dev chain, three miners and
//! the validator come up, the validator verifies a window in which every miner passes, and pm2
//! reports all six online. `systemd-analyze verify` accepts the systemd units
//! (`deploy/systemd/*.service`, their binaries pointed at the built ones) without a warning.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use grail_tests::{bin, free_port, http_get, repo_root};
use serde_json::Value;

/// pm2 with its home in `home`, configured by `envs`.
struct Pm2 {
    home: PathBuf,
    envs: Vec<(String, String)>,
}

impl Pm2 {
    fn run(&self, args: &[&str]) -> Output {
        let pm2 = repo_root().join(".tools/node_modules/.bin/pm2");
        assert!(pm2.is_file(), "no pm2 at {}: scripts/test.sh installs it (npm)", pm2.display());
        Command::new(pm2)
            .args(args)
            .env("PM2_HOME", &self.home)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap()
    }
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        let _ = self.run(&["kill"]);
    }
}

fn logs(work: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(work.join("logs")).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(8).collect();
        out += &format!(
            "--- {}\n{}\n",
            entry.path().display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    out
}

#[test]
fn pm2_starts_the_demo_roles_and_a_window_is_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("subnet");
    let bins = bin("grail-miner").parent().unwrap().to_owned();
    let prepared = Command::new(repo_root().join("deploy/pm2/prepare.sh"))
        .arg(&work)
        .env("GRAIL_BIN", &bins)
        .output()
        .unwrap();
    assert!(prepared.status.success(), "{}", String::from_utf8_lossy(&prepared.stderr));
    let http = format!("127.0.0.1:{}", free_port());
    let envs = vec![
        ("GRAIL_PM2_WORK".to_owned(), work.display().to_string()),
        ("GRAIL_BIN".to_owned(), bins.display().to_string()),
        ("GRAIL_PM2_BEACON_PORT".to_owned(), free_port().to_string()),
        ("GRAIL_PM2_CHAIN_PORT".to_owned(), free_port().to_string()),
        ("GRAIL_PM2_HTTP_PORT".to_owned(), http.rsplit(':').next().unwrap().to_owned()),
    ];
    let pm2 = Pm2 { home: tmp.path().join("pm2"), envs };
    let ecosystem = repo_root().join("deploy/pm2/ecosystem.config.js");
    let started = pm2.run(&["start", ecosystem.to_str().unwrap()]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));

    // The validator's status: a verified window in which the three miners passed.
    let since = Instant::now();
    let status = loop {
        if let Some(s) =
            http_get(&http, "/status").and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
        {
            let passed = s["miners"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["verdict"]["result"] == "pass").count());
            if passed == 3 {
                break s;
            }
        }
        assert!(since.elapsed() < Duration::from_secs(180), "no verified window:\n{}", logs(&work));
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(status["latest_window"].as_u64().is_some(), "{status}");

    let listed = pm2.run(&["jlist"]);
    let apps: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut states: Vec<(String, String)> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["pm2_env"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    states.sort();
    let names: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "grail-beacon",
            "grail-devchain",
            "grail-miner1",
            "grail-miner2",
            "grail-miner3",
            "grail-validator"
        ]
    );
    assert!(states.iter().all(|(_, s)| s == "online"), "{states:?}\n{}", logs(&work));
}

#[test]
fn the_systemd_units_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let bins = bin("grail-miner").parent().unwrap().display().to_string();
    let mut units = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("deploy/systemd")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/"), "{}", path.display());
        let unit = tmp.path().join(path.file_name().unwrap());
        std::fs::write(&unit, text.replace("/usr/local/bin/", &format!("{bins}/"))).unwrap();
        units.push(unit);
    }
    units.sort();
    let names: Vec<String> =
        units.iter().map(|u| u.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["grail-devchain.service", "grail-miner.service", "grail-validator.service"]);
    let out = Command::new("systemd-analyze").arg("verify").args(&units).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    // It does fail a unit whose binary is missing.
    let broken = tmp.path().join("broken.service");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&units[1]).unwrap().replace(&bins, "/nonexistent"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&broken).output().unwrap();
    assert!(!out.status.success(), "a missing binary is refused");
}

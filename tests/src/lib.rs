//! Shared helpers for the end-to-end tests: where the repository, the fixtures and the built
//! binaries are. Helpers panic on failure on purpose: a panic is a test failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A path under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("fixtures").join(rel)
}

/// The path of a workspace binary built into the same target folder as this test.
///
/// `scripts/test.sh` builds every binary before running the tests; when one is missing this
/// panics with the command that builds it.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>  ->  target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A fresh hotkey `name` in wallet `m` under `dir/wallets` (`grail-miner keygen`); its SS58.
pub fn keygen(dir: &Path, name: &str) -> String {
    let out = std::process::Command::new(bin("grail-miner"))
        .arg("keygen")
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["ss58"].as_str().unwrap().to_owned()
}

/// Writes `dir/file`, a metagraph of netuid 1 with burn uid 0 and these `(uid, hotkey)`s.
pub fn write_metagraph(dir: &Path, file: &str, neurons: &[(u16, &str)]) {
    let neurons: Vec<serde_json::Value> =
        neurons.iter().map(|(uid, hk)| serde_json::json!({"uid": uid, "hotkey": hk})).collect();
    let metagraph = serde_json::json!({"netuid": 1, "burn_uid": 0, "neurons": neurons});
    std::fs::write(dir.join(file), metagraph.to_string()).unwrap();
}

/// Kills a child process when the guard drops, so a failing test leaves no server behind.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `grail-beacon` on a loopback port the OS picked.
#[derive(Debug)]
pub struct LocalBeacon {
    /// Kills the beacon on drop.
    pub guard: KillOnDrop,
    /// Its start line (`url`, `chain_hash`, `public_key`, `genesis_time`, `period`, ...).
    pub info: serde_json::Value,
}

impl LocalBeacon {
    /// Starts the beacon with `period`-second rounds and waits for its JSON start line.
    pub fn start(period: u64) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let child = Command::new(bin("grail-beacon"))
            .args(["--listen", "127.0.0.1:0", "--period", &period.to_string()])
            .args(["--log.level", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting grail-beacon");
        let mut guard = KillOnDrop(child);
        let stdout = guard.0.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("grail-beacon printed no start line");
        let info = serde_json::from_str(line.trim()).expect("start line is JSON");
        Self { guard, info }
    }

    /// Its base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.info["url"].as_str().expect("url").to_owned()
    }

    /// Unix time of its round 1.
    pub fn genesis(&self) -> u64 {
        self.info["genesis_time"].as_u64().expect("genesis_time")
    }
}

/// How much longer timing-sensitive tests make their windows: 2 under `CI=true` (a loaded CI
/// machine), else 1.
pub fn ci_scale() -> u64 {
    match std::env::var("CI") {
        Ok(v) if v == "true" || v == "1" => 2,
        _ => 1,
    }
}

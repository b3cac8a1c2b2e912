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

/// The command of one-shot miner `h{i}` of `window` on the tiny model (1 problem, 16 tokens,
/// wallet `m` under `dir/wallets`, store `dir/storage`): `grail-miner mine`, or (`tamper`)
/// `grail-audit adversary` forging a token in every rollout. `chain` holds the chain and
/// window flags.
pub fn miner_command(
    dir: &Path,
    beacon_url: &str,
    i: u32,
    window: u64,
    tamper: bool,
    chain: &[String],
) -> std::process::Command {
    use std::process::Command;
    let w = window.to_string();
    if !tamper {
        return miner_command_windows(dir, beacon_url, i, window..=window, chain);
    }
    let mut cmd = Command::new(bin("grail-audit"));
    cmd.args(["adversary", "--window", &w, "--attack", &format!("forged-token=h{i}")]);
    with_miner_flags(cmd, dir, beacon_url, i, chain)
}

/// [`miner_command`] of an honest miner mining every window of `windows` in one process.
pub fn miner_command_windows(
    dir: &Path,
    beacon_url: &str,
    i: u32,
    windows: std::ops::RangeInclusive<u64>,
    chain: &[String],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin("grail-miner"));
    let (from, until) = (windows.start().to_string(), windows.end().to_string());
    cmd.args(["mine", "--from-window", &from, "--until-window", &until]);
    with_miner_flags(cmd, dir, beacon_url, i, chain)
}

fn with_miner_flags(
    mut cmd: std::process::Command,
    dir: &Path,
    beacon_url: &str,
    i: u32,
    chain: &[String],
) -> std::process::Command {
    cmd.arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", &format!("h{i}")])
        .args(["--beacon.chain", "local", "--beacon.relay", beacon_url])
        .args(chain)
        .args(["--max-new-tokens", "16", "--threads", "1", "--problems", "1"])
        .arg("--storage.path")
        .arg(dir.join("storage"));
    cmd
}

/// `grail-validator run` on the tiny model over `windows`, for miners made by
/// [`miner_command_windows`] (16 tokens, store `dir/storage`, metagraph `dir/metagraph.json`),
/// with data folder `data`, `rollouts` checked per file and a 2 s challenge buffer; `chain`
/// holds the chain and window flags.
pub fn validator_command_windows(
    dir: &Path,
    data: &Path,
    beacon_url: &str,
    windows: std::ops::RangeInclusive<u64>,
    rollouts: u32,
    chain: &[String],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin("grail-validator"));
    cmd.arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(data)
        .arg("--metagraph")
        .arg(dir.join("metagraph.json"))
        .args(["--beacon.chain", "local", "--beacon.relay", beacon_url])
        .args(chain)
        .args(["--window.challenge-buffer", "2", "--max-new-tokens", "16", "--threads", "1"])
        .args(["--verify.rollouts", &rollouts.to_string()])
        .args(["--from-window", &windows.start().to_string()])
        .args(["--until-window", &windows.end().to_string()])
        .arg("--storage.path")
        .arg(dir.join("storage"));
    cmd
}

/// The chain and window flags of a role on the local clock chain from `genesis` (unix s): 1 s
/// blocks, `blocks`-block windows, 2 s of grace.
pub fn clock_flags(genesis: u64, blocks: u64) -> Vec<String> {
    let (g, b) = (genesis.to_string(), blocks.to_string());
    ["--chain.genesis", &g, "--chain.block-time", "1", "--window.blocks", &b, "--window.grace", "2"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The window `ahead` windows after the current one on the local clock chain from `genesis`,
/// with `blocks` 1 s blocks per window: far enough that roles started now see all of it.
pub fn window_ahead(genesis: u64, blocks: u64, ahead: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_sub(genesis) / blocks + ahead
}

/// The chain and window flags of a role on a dev chain at `endpoint`: netuid 1, 1 s blocks,
/// `blocks`-block windows, 2 s of grace.
pub fn devchain_flags(endpoint: &str, blocks: u64) -> Vec<String> {
    let b = blocks.to_string();
    ["--netuid", "1", "--subtensor.chain_endpoint", endpoint, "--chain.block-time", "1"]
        .into_iter()
        .chain(["--window.blocks", &b, "--window.grace", "2"])
        .map(str::to_owned)
        .collect()
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

/// Starts `cmd` with its stdout piped and waits (30 s at most) for its first line, which a
/// server started on port 0 prints to say where it listens.
fn spawn_with_start_line(mut cmd: std::process::Command, name: &str) -> (KillOnDrop, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
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
        .unwrap_or_else(|_| panic!("{name} printed no start line"));
    (guard, line)
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
        let mut cmd = std::process::Command::new(bin("grail-beacon"));
        cmd.args(["--listen", "127.0.0.1:0", "--period", &period.to_string()])
            .args(["--log.level", "warn"]);
        let (guard, line) = spawn_with_start_line(cmd, "grail-beacon");
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

/// A running `grail-devchain` on a loopback port the OS picked.
#[derive(Debug)]
pub struct DevChain {
    /// Kills the chain on drop.
    pub guard: KillOnDrop,
    /// `host:port` it serves HTTP and WebSocket JSON-RPC on.
    pub addr: String,
    /// Its genesis hash, `0x…`.
    pub genesis_hash: String,
}

impl DevChain {
    /// Writes `genesis` to `dir/genesis.json`, starts the chain with `block_ms` blocks and
    /// waits for its start line.
    pub fn start(dir: &Path, genesis: &serde_json::Value, block_ms: u64) -> Self {
        Self::start_with(dir, genesis, block_ms, &[])
    }

    /// [`DevChain::start`] with more flags (`--beacon.*` for the drand pulses it reveals
    /// timelocked commits with).
    pub fn start_with(
        dir: &Path,
        genesis: &serde_json::Value,
        block_ms: u64,
        flags: &[&str],
    ) -> Self {
        let path = dir.join("genesis.json");
        std::fs::write(&path, genesis.to_string()).unwrap();
        let mut cmd = std::process::Command::new(bin("grail-devchain"));
        cmd.arg("--genesis")
            .arg(&path)
            .args(["--listen", "127.0.0.1:0", "--block-time-ms", &block_ms.to_string()])
            .args(["--log.level", "warn"])
            .args(flags);
        let (guard, line) = spawn_with_start_line(cmd, "grail-devchain");
        // grail-devchain: listening on ws://ADDR and http://ADDR, genesis 0x…, netuid N, K neurons
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ws://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        let genesis_hash = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("0x").map(|h| format!("0x{}", h.trim_end_matches(','))))
            .unwrap_or_else(|| panic!("no genesis hash in {line:?}"));
        Self { guard, addr, genesis_hash }
    }

    /// `ws://host:port`.
    pub fn ws(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// `http://host:port`.
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One JSON-RPC call over HTTP; its `result` (panics on an error answer).
    #[allow(clippy::needless_pass_by_value)]
    pub fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let answer = rpc_call(&self.http(), method, &params);
        if let Some(e) = answer.get("error") {
            panic!("{method}: {e}");
        }
        answer["result"].clone()
    }
}

/// One JSON-RPC 2.0 call over HTTP/1.1 to `url` (`http://host:port`); the whole answer object.
pub fn rpc_call(url: &str, method: &str, params: &serde_json::Value) -> serde_json::Value {
    use std::io::{Read, Write};
    let host = url.strip_prefix("http://").expect("an http:// URL");
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{method}: {head}");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method}: {e}: {body}"))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").expect("a chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// `GET path` over HTTP/1.1 to `addr` (`host:port`): the status line and the body; `None` when
/// nothing answers there.
pub fn http_get(addr: &str, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_owned(), body.to_owned()))
}

/// `GET path` that must answer 200 with JSON: the body parsed.
pub fn get_json(addr: &str, path: &str) -> serde_json::Value {
    let (status, body) = http_get(addr, path).unwrap_or_else(|| panic!("no answer at {addr}"));
    assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// A loopback port that is free now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The path of program `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Peak resident memory of a process, in kB (`VmHWM`), while it runs.
pub fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

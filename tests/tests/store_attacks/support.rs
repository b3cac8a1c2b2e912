//! What the store-attack tests share: the timing, the roles as processes, the store writer's
//! tools and the grinder.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use grail_protocol::cid::cid_of_bytes;
use grail_protocol::codec::{decode, encode, Limits};
use grail_protocol::signing::sign_window_file;
use grail_protocol::verify_params::VerifyParams;
use grail_tests::{bin, ci_scale, fixture, KillOnDrop};
pub(crate) use grail_tests::{keygen, write_metagraph};
use grail_validator::pipeline::select::rollouts_to_check;
use serde_json::Value;

pub(crate) fn blocks() -> u64 {
    10 * ci_scale()
}
pub(crate) const GRACE: u64 = 2;
pub(crate) const BUFFER: u64 = 4;
pub(crate) const ROLLOUTS_CHECKED: u32 = 4;
/// Rollouts the grinder forges (zeroed commitments) out of its 32: a CID hides all of them
/// from the 4 checked with probability C(20,4)/C(32,4) = 0.135.
pub(crate) const FORGED: usize = 12;
/// Hiding choices the grinder uploads, one after another.
pub(crate) const CHOICES: usize = 20;
pub(crate) const JUNK_FILES: usize = 30;
pub(crate) const JUNK_BYTES: usize = 16 << 20;

pub(crate) const HONEST: [&str; 2] = ["h1", "h2"];
pub(crate) const LATE: &str = "late";
pub(crate) const GRINDER: &str = "grinder";
pub(crate) const LINKED: &str = "linked";
pub(crate) const FIFO: &str = "fifo";
/// An honest miner misconfigured with another temperature than the network's.
pub(crate) const MISMATCH: &str = "mismatch";

pub(crate) fn now_f64() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

pub(crate) fn sleep_until(t: f64) {
    let wait = t - now_f64();
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}

pub(crate) fn timing(genesis: u64) -> Vec<String> {
    let (g, b, grace) = (genesis.to_string(), blocks().to_string(), GRACE.to_string());
    ["--chain.genesis", &g, "--chain.block-time", "1", "--window.blocks", &b]
        .iter()
        .chain(&["--window.grace", &grace, "--window.challenge-buffer", &BUFFER.to_string()])
        .map(|s| (*s).to_owned())
        .collect()
}

pub(crate) fn miner(
    dir: &Path,
    url: &str,
    genesis: u64,
    name: &str,
    w: u64,
    store: &Store,
    problems: u32,
) -> KillOnDrop {
    let temperature = if name == MISMATCH { "0.9" } else { "0.7" };
    let child = Command::new(bin("grail-miner"))
        .args(["mine", "--from-window", &w.to_string(), "--until-window", &w.to_string()])
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", name])
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(timing(genesis))
        .args(["--max-new-tokens", "16", "--threads", "1", "--problems", &problems.to_string()])
        .args(["--temperature", temperature])
        .args(store.args())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

pub(crate) fn validator(
    dir: &Path,
    url: &str,
    genesis: u64,
    data: &str,
    metagraph: &str,
    store: &Store,
    w: u64,
) -> Child {
    Command::new(bin("grail-validator"))
        .arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join(data))
        .arg("--metagraph")
        .arg(dir.join(metagraph))
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(timing(genesis))
        .args(["--max-new-tokens", "16", "--threads", "1", "--transcripts"])
        .args(["--verify.rollouts", &ROLLOUTS_CHECKED.to_string()])
        .args(["--storage.poll-interval-ms", "200"])
        .args(["--weights.span", "4", "--weights.cap", "16", "--weights.burn-bps", "5000"])
        .args(["--from-window", &w.to_string(), "--until-window", &w.to_string()])
        .args(["--http.listen", "127.0.0.1:0", "--http.header-timeout", "1"])
        .args(store.args())
        .args(["--log.level", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Where the roles keep window files.
pub(crate) enum Store {
    Local(std::path::PathBuf),
    /// An S3-compatible server: bucket URL and endpoint.
    S3(String, String),
}

impl Store {
    pub(crate) fn args(&self) -> Vec<std::ffi::OsString> {
        match self {
            Store::Local(path) => vec!["--storage.path".into(), path.into()],
            Store::S3(url, endpoint) => [
                "--storage.url",
                url,
                "--storage.endpoint",
                endpoint,
                "--storage.allow-http",
                "--storage.access-key-id",
                "testing",
                "--storage.secret-access-key",
                "testing",
            ]
            .iter()
            .map(Into::into)
            .collect(),
        }
    }
}

/// Collects a child's stderr lines as they come.
pub(crate) fn collect(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

pub(crate) fn wait_for_line(
    lines: &Mutex<Vec<String>>,
    what: &str,
    until: f64,
    pred: impl Fn(&str) -> bool,
) -> String {
    loop {
        if let Some(l) = lines.lock().unwrap().iter().find(|l| pred(l)) {
            return l.clone();
        }
        assert!(now_f64() < until, "{what}: no such line:\n{}", lines.lock().unwrap().join("\n"));
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn wait_for_file(path: &Path, until: f64) -> Vec<u8> {
    loop {
        if let Ok(b) = std::fs::read(path) {
            if !b.is_empty() {
                return b;
            }
        }
        assert!(now_f64() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Publishes each honest miner's one file in both stores: `files` holds `(name, bytes)` in
/// upload order, `put` writes one into both stores, and `logs` are the two validators' logs.
/// Each file is published once both validators have read the one before it and a whole
/// second has passed, since they record first-seen times in seconds.
///
/// Mining each store's file separately would sign it differently (sr25519 is randomized), so
/// each store would hold its own CID with its own checked rollouts, and the earlier of two
/// equal completions could differ between the stores: the two weights would then differ for
/// reasons no attack caused.
pub(crate) fn publish_in_order(
    files: &[(String, Vec<u8>)],
    put: impl Fn(&str, &[u8]),
    logs: [&Mutex<Vec<String>>; 2],
    until: f64,
) {
    for (i, (ss58, bytes)) in files.iter().enumerate() {
        if i > 0 {
            sleep_until(now_f64().floor() + 1.1);
        }
        put(ss58, bytes);
        for log in logs {
            wait_for_line(log, "published file read", until, |l| {
                l.contains("miner's file read") && l.contains(ss58.as_str())
            });
        }
    }
}

/// Writes `bytes` at `path` whole: into `staging` (outside any store, on the same file
/// system) and renamed into place, so no reader sees a partial file.
pub(crate) fn write_whole(staging: &Path, path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(staging).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let temp = staging.join(format!("{}.partial", cid_of_bytes(bytes)));
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Writes `bytes` at `path` with a last-modified time of `mtime` (unix s).
pub(crate) fn write_backdated(path: &Path, bytes: &[u8], mtime: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime)).unwrap();
}

pub(crate) fn pair(dir: &Path, name: &str) -> grail_protocol::keys::HotkeyPair {
    let file = dir.join("wallets/m/hotkeys").join(name);
    grail_wallet::read_hotkey_file(&file).unwrap().pair
}

/// Forges the first [`FORGED`] rollouts of an honest file (zeroed commitments) and re-signs
/// it until [`CHOICES`] CIDs leave every forged rollout unchecked under `randomness`.
pub(crate) fn grind(
    randomness: &[u8; 32],
    honest: &[u8],
    grinder: &grail_protocol::keys::HotkeyPair,
) -> Vec<Vec<u8>> {
    let mut forged = decode(honest, &Limits::default()).unwrap();
    assert_eq!(forged.rollouts.len(), 32);
    for r in &mut forged.rollouts[..FORGED] {
        r.commitments.iter_mut().for_each(|c| *c = 0);
    }
    let verify = VerifyParams { rollouts_checked: ROLLOUTS_CHECKED, ..VerifyParams::default() };
    let (mut tries, mut chosen) = (0u32, Vec::new());
    let mut cids = BTreeSet::new();
    while tries < 20_000 && chosen.len() < CHOICES {
        tries += 1;
        sign_window_file(grinder, &mut forged).unwrap();
        let bytes = encode(&forged).unwrap();
        let cid = cid_of_bytes(&bytes).to_bytes();
        cids.insert(cid.clone());
        let checked = rollouts_to_check(randomness, &cid, &forged, &verify);
        assert_eq!(checked.len(), ROLLOUTS_CHECKED as usize);
        if checked.iter().all(|c| c.index as usize >= FORGED) {
            chosen.push(bytes);
        }
    }
    assert_eq!(chosen.len(), CHOICES, "the grinding found too few hiding CIDs in {tries} tries");
    println!(
        "grinding: {tries} re-signed headers ({} distinct CIDs), {CHOICES} of them hiding all \
         {FORGED} forged rollouts from the {ROLLOUTS_CHECKED} checked",
        cids.len()
    );
    chosen
}

/// Waits for both validators and every miner to succeed; the outputs and A's whole log.
pub(crate) fn finish(
    a: Child,
    b: Child,
    a_log: &Mutex<Vec<String>>,
    b_log: &Mutex<Vec<String>>,
    miners: &mut [KillOnDrop],
) -> (std::process::Output, std::process::Output, String) {
    let a_out = a.wait_with_output().unwrap();
    let b_out = b.wait_with_output().unwrap();
    let a_log = a_log.lock().unwrap().join("\n");
    assert!(a_out.status.success(), "validator A:\n{a_log}");
    assert!(b_out.status.success(), "validator B:\n{}", b_log.lock().unwrap().join("\n"));
    for m in miners {
        assert!(m.0.wait().unwrap().success(), "a miner failed");
    }
    (a_out, b_out, a_log)
}

/// The weights of the first window line a validator printed.
pub(crate) fn first_weights(out: &std::process::Output) -> Value {
    let line = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().to_owned();
    serde_json::from_str::<Value>(&line).unwrap()["weights"].clone()
}

pub(crate) fn fetch_randomness(url: &str, round: u64, until: f64) -> [u8; 32] {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    loop {
        let got = rt.block_on(async {
            let r = reqwest::get(format!("{url}/public/{round}")).await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.json::<Value>().await.ok()
        });
        if let Some(v) = got {
            let hex = v["randomness"].as_str().unwrap();
            return hex::decode(hex).unwrap().try_into().unwrap();
        }
        assert!(now_f64() < until, "round {round} never published");
        std::thread::sleep(Duration::from_millis(100));
    }
}

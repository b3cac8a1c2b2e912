//! Attacks on everything around the proof, against the real binaries in one window on the
//! tiny model: a test adversary with write access to the shared local store (as any miner
//! has) and to the network.
//!
//! - griefing: garbage written over an honest miner's file, the miner's own genuine file of
//!   another window copied over its current one, its bytes written again after the deadline;
//! - backdating: a file mined by a registered key, put in the store after the deadline with a
//!   last-modified time before it;
//! - CID grinding: once the challenge beacon is out, a file with forged rollouts re-signed
//!   until its CID leaves every forged rollout unchecked, backdated;
//! - planted objects: a FIFO under a registered key, a name that is not UTF-8, a folder;
//! - a link under a registered key to that miner's genuine file outside the store;
//! - a flood of large junk files in the window's folder;
//! - idle and half-sent connections to the validator's HTTP server;
//! - a miner run with another temperature than the network's: `mismatch`, not excluded.
//!
//! Validator A watches the attacked store; validator B watches a clean store that the same
//! two honest miners also mine into, with only them registered. Both honest miners must pass
//! on A, every attacker must be absent (never a pass, never an honest miner's failure), the
//! misconfigured miner `mismatch` and not excluded, and A's weights must equal B's. Prints what the grinding tried and A's peak memory.
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use grail_protocol::cid::cid_of_bytes;
use grail_protocol::codec::{decode, encode, Limits};
use grail_protocol::keys::Hotkey;
use grail_protocol::signing::sign_window_file;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window_file::window_file_key;
use grail_tests::{bin, ci_scale, fixture, KillOnDrop, LocalBeacon};
use grail_validator::pipeline::select::rollouts_to_check;
use grail_validator::state::{State, VerdictResult};
use serde_json::Value;

fn blocks() -> u64 {
    10 * ci_scale()
}
const GRACE: u64 = 2;
const BUFFER: u64 = 4;
const ROLLOUTS_CHECKED: u32 = 4;
/// Rollouts the grinder forges (zeroed commitments) out of its 32: a CID hides all of them
/// from the 4 checked with probability C(20,4)/C(32,4) = 0.135.
const FORGED: usize = 12;
/// Hiding choices the grinder uploads, one after another.
const CHOICES: usize = 20;
const JUNK_FILES: usize = 30;
const JUNK_BYTES: usize = 16 << 20;

const HONEST: [&str; 2] = ["h1", "h2"];
const LATE: &str = "late";
const GRINDER: &str = "grinder";
const LINKED: &str = "linked";
const FIFO: &str = "fifo";
/// An honest miner misconfigured with another temperature than the network's.
const MISMATCH: &str = "mismatch";

fn now_f64() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn sleep_until(t: f64) {
    let wait = t - now_f64();
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}

fn timing(genesis: u64) -> Vec<String> {
    let (g, b, grace) = (genesis.to_string(), blocks().to_string(), GRACE.to_string());
    ["--chain.genesis", &g, "--chain.block-time", "1", "--window.blocks", &b]
        .iter()
        .chain(&["--window.grace", &grace, "--window.challenge-buffer", &BUFFER.to_string()])
        .map(|s| (*s).to_owned())
        .collect()
}

fn keygen(dir: &Path, name: &str) -> String {
    let out = Command::new(bin("grail-miner"))
        .arg("keygen")
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .args(["--wallet.name", "m", "--wallet.hotkey", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["ss58"].as_str().unwrap().to_owned()
}

fn miner(
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

fn validator(
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
enum Store {
    Local(std::path::PathBuf),
    /// An S3-compatible server: bucket URL and endpoint.
    S3(String, String),
}

impl Store {
    fn args(&self) -> Vec<std::ffi::OsString> {
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

fn write_metagraph(dir: &Path, file: &str, neurons: &[(u16, &str)]) {
    let neurons: Vec<Value> =
        neurons.iter().map(|(uid, hk)| serde_json::json!({"uid": uid, "hotkey": hk})).collect();
    let metagraph = serde_json::json!({"netuid": 1, "burn_uid": 0, "neurons": neurons});
    std::fs::write(dir.join(file), metagraph.to_string()).unwrap();
}

/// Collects a child's stderr lines as they come.
fn collect(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
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

fn wait_for_line(
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

fn wait_for_file(path: &Path, until: f64) -> Vec<u8> {
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

/// Writes `bytes` at `path` with a last-modified time of `mtime` (unix s).
fn write_backdated(path: &Path, bytes: &[u8], mtime: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime)).unwrap();
}

fn pair(dir: &Path, name: &str) -> grail_protocol::keys::HotkeyPair {
    let file = dir.join("wallets/m/hotkeys").join(name);
    grail_wallet::read_hotkey_file(&file).unwrap().pair
}

/// Peak resident memory of a process, in kB (`VmHWM`), while it runs.
fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn store_and_network_attacks_leave_honest_weights_unchanged() {
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = [HONEST[0], HONEST[1], LATE, GRINDER, LINKED, FIFO, MISMATCH];
    let hotkeys: Vec<String> = names.iter().map(|n| keygen(dir, n)).collect();
    let hk = |name: &str| hotkeys[names.iter().position(|n| *n == name).unwrap()].clone();
    let all: Vec<(u16, &str)> = (1u16..).zip(hotkeys.iter().map(String::as_str)).collect();
    write_metagraph(dir, "all.json", &all);
    write_metagraph(dir, "honest.json", &all[..2]);

    let attacked = dir.join("attacked");
    let clean = dir.join("clean");
    let private = dir.join("private");
    let now = now_f64() as u64;
    let w = now.saturating_sub(genesis) / blocks() + 1;
    let start = genesis + w * blocks();
    let deadline = start + blocks() + GRACE;
    let challenge_round = deadline + BUFFER - genesis + 1;

    // Planted before the window: a FIFO under a registered key, a name that is not UTF-8, a
    // folder, a link to the linked miner's genuine file outside the store, the junk flood.
    let folder = attacked.join(format!("windows/{w}"));
    std::fs::create_dir_all(&folder).unwrap();
    let fifo = folder.join(format!("{}.grail", hk(FIFO)));
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let odd = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff\xfe.grail");
    std::fs::write(folder.join(odd), b"odd").unwrap();
    std::fs::create_dir_all(folder.join("sub.grail")).unwrap();
    let linked_genuine = private.join(window_file_key(w, &Hotkey::from_ss58(&hk(LINKED)).unwrap()));
    std::os::unix::fs::symlink(&linked_genuine, folder.join(format!("{}.grail", hk(LINKED))))
        .unwrap();
    let junk = vec![0x5au8; JUNK_BYTES];
    for i in 0..JUNK_FILES {
        std::fs::write(folder.join(format!("junk{i}.grail")), &junk).unwrap();
    }
    drop(junk);

    let mut miners = Vec::new();
    for name in HONEST {
        miners.push(miner(dir, &url, genesis, name, w, &Store::Local(attacked.clone()), 1));
        miners.push(miner(dir, &url, genesis, name, w, &Store::Local(clean.clone()), 1));
    }
    for name in [LATE, LINKED] {
        miners.push(miner(dir, &url, genesis, name, w, &Store::Local(private.clone()), 1));
    }
    miners.push(miner(dir, &url, genesis, GRINDER, w, &Store::Local(private.clone()), 2));
    miners.push(miner(dir, &url, genesis, MISMATCH, w, &Store::Local(attacked.clone()), 1));
    let mut a = validator(dir, &url, genesis, "a", "all.json", &Store::Local(attacked.clone()), w);
    let mut b = validator(dir, &url, genesis, "b", "honest.json", &Store::Local(clean), w);
    let a_log = collect(&mut a);
    let b_log = collect(&mut b);
    let a_pid = a.id();
    let peak = Arc::new(Mutex::new(0u64));
    {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while let Some(kb) = peak_kb(a_pid) {
                *peak.lock().unwrap() = kb;
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }
    let late_by = (deadline + BUFFER + 60) as f64;

    // HTTP: 100 silent and 20 half-sent connections; a real request is still answered.
    let serving =
        wait_for_line(&a_log, "HTTP listener", late_by, |l| l.contains("serving /weights"));
    let addr = serving
        .split("http://")
        .nth(1)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_owned();
    let mut hogs = Vec::new();
    for i in 0..120 {
        let mut s = TcpStream::connect(&addr).unwrap();
        if i >= 100 {
            s.write_all(b"GET /status HTTP/1.1\r\nhost:").unwrap();
        }
        hogs.push(s);
    }
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "status under a connection flood: {answer}");
    drop(hogs);

    // Griefing, once A holds both honest files.
    let key = |name: &str| window_file_key(w, &Hotkey::from_ss58(&hk(name)).unwrap());
    for name in HONEST {
        let ss58 = hk(name);
        wait_for_line(&a_log, "honest file read", late_by, |l| {
            l.contains("miner's file read") && l.contains(&ss58)
        });
    }
    let h1_bytes = std::fs::read(attacked.join(key(HONEST[0]))).unwrap();
    std::fs::write(attacked.join(key(HONEST[1])), b"garbage under an honest name").unwrap();
    let mut other_window = decode(&h1_bytes, &Limits::default()).unwrap();
    other_window.header.window = w - 1;
    sign_window_file(&pair(dir, HONEST[0]), &mut other_window).unwrap();
    std::fs::write(attacked.join(key(HONEST[0])), encode(&other_window).unwrap()).unwrap();

    // After the deadline: the honest bytes again, and the late file, both backdated.
    sleep_until(deadline as f64 + 1.5);
    write_backdated(&attacked.join(key(HONEST[0])), &h1_bytes, start);
    let late_bytes = wait_for_file(&private.join(key(LATE)), late_by);
    write_backdated(&attacked.join(key(LATE)), &late_bytes, start + 1);

    // Grinding against the published challenge beacon.
    let randomness = fetch_randomness(&url, challenge_round, late_by);
    let honest = wait_for_file(&private.join(key(GRINDER)), late_by);
    let chosen = grind(&randomness, &honest, &pair(dir, GRINDER));
    for bytes in &chosen {
        write_backdated(&attacked.join(key(GRINDER)), bytes, start + 1);
        std::thread::sleep(Duration::from_millis(50));
    }

    let a_out = a.wait_with_output().unwrap();
    let b_out = b.wait_with_output().unwrap();
    let a_log = a_log.lock().unwrap().join("\n");
    assert!(a_out.status.success(), "validator A:\n{a_log}");
    assert!(b_out.status.success(), "validator B:\n{}", b_log.lock().unwrap().join("\n"));
    for m in &mut miners {
        assert!(m.0.wait().unwrap().success(), "a miner failed");
    }
    let peak_mb = *peak.lock().unwrap() / 1024;
    let processed = a_log.lines().find(|l| l.contains("window processed")).unwrap_or("");
    let seconds =
        processed.split("seconds=").nth(1).unwrap_or("?").split_whitespace().next().unwrap_or("?");
    println!(
        "validator A: peak memory {peak_mb} MB, window verified in {seconds} s, beside {} MiB of \
         junk in the window's folder",
        (JUNK_FILES * JUNK_BYTES) >> 20
    );

    let state = State::open(&dir.join("a")).unwrap();
    let verdicts = state.verdicts(w).unwrap();
    let result = |name: &str| {
        let ss58 = hk(name);
        verdicts.iter().find(|v| v.hotkey.to_ss58() == ss58).unwrap().clone()
    };
    for name in HONEST {
        assert_eq!(result(name).result, VerdictResult::Pass, "{name}: {:?}", result(name));
    }
    for name in [LATE, GRINDER, LINKED, FIFO] {
        assert_eq!(result(name).result, VerdictResult::Absent, "{name}: {:?}", result(name));
    }
    let mismatch = result(MISMATCH);
    assert_eq!(mismatch.result, VerdictResult::Mismatch, "{mismatch:?}");
    assert!(mismatch.reason.unwrap().contains("parameter mismatch: generation parameters"));
    for name in [HONEST[0], HONEST[1], MISMATCH] {
        let key = Hotkey::from_ss58(&hk(name)).unwrap();
        assert!(state.excluded(&key, w + 1).unwrap().is_none(), "{name} excluded");
    }

    // Why each object was not taken, in A's log.
    let ignored = |name: &str, reason: &str| {
        let ss58 = hk(name);
        a_log.lines().any(|l| {
            l.contains("not taken as the miner's file") && l.contains(&ss58) && l.contains(reason)
        })
    };
    assert!(ignored(HONEST[1], "not_attributable"), "garbage:\n{a_log}");
    assert!(ignored(HONEST[0], &format!("the header is of window {}", w - 1)), "copy:\n{a_log}");
    assert!(ignored(FIFO, "a FIFO"), "fifo:\n{a_log}");
    assert!(ignored(LINKED, "a symbolic link"), "link:\n{a_log}");
    let grinder_ss58 = hk(GRINDER);
    assert!(
        !a_log.lines().any(|l| l.contains("miner's file read") && l.contains(&grinder_ss58)),
        "the grinder's file was read:\n{a_log}"
    );

    // The transcript holds the two honest files and nothing else.
    let transcript_path = dir.join("a/transcripts").join(format!("{w}.json"));
    let transcript: Value =
        serde_json::from_slice(&std::fs::read(&transcript_path).unwrap()).unwrap();
    let keys: BTreeSet<String> = transcript["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_owned())
        .collect();
    let signed = [HONEST[0], HONEST[1], MISMATCH];
    assert_eq!(keys, signed.iter().map(|n| key(n)).collect::<BTreeSet<_>>());
    let transcript_kb = std::fs::metadata(&transcript_path).unwrap().len() / 1024;
    println!("transcript {transcript_kb} kB");
    assert!(transcript_kb < 1024, "{transcript_kb} kB");
    assert!(peak_mb < 400, "validator A peaked at {peak_mb} MB");

    // Same weights as the attack-free run.
    let weights = |out: &std::process::Output| -> Value {
        let line = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().to_owned();
        serde_json::from_str::<Value>(&line).unwrap()["weights"].clone()
    };
    let (wa, wb) = (weights(&a_out), weights(&b_out));
    println!("weights under attack: uids {} weights {}", wa["uids"], wa["weights"]);
    assert_eq!(wa["uids"], serde_json::json!([0, 1, 2]));
    assert_eq!((&wa["uids"], &wa["weights"]), (&wb["uids"], &wb["weights"]));
}

/// Forges the first [`FORGED`] rollouts of an honest file (zeroed commitments) and re-signs
/// it until [`CHOICES`] CIDs leave every forged rollout unchecked under `randomness`.
fn grind(
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

/// The same attacks that an S3-compatible store allows (no links, no special files there):
/// garbage and another window's genuine file over honest files, the honest bytes again after
/// the deadline, and CID grinding after the challenge beacon, each with the store's genuine
/// upload time. `scripts/test-s3.sh` runs it against `moto_server`.
#[test]
#[ignore = "needs an S3-compatible server: scripts/test-s3.sh runs it"]
fn on_an_s3_store_griefing_and_grinding_leave_honest_weights_unchanged() {
    let endpoint = std::env::var("GRAIL_TEST_S3_ENDPOINT").expect("GRAIL_TEST_S3_ENDPOINT");
    let bucket = std::env::var("GRAIL_TEST_S3_BUCKET").expect("GRAIL_TEST_S3_BUCKET");
    let prefix = format!("store-attacks-{}-{}", std::process::id(), now_f64() as u64);
    let s3 = Store::S3(format!("s3://{bucket}/{prefix}"), endpoint.clone());
    let writer = grail_storage::WindowStore::open(&grail_storage::StorageConfig {
        url: Some(format!("s3://{bucket}/{prefix}")),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        allow_http: Some(true),
        ..Default::default()
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let put = |key: &str, bytes: Vec<u8>| rt.block_on(writer.put(key, bytes)).unwrap();

    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = [HONEST[0], HONEST[1], GRINDER];
    let hotkeys: Vec<String> = names.iter().map(|n| keygen(dir, n)).collect();
    let hk = |name: &str| hotkeys[names.iter().position(|n| *n == name).unwrap()].clone();
    let all: Vec<(u16, &str)> = (1u16..).zip(hotkeys.iter().map(String::as_str)).collect();
    write_metagraph(dir, "all.json", &all);
    write_metagraph(dir, "honest.json", &all[..2]);
    let (clean, private) = (dir.join("clean"), dir.join("private"));
    let w = (now_f64() as u64).saturating_sub(genesis) / blocks() + 1;
    let deadline = genesis + (w + 1) * blocks() + GRACE;
    let challenge_round = deadline + BUFFER - genesis + 1;
    let key = |name: &str| window_file_key(w, &Hotkey::from_ss58(&hk(name)).unwrap());

    let mut miners = Vec::new();
    for name in HONEST {
        miners.push(miner(dir, &url, genesis, name, w, &s3, 1));
        miners.push(miner(dir, &url, genesis, name, w, &Store::Local(clean.clone()), 1));
    }
    miners.push(miner(dir, &url, genesis, GRINDER, w, &Store::Local(private.clone()), 2));
    let mut a = validator(dir, &url, genesis, "a", "all.json", &s3, w);
    let mut b = validator(dir, &url, genesis, "b", "honest.json", &Store::Local(clean), w);
    let a_log = collect(&mut a);
    let b_log = collect(&mut b);
    let late_by = (deadline + BUFFER + 60) as f64;

    for name in HONEST {
        let ss58 = hk(name);
        wait_for_line(&a_log, "honest file read", late_by, |l| {
            l.contains("miner's file read") && l.contains(&ss58)
        });
    }
    let h1_bytes = rt.block_on(writer.read(&key(HONEST[0]), u64::MAX)).unwrap().unwrap().1;
    put(&key(HONEST[1]), b"garbage under an honest name".to_vec());
    let mut other_window = decode(&h1_bytes, &Limits::default()).unwrap();
    other_window.header.window = w - 1;
    sign_window_file(&pair(dir, HONEST[0]), &mut other_window).unwrap();
    put(&key(HONEST[0]), encode(&other_window).unwrap());
    sleep_until(deadline as f64 + 1.5);
    put(&key(HONEST[0]), h1_bytes);
    let randomness = fetch_randomness(&url, challenge_round, late_by);
    let honest = wait_for_file(&private.join(key(GRINDER)), late_by);
    for bytes in grind(&randomness, &honest, &pair(dir, GRINDER)) {
        put(&key(GRINDER), bytes);
    }

    let a_out = a.wait_with_output().unwrap();
    let b_out = b.wait_with_output().unwrap();
    let a_log = a_log.lock().unwrap().join("\n");
    assert!(a_out.status.success(), "validator A:\n{a_log}");
    assert!(b_out.status.success(), "validator B:\n{}", b_log.lock().unwrap().join("\n"));
    for m in &mut miners {
        assert!(m.0.wait().unwrap().success(), "a miner failed");
    }
    let state = State::open(&dir.join("a")).unwrap();
    let verdicts = state.verdicts(w).unwrap();
    let result = |name: &str| {
        let ss58 = hk(name);
        verdicts.iter().find(|v| v.hotkey.to_ss58() == ss58).unwrap().result
    };
    assert_eq!([result(HONEST[0]), result(HONEST[1])], [VerdictResult::Pass; 2], "{verdicts:?}");
    assert_eq!(result(GRINDER), VerdictResult::Absent);
    let weights = |out: &std::process::Output| -> Value {
        let line = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().to_owned();
        serde_json::from_str::<Value>(&line).unwrap()["weights"].clone()
    };
    let (wa, wb) = (weights(&a_out), weights(&b_out));
    println!("weights on the attacked S3 store: uids {} weights {}", wa["uids"], wa["weights"]);
    assert_eq!((&wa["uids"], &wa["weights"]), (&wb["uids"], &wb["weights"]));
}

fn fetch_randomness(url: &str, round: u64, until: f64) -> [u8; 32] {
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

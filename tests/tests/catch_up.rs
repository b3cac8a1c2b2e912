//! Catching up on the real binaries: validator A runs windows w..=w+11 from the start;
//! validators B and C start with `--from-window w` once the cutoffs of 10 windows have passed
//! (one second into w+11, when w+10's uploads are still open).
//! - B, with `--storage.trust-store-times`, processes every missed window in order, taking
//!   each miner's file by the store's time, and emits A's verdicts and weights for every
//!   window, byte for byte in the weights files.
//! - C, without it, states for each of w..=w+9 that the window is not verified and why (no
//!   watcher of its own saw the store before the cutoff), commits none of them, and verifies
//!   w+10 and w+11 as A does.
//!
//! D and E start with A, are killed (SIGKILL) two seconds into window w, before its cutoff,
//! and restart with B and C: down for 10 cutoffs. D, with `--storage.trust-store-times`,
//! matches A byte for byte; E states that it was down at w's cutoff (and w+1's, when its
//! watcher polled that one ahead), that it never watched the rest up to w+9, and verifies
//! w+10 and w+11 as A does.
//!
//! F runs behind a dev chain that prunes old state: see its test.
//!
//! Two honest miners mine every window in one process each. Local beacon (1 s rounds), local
//! clock chain, 4-block windows of 1 s blocks (doubled under `CI=true`).
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grail_tests::{
    bin, ci_scale, clock_flags, devchain_flags, fixture, keygen, miner_command_windows,
    window_ahead, write_metagraph, DevChain, KillOnDrop, LocalBeacon,
};
use grail_validator::state::State;
use serde_json::{json, Value};

/// Windows processed in all, and how many of them the late validators never watched.
const WINDOWS: u64 = 12;
const LATE: u64 = 10;

fn blocks() -> u64 {
    4 * ci_scale()
}

fn validator(dir: &Path, data: &str, url: &str, genesis: u64, w: u64, trust: bool) -> Command {
    let chain = clock_flags(genesis, blocks());
    let mut cmd = validator_on(dir, data, url, &chain, w..=w + WINDOWS - 1, trust);
    cmd.arg("--metagraph").arg(dir.join("metagraph.json"));
    cmd
}

/// A validator of `windows` on the chain `chain` names, its data in `dir/data`.
fn validator_on(
    dir: &Path,
    data: &str,
    url: &str,
    chain: &[String],
    windows: std::ops::RangeInclusive<u64>,
    trust: bool,
) -> Command {
    let mut cmd = Command::new(bin("grail-validator"));
    cmd.arg("run")
        .arg("--model")
        .arg(fixture("models/tiny"))
        .arg("--data")
        .arg(dir.join(data))
        .args(["--beacon.chain", "local", "--beacon.relay", url])
        .args(chain)
        .args(["--window.challenge-buffer", "2", "--max-new-tokens", "16", "--threads", "1"])
        .args(["--weights.span", "2", "--weights.cap", "16", "--weights.burn-bps", "5000"])
        .args(["--from-window", &windows.start().to_string()])
        .args(["--until-window", &windows.end().to_string()])
        .arg("--storage.path")
        .arg(dir.join("storage"))
        .args(["--log.level", "info"]);
    if trust {
        cmd.arg("--storage.trust-store-times");
    }
    cmd
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A started process whose stdout and stderr are read as it runs (so no pipe fills up).
struct Running {
    guard: KillOnDrop,
    output: std::thread::JoinHandle<(Vec<u8>, Vec<u8>)>,
}

fn start(mut cmd: Command) -> Running {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let output = std::thread::spawn(move || {
        let errors = std::thread::spawn(move || {
            let mut e = Vec::new();
            err.read_to_end(&mut e).unwrap();
            e
        });
        let mut o = Vec::new();
        out.read_to_end(&mut o).unwrap();
        (o, errors.join().unwrap())
    });
    Running { guard: KillOnDrop(child), output }
}

fn finished(name: &str, mut running: Running) -> Output {
    let status = running.guard.0.wait().unwrap();
    let (stdout, stderr) = running.output.join().unwrap();
    assert!(status.success(), "{name}: {}", String::from_utf8_lossy(&stderr));
    Output { status, stdout, stderr }
}

fn weights_file(dir: &Path, data: &str, window: u64) -> String {
    std::fs::read_to_string(dir.join(data).join(format!("weights/{window}.json")))
        .unwrap_or_else(|e| panic!("{data}: weights of window {window}: {e}"))
}

#[test]
fn a_validator_started_ten_windows_late_catches_up_or_says_why_it_cannot() {
    let beacon = LocalBeacon::start(1);
    let (url, genesis) = (beacon.url(), beacon.genesis());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hotkeys: Vec<String> = (1..=2).map(|i| keygen(dir, &format!("h{i}"))).collect();
    write_metagraph(dir, "metagraph.json", &[(1, &hotkeys[0]), (2, &hotkeys[1])]);

    let w = window_ahead(genesis, blocks(), 2);
    let last = w + WINDOWS - 1;
    let chain = clock_flags(genesis, blocks());
    let miners: Vec<Running> =
        (1..=2).map(|i| start(miner_command_windows(dir, &url, i, w..=last, &chain))).collect();
    let a = start(validator(dir, "a", &url, genesis, w, false));
    let d = start(validator(dir, "d", &url, genesis, w, true));
    let e = start(validator(dir, "e", &url, genesis, w, false));
    sleep_until(genesis + w * blocks() + 2);
    drop((d, e));

    // Start B and C one second into window w+11: the cutoffs of w..=w+9 have passed, w+10's
    // upload period is still open.
    let late_start = genesis + (w + LATE + 1) * blocks() + 1;
    sleep_until(late_start);
    let b = start(validator(dir, "b", &url, genesis, w, true));
    let c = start(validator(dir, "c", &url, genesis, w, false));
    let d = start(validator(dir, "d", &url, genesis, w, true));
    let e = start(validator(dir, "e", &url, genesis, w, false));

    let (a, b, c) = (finished("A", a), finished("B", b), finished("C", c));
    let (d, e) = (finished("D", d), finished("E", e));
    for (i, m) in miners.into_iter().enumerate() {
        finished(&format!("miner {}", i + 1), m);
    }
    let (a_lines, b_lines, c_lines) = (lines(&a), lines(&b), lines(&c));
    let (d_lines, e_lines) = (lines(&d), lines(&e));
    let windows = |l: &[Value]| l.iter().map(|x| x["window"].as_u64().unwrap()).collect::<Vec<_>>();
    assert_eq!(windows(&a_lines), (w..=last).collect::<Vec<_>>(), "A: every window");

    // B and D: every window, in order, with A's verdicts and weights.
    for (name, data, out, out_lines) in [("B", "b", &b, &b_lines), ("D", "d", &d, &d_lines)] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(windows(out_lines), windows(&a_lines), "{name}: every window, in order");
        assert!(err.contains("catching up"), "{name}: {err}");
        assert_eq!(
            err.matches("files taken by the store's times").count() as u64,
            LATE,
            "{name} backfills exactly the missed windows: {err}"
        );
        for (x, y) in a_lines.iter().zip(out_lines) {
            let window = x["window"].as_u64().unwrap();
            assert_eq!(x["verdicts"], y["verdicts"], "{name}: window {window}");
            assert_eq!(x["weights"], y["weights"], "{name}: window {window}");
            let (ours, theirs) = (weights_file(dir, "a", window), weights_file(dir, data, window));
            assert_eq!(ours, theirs, "{name}: weights file of window {window}");
        }
    }
    // The miners were seen, not absent: both pass in every window.
    for line in &a_lines {
        let verdicts = line["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 2);
        assert!(verdicts.iter().all(|v| v["result"] == "pass"), "{line}");
    }

    // C: says, window by window, that it cannot verify the missed ones and why.
    let c_err = String::from_utf8_lossy(&c.stderr);
    for window in w..w + LATE {
        let said = c_err.lines().any(|l| {
            l.contains("window not verified")
                && l.contains(&format!("window={window}"))
                && l.contains("no watcher of this validator polled the store before")
        });
        assert!(said, "C says nothing of window {window}:\n{c_err}");
    }
    assert_eq!(windows(&c_lines), vec![w + LATE, last], "C verifies what it watched");
    for (x, y) in a_lines[LATE as usize..].iter().zip(&c_lines) {
        assert_eq!(x["verdicts"], y["verdicts"], "window {}", x["window"]);
    }
    // With a two-window span, C's last weights cover exactly the windows A's do.
    assert_eq!(weights_file(dir, "a", last), weights_file(dir, "c", last));
    let state = State::open(&dir.join("c")).unwrap();
    assert_eq!(state.last_processed().unwrap(), Some(last));
    for window in w..w + LATE {
        assert!(state.verdicts(window).unwrap().is_empty(), "C committed window {window}");
    }

    // E: down at w's cutoff, never watched w+1..=w+9; says so window by window.
    let e_err = String::from_utf8_lossy(&e.stderr);
    let says = |window: u64, why: &str| {
        e_err.lines().any(|l| {
            l.contains("window not verified")
                && l.contains(&format!("window={window}"))
                && l.contains(why)
        })
    };
    // The watcher also polls the window after the current one when the chain gives its clock
    // (the local clock does), so w+1 may be either.
    let down = "the validator was down at the window's cutoff";
    assert!(says(w, down), "E on window {w}:\n{e_err}");
    let never = "no watcher of this validator polled the store before";
    assert!(says(w + 1, down) || says(w + 1, never), "E on window {}:\n{e_err}", w + 1);
    for window in w + 2..w + LATE {
        let why = "no watcher of this validator polled the store before";
        assert!(says(window, why), "E says nothing of window {window}:\n{e_err}");
    }
    assert_eq!(windows(&e_lines), vec![w + LATE, last], "E verifies what it watched through");
    for (x, y) in a_lines[LATE as usize..].iter().zip(&e_lines) {
        assert_eq!(x["verdicts"], y["verdicts"], "E: window {}", x["window"]);
    }
}

/// F, behind a pruned node: the dev chain keeps the state of the last three windows' blocks
/// below its finalized head (`--state-pruning`), as a lite subtensor node keeps its last 256.
/// A runs windows w..=w+4 from the start; F, with `--storage.trust-store-times`, starts one
/// block into w+4 with `--from-window w`. The state at w's and w+1's first blocks is gone by
/// then, and w+2's is kept until block (w+5)·L, so F states w and w+1 as unverifiable from
/// this node (pruned; an archive node can), commits nothing for them and goes on, and takes
/// w+2..=w+4 as A does. Windows of 6 blocks (doubled under `CI=true`), so that F reads w+2's
/// state well before it is pruned.
#[test]
fn a_validator_behind_a_pruned_node_says_which_windows_it_cannot_read_and_verifies_the_rest() {
    let beacon = LocalBeacon::start(1);
    let url = beacon.url();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let owner = keygen(dir, "owner");
    let hotkeys: Vec<String> = (1..=2).map(|i| keygen(dir, &format!("h{i}"))).collect();
    let neurons: Vec<Value> = std::iter::once(&owner)
        .chain(&hotkeys)
        .map(|hk| json!({"hotkey": hk, "stake": 1_000_000_000u64}))
        .collect();
    let genesis = json!({"netuid": 1, "owner": owner, "neurons": neurons});
    let l = 6 * ci_scale();
    let keep = (3 * l).to_string();
    let node = DevChain::start_with(dir, &genesis, 1000, &["--state-pruning", &keep]);
    let w = best_block(&node) / l + 2;
    let last = w + 4;
    let miner_chain = devchain_flags(&node.ws(), l);
    let miners: Vec<Running> = (1..=2)
        .map(|i| start(miner_command_windows(dir, &url, i, w..=last, &miner_chain)))
        .collect();
    let mut chain = devchain_flags(&node.http(), l);
    chain.extend(["--weights.on-chain".to_owned(), "false".to_owned()]);
    let a = start(validator_on(dir, "a", &url, &chain, w..=last, false));
    while best_block(&node) <= (w + 4) * l {
        std::thread::sleep(Duration::from_millis(200));
    }
    let f = start(validator_on(dir, "f", &url, &chain, w..=last, true));
    let (a, f) = (finished("A", a), finished("F", f));
    for (i, m) in miners.into_iter().enumerate() {
        finished(&format!("miner {}", i + 1), m);
    }
    let (a_lines, f_lines) = (lines(&a), lines(&f));
    let windows = |l: &[Value]| l.iter().map(|x| x["window"].as_u64().unwrap()).collect::<Vec<_>>();
    assert_eq!(windows(&a_lines), (w..=last).collect::<Vec<_>>(), "A: every window");
    for line in &a_lines {
        let verdicts = line["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 2, "{line}");
        assert!(verdicts.iter().all(|v| v["result"] == "pass"), "{line}");
    }

    let f_err = String::from_utf8_lossy(&f.stderr);
    for window in [w, w + 1] {
        let said = f_err.lines().any(|line| {
            line.contains("window not verified: the chain node has pruned the state")
                && line.contains(&format!("window={window}"))
                && line.contains(&format!("block={}", window * l))
                && line.contains("State already discarded")
                && line.contains("archive node")
        });
        assert!(said, "F says nothing of window {window}:\n{f_err}");
    }
    assert!(!f_err.contains("retrying"), "a pruned state is not retried:\n{f_err}");
    assert_eq!(windows(&f_lines), (w + 2..=last).collect::<Vec<_>>(), "F: the rest, in order");
    for (x, y) in a_lines[2..].iter().zip(&f_lines) {
        assert_eq!(x["verdicts"], y["verdicts"], "F: window {}", x["window"]);
    }
    // With a two-window span, F's weights from w+3 on cover exactly the windows A's do.
    for window in [w + 3, last] {
        assert_eq!(weights_file(dir, "a", window), weights_file(dir, "f", window));
    }
    let state = State::open(&dir.join("f")).unwrap();
    assert_eq!(state.last_processed().unwrap(), Some(last));
    for window in [w, w + 1] {
        assert!(state.verdicts(window).unwrap().is_empty(), "F committed window {window}");
    }
}

/// The dev chain's best block.
fn best_block(node: &DevChain) -> u64 {
    let head = node.rpc("chain_getHeader", json!([]));
    u64::from_str_radix(head["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Sleeps until unix second `at`.
fn sleep_until(at: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    std::thread::sleep(Duration::from_secs(at.saturating_sub(now)));
}

//! Attacks on everything around the proof, against the real binaries in one window on the
//! tiny model: a test adversary with write access to the whole local store (more than any miner
//! has: each writes only its own part, `{hotkey}/`) and to the network.
//!
//! - griefing: garbage written over an honest miner's file, the miner's own genuine file of
//!   another window copied over its current one, its bytes written again after the deadline
//!   (all in the miner's own part of the store, as with leaked write credentials), and its
//!   genuine file planted under its name in another miner's part;
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
//! misconfigured miner `mismatch` and not excluded, and A's weights must equal B's. Prints
//! what the grinding tried and A's peak memory. `s3.rs` runs the attacks an S3-compatible
//! store allows (`scripts/test-s3.sh`).
//! Needs the binaries: `cargo build --workspace --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

mod s3;
mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grail_protocol::codec::{decode, encode, Limits};
use grail_protocol::keys::Hotkey;
use grail_protocol::signing::sign_window_file;
use grail_protocol::window_file::window_file_key;
use grail_tests::{peak_kb, LocalBeacon};
use grail_validator::state::{State, VerdictResult};
use serde_json::Value;

use support::*;

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

    // Each miner's file is `{hotkey}/windows/{w}/{hotkey}.grail`: its own part of the store.
    let key = |name: &str| window_file_key(w, &Hotkey::from_ss58(&hk(name)).unwrap());
    let at = |root: &std::path::Path, name: &str| root.join(hk(name)).join(key(name));
    let folder_of = |name: &str| attacked.join(hk(name)).join(format!("windows/{w}"));
    // Planted before the window: a FIFO under a registered key, a name that is not UTF-8, a
    // folder, a link to the linked miner's genuine file outside the store, the junk flood.
    for name in [FIFO, LINKED, HONEST[0]] {
        std::fs::create_dir_all(folder_of(name)).unwrap();
    }
    let fifo = at(&attacked, FIFO);
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let folder = folder_of(HONEST[0]);
    let odd = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff\xfe.grail");
    std::fs::write(folder.join(odd), b"odd").unwrap();
    std::fs::create_dir_all(folder.join("sub.grail")).unwrap();
    let linked_genuine = at(&private, LINKED);
    std::os::unix::fs::symlink(&linked_genuine, at(&attacked, LINKED)).unwrap();
    let junk = vec![0x5au8; JUNK_BYTES];
    for i in 0..JUNK_FILES {
        std::fs::write(folder.join(format!("junk{i}.grail")), &junk).unwrap();
    }
    drop(junk);

    let mut miners = Vec::new();
    for name in [HONEST[0], HONEST[1], LATE, LINKED] {
        miners.push(miner(dir, &url, genesis, name, w, &Store::Local(private.clone()), 1));
    }
    miners.push(miner(dir, &url, genesis, GRINDER, w, &Store::Local(private.clone()), 2));
    miners.push(miner(dir, &url, genesis, MISMATCH, w, &Store::Local(attacked.clone()), 1));
    let mut a = validator(dir, &url, genesis, "a", "all.json", &Store::Local(attacked.clone()), w);
    let mut b = validator(dir, &url, genesis, "b", "honest.json", &Store::Local(clean.clone()), w);
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

    // The honest files, mined once, the same bytes in both stores.
    let honest: Vec<(String, Vec<u8>)> =
        HONEST.iter().map(|n| (hk(n), wait_for_file(&at(&private, n), late_by))).collect();
    let staging = dir.join("staging");
    let put = |ss58: &str, bytes: &[u8]| {
        let name = names[hotkeys.iter().position(|h| h == ss58).unwrap()];
        write_whole(&staging, &at(&attacked, name), bytes);
        write_whole(&staging, &at(&clean, name), bytes);
    };
    publish_in_order(&honest, put, [&a_log, &b_log], late_by);

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

    // Griefing, once A holds both honest files: written into the honest miners' own parts
    // (as if their write credentials had leaked), and the genuine file of one planted under
    // its name in the grinder's part (what the grinder's own credentials allow).
    for name in HONEST {
        let ss58 = hk(name);
        wait_for_line(&a_log, "honest file read", late_by, |l| {
            l.contains("miner's file read") && l.contains(&ss58)
        });
    }
    let h1_bytes = std::fs::read(at(&attacked, HONEST[0])).unwrap();
    std::fs::write(at(&attacked, HONEST[1]), b"garbage under an honest name").unwrap();
    let planted = attacked.join(hk(GRINDER)).join(key(HONEST[0]));
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::write(&planted, &h1_bytes).unwrap();
    let mut other_window = decode(&h1_bytes, &Limits::default()).unwrap();
    other_window.header.window = w - 1;
    sign_window_file(&pair(dir, HONEST[0]), &mut other_window).unwrap();
    std::fs::write(at(&attacked, HONEST[0]), encode(&other_window).unwrap()).unwrap();

    // After the deadline: the honest bytes again, and the late file, both backdated.
    sleep_until(deadline as f64 + 1.5);
    write_backdated(&at(&attacked, HONEST[0]), &h1_bytes, start);
    let late_bytes = wait_for_file(&at(&private, LATE), late_by);
    write_backdated(&at(&attacked, LATE), &late_bytes, start + 1);

    // Grinding against the published challenge beacon.
    let randomness = fetch_randomness(&url, challenge_round, late_by);
    let honest = wait_for_file(&at(&private, GRINDER), late_by);
    let chosen = grind(&randomness, &honest, &pair(dir, GRINDER));
    for bytes in &chosen {
        write_backdated(&at(&attacked, GRINDER), bytes, start + 1);
        std::thread::sleep(Duration::from_millis(50));
    }

    let (a_out, b_out, a_log) = finish(a, b, &a_log, &b_log, &mut miners);
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
    let (wa, wb) = (first_weights(&a_out), first_weights(&b_out));
    println!("weights under attack: uids {} weights {}", wa["uids"], wa["weights"]);
    assert_eq!(wa["uids"], serde_json::json!([0, 1, 2]));
    assert_eq!((&wa["uids"], &wa["weights"]), (&wb["uids"], &wb["weights"]));
}

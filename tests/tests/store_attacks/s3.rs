//! The attacks an S3-compatible store allows, against `moto_server`.

use grail_protocol::codec::{decode, encode, Limits};
use grail_protocol::keys::Hotkey;
use grail_protocol::signing::sign_window_file;
use grail_protocol::window_file::window_file_key;
use grail_tests::LocalBeacon;
use grail_validator::state::{State, VerdictResult};

use crate::support::*;

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
    // Each miner's own part of the bucket, `{prefix}/{hotkey}/`.
    let part = |hotkey: &str| writer.for_miner(hotkey).unwrap();

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
    for name in [HONEST[0], HONEST[1]] {
        miners.push(miner(dir, &url, genesis, name, w, &Store::Local(private.clone()), 1));
    }
    miners.push(miner(dir, &url, genesis, GRINDER, w, &Store::Local(private.clone()), 2));
    let mut a = validator(dir, &url, genesis, "a", "all.json", &s3, w);
    let mut b = validator(dir, &url, genesis, "b", "honest.json", &Store::Local(clean.clone()), w);
    let a_log = collect(&mut a);
    let b_log = collect(&mut b);
    let late_by = (deadline + BUFFER + 60) as f64;

    let put = |name: &str, owner: &str, bytes: Vec<u8>| {
        rt.block_on(part(&hk(owner)).put(&key(name), bytes)).unwrap();
    };
    // The honest files, mined once, the same bytes in the bucket and the clean store.
    let private_file = |name: &str| private.join(hk(name)).join(key(name));
    let honest: Vec<(String, Vec<u8>)> =
        HONEST.iter().map(|n| (hk(n), wait_for_file(&private_file(n), late_by))).collect();
    let staging = dir.join("staging");
    let publish = |ss58: &str, bytes: &[u8]| {
        let name = names[hotkeys.iter().position(|h| h == ss58).unwrap()];
        put(name, name, bytes.to_vec());
        write_whole(&staging, &clean.join(ss58).join(key(name)), bytes);
    };
    publish_in_order(&honest, publish, [&a_log, &b_log], late_by);
    // Griefing in the honest miners' own parts (as with leaked write credentials), and one's
    // genuine file planted under its name in the grinder's part.
    let h1_bytes =
        rt.block_on(part(&hk(HONEST[0])).read(&key(HONEST[0]), u64::MAX)).unwrap().unwrap().1;
    put(HONEST[1], HONEST[1], b"garbage under an honest name".to_vec());
    put(HONEST[0], GRINDER, h1_bytes.clone());
    let mut other_window = decode(&h1_bytes, &Limits::default()).unwrap();
    other_window.header.window = w - 1;
    sign_window_file(&pair(dir, HONEST[0]), &mut other_window).unwrap();
    put(HONEST[0], HONEST[0], encode(&other_window).unwrap());
    sleep_until(deadline as f64 + 1.5);
    put(HONEST[0], HONEST[0], h1_bytes);
    let randomness = fetch_randomness(&url, challenge_round, late_by);
    let honest = wait_for_file(&private.join(hk(GRINDER)).join(key(GRINDER)), late_by);
    for bytes in grind(&randomness, &honest, &pair(dir, GRINDER)) {
        put(GRINDER, GRINDER, bytes);
    }

    let (a_out, b_out, _) = finish(a, b, &a_log, &b_log, &mut miners);
    let state = State::open(&dir.join("a")).unwrap();
    let verdicts = state.verdicts(w).unwrap();
    let result = |name: &str| {
        let ss58 = hk(name);
        verdicts.iter().find(|v| v.hotkey.to_ss58() == ss58).unwrap().result
    };
    assert_eq!([result(HONEST[0]), result(HONEST[1])], [VerdictResult::Pass; 2], "{verdicts:?}");
    assert_eq!(result(GRINDER), VerdictResult::Absent);
    let (wa, wb) = (first_weights(&a_out), first_weights(&b_out));
    println!("weights on the attacked S3 store: uids {} weights {}", wa["uids"], wa["weights"]);
    assert_eq!((&wa["uids"], &wa["weights"]), (&wb["uids"], &wb["weights"]));
}

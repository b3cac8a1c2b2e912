#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use grail_protocol::codec::encode;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::window_file::window_file_key;
use grail_storage::WindowStore;

use super::*;
use crate::http::LiveStatus;
use crate::metagraph::{Metagraph, Neuron};
use crate::pipeline::testutil::{pair, sample_file};

#[test]
fn the_spool_keeps_the_first_time_of_the_same_bytes_and_skips_torn_files() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::new(dir.path());
    let (a, b) = (pair(1).hotkey(), pair(2).hotkey());
    let miners: BTreeMap<_, _> = [(a, 1), (b, 2)].into();
    let file_a = encode(&sample_file(&pair(1), 4)).unwrap();
    assert_eq!(spool.put(4, &a, &file_a, 100).unwrap().first_seen_unix, 100);
    assert_eq!(spool.put(4, &a, &file_a, 130).unwrap().first_seen_unix, 100, "same bytes");
    let loaded = spool.load(4, &miners).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!((loaded[0].uploaded_unix, loaded[0].bytes.as_deref()), (100, Some(&file_a[..])));
    assert_eq!(loaded[0].key, window_file_key(4, &a));
    // Other bytes: a new first time.
    let file_b = encode(&sample_file(&pair(2), 4)).unwrap();
    spool.put(4, &b, &file_b, 120).unwrap();
    // A torn write (bytes not the entry's CID) is skipped.
    std::fs::write(dir.path().join(format!("intake/4/{b}.grail")), b"torn").unwrap();
    let loaded = spool.load(4, &miners).unwrap();
    assert_eq!(loaded.len(), 1, "only a's file is whole");
    // A miner no longer registered is not loaded.
    assert!(spool.load(4, &[(b, 2)].into()).unwrap().is_empty());
    spool.put(5, &a, &file_a, 200).unwrap();
    spool.remove_before(5).unwrap();
    assert!(spool.load(4, &miners).unwrap().is_empty());
    assert_eq!(spool.load(5, &miners).unwrap().len(), 1);
}

/// The watcher keeps a miner's own signed file and nothing else written under its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_keeps_only_what_the_miner_signed() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = WindowStore::open_local(&store_dir).unwrap();
    let (p1, p2, p3) = (pair(1), pair(2), pair(3));
    let metagraph = Metagraph {
        netuid: Some(1),
        burn_uid: 0,
        neurons: [&p1, &p2, &p3]
            .iter()
            .zip(1u16..)
            .map(|(p, uid)| Neuron { uid, hotkey: p.hotkey() })
            .collect(),
    };
    let metagraph_path = dir.path().join("metagraph.json");
    std::fs::write(&metagraph_path, serde_json::to_vec(&metagraph).unwrap()).unwrap();
    // Window 0 started 10 s ago and stays open for minutes.
    let now = unix_now_ms() / 1000;
    let chain = grail_chain::LocalClockChain::new(now - 10, 1).unwrap();
    let network = NetworkParams { blocks_per_window: 600, ..NetworkParams::default() };
    let spool = Spool::new(dir.path());
    let live = LiveStatus::new(Some(1));
    let watcher = Watcher {
        stores: super::MinerStores::shared(store.clone()),
        spool: spool.clone(),
        metagraph: crate::metagraph::MetagraphSource::File(metagraph_path),
        network,
        verify: VerifyParams::default(),
        chain,
        first_window: 0,
        interval: Duration::from_millis(50),
        live: live.clone(),
    };
    let (_progress, handle) = watcher.spawn();

    let part = |p: &HotkeyPair| store.for_miner(&p.hotkey().to_ss58()).unwrap();
    let own = encode(&sample_file(&p1, 0)).unwrap();
    part(&p1).put(&window_file_key(0, &p1.hotkey()), own.clone()).await.unwrap();
    part(&p2).put(&window_file_key(0, &p2.hotkey()), b"garbage".to_vec()).await.unwrap();
    // p3's genuine file planted in p2's part, and at the root: neither is p3's part.
    let p3_file = encode(&sample_file(&p3, 0)).unwrap();
    part(&p2).put(&window_file_key(0, &p3.hotkey()), p3_file.clone()).await.unwrap();
    store.put(&window_file_key(0, &p3.hotkey()), p3_file.clone()).await.unwrap();
    let outside = dir.path().join("outside.grail");
    std::fs::write(&outside, &p3_file).unwrap();
    let p3_folder = store_dir.join(format!("{}/windows/0", p3.hotkey()));
    std::fs::create_dir_all(&p3_folder).unwrap();
    std::os::unix::fs::symlink(&outside, p3_folder.join(format!("{}.grail", p3.hotkey()))).unwrap();
    let miners = metagraph.miners();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        for _ in 0..100 {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} never happened: {:?}", live.report().ignored_reads);
    };
    wait("the own file kept", &|| spool.load(0, &miners).unwrap().len() == 1);
    let reasons = |hk: &grail_protocol::keys::Hotkey| -> Vec<String> {
        let ss58 = hk.to_ss58();
        live.report()
            .ignored_reads
            .iter()
            .filter(|r| r.hotkey == ss58)
            .map(|r| r.reason.clone())
            .collect()
    };
    wait("the garbage ignored", &|| reasons(&p2.hotkey()) == ["not_attributable"]);
    wait("the link refused", &|| reasons(&p3.hotkey()) == ["unreadable"]);
    let link = live.report().ignored_reads.into_iter().find(|r| r.reason == "unreadable").unwrap();
    assert!(link.detail.contains("symbolic link"), "{link:?}");

    // The miner's genuine file of another window copied over its current one: ignored, and
    // the file it signed for this window stays.
    let earlier = encode(&sample_file(&p1, 1)).unwrap();
    part(&p1).put(&window_file_key(0, &p1.hotkey()), earlier).await.unwrap();
    wait("the copy ignored", &|| reasons(&p1.hotkey()) == ["not_attributable"]);
    // A refusal that lasts is reported once, however many rounds see it.
    assert_eq!(reasons(&p3.hotkey()), ["unreadable"]);
    assert_eq!(reasons(&p2.hotkey()), ["not_attributable"]);
    // p3's file in the other parts was never read as p3's: only its own part's link was.
    let kept = spool.load(0, &miners).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].bytes.as_deref(), Some(&own[..]));
    assert!(live
        .metrics_text()
        .contains("grail_validator_store_objects_ignored_total{reason=\"not_attributable\"} 2"));
    handle.abort();
}

#[tokio::test]
async fn progress_passes_the_cutoff_only_after_a_later_round() {
    let dir = tempfile::tempdir().unwrap();
    let metagraph_path = dir.path().join("metagraph.json");
    let metagraph = Metagraph { netuid: None, burn_uid: 0, neurons: vec![] };
    std::fs::write(&metagraph_path, serde_json::to_vec(&metagraph).unwrap()).unwrap();
    let watcher = Watcher {
        stores: super::MinerStores::shared(WindowStore::open_local(&dir.path().join("s")).unwrap()),
        spool: Spool::new(dir.path()),
        metagraph: crate::metagraph::MetagraphSource::File(metagraph_path),
        network: NetworkParams::default(),
        verify: VerifyParams::default(),
        chain: grail_chain::LocalClockChain::new(0, 12).unwrap(),
        first_window: 0,
        interval: Duration::from_millis(20),
        live: LiveStatus::new(None),
    };
    let (mut progress, handle) = watcher.spawn();
    let target = unix_now_ms() + 150;
    tokio::time::timeout(Duration::from_secs(5), progress.wait_past(target))
        .await
        .unwrap()
        .unwrap();
    assert!(unix_now_ms() >= target);
    handle.abort();
}

#[test]
fn the_cutoff_is_the_end_of_the_last_on_time_second() {
    let network = NetworkParams { blocks_per_window: 4, grace_period_s: 2, ..Default::default() };
    let clock = ChainClock { genesis_unix: 1000, block_time_s: 1 };
    let verify = VerifyParams { upload_grace_s: 1, ..VerifyParams::default() };
    // Window 3: next window starts at 1016, deadline 1018, grace 1 -> last on-time second 1019.
    assert_eq!(cutoff_ms(3, &network, &verify, &clock).unwrap(), 1_020_000);
}

#[test]
fn the_spool_keeps_the_earliest_watch_of_a_window_across_runs_until_it_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::new(dir.path());
    assert_eq!(spool.watched_from(7), None, "never watched");
    spool.mark_watched(7, 5_000).unwrap();
    spool.mark_watched(7, 9_000).unwrap();
    assert_eq!(spool.watched_from(7), Some(5_000), "a later poll keeps the first");
    // A restarted validator reads what an earlier run recorded.
    let again = Spool::new(dir.path());
    again.mark_watched(7, 4_000).unwrap();
    assert_eq!(again.watched_from(7), Some(4_000), "an earlier time replaces a later one");
    assert_eq!(again.watched_from(8), None);
    // The marker is not taken for a miner's file.
    let miners: BTreeMap<_, _> = [(pair(1).hotkey(), 1)].into();
    assert!(again.load(7, &miners).unwrap().is_empty());
    again.remove_before(8).unwrap();
    assert_eq!(again.watched_from(7), None, "dropped with its committed window");
}

#[test]
fn a_window_is_closed_only_by_a_watch_that_ran_past_its_cutoff() {
    use super::Watched;
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::new(dir.path());
    assert!(spool.mark_closed(7, 10_000).is_err(), "closed without being watched");
    spool.mark_watched(7, 5_000).unwrap();
    assert_eq!(spool.watched(7), Some(Watched { from_ms: 5_000, closed_ms: None }));
    spool.mark_closed(7, 10_000).unwrap();
    spool.mark_closed(7, 12_000).unwrap();
    // An earlier poll by another run keeps the close; a later close keeps the first.
    Spool::new(dir.path()).mark_watched(7, 4_000).unwrap();
    assert_eq!(spool.watched(7), Some(Watched { from_ms: 4_000, closed_ms: Some(10_000) }));
    // A marker written before closes were recorded reads as not closed.
    std::fs::create_dir_all(dir.path().join("intake/8")).unwrap();
    std::fs::write(dir.path().join("intake/8/watched.json"), b"{\"from_ms\": 3000}").unwrap();
    assert_eq!(spool.watched(8), Some(Watched { from_ms: 3_000, closed_ms: None }));
}

#[tokio::test]
async fn a_backfill_takes_files_modified_before_the_cutoff_and_only_the_miners_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = WindowStore::open_local(&dir.path().join("store")).unwrap();
    let (p1, p2) = (pair(1), pair(2));
    for p in [&p1, &p2] {
        let part = store.for_miner(&p.hotkey().to_ss58()).unwrap();
        let bytes = encode(&sample_file(p, 4)).unwrap();
        part.put(&window_file_key(4, &p.hotkey()), bytes).await.unwrap();
    }
    // Miner 2's part holds miner 1's file under its key: not attributable to miner 2.
    let wrong = encode(&sample_file(&p1, 4)).unwrap();
    let part2 = store.for_miner(&p2.hotkey().to_ss58()).unwrap();
    part2.put(&window_file_key(4, &p2.hotkey()), wrong).await.unwrap();
    let stores = MinerStores::shared(store);
    let spool = Spool::new(dir.path());
    let miners: BTreeMap<_, _> = [(p1.hotkey(), 1), (p2.hotkey(), 2)].into();
    let verify = grail_protocol::verify_params::VerifyParams::default();

    let early = backfill(&stores, &spool, 4, 1_000, &miners, &verify).await.unwrap();
    assert_eq!(early, Backfill { late: 2, ..Backfill::default() }, "both written after 1 s");
    assert!(spool.load(4, &miners).unwrap().is_empty());

    let cutoff = unix_now_ms() + 60_000;
    let got = backfill(&stores, &spool, 4, cutoff, &miners, &verify).await.unwrap();
    assert_eq!(got, Backfill { taken: 1, refused: 1, ..Backfill::default() });
    let loaded = spool.load(4, &miners).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].key, window_file_key(4, &p1.hotkey()));
    let now = unix_now_ms() / 1000;
    assert!(loaded[0].uploaded_unix <= now && loaded[0].uploaded_unix + 60 > now, "store time");
}

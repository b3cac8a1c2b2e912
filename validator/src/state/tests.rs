use std::collections::BTreeMap;

use grail_protocol::keys::Hotkey;
use grail_weights::{compute_weights, MinerStatus, WeightsConfig, WindowRecord};

use super::*;

fn key(n: u8) -> Hotkey {
    Hotkey([n; 32])
}

fn verdict(n: u8, result: VerdictResult, unique_estimated: u64) -> Verdict {
    let stage = match result {
        VerdictResult::Pass => Stage::Duplicates,
        VerdictResult::Fail => Stage::Logprobs,
        VerdictResult::Mismatch => Stage::Header,
        VerdictResult::Unchecked => Stage::Signatures,
        VerdictResult::Absent => Stage::File,
    };
    Verdict {
        hotkey: key(n),
        uid: u16::from(n),
        stage,
        result,
        reason: (result == VerdictResult::Fail).then(|| format!("miner {n} drifted")),
        rollouts_in_file: 64,
        rollouts_checked: 16,
        unique_verified: unique_estimated / 4,
        unique_estimated,
    }
}

fn outcome(window: u64, verdicts: Vec<Verdict>) -> WindowOutcome {
    WindowOutcome {
        window,
        beacon_round: 1000 + window,
        randomness: [window as u8; 32],
        processed_at_unix: 1_700_000_000 + window,
        files: verdicts.len() as u64,
        verdicts,
        exclusions: vec![],
    }
}

fn exclusion(n: u8, from_window: u64, until_window: u64) -> Exclusion {
    Exclusion { hotkey: key(n), from_window, until_window, reason: format!("{from_window}..") }
}

fn open(dir: &tempfile::TempDir) -> State {
    State::open(dir.path()).expect("open state")
}

fn count(state: &State, table: &str) -> i64 {
    state.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("count")
}

#[test]
fn opens_with_schema_wal_and_full_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = State::open(&dir.path().join("nested/data")).expect("creates folders");
    assert_eq!(state.path(), dir.path().join("nested/data").join(DB_FILE));
    assert_eq!(schema::version(&state.conn).expect("version"), schema::SCHEMA_VERSION);
    let mode: String =
        state.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
    assert_eq!(mode, "wal");
    let sync: i64 = state.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma");
    assert_eq!(sync, 2, "FULL");
    assert_eq!(state.last_processed().expect("query"), None);
    assert_eq!(state.latest_weights().expect("query"), None);
}

#[test]
fn records_and_reads_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o =
        outcome(7, vec![verdict(3, VerdictResult::Pass, 40), verdict(1, VerdictResult::Fail, 0)]);
    o.exclusions.push(exclusion(1, 8, 12));
    {
        let mut state = open(&dir);
        assert!(!state.is_processed(7).expect("query"));
        state.record_window(&o).expect("record");
    }
    let state = open(&dir);
    assert!(state.is_processed(7).expect("query"));
    assert!(!state.is_processed(6).expect("query"));
    assert_eq!(state.last_processed().expect("query"), Some(7));
    let mut expected = o.verdicts.clone();
    expected.sort_by_key(|v| v.uid);
    assert_eq!(state.verdicts(7).expect("verdicts"), expected);
    assert_eq!(state.verdicts(8).expect("verdicts"), vec![]);
    assert_eq!(state.excluded(&key(1), 9).expect("query"), Some(exclusion(1, 8, 12)));
    assert_eq!(schema::version(&state.conn).expect("version"), schema::SCHEMA_VERSION);
}

#[test]
fn a_miners_verdicts_since_a_window_come_oldest_first_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    for w in 3..=6 {
        let result = if w == 5 { VerdictResult::Fail } else { VerdictResult::Pass };
        state
            .record_window(&outcome(
                w,
                vec![verdict(1, result, 8), verdict(2, VerdictResult::Pass, 8)],
            ))
            .expect("record");
    }
    let windows = |rows: Vec<(u64, Verdict)>| rows.iter().map(|(w, _)| *w).collect::<Vec<_>>();
    let rows = state.verdicts_of(&key(1), 4, 100).expect("query");
    assert_eq!(windows(rows.clone()), [4, 5, 6]);
    assert!(rows.iter().all(|(_, v)| v.hotkey == key(1)));
    assert_eq!(rows[1].1.result, VerdictResult::Fail);
    assert_eq!(rows[1].1.reason.as_deref(), Some("miner 1 drifted"));
    assert_eq!(windows(state.verdicts_of(&key(1), 0, 2).expect("query")), [3, 4]);
    assert!(state.verdicts_of(&key(9), 0, 100).expect("query").is_empty());
    // A reader beside the writer reads the same, and cannot write.
    let reader = State::open_read_only(dir.path()).expect("read only");
    assert_eq!(reader.verdicts_of(&key(1), 4, 100).expect("query"), rows);
    let mut reader = reader;
    assert!(reader.record_window(&outcome(7, vec![])).is_err(), "a reader cannot write");
    assert!(State::open_read_only(&dir.path().join("none")).is_err(), "nothing is created");
    assert!(!dir.path().join("none").exists());
}

#[test]
fn refuses_a_window_twice_and_keeps_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    let first = outcome(5, vec![verdict(1, VerdictResult::Pass, 10)]);
    state.record_window(&first).expect("record");
    let second =
        outcome(5, vec![verdict(1, VerdictResult::Pass, 99), verdict(2, VerdictResult::Pass, 1)]);
    let err = state.record_window(&second).expect_err("duplicate window");
    assert!(matches!(err, ValidatorError::WindowAlreadyRecorded { window: 5 }), "{err}");
    assert_eq!(state.verdicts(5).expect("verdicts"), first.verdicts);
    // Also refused from a fresh handle, as after a restart.
    drop(state);
    let mut state = open(&dir);
    assert!(matches!(
        state.record_window(&first),
        Err(ValidatorError::WindowAlreadyRecorded { window: 5 })
    ));
}

#[test]
fn a_failure_midway_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    // The second verdict repeats a hotkey: the insert fails after the window row and the
    // first verdict went in.
    let dup =
        outcome(3, vec![verdict(1, VerdictResult::Pass, 10), verdict(1, VerdictResult::Fail, 0)]);
    let err = state.record_window(&dup).expect_err("duplicate verdict");
    assert!(matches!(err, ValidatorError::Sqlite { op: "insert verdict", .. }), "{err}");
    // The last step fails: an exclusion bound outside SQLite's integer range.
    let mut late = outcome(3, vec![verdict(1, VerdictResult::Fail, 0)]);
    late.exclusions = vec![exclusion(1, 4, 6), exclusion(1, 4, u64::MAX)];
    let err = state.record_window(&late).expect_err("out of range");
    assert!(matches!(err, ValidatorError::Sqlite { op: "insert exclusion", .. }), "{err}");
    for table in ["windows", "verdicts", "exclusions"] {
        assert_eq!(count(&state, table), 0, "{table} after rollback");
    }
    assert!(!state.is_processed(3).expect("query"));
    assert_eq!(state.excluded(&key(1), 4).expect("query"), None);
    // The rolled-back window can then be recorded, and it persists.
    late.exclusions.pop();
    state.record_window(&late).expect("record after rollback");
    drop(state);
    let state = open(&dir);
    assert_eq!(state.verdicts(3).expect("verdicts"), late.verdicts);
    assert_eq!(count(&state, "exclusions"), 1);
}

#[test]
fn rejects_inconsistent_outcomes_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    let mut o = outcome(2, vec![]);
    o.exclusions.push(exclusion(1, 5, 5));
    let err = state.record_window(&o).expect_err("empty exclusion");
    assert!(matches!(err, ValidatorError::InvalidOutcome { field: "exclusions.until_window", .. }));
    let mut v = verdict(1, VerdictResult::Pass, 3);
    v.rollouts_checked = v.rollouts_in_file + 1;
    let err = state.record_window(&outcome(2, vec![v])).expect_err("too many checked");
    assert!(matches!(
        err,
        ValidatorError::InvalidOutcome { field: "verdicts.rollouts_checked", .. }
    ));
    assert!(!state.is_processed(2).expect("query"));
}

#[test]
fn exclusions_cover_their_window_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    let mut o = outcome(9, vec![verdict(1, VerdictResult::Fail, 0)]);
    o.exclusions = vec![exclusion(1, 10, 13), exclusion(1, 11, 20), exclusion(2, 10, 11)];
    state.record_window(&o).expect("record");
    let until = |n, w| state.excluded(&key(n), w).expect("query").map(|e| e.until_window);
    assert_eq!(until(1, 9), None, "before from_window");
    assert_eq!(until(1, 10), Some(13));
    assert_eq!(until(1, 12), Some(20), "the longest covering exclusion");
    assert_eq!(until(1, 19), Some(20));
    assert_eq!(until(1, 20), None, "until_window is exclusive");
    assert_eq!(until(2, 10), Some(11));
    assert_eq!(until(2, 11), None);
    assert_eq!(until(3, 10), None, "another hotkey");
}

#[test]
fn miner_records_cover_the_span_by_hotkey() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    for w in 1..=15 {
        let mut verdicts = vec![verdict(1, VerdictResult::Pass, w * 10)];
        // Miner 2 fails once, in window 3 (outside the span ending at 15) and is unchecked
        // in odd windows; miner 3 is absent except in window 15.
        verdicts.push(match w {
            3 => verdict(2, VerdictResult::Fail, 0),
            w if w % 2 == 1 => verdict(2, VerdictResult::Unchecked, 0),
            _ => verdict(2, VerdictResult::Pass, 7),
        });
        verdicts.push(if w == 15 {
            verdict(3, VerdictResult::Fail, 0)
        } else {
            verdict(3, VerdictResult::Absent, 0)
        });
        state.record_window(&outcome(w, verdicts)).expect("record");
    }
    // Current uids: miner 1 moved to uid 40; miner 4 has no history; miner 9 is not listed.
    let metagraph = BTreeMap::from([(40, key(1)), (2, key(2)), (3, key(3)), (4, key(4))]);
    let records = state.miner_records(15, 12, &metagraph).expect("records");
    let uids: Vec<u16> = records.iter().map(|r| r.uid).collect();
    assert_eq!(uids, [2, 3, 4, 40]);
    let by_uid: BTreeMap<u16, &MinerRecord> = records.iter().map(|r| (r.uid, r)).collect();
    let m1 = by_uid[&40];
    assert_eq!(m1.hotkey, key(1).to_ss58());
    let windows: Vec<u64> = m1.windows.iter().map(|r| r.window).collect();
    assert_eq!(windows, (4..=15).collect::<Vec<_>>());
    assert!(m1.windows.iter().all(|r| r.checked && !r.hard_failure && r.unique == r.window * 10));
    let m2 = &by_uid[&2].windows;
    assert_eq!(m2.len(), 12);
    assert!(m2.iter().all(|r| !r.hard_failure), "the failure in window 3 is outside the span");
    assert_eq!(m2.iter().filter(|r| !r.checked).count(), 6);
    assert_eq!(
        by_uid[&3].windows,
        vec![WindowRecord { window: 15, unique: 0, hard_failure: true, checked: true }],
        "absent windows give no record"
    );
    assert!(by_uid[&4].windows.is_empty());

    // The records feed the weights crate as they are.
    let weights = compute_weights(&WeightsConfig::default(), 15, &records).expect("weights");
    let status: BTreeMap<u16, MinerStatus> =
        weights.miners.iter().map(|m| (m.uid, m.status)).collect();
    assert_eq!(status[&40], MinerStatus::Scored);
    assert_eq!(status[&3], MinerStatus::Failed);
    assert_eq!(status[&4], MinerStatus::Inactive);

    // A span reaching back before window 0, and a span of one window.
    let early = state.miner_records(2, 12, &metagraph).expect("records");
    assert_eq!(early.iter().map(|r| r.windows.len()).sum::<usize>(), 2 + 2);
    let one = state.miner_records(3, 1, &metagraph).expect("records");
    assert!(one.iter().flat_map(|r| &r.windows).all(|r| r.window == 3));
    assert_eq!(one.iter().map(|r| r.windows.len()).sum::<usize>(), 2);
}

#[test]
fn weights_are_stored_and_the_latest_returned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    let metagraph = BTreeMap::from([(1, key(1)), (2, key(2))]);
    state
        .record_window(&outcome(
            4,
            vec![verdict(1, VerdictResult::Pass, 30), verdict(2, VerdictResult::Pass, 10)],
        ))
        .expect("record");
    let records = state.miner_records(4, 12, &metagraph).expect("records");
    let w4 = compute_weights(&WeightsConfig::default(), 4, &records).expect("weights");
    state.record_weights(4, &w4).expect("store");
    let mut w3 = w4.clone();
    w3.version_key = 3;
    state.record_weights(3, &w3).expect("store older");
    assert_eq!(state.latest_weights().expect("query"), Some((4, w4.clone())));
    let mut replaced = w4.clone();
    replaced.version_key = 9;
    state.record_weights(4, &replaced).expect("replace");
    drop(state);
    let state = open(&dir);
    assert_eq!(state.latest_weights().expect("query"), Some((4, replaced.clone())));
    let (uids, weights): (String, String) = state
        .conn
        .query_row("SELECT uids, weights FROM weights WHERE window = 4", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("row");
    assert_eq!(uids, serde_json::to_string(&replaced.uids).expect("json"));
    assert_eq!(weights, serde_json::to_string(&replaced.weights).expect("json"));
    assert_eq!(count(&state, "weights"), 2);
}

#[test]
fn two_handles_share_one_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Sequentially: the second handle opens after the first is dropped.
    open(&dir)
        .record_window(&outcome(1, vec![verdict(1, VerdictResult::Pass, 1)]))
        .expect("record");
    let mut a = open(&dir);
    assert!(a.is_processed(1).expect("query"));
    // Side by side: each sees the other's commits, and a window is still recorded once.
    let mut b = open(&dir);
    a.record_window(&outcome(2, vec![])).expect("a records 2");
    assert!(b.is_processed(2).expect("b sees 2"));
    assert!(matches!(
        b.record_window(&outcome(2, vec![])),
        Err(ValidatorError::WindowAlreadyRecorded { window: 2 })
    ));
    b.record_window(&outcome(3, vec![])).expect("b records 3");
    assert_eq!(a.last_processed().expect("query"), Some(3));
}

#[test]
fn refuses_a_newer_schema_and_corrupt_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = open(&dir);
    state.record_window(&outcome(1, vec![verdict(1, VerdictResult::Pass, 1)])).expect("record");
    state.conn.execute("UPDATE verdicts SET stage = 'teleport'", []).expect("tamper");
    let err = state.verdicts(1).expect_err("unknown stage");
    assert!(matches!(err, ValidatorError::Corrupt { column: "stage", .. }), "{err}");
    state.conn.execute("INSERT INTO schema_version (version) VALUES (99)", []).expect("bump");
    drop(state);
    let err = State::open(dir.path()).expect_err("newer schema");
    assert!(matches!(err, ValidatorError::SchemaTooNew { found: 99, .. }), "{err}");
}

#[test]
fn stage_and_result_names_round_trip() {
    for s in Stage::ALL {
        assert_eq!(Stage::from_name(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
    }
    for r in VerdictResult::ALL {
        assert_eq!(VerdictResult::from_name(r.as_str()), Some(r));
        assert_eq!(serde_json::to_value(r).expect("json"), r.as_str());
    }
    assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]), "ALL is in pipeline order");
}

/// A database written by the first schema (no `mismatch` result) is migrated in place: its
/// rows are kept, and a `mismatch` verdict can then be recorded.
#[test]
fn a_first_schema_database_is_migrated_with_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open");
        schema::configure(&conn).expect("configure");
        let tx = conn.transaction().expect("tx");
        tx.execute_batch(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY) STRICT;
             INSERT INTO schema_version (version) VALUES (1);",
        )
        .expect("version table");
        tx.execute_batch(schema::MIGRATIONS[0]).expect("first schema");
        tx.execute_batch(
            "INSERT INTO windows VALUES (3, 1, zeroblob(32), 0, 1);
             INSERT INTO verdicts VALUES (3, 'x', 1, 'file', 'absent', NULL, 0, 0, 0, 0);",
        )
        .expect("rows");
        let refused = tx.execute(
            "INSERT INTO verdicts VALUES (3, 'y', 2, 'header', 'mismatch', NULL, 0, 0, 0, 0)",
            [],
        );
        assert!(refused.is_err(), "the first schema has no mismatch result");
        tx.commit().expect("commit");
    }
    let mut state = open(&dir);
    assert_eq!(schema::version(&state.conn).expect("version"), schema::SCHEMA_VERSION);
    assert_eq!(count(&state, "verdicts"), 1);
    let mut mismatch = verdict(2, VerdictResult::Mismatch, 0);
    mismatch.stage = Stage::Header;
    state.record_window(&outcome(4, vec![mismatch.clone()])).expect("record");
    assert_eq!(state.verdicts(4).expect("verdicts"), vec![mismatch]);
    let records = state.miner_records(4, 12, &BTreeMap::from([(2, key(2))])).expect("records");
    assert_eq!(
        records[0].windows,
        vec![WindowRecord { window: 4, unique: 0, hard_failure: false, checked: true }]
    );
}

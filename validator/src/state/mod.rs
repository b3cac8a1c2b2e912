//! Crash-safe validator state: SQLite (`validator.sqlite` in the data folder), WAL,
//! `synchronous=FULL`.
//!
//! A window's row, its verdicts and the exclusions it starts are committed in one transaction
//! ([`State::record_window`]), and a window already recorded is refused, so a validator killed
//! at any point restarts at [`State::last_processed`] and never counts a window twice.

mod kept;
mod schema;
mod submissions;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use grail_protocol::keys::Hotkey;
use grail_weights::{MinerRecord, Weights, WindowRecord};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{io, sql, Result, ValidatorError};

pub use kept::KeptFile;
pub use submissions::{NewSubmission, Settlement, Submission, SubmissionStatus};
pub use types::{Exclusion, Stage, Verdict, VerdictResult, WindowOutcome};

/// File name of the database inside the validator's data folder.
pub const DB_FILE: &str = "validator.sqlite";

/// A handle on the state database. Writes take `&mut self`; open one handle per thread.
#[derive(Debug)]
pub struct State {
    conn: Connection,
    path: PathBuf,
}

impl State {
    /// Opens (creating the folder and database if needed) `dir/validator.sqlite` and brings
    /// its schema up to date.
    pub fn open(dir: &Path) -> Result<State> {
        std::fs::create_dir_all(dir).map_err(io("create data folder", dir))?;
        let path = dir.join(DB_FILE);
        let mut conn = Connection::open(&path).map_err(sql("open database"))?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(State { conn, path })
    }

    /// Opens `dir/validator.sqlite` to read only (the HTTP endpoints' history): no folder or
    /// database is made, no migration runs and no write lock is ever taken; the schema must be
    /// this build's.
    pub fn open_read_only(dir: &Path) -> Result<State> {
        use rusqlite::OpenFlags;
        let path = dir.join(DB_FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(sql("open database"))?;
        schema::configure_reader(&conn)?;
        let found = schema::version(&conn)?;
        if found > schema::SCHEMA_VERSION {
            return Err(ValidatorError::SchemaTooNew { found, supported: schema::SCHEMA_VERSION });
        }
        if found < schema::SCHEMA_VERSION {
            return Err(ValidatorError::Corrupt {
                table: "schema_version",
                column: "version",
                reason: format!(
                    "is {found}, older than this build's {}: the validator migrates it at start",
                    schema::SCHEMA_VERSION
                ),
            });
        }
        Ok(State { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `window`'s outcome is committed.
    pub fn is_processed(&self, window: u64) -> Result<bool> {
        self.conn
            .query_row("SELECT 1 FROM windows WHERE window = ?1", [window], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(sql("look up window"))
    }

    /// The latest committed window, if any.
    pub fn last_processed(&self) -> Result<Option<u64>> {
        self.conn
            .query_row("SELECT max(window) FROM windows", [], |row| row.get(0))
            .map_err(sql("read last window"))
    }

    /// Commits a window's row, all its verdicts and its new exclusions in one transaction:
    /// either all of it is stored or none. Fails with
    /// [`ValidatorError::WindowAlreadyRecorded`] if the window is already there.
    pub fn record_window(&mut self, outcome: &WindowOutcome) -> Result<()> {
        self.record_window_kept(outcome, &[])
    }

    /// [`State::record_window`] with the window's kept files ([`KeptFile`]) in the same
    /// transaction.
    pub fn record_window_kept(&mut self, outcome: &WindowOutcome, kept: &[KeptFile]) -> Result<()> {
        check_outcome(outcome)?;
        let w = outcome.window;
        // IMMEDIATE takes the write lock before the duplicate check, so two writers cannot
        // both pass it.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("begin window transaction"))?;
        let exists = tx
            .query_row("SELECT 1 FROM windows WHERE window = ?1", [w], |_| Ok(()))
            .optional()
            .map_err(sql("look up window"))?;
        if exists.is_some() {
            return Err(ValidatorError::WindowAlreadyRecorded { window: w });
        }
        tx.execute(
            "INSERT INTO windows (window, beacon_round, randomness, processed_at, files)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                w,
                outcome.beacon_round,
                &outcome.randomness[..],
                outcome.processed_at_unix,
                outcome.files
            ],
        )
        .map_err(sql("insert window"))?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO verdicts (window, hotkey, uid, stage, result, reason,
                        rollouts_in_file, rollouts_checked, unique_verified, unique_estimated)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(sql("prepare verdict insert"))?;
            for v in &outcome.verdicts {
                insert
                    .execute(params![
                        w,
                        v.hotkey.to_ss58(),
                        v.uid,
                        v.stage.as_str(),
                        v.result.as_str(),
                        v.reason,
                        v.rollouts_in_file,
                        v.rollouts_checked,
                        v.unique_verified,
                        v.unique_estimated
                    ])
                    .map_err(sql("insert verdict"))?;
            }
            let mut insert = tx
                .prepare(
                    "INSERT INTO exclusions (hotkey, from_window, until_window, reason,
                        recorded_in) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sql("prepare exclusion insert"))?;
            for e in &outcome.exclusions {
                insert
                    .execute(params![
                        e.hotkey.to_ss58(),
                        e.from_window,
                        e.until_window,
                        e.reason,
                        w
                    ])
                    .map_err(sql("insert exclusion"))?;
            }
        }
        kept::insert(&tx, w, kept)?;
        tx.commit().map_err(sql("commit window"))
    }

    /// The verdicts recorded for `window`, by uid then hotkey (empty if not processed).
    pub fn verdicts(&self, window: u64) -> Result<Vec<Verdict>> {
        let rows = self.query_verdicts("window = ?1 ORDER BY uid, hotkey", params![window])?;
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }

    /// `hotkey`'s verdicts from window `since` on, oldest first, at most `limit`, each with
    /// its window.
    pub fn verdicts_of(
        &self,
        hotkey: &Hotkey,
        since: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Verdict)>> {
        self.query_verdicts(
            "hotkey = ?1 AND window >= ?2 ORDER BY window LIMIT ?3",
            params![hotkey.to_ss58(), since, limit],
        )
    }

    /// The verdicts `condition` (an SQL `WHERE` tail over `params`) selects, with windows.
    fn query_verdicts(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(u64, Verdict)>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT window, hotkey, uid, stage, result, reason, rollouts_in_file,
                    rollouts_checked, unique_verified, unique_estimated
                 FROM verdicts WHERE {condition}"
            ))
            .map_err(sql("prepare verdict query"))?;
        let rows = stmt
            .query_map(params, |row| {
                let text = |i| row.get::<_, String>(i);
                let raw = (text(1)?, text(3)?, text(4)?);
                let verdict = Verdict {
                    hotkey: Hotkey([0; 32]),
                    uid: row.get(2)?,
                    stage: Stage::File,
                    result: VerdictResult::Absent,
                    reason: row.get(5)?,
                    rollouts_in_file: row.get(6)?,
                    rollouts_checked: row.get(7)?,
                    unique_verified: row.get(8)?,
                    unique_estimated: row.get(9)?,
                };
                Ok((row.get::<_, u64>(0)?, raw, verdict))
            })
            .map_err(sql("query verdicts"))?;
        // The text columns are decoded here, where a bad value can be a `Corrupt` error.
        rows.map(|row| {
            let (window, (hotkey, stage, result), v) = row.map_err(sql("read verdict"))?;
            let verdict = Verdict {
                hotkey: parse_hotkey("verdicts", &hotkey)?,
                stage: Stage::from_name(&stage).ok_or_else(|| corrupt("stage", &stage))?,
                result: VerdictResult::from_name(&result)
                    .ok_or_else(|| corrupt("result", &result))?,
                ..v
            };
            Ok((window, verdict))
        })
        .collect()
    }

    /// The longest exclusion of `hotkey` that covers `window`, if any.
    pub fn excluded(&self, hotkey: &Hotkey, window: u64) -> Result<Option<Exclusion>> {
        self.conn
            .query_row(
                "SELECT from_window, until_window, reason FROM exclusions
                 WHERE hotkey = ?1 AND from_window <= ?2 AND ?2 < until_window
                 ORDER BY until_window DESC LIMIT 1",
                params![hotkey.to_ss58(), window],
                |row| {
                    Ok(Exclusion {
                        hotkey: *hotkey,
                        from_window: row.get(0)?,
                        until_window: row.get(1)?,
                        reason: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(sql("look up exclusion"))
    }

    /// The weights crate's input for the span of `span` windows ending at `current_window`
    /// (`current_window - span < w <= current_window`), for the miners of `metagraph`
    /// (uid to hotkey; leave out the burn uid), ascending by uid. Every miner gets a record,
    /// with no windows if it has no verdicts in the span. History follows the hotkey, and the
    /// uid is the metagraph's, so a re-registered uid does not inherit anyone's history.
    ///
    /// Verdicts map to window records as: `pass` counts `unique_estimated`, checked; `fail`
    /// is a hard failure; `mismatch` is checked and counts nothing; `unchecked` is active but
    /// unchecked; `absent` is no record.
    pub fn miner_records(
        &self,
        current_window: u64,
        span: u64,
        metagraph: &BTreeMap<u16, Hotkey>,
    ) -> Result<Vec<MinerRecord>> {
        let first = current_window.saturating_sub(span.saturating_sub(1));
        let mut stmt = self
            .conn
            .prepare(
                "SELECT window, result, unique_estimated FROM verdicts
                 WHERE hotkey = ?1 AND window >= ?2 AND window <= ?3 AND result != 'absent'
                 ORDER BY window",
            )
            .map_err(sql("prepare span query"))?;
        let mut miners = Vec::with_capacity(metagraph.len());
        for (&uid, hotkey) in metagraph {
            let rows = stmt
                .query_map(params![hotkey.to_ss58(), first, current_window], |row| {
                    Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?, row.get::<_, u64>(2)?))
                })
                .map_err(sql("query span"))?;
            let mut windows = Vec::new();
            for row in rows {
                let (window, result, unique) = row.map_err(sql("read span row"))?;
                let result =
                    VerdictResult::from_name(&result).ok_or_else(|| corrupt("result", &result))?;
                windows.push(window_record(window, result, unique));
            }
            miners.push(MinerRecord { uid, hotkey: hotkey.to_ss58(), windows });
        }
        Ok(miners)
    }

    /// Stores the weights emitted at `window`. Weights are a function of the committed state,
    /// so recording a window's weights again (after a restart) replaces the earlier row.
    pub fn record_weights(&mut self, window: u64, weights: &Weights) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO weights (window, uids, weights, version_key, json)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (window) DO UPDATE SET uids = excluded.uids,
                    weights = excluded.weights, version_key = excluded.version_key,
                    json = excluded.json",
                params![
                    window,
                    to_json("weights.uids", &weights.uids)?,
                    to_json("weights.weights", &weights.weights)?,
                    weights.version_key,
                    to_json("weights", weights)?
                ],
            )
            .map_err(sql("insert weights"))?;
        Ok(())
    }

    /// The most recent weights recorded, with their window.
    pub fn latest_weights(&self) -> Result<Option<(u64, Weights)>> {
        Ok(self.recent_weights(1)?.pop())
    }

    /// The weights of the latest `n` windows that have them, oldest first.
    pub fn recent_weights(&self, n: u32) -> Result<Vec<(u64, Weights)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT window, json FROM weights ORDER BY window DESC LIMIT ?1")
            .map_err(sql("prepare weights query"))?;
        let rows: Vec<(u64, String)> = stmt
            .query_map([n], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(sql("read recent weights"))?;
        rows.into_iter()
            .rev()
            .map(|(window, json)| {
                serde_json::from_str(&json).map(|w| (window, w)).map_err(|e| {
                    ValidatorError::Corrupt {
                        table: "weights",
                        column: "json",
                        reason: e.to_string(),
                    }
                })
            })
            .collect()
    }
}

fn to_json<T: serde::Serialize + ?Sized>(what: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| ValidatorError::Json { what, source })
}

fn window_record(window: u64, result: VerdictResult, unique: u64) -> WindowRecord {
    let (unique, hard_failure, checked) = match result {
        VerdictResult::Pass => (unique, false, true),
        VerdictResult::Fail => (0, true, true),
        VerdictResult::Mismatch => (0, false, true),
        VerdictResult::Unchecked | VerdictResult::Absent => (0, false, false),
    };
    WindowRecord { window, unique, hard_failure, checked }
}

fn check_outcome(outcome: &WindowOutcome) -> Result<()> {
    let bad = |field, reason: String| ValidatorError::InvalidOutcome {
        window: outcome.window,
        field,
        reason,
    };
    for e in &outcome.exclusions {
        if e.until_window <= e.from_window {
            return Err(bad(
                "exclusions.until_window",
                format!(
                    "{} for {} is not after from_window {}",
                    e.until_window, e.hotkey, e.from_window
                ),
            ));
        }
    }
    for v in &outcome.verdicts {
        if v.rollouts_checked > v.rollouts_in_file {
            return Err(bad(
                "verdicts.rollouts_checked",
                format!(
                    "{} for {} exceeds rollouts_in_file {}",
                    v.rollouts_checked, v.hotkey, v.rollouts_in_file
                ),
            ));
        }
    }
    Ok(())
}

fn parse_hotkey(table: &'static str, text: &str) -> Result<Hotkey> {
    Hotkey::from_ss58(text).map_err(|e| ValidatorError::Corrupt {
        table,
        column: "hotkey",
        reason: e.to_string(),
    })
}

fn corrupt(column: &'static str, value: &str) -> ValidatorError {
    ValidatorError::Corrupt {
        table: "verdicts",
        column,
        reason: format!("unknown value {value:?}"),
    }
}

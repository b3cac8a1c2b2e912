//! Connection settings and schema migrations of the state database.
//!
//! The schema is built from empty by applying [`MIGRATIONS`] in order; `schema_version` holds
//! one row per applied migration. A database from a newer validator is refused, never
//! downgraded.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{sql, Result, ValidatorError};

/// How long a second connection waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// Unsigned quantities are stored as INTEGER (i64); rusqlite refuses values above i64::MAX
/// rather than wrapping them.
const V1: &str = "
CREATE TABLE windows (
    window        INTEGER PRIMARY KEY,
    beacon_round  INTEGER NOT NULL,
    randomness    BLOB NOT NULL CHECK (length(randomness) = 32),
    processed_at  INTEGER NOT NULL,
    files         INTEGER NOT NULL
) STRICT;

CREATE TABLE verdicts (
    window            INTEGER NOT NULL REFERENCES windows(window),
    hotkey            TEXT NOT NULL,
    uid               INTEGER NOT NULL,
    stage             TEXT NOT NULL,
    result            TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'unchecked', 'absent')),
    reason            TEXT,
    rollouts_in_file  INTEGER NOT NULL,
    rollouts_checked  INTEGER NOT NULL,
    unique_verified   INTEGER NOT NULL,
    unique_estimated  INTEGER NOT NULL,
    PRIMARY KEY (window, hotkey)
) STRICT;
CREATE INDEX verdicts_by_hotkey ON verdicts (hotkey, window);

CREATE TABLE exclusions (
    hotkey        TEXT NOT NULL,
    from_window   INTEGER NOT NULL,
    until_window  INTEGER NOT NULL CHECK (until_window > from_window),
    reason        TEXT NOT NULL,
    recorded_in   INTEGER NOT NULL REFERENCES windows(window)
) STRICT;
CREATE INDEX exclusions_by_hotkey ON exclusions (hotkey, from_window);

CREATE TABLE weights (
    window       INTEGER PRIMARY KEY,
    uids         TEXT NOT NULL,
    weights      TEXT NOT NULL,
    version_key  INTEGER NOT NULL,
    json         TEXT NOT NULL
) STRICT;
";

/// Adds the `mismatch` result (a file made under other network parameters). SQLite cannot
/// change a CHECK constraint in place, so the table is rebuilt with its rows.
const V2: &str = "
CREATE TABLE verdicts_v2 (
    window            INTEGER NOT NULL REFERENCES windows(window),
    hotkey            TEXT NOT NULL,
    uid               INTEGER NOT NULL,
    stage             TEXT NOT NULL,
    result            TEXT NOT NULL
                      CHECK (result IN ('pass', 'fail', 'mismatch', 'unchecked', 'absent')),
    reason            TEXT,
    rollouts_in_file  INTEGER NOT NULL,
    rollouts_checked  INTEGER NOT NULL,
    unique_verified   INTEGER NOT NULL,
    unique_estimated  INTEGER NOT NULL,
    PRIMARY KEY (window, hotkey)
) STRICT;
INSERT INTO verdicts_v2 SELECT * FROM verdicts;
DROP TABLE verdicts;
ALTER TABLE verdicts_v2 RENAME TO verdicts;
CREATE INDEX verdicts_by_hotkey ON verdicts (hotkey, window);
";

/// Adds the weights sent to the chain: one row per attempt, written before the extrinsic is
/// sent (`sent`) and settled from the chain (`included`, `failed`, `dropped`).
const V3: &str = "
CREATE TABLE weight_submissions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    netuid        INTEGER NOT NULL,
    epoch         INTEGER NOT NULL,
    window        INTEGER NOT NULL,
    call          TEXT NOT NULL,
    reveal_round  INTEGER,
    sent_block    INTEGER NOT NULL,
    sent_at       INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('sent', 'included', 'failed', 'dropped')),
    block         INTEGER,
    tx_hash       BLOB CHECK (tx_hash IS NULL OR length(tx_hash) = 32),
    error         TEXT,
    settled_at    INTEGER
) STRICT;
CREATE INDEX weight_submissions_by_epoch ON weight_submissions (netuid, epoch);
";

/// Adds the verified window files kept for trainers: one row per passed miner of a window,
/// the file's CID and the indices of the rollouts checked in it (a JSON array).
const V4: &str = "
CREATE TABLE kept_files (
    window   INTEGER NOT NULL REFERENCES windows(window),
    hotkey   TEXT NOT NULL,
    uid      INTEGER NOT NULL,
    cid      TEXT NOT NULL,
    checked  TEXT NOT NULL,
    PRIMARY KEY (window, hotkey)
) STRICT;
CREATE INDEX kept_files_by_cid ON kept_files (cid);
";

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Sets durability pragmas: WAL so readers never block the writer, `synchronous=FULL` so a
/// committed window survives power loss, foreign keys on.
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql("set busy timeout"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sql("set journal_mode=WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(ValidatorError::Corrupt {
            table: "(pragma)",
            column: "journal_mode",
            reason: format!("is {mode}, WAL could not be enabled"),
        });
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(sql("set synchronous=FULL"))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sql("set foreign_keys=ON"))?;
    Ok(())
}

/// A read-only connection's settings: wait for the writer rather than fail.
pub(crate) fn configure_reader(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql("set busy timeout"))
}

/// Brings the schema up to [`SCHEMA_VERSION`], all in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql("begin migration"))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY) STRICT",
    )
    .map_err(sql("create schema_version"))?;
    let found: u32 = tx
        .query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get::<_, Option<u32>>(0)
        })
        .optional()
        .map_err(sql("read schema_version"))?
        .flatten()
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(ValidatorError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(migration).map_err(sql("apply migration"))?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [from + 1])
            .map_err(sql("write schema_version"))?;
    }
    tx.commit().map_err(sql("commit migration"))
}

/// The schema version recorded in the database.
pub(crate) fn version(conn: &Connection) -> Result<u32> {
    conn.query_row("SELECT max(version) FROM schema_version", [], |row| row.get(0))
        .map_err(sql("read schema_version"))
}

//! Verified window files kept for trainers: one row per passed miner of a window, naming the
//! file by CID (its bytes are in the [`Archive`](crate::archive::Archive)) and the rollouts
//! the validator checked in it.

use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};

use super::{parse_hotkey, State};
use crate::error::{sql, Result, ValidatorError};
use grail_protocol::keys::Hotkey;

/// A passed miner's window file, kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFile {
    pub window: u64,
    pub hotkey: Hotkey,
    pub uid: u16,
    /// The file's CID (text form).
    pub cid: String,
    /// Indices into the file's rollouts of those the validator checked, ascending.
    pub checked: Vec<u32>,
}

/// Inserts `kept` inside the window's transaction.
pub(super) fn insert(tx: &Transaction<'_>, window: u64, kept: &[KeptFile]) -> Result<()> {
    let mut insert = tx
        .prepare(
            "INSERT INTO kept_files (window, hotkey, uid, cid, checked)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sql("prepare kept file insert"))?;
    for k in kept {
        if k.window != window {
            return Err(ValidatorError::InvalidOutcome {
                window,
                field: "kept_files",
                reason: format!("a kept file of window {} in window {window}'s commit", k.window),
            });
        }
        let checked = serde_json::to_string(&k.checked)
            .map_err(|source| ValidatorError::Json { what: "checked rollouts", source })?;
        insert
            .execute(params![window, k.hotkey.to_ss58(), k.uid, k.cid, checked])
            .map_err(sql("insert kept file"))?;
    }
    Ok(())
}

impl State {
    /// The files kept for windows `since..=until`, by window then uid.
    pub fn kept_files(&self, since: u64, until: u64) -> Result<Vec<KeptFile>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT window, hotkey, uid, cid, checked FROM kept_files
                 WHERE window >= ?1 AND window <= ?2 ORDER BY window, uid, hotkey",
            )
            .map_err(sql("prepare kept file query"))?;
        let rows = stmt
            .query_map(params![since, until], |row| {
                Ok((
                    row.get::<_, u64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u16>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .map_err(sql("query kept files"))?;
        rows.map(|row| {
            let (window, hotkey, uid, cid, checked) = row.map_err(sql("read kept file"))?;
            let checked = serde_json::from_str(&checked).map_err(|e| ValidatorError::Corrupt {
                table: "kept_files",
                column: "checked",
                reason: e.to_string(),
            })?;
            Ok(KeptFile { window, hotkey: parse_hotkey("kept_files", &hotkey)?, uid, cid, checked })
        })
        .collect()
    }

    /// Forgets the kept files of windows before `window`; returns the CIDs no remaining row
    /// names (their bytes can go).
    pub fn forget_kept_before(&mut self, window: u64) -> Result<Vec<String>> {
        let tx = self.conn.transaction().map_err(sql("begin kept file pruning"))?;
        let gone: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT DISTINCT cid FROM kept_files WHERE window < ?1 AND cid NOT IN
                     (SELECT cid FROM kept_files WHERE window >= ?1) ORDER BY cid",
                )
                .map_err(sql("prepare kept file pruning"))?;
            let rows = stmt
                .query_map([window], |row| row.get::<_, String>(0))
                .map_err(sql("query pruned kept files"))?;
            rows.collect::<std::result::Result<_, _>>().map_err(sql("read pruned kept file"))?
        };
        tx.execute("DELETE FROM kept_files WHERE window < ?1", [window])
            .map_err(sql("delete kept files"))?;
        tx.commit().map_err(sql("commit kept file pruning"))?;
        Ok(gone)
    }

    /// Whether any kept row names `cid`.
    pub fn is_kept(&self, cid: &str) -> Result<bool> {
        self.conn
            .query_row("SELECT count(*) FROM kept_files WHERE cid = ?1", [cid], |row| {
                row.get::<_, u64>(0)
            })
            .map(|n| n > 0)
            .map_err(sql("look up kept file"))
    }
}

//! What a soaked validator must show at the end: each window's weights file equal to the
//! fault-free reference's, every window it reported still in its state database, and how it
//! got there (windows it backfilled by the store's times, windows it skipped).

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::path::Path;

use anyhow::Context;
use grail_validator::state::State;

use crate::procs::Proc;

/// One validator's result.
#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) name: String,
    /// Windows whose weights were compared with the reference's.
    pub(crate) compared: u64,
    /// `(window, why)` for each window whose weights differ or are missing.
    pub(crate) mismatches: Vec<(u64, String)>,
    /// Windows the validator reported done that its state does not hold.
    pub(crate) lost: Vec<u64>,
    /// Windows reported done (across all its runs).
    pub(crate) reported: usize,
    /// Log lines of windows taken by the store's times, and of windows not verified.
    pub(crate) backfilled: usize,
    pub(crate) skipped: usize,
}

impl Check {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "windows_reported": self.reported,
            "backfilled": self.backfilled,
            "skipped": self.skipped,
            "mismatches": self.mismatches.iter().map(|(w, why)| serde_json::json!({"window": w, "why": why})).collect::<Vec<_>>(),
            "lost": self.lost,
        })
    }
}

/// Checks validator `v` (data folder `data`) against the reference's data folder.
pub(crate) fn validator(
    v: &Proc,
    data: &Path,
    reference: &Path,
    windows: RangeInclusive<u64>,
) -> anyhow::Result<Check> {
    let out = std::fs::read_to_string(v.stdout_path()).unwrap_or_default();
    let reported: BTreeSet<u64> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|line| line["window"].as_u64())
        .collect();
    let log = std::fs::read_to_string(v.stderr_path()).unwrap_or_default();
    let state = State::open_read_only(data)
        .with_context(|| format!("{}: state database in {}", v.name, data.display()))?;
    let mut lost = Vec::new();
    for &w in &reported {
        if !state.is_processed(w)? {
            lost.push(w);
        }
    }
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for w in windows {
        let read = |dir: &Path| std::fs::read(dir.join(format!("weights/{w}.json")));
        compared += 1;
        match (read(data), read(reference)) {
            (Ok(ours), Ok(theirs)) if ours == theirs => {}
            (Ok(_), Ok(_)) => mismatches.push((w, "weights differ from the reference's".into())),
            (Err(e), _) => mismatches.push((w, format!("no weights file: {e}"))),
            (_, Err(e)) => mismatches.push((w, format!("the reference has no weights file: {e}"))),
        }
        if !state.is_processed(w)? {
            mismatches.push((w, "not in the state database".into()));
        }
    }
    Ok(Check {
        name: v.name.clone(),
        compared,
        mismatches,
        lost,
        reported: reported.len(),
        backfilled: log.matches("files taken by the store's times").count(),
        skipped: log.matches("window not verified").count(),
    })
}

//! Files the watcher attributed, kept in the data folder until their window is committed:
//! `intake/{w}/{ss58}.grail` (the exact bytes) and `intake/{w}/{ss58}.json` (when they were
//! first held and their CID), each written durably, the JSON last, so a file counts only once
//! both are whole; and `intake/{w}/watched.json` ([`Watched`]), when a watcher first polled
//! the window (any run of the validator) and whether one watched it through its cutoff, which
//! tells a watched window from one it never saw or was down for at the cutoff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use grail_protocol::cid::cid_of_bytes;
use grail_protocol::keys::Hotkey;
use grail_protocol::window_file::window_file_key;
use grail_storage::durable::{self, Access};
use serde::{Deserialize, Serialize};

use crate::error::io;
use crate::pipeline::FetchedObject;
use crate::ValidatorError;

/// `intake/{w}/watched.json`: when a watcher first polled the window, and whether one watched
/// it without stopping until past its cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// The first poll of the window by any run, unix ms.
    pub from_ms: u64,
    /// The start of the first polling round at or after the cutoff of a run that had polled
    /// the window before it; `None` when every run that polled it stopped before the cutoff
    /// (the validator was down at the cutoff: files uploaded while it was down were not read).
    #[serde(default)]
    pub closed_ms: Option<u64>,
}

/// What is recorded beside a kept file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolEntry {
    /// When the validator first held these bytes, unix seconds.
    pub first_seen_unix: u64,
    /// CID string of the bytes.
    pub cid: String,
    /// Size in bytes.
    pub size: u64,
}

/// The `intake/` folder of a data folder.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool under `data_dir` (created on first write).
    pub fn new(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("intake") }
    }

    fn paths(&self, window: u64, hotkey: &Hotkey) -> (PathBuf, PathBuf) {
        let base = self.dir.join(window.to_string()).join(hotkey.to_ss58());
        (base.with_extension("grail"), base.with_extension("json"))
    }

    /// The entry kept for `hotkey` in `window`, if any.
    pub fn entry(&self, window: u64, hotkey: &Hotkey) -> Option<SpoolEntry> {
        let (_, meta) = self.paths(window, hotkey);
        let text = std::fs::read(meta).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Keeps `bytes` as `hotkey`'s file of `window`, first held at `seen_unix`; the same bytes
    /// kept earlier keep their earlier time. Returns the entry now recorded.
    pub fn put(
        &self,
        window: u64,
        hotkey: &Hotkey,
        bytes: &[u8],
        seen_unix: u64,
    ) -> Result<SpoolEntry, ValidatorError> {
        let cid = cid_of_bytes(bytes).to_string();
        let first_seen_unix = match self.entry(window, hotkey) {
            Some(e) if e.cid == cid => e.first_seen_unix.min(seen_unix),
            _ => seen_unix,
        };
        let entry = SpoolEntry { first_seen_unix, cid, size: bytes.len() as u64 };
        let (file, meta) = self.paths(window, hotkey);
        let json = serde_json::to_vec(&entry)
            .map_err(|source| ValidatorError::Json { what: "spool entry", source })?;
        let write = |path: &Path, bytes: &[u8]| {
            durable::write_file(path, bytes, Access::Default)
                .map_err(|e| ValidatorError::Durable(Box::new(e)))
        };
        // A crash between the two writes leaves bytes whose CID is not the entry's: not loaded.
        write(&file, bytes)?;
        write(&meta, &json)?;
        Ok(entry)
    }

    fn watched_path(&self, window: u64) -> PathBuf {
        self.dir.join(window.to_string()).join("watched.json")
    }

    /// How `window` was watched, if a watcher ever polled it.
    pub fn watched(&self, window: u64) -> Option<Watched> {
        let text = std::fs::read(self.watched_path(window)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn write_watched(&self, window: u64, watched: &Watched) -> Result<(), ValidatorError> {
        let json = serde_json::to_vec(watched)
            .map_err(|source| ValidatorError::Json { what: "spool marker", source })?;
        durable::write_file(&self.watched_path(window), &json, Access::Default)
            .map_err(|e| ValidatorError::Durable(Box::new(e)))
    }

    /// Records that a watcher polled `window` at `at_ms` (unix ms), unless an earlier poll is
    /// recorded.
    pub fn mark_watched(&self, window: u64, at_ms: u64) -> Result<(), ValidatorError> {
        let watched = match self.watched(window) {
            Some(w) if w.from_ms <= at_ms => return Ok(()),
            Some(w) => Watched { from_ms: at_ms, ..w },
            None => Watched { from_ms: at_ms, closed_ms: None },
        };
        self.write_watched(window, &watched)
    }

    /// Records that a watcher which polled `window` before its cutoff went on, without
    /// stopping, to a polling round that began at `at_ms`, at or after the cutoff: every file
    /// it could read before the cutoff is kept.
    pub fn mark_closed(&self, window: u64, at_ms: u64) -> Result<(), ValidatorError> {
        let Some(watched) = self.watched(window) else {
            return Err(ValidatorError::InvalidOutcome {
                window,
                field: "watched.json",
                reason: "closed without a record of being watched".into(),
            });
        };
        if watched.closed_ms.is_some() {
            return Ok(());
        }
        self.write_watched(window, &Watched { closed_ms: Some(at_ms), ..watched })
    }

    /// When a watcher first polled `window` (unix ms), if one ever did.
    pub fn watched_from(&self, window: u64) -> Option<u64> {
        self.watched(window).map(|w| w.from_ms)
    }

    /// The kept files of `window` for `miners`, in hotkey order. A file whose bytes do not
    /// hash to its entry's CID (a torn write) is skipped with a warning.
    pub fn load(
        &self,
        window: u64,
        miners: &BTreeMap<Hotkey, u16>,
    ) -> Result<Vec<FetchedObject>, ValidatorError> {
        let mut out = Vec::new();
        for hotkey in miners.keys() {
            let Some(entry) = self.entry(window, hotkey) else { continue };
            let (file, _) = self.paths(window, hotkey);
            let bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("read a kept file", &file)(e)),
            };
            if cid_of_bytes(&bytes).to_string() != entry.cid {
                tracing::warn!(window, %hotkey, path = %file.display(), "kept file torn; skipped");
                continue;
            }
            out.push(FetchedObject {
                key: window_file_key(window, hotkey),
                size: bytes.len() as u64,
                uploaded_unix: entry.first_seen_unix,
                bytes: Some(bytes),
            });
        }
        Ok(out)
    }

    /// Drops every window below `window` (committed ones).
    pub fn remove_before(&self, window: u64) -> Result<(), ValidatorError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("list the spool", &self.dir)(e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(w) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else { continue };
            if w < window {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(io("clear a committed window", &path))?;
            }
        }
        Ok(())
    }
}

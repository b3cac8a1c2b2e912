//! Verified window files kept by content: `DATA/verified/{cid}.grail`, written durably before
//! the window that names them commits, read back only if their bytes still have that CID.

use std::path::{Path, PathBuf};

use grail_protocol::cid::cid_of_bytes;
use grail_storage::durable::{self, Access};

use crate::error::ValidatorError;
use crate::pipeline::fetch::hotkey_of_key;
use crate::pipeline::window::WindowReport;
use crate::pipeline::FetchedObject;
use crate::state::{KeptFile, VerdictResult};

/// Folder of the kept files inside the data folder.
pub const ARCHIVE_DIR: &str = "verified";

/// The kept files of one data folder.
#[derive(Debug, Clone)]
pub struct Archive {
    dir: PathBuf,
}

fn bad(cid: &str, reason: impl Into<String>) -> ValidatorError {
    ValidatorError::Archive { cid: cid.to_owned(), reason: reason.into() }
}

impl Archive {
    /// The archive of `data_dir`.
    pub fn new(data_dir: &Path) -> Archive {
        Archive { dir: data_dir.join(ARCHIVE_DIR) }
    }

    /// The path of `cid`'s file; refuses text that is not a CID (so no path is made of it).
    pub fn path(&self, cid: &str) -> Result<PathBuf, ValidatorError> {
        let parsed = cid::Cid::try_from(cid).map_err(|e| bad(cid, format!("not a CID: {e}")))?;
        Ok(self.dir.join(format!("{parsed}.{}", grail_protocol::codec::FILE_EXTENSION)))
    }

    /// Keeps `bytes`; returns their CID. Bytes already kept are not written again.
    pub fn keep(&self, bytes: &[u8]) -> Result<String, ValidatorError> {
        let cid = cid_of_bytes(bytes).to_string();
        let path = self.path(&cid)?;
        let held = std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64);
        if !held {
            durable::write_file(&path, bytes, Access::Default)
                .map_err(|e| ValidatorError::Durable(Box::new(e)))?;
        }
        Ok(cid)
    }

    /// The bytes kept as `cid`, checked against it.
    pub fn read(&self, cid: &str) -> Result<Vec<u8>, ValidatorError> {
        let path = self.path(cid)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| bad(cid, format!("cannot read {}: {e}", path.display())))?;
        let found = cid_of_bytes(&bytes).to_string();
        if found != cid {
            return Err(bad(cid, format!("{} holds bytes of CID {found}", path.display())));
        }
        Ok(bytes)
    }

    /// Deletes the files of `cids` (those absent are skipped).
    pub fn remove(&self, cids: &[String]) -> Result<(), ValidatorError> {
        for cid in cids {
            let path = self.path(cid)?;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::error::io("remove a kept file", &path)(e)),
            }
        }
        Ok(())
    }
}

/// Keeps each passed miner's file of `report`'s window (from `objects`, what was verified) in
/// `archive`; the rows to commit with the window.
pub fn keep_passed(
    archive: &Archive,
    report: &WindowReport,
    objects: &[FetchedObject],
) -> Result<Vec<KeptFile>, ValidatorError> {
    let window = report.outcome.window;
    let mut kept = Vec::new();
    for v in report.outcome.verdicts.iter().filter(|v| v.result == VerdictResult::Pass) {
        let Some(checked) = report.checked.get(&v.hotkey) else { continue };
        let bytes = objects
            .iter()
            .filter(|o| hotkey_of_key(&o.key, window) == Some(v.hotkey))
            .filter_map(|o| o.bytes.as_deref())
            .find(|b| cid_of_bytes(b).to_bytes() == checked.cid);
        let Some(bytes) = bytes else { continue };
        let cid = archive.keep(bytes)?;
        let rollouts = checked.rollouts.clone();
        kept.push(KeptFile { window, hotkey: v.hotkey, uid: v.uid, cid, checked: rollouts });
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_by_cid_and_refuses_bytes_that_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = Archive::new(dir.path());
        let cid = archive.keep(b"window file").expect("keep");
        assert_eq!(cid, cid_of_bytes(b"window file").to_string());
        assert_eq!(archive.keep(b"window file").expect("again"), cid);
        assert_eq!(archive.read(&cid).expect("read"), b"window file");
        std::fs::write(archive.path(&cid).expect("path"), b"other bytes").expect("tamper");
        let err = archive.read(&cid).expect_err("changed bytes").to_string();
        assert!(err.contains(&cid) && err.contains("holds bytes of CID"), "{err}");
        let err = archive.path("../../etc/passwd").expect_err("not a CID").to_string();
        assert!(err.contains("not a CID"), "{err}");
        archive.remove(std::slice::from_ref(&cid)).expect("remove");
        assert!(archive.read(&cid).is_err());
        archive.remove(&[cid]).expect("absent is fine");
    }
}

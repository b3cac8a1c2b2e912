//! Local files a crash must not tear: [`write_file`] writes a fresh temporary file in the same
//! folder, fsyncs it, renames it over the target and fsyncs the folder, so after a crash the
//! target holds either its old bytes or the new ones, never a mix, and a completed write
//! survives power loss. Weights files, transcripts and wallet key files are written this way.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A durable write that did not complete; the target is left as it was.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {path}: {source}")]
pub struct DurableWriteError {
    /// The step that failed (`create the folder of`, `write`, `rename into place`, ...).
    pub step: &'static str,
    /// The file or folder it failed on.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The process's default (umask).
    Default,
    /// Only the owner (mode 0600 on Unix): secrets.
    OwnerOnly,
}

/// Writes `bytes` to `path` durably (see the module docs), creating its folder if missing.
pub fn write_file(path: &Path, bytes: &[u8], access: Access) -> Result<(), DurableWriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| fail("create the folder of", path, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if access == Access::OwnerOnly {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        // Best effort: leave no temporary file behind.
        let _ = fs::remove_file(&tmp);
        return Err(fail("write", path, e));
    }
    sync_dir(dir).map_err(|e| fail("sync the folder", dir, e))
}

fn fail(step: &'static str, path: &Path, source: io::Error) -> DurableWriteError {
    DurableWriteError { step, path: path.to_owned(), source }
}

/// fsync of a folder, so a rename inside it is on disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/weights/7.json");
        write_file(&path, b"first", Access::Default).expect("first write");
        write_file(&path, b"second, longer", Access::Default).expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"second, longer");
        let names: Vec<String> = fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["7.json".to_owned()], "no temporary file is left");
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hotkey");
        write_file(&path, b"{}", Access::OwnerOnly).expect("write");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_failed_write_names_the_path_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A folder where the file should be: the rename fails.
        let path = dir.path().join("taken");
        fs::create_dir(&path).expect("folder");
        fs::write(path.join("inside"), b"x").expect("inside");
        let err = write_file(&path, b"new", Access::Default).expect_err("a folder is in the way");
        assert!(err.to_string().contains("taken"), "{err}");
        assert!(path.join("inside").exists());
        let left: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(left.len(), 1, "the temporary file was removed");
    }
}

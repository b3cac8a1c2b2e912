//! Reads from the local folder that follow no link and open nothing but a regular file.
//!
//! Every folder between the store's root and the object is looked at without following it
//! (`lstat`); the object itself is opened with `O_NOFOLLOW | O_NONBLOCK`, so a link fails to
//! open and a FIFO or device opens without blocking, and is then refused by `fstat` before a
//! byte is read. The size limit is enforced while reading, whatever `fstat` said.

use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::ObjectInfo;

/// Why a local object was not read.
#[derive(Debug)]
pub(crate) enum LocalError {
    /// The object or a folder on its path is not a regular file or folder (a link, a FIFO...).
    NotRegular(&'static str),
    /// Over the limit: the size seen so far, and the limit.
    TooLarge(u64, u64),
    /// The OS refused.
    Io(std::io::Error),
}

fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// The path of `key` under `root`, checking every folder in between; `None` when one is
/// missing.
fn checked_path(root: &Path, key: &str) -> Result<Option<PathBuf>, LocalError> {
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = key.split('/').collect();
    let Some((last, folders)) = parts.split_last() else { return Ok(None) };
    for folder in folders {
        path.push(folder);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(meta) => return Err(LocalError::NotRegular(kind_of(&meta))),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LocalError::Io(e)),
        }
    }
    path.push(last);
    Ok(Some(path))
}

fn info(key: &str, meta: &Metadata) -> ObjectInfo {
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    let last_modified = u64::try_from(mtime_ns.max(0))
        .map_or(SystemTime::UNIX_EPOCH, |ns| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns));
    ObjectInfo {
        key: key.to_owned(),
        size: meta.size(),
        last_modified,
        version: Some(format!("{}-{}-{mtime_ns}-{}", meta.dev(), meta.ino(), meta.size())),
    }
}

/// Size, time and version of a regular file at `key`, without following links.
pub(crate) fn probe(root: &Path, key: &str) -> Result<Option<ObjectInfo>, LocalError> {
    let Some(path) = checked_path(root, key)? else { return Ok(None) };
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() => Ok(Some(info(key, &meta))),
        Ok(meta) => Err(LocalError::NotRegular(kind_of(&meta))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LocalError::Io(e)),
    }
}

/// The bytes of the regular file at `key` (at most `limit`), and what `fstat` said of it.
pub(crate) fn read(
    root: &Path,
    key: &str,
    limit: u64,
) -> Result<Option<(ObjectInfo, Vec<u8>)>, LocalError> {
    let Some(path) = checked_path(root, key)? else { return Ok(None) };
    // Refused before opening (a socket cannot be opened at all); the open checks again.
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(LocalError::NotRegular(kind_of(&meta)))
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LocalError::Io(e)),
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(LocalError::NotRegular("a symbolic link"))
        }
        Err(e) => return Err(LocalError::Io(e)),
    };
    let meta = file.metadata().map_err(LocalError::Io)?;
    if !meta.file_type().is_file() {
        return Err(LocalError::NotRegular(kind_of(&meta)));
    }
    if meta.size() > limit {
        return Err(LocalError::TooLarge(meta.size(), limit));
    }
    let bytes = read_bounded(file, limit)?;
    Ok(Some((info(key, &meta), bytes)))
}

fn read_bounded(file: File, limit: u64) -> Result<Vec<u8>, LocalError> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(LocalError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(LocalError::TooLarge(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

//! Stage 1: the window's files. [`fetch_window`] does the I/O (list, head, bounded get) and
//! records what it saw; [`check_file`] decides from that record alone, so an auditor holding
//! the same bytes and upload times reaches the same verdict.
//!
//! A late or oversized object is never downloaded; a download stops as soon as it passes the
//! size limit. After a download the object is looked at again: a miner that replaced its file
//! after the deadline gets the later upload time, and so a late verdict.

use grail_protocol::cid::cid_of_bytes;
use grail_protocol::codec::{decode_from, Limits, FILE_EXTENSION};
use grail_protocol::keys::Hotkey;
use grail_protocol::window_file::WindowFile;
use grail_storage::{ObjectInfo, StoreError, WindowStore};

use super::{Failure, StageResult};
use crate::error::PipelineError;
use crate::state::Stage;

/// One object found under `windows/{w}/`, as the validator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedObject {
    /// Storage key, e.g. `windows/7/5Grw….grail`.
    pub key: String,
    /// Size in bytes as the store reports it (or as far as a download got).
    pub size: u64,
    /// Upload time: the store's last-modified time, unix seconds.
    pub uploaded_unix: u64,
    /// The exact bytes, when the object was on time and within the limit.
    pub bytes: Option<Vec<u8>>,
}

/// A file that passed stage 1.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    /// The hotkey its file name names.
    pub hotkey: Hotkey,
    /// Upload time, unix seconds.
    pub uploaded_unix: u64,
    /// Size in bytes.
    pub size: u64,
    /// Binary CIDv1 of the exact bytes (keys the challenge).
    pub cid: Vec<u8>,
    /// The decoded file.
    pub file: WindowFile,
}

/// The hotkey named by a key `windows/{window}/{ss58}.grail`; `None` for any other key.
pub fn hotkey_of_key(key: &str, window: u64) -> Option<Hotkey> {
    let name = key.strip_prefix(&format!("windows/{window}/"))?;
    let ss58 = name.strip_suffix(&format!(".{FILE_EXTENSION}"))?;
    let hotkey = Hotkey::from_ss58(ss58).ok()?;
    // Only the canonical spelling names a miner, so one hotkey has one key.
    (hotkey.to_ss58() == ss58).then_some(hotkey)
}

/// Lists `windows/{window}/` and downloads every object uploaded by `deadline_unix` (inclusive)
/// and at most `max_file_bytes` long. Errors are the store's, never a miner's.
pub async fn fetch_window(
    store: &WindowStore,
    window: u64,
    deadline_unix: u64,
    max_file_bytes: u64,
) -> Result<Vec<FetchedObject>, PipelineError> {
    let store_err = |source| PipelineError::Store { source };
    let listed = store.list(&format!("windows/{window}")).await.map_err(store_err)?;
    let mut out = Vec::with_capacity(listed.len());
    for listed in listed {
        let Some(info) = store.head(&listed.key).await.map_err(store_err)? else { continue };
        let mut object = unfetched(&info);
        if object.uploaded_unix <= deadline_unix && object.size <= max_file_bytes {
            match store.get_bounded(&info.key, max_file_bytes).await {
                Ok(bytes) => {
                    object.size = bytes.len() as u64;
                    object.bytes = Some(bytes);
                }
                Err(StoreError::TooLarge { size, .. }) => object.size = size,
                Err(source) => return Err(store_err(source)),
            }
            // A replacement after the listing shows up as a later upload time.
            if let Some(after) = store.head(&info.key).await.map_err(store_err)? {
                if after.last_modified != info.last_modified {
                    object.uploaded_unix = object.uploaded_unix.max(after.last_modified_unix());
                    object.size = object.size.max(after.size);
                }
            }
        }
        out.push(object);
    }
    Ok(out)
}

fn unfetched(info: &ObjectInfo) -> FetchedObject {
    FetchedObject {
        key: info.key.clone(),
        size: info.size,
        uploaded_unix: info.last_modified_unix(),
        bytes: None,
    }
}

/// Stage 1 for one object: uploaded by `deadline_unix` (inclusive), at most `limits`'s
/// `max_file_bytes`, and decodes. `hotkey` is the one its key names.
pub fn check_file(
    object: &FetchedObject,
    hotkey: Hotkey,
    deadline_unix: u64,
    limits: &Limits,
) -> StageResult<ParsedFile> {
    let fail = |reason: String| Failure::new(Stage::File, reason);
    if object.uploaded_unix > deadline_unix {
        return Err(fail(format!(
            "uploaded at {} (unix s), after the deadline {deadline_unix}",
            object.uploaded_unix
        )));
    }
    if object.size > limits.max_file_bytes {
        return Err(fail(format!(
            "size {} bytes exceeds the limit {}",
            object.size, limits.max_file_bytes
        )));
    }
    let Some(bytes) = object.bytes.as_deref() else {
        return Err(fail("the file could not be downloaded within the size limit".into()));
    };
    let file = decode_from(bytes, limits).map_err(|e| fail(format!("does not parse: {e}")))?;
    Ok(ParsedFile {
        hotkey,
        uploaded_unix: object.uploaded_unix,
        size: bytes.len() as u64,
        cid: cid_of_bytes(bytes).to_bytes(),
        file,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::{pair, sample_file};
    use grail_protocol::codec::encode;

    fn object(bytes: Vec<u8>, uploaded_unix: u64) -> FetchedObject {
        FetchedObject {
            key: "windows/3/x.grail".into(),
            size: bytes.len() as u64,
            uploaded_unix,
            bytes: Some(bytes),
        }
    }

    #[test]
    fn keys_name_hotkeys_only_in_canonical_form() {
        let hk = pair(1).hotkey();
        assert_eq!(hotkey_of_key(&format!("windows/3/{hk}.grail"), 3), Some(hk));
        assert_eq!(hotkey_of_key(&format!("windows/4/{hk}.grail"), 3), None);
        assert_eq!(hotkey_of_key(&format!("windows/3/{hk}.json"), 3), None);
        assert_eq!(hotkey_of_key("windows/3/nothing.grail", 3), None);
        assert_eq!(hotkey_of_key(&format!("windows/3/sub/{hk}.grail"), 3), None);
    }

    #[test]
    fn on_time_file_parses_with_its_cid() {
        let hk = pair(1).hotkey();
        let bytes = encode(&sample_file(&pair(1), 3)).unwrap();
        let parsed = check_file(&object(bytes.clone(), 100), hk, 100, &Limits::default()).unwrap();
        assert_eq!(parsed.cid, cid_of_bytes(&bytes).to_bytes());
        assert_eq!(parsed.file.header.window, 3);
        assert_eq!(parsed.size, bytes.len() as u64);
    }

    #[test]
    fn late_oversized_missing_and_malformed_files_fail_at_file() {
        let hk = pair(1).hotkey();
        let bytes = encode(&sample_file(&pair(1), 3)).unwrap();
        let limits = Limits::default();
        let late = check_file(&object(bytes.clone(), 101), hk, 100, &limits).unwrap_err();
        assert!(late.reason.contains("after the deadline 100"), "{late}");
        let small = Limits { max_file_bytes: 100, ..limits };
        let big = check_file(&object(bytes.clone(), 50), hk, 100, &small).unwrap_err();
        assert!(big.reason.contains("exceeds the limit 100"), "{big}");
        let mut missing = object(bytes.clone(), 50);
        missing.bytes = None;
        assert_eq!(check_file(&missing, hk, 100, &limits).unwrap_err().stage, Stage::File);
        let mut truncated = bytes;
        truncated.truncate(truncated.len() - 1);
        let bad = check_file(&object(truncated, 50), hk, 100, &limits).unwrap_err();
        assert!(bad.reason.contains("does not parse"), "{bad}");
        assert_eq!(bad.stage, Stage::File);
    }

    #[test]
    fn fetch_skips_late_and_oversized_objects() {
        let dir = tempfile::tempdir().unwrap();
        let store = WindowStore::open_local(dir.path()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (a, b) = (pair(1), pair(2));
        let small = encode(&sample_file(&a, 3)).unwrap();
        let mut large_file = sample_file(&b, 3);
        large_file.rollouts.extend(large_file.rollouts.clone());
        let large = encode(&large_file).unwrap();
        let limit = small.len() as u64;
        rt.block_on(async {
            store.put(&format!("windows/3/{}.grail", a.hotkey()), small.clone()).await.unwrap();
            store.put(&format!("windows/3/{}.grail", b.hotkey()), large).await.unwrap();
            store.put("windows/4/other.grail", vec![1, 2, 3]).await.unwrap();
        });
        let now = rt.block_on(store.list("windows/3")).unwrap()[0].last_modified_unix();
        let got = rt.block_on(fetch_window(&store, 3, now + 5, limit)).unwrap();
        assert_eq!(got.len(), 2);
        let by_key = |hk: Hotkey| got.iter().find(|o| o.key.contains(&hk.to_ss58())).unwrap();
        assert_eq!(by_key(a.hotkey()).bytes.as_deref(), Some(&small[..]));
        assert!(by_key(b.hotkey()).bytes.is_none());
        assert!(by_key(b.hotkey()).size > limit);
        // Before the upload time: nothing is downloaded.
        let early = rt.block_on(fetch_window(&store, 3, now.saturating_sub(5), limit)).unwrap();
        assert!(early.iter().all(|o| o.bytes.is_none()));
    }
}

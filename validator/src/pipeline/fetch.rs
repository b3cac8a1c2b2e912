//! Stage 1: whose file it is. [`crate::intake`] reads each registered miner's key and keeps
//! what it read before the cutoff; [`check_file`] decides from that record alone, so an auditor
//! holding the same bytes and read times reaches the same verdict.
//!
//! Attribution: bytes under a miner's key are that miner's file only if they were read by the
//! cutoff, fit the size limit, parse, name this window and this hotkey, and carry valid
//! signatures of that hotkey on the header and every rollout. Anything else is the miner's
//! absence, never its failure: any writer of a shared store can put bytes under any name, but
//! only the miner can sign.

use grail_protocol::cid::cid_of_bytes;
use grail_protocol::codec::{decode_from, Limits, FILE_EXTENSION};
use grail_protocol::keys::Hotkey;
use grail_protocol::signing::verify_window_file;
use grail_protocol::window_file::WindowFile;

/// One miner's file as the validator read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedObject {
    /// Storage key, e.g. `windows/7/5Grw….grail`.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When the validator first held these exact bytes, unix seconds (its own clock; the
    /// store's last-modified time is the writer's claim and is not used).
    pub uploaded_unix: u64,
    /// The exact bytes.
    pub bytes: Option<Vec<u8>>,
}

/// A file attributed to its miner.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    /// The hotkey its file name names and that signed it.
    pub hotkey: Hotkey,
    /// First read, unix seconds.
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

/// Decodes `bytes` and checks that they are `hotkey`'s file of `window`: the header names
/// both and every signature is `hotkey`'s. `Err` says why not (the bytes are not the miner's).
pub fn attribute(
    bytes: &[u8],
    window: u64,
    hotkey: &Hotkey,
    limits: &Limits,
) -> Result<WindowFile, String> {
    let file = decode_from(bytes, limits).map_err(|e| format!("does not parse: {e}"))?;
    let h = &file.header;
    if h.window != window {
        return Err(format!("the header is of window {}, not {window}", h.window));
    }
    if h.hotkey != *hotkey {
        return Err(format!("the header names {}, not {hotkey}", h.hotkey));
    }
    verify_window_file(&file).map_err(|e| format!("not signed by {hotkey}: {e}"))?;
    Ok(file)
}

/// Stage 1 for one object: read by `deadline_unix` (inclusive), at most `limits`'s
/// `max_file_bytes`, and [`attribute`]d to `hotkey`. `Err` is why the miner counts as absent.
pub fn check_file(
    object: &FetchedObject,
    hotkey: Hotkey,
    window: u64,
    deadline_unix: u64,
    limits: &Limits,
) -> Result<ParsedFile, String> {
    if object.uploaded_unix > deadline_unix {
        return Err(format!(
            "first read at {} (unix s), after the deadline {deadline_unix}",
            object.uploaded_unix
        ));
    }
    if object.size > limits.max_file_bytes {
        return Err(format!(
            "size {} bytes exceeds the limit {}",
            object.size, limits.max_file_bytes
        ));
    }
    let Some(bytes) = object.bytes.as_deref() else {
        return Err("the file could not be read within the size limit".into());
    };
    let file = attribute(bytes, window, &hotkey, limits)?;
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
    use grail_protocol::signing::sign_window_file;

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
        let parsed =
            check_file(&object(bytes.clone(), 100), hk, 3, 100, &Limits::default()).unwrap();
        assert_eq!(parsed.cid, cid_of_bytes(&bytes).to_bytes());
        assert_eq!(parsed.file.header.window, 3);
        assert_eq!(parsed.size, bytes.len() as u64);
    }

    #[test]
    fn late_oversized_missing_and_malformed_files_are_not_the_miners() {
        let hk = pair(1).hotkey();
        let bytes = encode(&sample_file(&pair(1), 3)).unwrap();
        let limits = Limits::default();
        let late = check_file(&object(bytes.clone(), 101), hk, 3, 100, &limits).unwrap_err();
        assert!(late.contains("after the deadline 100"), "{late}");
        let small = Limits { max_file_bytes: 100, ..limits };
        let big = check_file(&object(bytes.clone(), 50), hk, 3, 100, &small).unwrap_err();
        assert!(big.contains("exceeds the limit 100"), "{big}");
        let mut missing = object(bytes.clone(), 50);
        missing.bytes = None;
        assert!(check_file(&missing, hk, 3, 100, &limits).is_err());
        let mut truncated = bytes;
        truncated.truncate(truncated.len() - 1);
        let bad = check_file(&object(truncated, 50), hk, 3, 100, &limits).unwrap_err();
        assert!(bad.contains("does not parse"), "{bad}");
    }

    /// What a store writer other than the miner can put under its name: another window's
    /// genuine file, another miner's file, an edit of the miner's file. None is the miner's.
    #[test]
    fn only_the_miners_own_signed_file_of_this_window_is_attributed() {
        let (p, q) = (pair(1), pair(2));
        let limits = Limits::default();
        let own = sample_file(&p, 3);
        attribute(&encode(&own).unwrap(), 3, &p.hotkey(), &limits).unwrap();
        let earlier = encode(&sample_file(&p, 2)).unwrap();
        let err = attribute(&earlier, 3, &p.hotkey(), &limits).unwrap_err();
        assert!(err.contains("window 2, not 3"), "{err}");
        let other = encode(&sample_file(&q, 3)).unwrap();
        let err = attribute(&other, 3, &p.hotkey(), &limits).unwrap_err();
        assert!(err.contains("the header names"), "{err}");
        let mut edited = own.clone();
        edited.rollouts[0].completion_tokens[0] ^= 1;
        let err = attribute(&encode(&edited).unwrap(), 3, &p.hotkey(), &limits).unwrap_err();
        assert!(err.contains("not signed by") && err.contains("rollout 0"), "{err}");
        // Signed by another key while naming this one.
        let mut forged = own;
        forged.header.hotkey = q.hotkey();
        sign_window_file(&q, &mut forged).unwrap();
        forged.header.hotkey = p.hotkey();
        let err = attribute(&encode(&forged).unwrap(), 3, &p.hotkey(), &limits).unwrap_err();
        assert!(err.contains("not signed by") && err.contains("header"), "{err}");
    }
}

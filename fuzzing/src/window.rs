//! Window files (a miner's bytes) and transcripts (an auditor's input).

use grail_protocol::codec::{decode, decode_from, encode, Limits};
use grail_protocol::signing::verify_window_file;
use grail_validator::transcript::Transcript;

/// Files at most this long pass the tight limits of [`window_file`].
const TIGHT_FILE_BYTES: u64 = 1024;

/// The window-file decoder: the slice and reader paths agree, a decoded file re-encodes to
/// bytes that decode to the same encoding (never longer than the input), a tight size limit
/// is never exceeded, and signature and Merkle checks run without panicking.
pub(crate) fn window_file(data: &[u8]) -> bool {
    let limits = Limits::default();
    let decoded = decode(data, &limits);
    assert_eq!(
        decoded.is_ok(),
        decode_from(data, &limits).is_ok(),
        "the slice and reader decoders disagree"
    );
    let tight = Limits { max_file_bytes: TIGHT_FILE_BYTES, ..Limits::default() };
    if decode(data, &tight).is_ok() {
        assert!(
            data.len() as u64 <= TIGHT_FILE_BYTES,
            "a {} B file passed a 1 KiB limit",
            data.len()
        );
    }
    let Ok(file) = decoded else { return false };
    let bytes = encode(&file).expect("a decoded file encodes");
    assert!(bytes.len() <= data.len(), "re-encoding grew {} B to {} B", data.len(), bytes.len());
    let again = decode(&bytes, &limits).expect("an encoded file decodes");
    assert_eq!(encode(&again).expect("encodes"), bytes, "encode(decode(encode(f))) != encode(f)");
    let _ = verify_window_file(&file);
    for r in &file.rollouts {
        let _ = r.compute_merkle_root();
    }
    true
}

/// The transcript reader and what replay reads before any forward pass: the drand chain,
/// the metagraph, each object's bytes and their window files. A parsed transcript
/// serializes to JSON that parses back to the same JSON.
pub(crate) fn transcript(data: &[u8]) -> bool {
    let Ok(t) = Transcript::from_json(data) else { return false };
    let _ = t.drand_key_name();
    let _ = t.metagraph.check();
    if let Ok(objects) = t.fetched_objects() {
        for bytes in objects.iter().filter_map(|o| o.bytes.as_deref()) {
            let _ = decode(bytes, &Limits::default());
        }
    }
    let json = serde_json::to_vec(&t).expect("a transcript serializes");
    let back = Transcript::from_json(&json).expect("a transcript's own JSON parses");
    assert_eq!(serde_json::to_vec(&back).expect("serializes"), json, "JSON round trip");
    true
}

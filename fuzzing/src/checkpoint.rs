//! The trainer's checkpoint manifests, as miners and validators read them from its store.

use grail_protocol::checkpoint::{manifest_digest, manifest_json, parse_manifest, verify_manifest};
use grail_protocol::keys::Hotkey;

/// The manifest parser: a manifest that passes has a digest, serializes back to a manifest
/// that parses the same, and its signature check answers (under its own trainer and another
/// key) without panicking; under another key it never verifies.
pub(crate) fn checkpoint(data: &[u8]) -> bool {
    let Ok(m) = parse_manifest(data) else { return false };
    let digest = manifest_digest(&m).expect("a parsed manifest has a digest");
    let back = parse_manifest(&manifest_json(&m)).expect("a manifest's own JSON parses");
    assert_eq!(back, m, "a manifest changed on a round trip");
    assert_eq!(manifest_digest(&back).expect("digest"), digest);
    let own = Hotkey::from_ss58(&m.trainer).expect("a parsed manifest names an SS58 trainer");
    let _ = verify_manifest(&m, &own);
    let other = Hotkey([if own.0[0] == 7 { 8 } else { 7 }; 32]);
    assert!(verify_manifest(&m, &other).is_err(), "a manifest verified under another key");
    true
}

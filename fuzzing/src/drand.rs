//! drand relays' answers: chain info and beacons.

use std::sync::OnceLock;

use grail_drand::{dev, randomness_of, verify_beacon, Beacon, ChainInfo, ChainKey};

use crate::tape::Tape;

fn keys() -> &'static [ChainKey; 3] {
    static KEYS: OnceLock<[ChainKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [ChainInfo::quicknet().key(), ChainInfo::mainnet().key(), dev::dev_chain_key()]
    })
}

/// The first byte picks chain info (even) or a beacon (odd). Chain info that parses has a
/// clock that answers without panicking; a beacon is verified against each pinned key, and
/// one that verifies carries the randomness of its signature.
pub(crate) fn drand(data: &[u8]) -> bool {
    let mut tape = Tape::new(data);
    let mode = tape.byte();
    let json = tape.rest();
    if mode & 1 == 0 {
        let Ok(info) = ChainInfo::from_json(json) else { return false };
        let _ = info.key();
        if let Ok(round) = info.round_at(u64::MAX / 2) {
            let _ = info.time_of(round);
        }
        let _ = info.time_of(u64::MAX);
        return true;
    }
    let Ok(beacon) = Beacon::from_json(json) else { return false };
    let mut verified_by_any = false;
    for key in keys() {
        if let Ok(verified) = verify_beacon(key, &beacon) {
            assert_eq!(verified.round(), beacon.round, "a verified beacon changed its round");
            assert_eq!(
                *verified.randomness(),
                randomness_of(&beacon.signature),
                "a verified beacon's randomness is not its signature's"
            );
            verified_by_any = true;
        }
    }
    verified_by_any
}

//! What is checked, from the challenge beacon (unknown while mining) and each file's CID, with
//! the `protocol` selection code, so anyone can recompute it: which miners, which rollouts of a
//! file, and which `K` positions of each checked rollout.

use std::collections::BTreeSet;

use grail_protocol::challenge::{select_miners, FileChallenge};
use grail_protocol::keys::Hotkey;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window_file::WindowFile;

/// The miners fully checked this window, among `candidates` (any order, duplicates ignored).
pub fn miners_to_check(
    challenge_randomness: &[u8; 32],
    candidates: &[Hotkey],
    params: &VerifyParams,
) -> BTreeSet<Hotkey> {
    select_miners(challenge_randomness, candidates, params.miners_checked).into_iter().collect()
}

/// Windows a miner that fails is excluded for when `selected` of the window's `candidates` were
/// fully checked: `exclusion_windows × ⌈candidates / selected⌉`. A forger is checked in one
/// window of about `candidates / selected`, so its expected exclusion per window forged does
/// not fall below what it is when every miner is checked (docs/SECURITY.md, "Pacing").
pub fn exclusion_windows(params: &VerifyParams, candidates: usize, selected: usize) -> u64 {
    let ratio = match selected {
        0 => 1,
        s => candidates.div_ceil(s).max(1),
    };
    params.exclusion_windows.saturating_mul(u64::try_from(ratio).unwrap_or(u64::MAX))
}

/// One rollout to check: its index in the file and the positions whose commitments are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRollout {
    /// Index into the file's rollouts.
    pub index: u32,
    /// Completion positions of the commitment check, ascending.
    pub positions: Vec<u32>,
}

/// The rollouts of `file` (whose exact bytes have CID `cid`) to check, ascending by index.
pub fn rollouts_to_check(
    challenge_randomness: &[u8; 32],
    cid: &[u8],
    file: &WindowFile,
    params: &VerifyParams,
) -> Vec<CheckedRollout> {
    let challenge = FileChallenge { randomness: challenge_randomness, cid };
    // The decoder bounds the rollout count and completion lengths far below u32::MAX.
    let n = u32::try_from(file.rollouts.len()).unwrap_or(u32::MAX);
    challenge
        .rollouts(n, params.rollouts_checked)
        .into_iter()
        .map(|index| {
            let len = file.rollouts[index as usize].completion_tokens.len();
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            let positions = challenge.positions(index, len, params.challenge_positions);
            CheckedRollout { index, positions }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::Fixture;

    #[test]
    fn exclusion_scales_with_the_share_checked() {
        let p = VerifyParams { exclusion_windows: 12, ..Default::default() };
        assert_eq!(exclusion_windows(&p, 3, 3), 12);
        assert_eq!(exclusion_windows(&p, 256, 256), 12);
        assert_eq!(exclusion_windows(&p, 256, 16), 12 * 16);
        assert_eq!(exclusion_windows(&p, 257, 16), 12 * 17);
        assert_eq!(exclusion_windows(&p, 3, 1), 36);
        assert_eq!(exclusion_windows(&p, 0, 0), 12);
        let huge = VerifyParams { exclusion_windows: u64::MAX, ..p };
        assert_eq!(exclusion_windows(&huge, 10, 1), u64::MAX);
    }

    #[test]
    fn selection_follows_randomness_and_cid() {
        let f = Fixture::new(4);
        let file = f.file(2);
        let params =
            VerifyParams { rollouts_checked: 5, challenge_positions: 3, ..Default::default() };
        let a = rollouts_to_check(&[1; 32], b"cid-a", &file, &params);
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0].index < w[1].index));
        for c in &a {
            let len = file.rollouts[c.index as usize].completion_tokens.len() as u32;
            assert_eq!(c.positions.len() as u32, len.min(3));
            assert!(c.positions.iter().all(|&p| p < len));
        }
        assert_eq!(a, rollouts_to_check(&[1; 32], b"cid-a", &file, &params));
        assert_ne!(a, rollouts_to_check(&[1; 32], b"cid-b", &file, &params));
        assert_ne!(a, rollouts_to_check(&[2; 32], b"cid-a", &file, &params));
        // More requested than present: all of them.
        let all = VerifyParams { rollouts_checked: 100, ..params };
        assert_eq!(rollouts_to_check(&[1; 32], b"c", &file, &all).len(), 32);
    }

    #[test]
    fn miner_selection_is_a_subset_of_the_candidates() {
        let keys: Vec<Hotkey> = (0..10u8).map(|i| Hotkey([i; 32])).collect();
        let params = VerifyParams { miners_checked: 4, ..Default::default() };
        let chosen = miners_to_check(&[7; 32], &keys, &params);
        assert_eq!(chosen.len(), 4);
        assert!(chosen.iter().all(|k| keys.contains(k)));
        let everyone = VerifyParams { miners_checked: 50, ..params };
        assert_eq!(miners_to_check(&[7; 32], &keys, &everyone).len(), 10);
    }
}

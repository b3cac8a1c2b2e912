//! Stage 7: a completion counts once, for its earliest upload.
//!
//! A completion is identified by `H("grail/v1/completion", tokens)` (its tokens as 4-byte
//! big-endian words, one part). Among the files that passed stages 1-6, each completion is
//! owned by the earliest upload holding it anywhere in its file: the smallest
//! `(upload time, hotkey bytes)`, so ties break the same way for everyone. A miner's
//! `unique_verified` is the number of distinct completions among its checked rollouts that it
//! owns. Not owning a completion is not a failure; it just does not count.

use std::collections::{BTreeMap, BTreeSet};

use grail_protocol::hash::{DomainHasher, Hash32};
use grail_protocol::keys::Hotkey;

/// Domain of a completion's identity.
pub const DOMAIN_COMPLETION: &str = "grail/v1/completion";

/// The identity of a completion.
pub fn completion_hash(tokens: &[u32]) -> Hash32 {
    let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_be_bytes()).collect();
    DomainHasher::new(DOMAIN_COMPLETION).bytes(&bytes).finish()
}

/// One file that passed stages 1-6.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The miner.
    pub hotkey: Hotkey,
    /// Its upload time, unix seconds.
    pub uploaded_unix: u64,
    /// Hashes of every completion in the file.
    pub all: Vec<Hash32>,
    /// Hashes of the checked completions.
    pub checked: Vec<Hash32>,
}

/// `unique_verified` per miner.
pub fn unique_verified(candidates: &[Candidate]) -> BTreeMap<Hotkey, u64> {
    let mut owner: BTreeMap<Hash32, (u64, Hotkey)> = BTreeMap::new();
    for c in candidates {
        let me = (c.uploaded_unix, c.hotkey);
        for h in &c.all {
            owner.entry(*h).and_modify(|o| *o = (*o).min(me)).or_insert(me);
        }
    }
    candidates
        .iter()
        .map(|c| {
            let owned: BTreeSet<&Hash32> = c
                .checked
                .iter()
                .filter(|h| owner.get(*h).is_some_and(|(_, k)| *k == c.hotkey))
                .collect();
            (c.hotkey, owned.len() as u64)
        })
        .collect()
}

/// Extrapolates verified unique completions to the whole file through the sampling only:
/// `floor(unique × in_file / checked)` in 128-bit integers (0 when nothing was checked).
pub fn unique_estimated(unique: u64, checked: u64, in_file: u64) -> u64 {
    if checked == 0 {
        return 0;
    }
    let v = u128::from(unique) * u128::from(in_file) / u128::from(checked);
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(key: u8, t: u64, all: &[&[u32]], checked: &[usize]) -> Candidate {
        let all: Vec<Hash32> = all.iter().map(|c| completion_hash(c)).collect();
        let checked = checked.iter().map(|&i| all[i]).collect();
        Candidate { hotkey: Hotkey([key; 32]), uploaded_unix: t, all, checked }
    }

    #[test]
    fn earlier_upload_owns_a_shared_completion() {
        let a = cand(1, 100, &[&[1, 2], &[3]], &[0, 1]);
        let b = cand(2, 90, &[&[1, 2], &[4]], &[0, 1]);
        let u = unique_verified(&[a.clone(), b.clone()]);
        assert_eq!(u[&Hotkey([1; 32])], 1);
        assert_eq!(u[&Hotkey([2; 32])], 2);
        // The order of the candidates does not matter.
        assert_eq!(u, unique_verified(&[b, a]));
    }

    #[test]
    fn ties_break_by_hotkey_bytes_and_unchecked_copies_still_own() {
        let a = cand(9, 100, &[&[7]], &[0]);
        let b = cand(3, 100, &[&[7], &[8]], &[1]);
        let u = unique_verified(&[a, b]);
        assert_eq!(u[&Hotkey([9; 32])], 0);
        assert_eq!(u[&Hotkey([3; 32])], 1);
    }

    #[test]
    fn repeats_within_a_file_count_once() {
        let a = cand(1, 5, &[&[1], &[1], &[2]], &[0, 1, 2]);
        assert_eq!(unique_verified(&[a])[&Hotkey([1; 32])], 2);
        assert_ne!(completion_hash(&[1, 2]), completion_hash(&[2, 1]));
        assert_ne!(completion_hash(&[258]), completion_hash(&[1, 2]));
    }

    #[test]
    fn extrapolation_is_integer_and_bounded() {
        assert_eq!(unique_estimated(16, 16, 64), 64);
        assert_eq!(unique_estimated(15, 16, 64), 60);
        assert_eq!(unique_estimated(5, 16, 17), 5);
        assert_eq!(unique_estimated(0, 0, 10), 0);
        assert_eq!(unique_estimated(u64::MAX, 1, 2), u64::MAX);
    }
}

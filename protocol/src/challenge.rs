//! Which miners, rollouts and positions the validator checks (DESIGN.md 3.8).
//!
//! Everything comes from the challenge beacon's randomness, which nobody knows while mining,
//! and the window file's CID, so anyone can recompute it. Subsets are drawn by a partial
//! Fisher-Yates shuffle over `0..n` with `uniform_below`, and returned sorted ascending.

use rand_chacha::ChaCha20Rng;

use crate::hash::{uniform_below, DomainHasher};
use crate::keys::Hotkey;

/// Domain of the rollout-selection stream.
pub const DOMAIN_ROLLOUTS: &str = "grail/v1/challenge/rollouts";
/// Domain of a rollout's position-selection stream.
pub const DOMAIN_POSITIONS: &str = "grail/v1/challenge/positions";
/// Domain of the miner-selection stream.
pub const DOMAIN_MINERS: &str = "grail/v1/challenge/miners";

/// `min(count, n)` distinct indices of `0..n`, uniform, from a partial Fisher-Yates shuffle:
/// `a = [0, 1, .., n-1]`; for `i` in `0..count`: `j = i + uniform_below(rng, n - i)`,
/// swap `a[i]` and `a[j]`; the result is `a[..count]` sorted ascending.
pub fn distinct_indices(rng: &mut ChaCha20Rng, n: u32, count: u32) -> Vec<u32> {
    let count = count.min(n);
    let mut a: Vec<u32> = (0..n).collect();
    for i in 0..count {
        let span = u64::from(n - i);
        // uniform_below(span) < span <= u32::MAX, so the cast is exact.
        let j = i + uniform_below(rng, span) as u32;
        a.swap(i as usize, j as usize);
    }
    a.truncate(count as usize);
    a.sort_unstable();
    a
}

/// The challenge of one window file: the challenge randomness and the file's CID bytes.
#[derive(Debug, Clone, Copy)]
pub struct FileChallenge<'a> {
    /// Challenge beacon randomness (32 bytes).
    pub randomness: &'a [u8; 32],
    /// Binary CID of the window file (`Cid::to_bytes()`).
    pub cid: &'a [u8],
}

impl FileChallenge<'_> {
    /// Indices (positions in the file, `0..rollouts_in_file`) of the rollouts to check:
    /// `min(checked, rollouts_in_file)` distinct ones from the stream
    /// `H("grail/v1/challenge/rollouts", randomness, cid)`.
    pub fn rollouts(&self, rollouts_in_file: u32, checked: u32) -> Vec<u32> {
        let mut rng =
            DomainHasher::new(DOMAIN_ROLLOUTS).bytes(self.randomness).bytes(self.cid).stream();
        distinct_indices(&mut rng, rollouts_in_file, checked)
    }

    /// Completion positions to check in the rollout at `file_index`: all of them when the
    /// completion has at most `k` tokens, otherwise `k` distinct ones from the stream
    /// `H("grail/v1/challenge/positions", randomness, cid, u64 file_index)`.
    pub fn positions(&self, file_index: u32, completion_len: u32, k: u32) -> Vec<u32> {
        if completion_len <= k {
            return (0..completion_len).collect();
        }
        let mut rng = DomainHasher::new(DOMAIN_POSITIONS)
            .bytes(self.randomness)
            .bytes(self.cid)
            .u64(u64::from(file_index))
            .stream();
        distinct_indices(&mut rng, completion_len, k)
    }
}

/// The miners to check when only `checked` of them are: the hotkeys are sorted by their bytes
/// and deduplicated (so the caller's order does not matter), then `min(checked, n)` distinct
/// ones are drawn with the stream `H("grail/v1/challenge/miners", randomness)`. Returned in
/// ascending byte order.
pub fn select_miners(randomness: &[u8; 32], hotkeys: &[Hotkey], checked: u32) -> Vec<Hotkey> {
    let mut sorted = hotkeys.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let n = u32::try_from(sorted.len()).unwrap_or(u32::MAX);
    let mut rng = DomainHasher::new(DOMAIN_MINERS).bytes(randomness).stream();
    distinct_indices(&mut rng, n, checked).into_iter().map(|i| sorted[i as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_are_distinct_in_range_and_sorted() {
        let r = [5u8; 32];
        let c = FileChallenge { randomness: &r, cid: b"cid" };
        for (n, k) in [(100u32, 10u32), (10, 10), (5, 10), (0, 3), (1, 1)] {
            let s = c.rollouts(n, k);
            assert_eq!(s.len() as u32, k.min(n));
            assert!(s.windows(2).all(|w| w[0] < w[1]));
            assert!(s.iter().all(|&i| i < n));
        }
        assert_eq!(c.positions(0, 20, 32), (0..20).collect::<Vec<_>>());
        let p = c.positions(0, 2048, 32);
        assert_eq!(p.len(), 32);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && p[31] < 2048);
        assert_ne!(p, c.positions(1, 2048, 32));
        let c2 = FileChallenge { randomness: &r, cid: b"cie" };
        assert_ne!(p, c2.positions(0, 2048, 32));
    }

    #[test]
    fn positions_are_uniform() {
        // Each of 64 positions is picked with probability 1/2; over 4000 rollouts the count
        // of each stays within 6 standard deviations (sd ~ 31.6) of 2000.
        let r = [9u8; 32];
        let c = FileChallenge { randomness: &r, cid: b"x" };
        let mut counts = [0u32; 64];
        for i in 0..4000 {
            for p in c.positions(i, 64, 32) {
                counts[p as usize] += 1;
            }
        }
        assert!(counts.iter().all(|&n| (1810..=2190).contains(&n)), "{counts:?}");
    }

    #[test]
    fn miner_selection_ignores_order_and_duplicates() {
        let keys: Vec<Hotkey> = (0..20u8).map(|i| Hotkey([i; 32])).collect();
        let mut shuffled = keys.clone();
        shuffled.reverse();
        shuffled.push(keys[3]);
        let r = [1u8; 32];
        let a = select_miners(&r, &keys, 5);
        assert_eq!(a.len(), 5);
        assert_eq!(a, select_miners(&r, &shuffled, 5));
        assert_eq!(select_miners(&r, &keys, 50).len(), 20);
        assert_ne!(a, select_miners(&[2u8; 32], &keys, 5));
    }

    #[test]
    fn a_smaller_selection_is_part_of_a_larger_one() {
        // The partial shuffle fixes its first `n` picks whatever the count, so a validator that
        // checks more miners checks a superset of one that checks fewer.
        let keys: Vec<Hotkey> = (0..40u8).map(|i| Hotkey([i; 32])).collect();
        for seed in 0..20u8 {
            let r = [seed; 32];
            for (small, large) in [(1, 2), (3, 7), (16, 39), (10, 40)] {
                let a = select_miners(&r, &keys, small);
                let b = select_miners(&r, &keys, large);
                assert!(a.iter().all(|k| b.contains(k)), "{small} of {large}, seed {seed}");
            }
        }
    }
}

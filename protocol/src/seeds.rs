//! Seeds of a window, of a miner's problems, and of each rollout's sampling stream
//! (DESIGN.md 3.2-3.4). Integers enter the hash as 8-byte big-endian parts.

use rand_chacha::ChaCha20Rng;

use crate::hash::{DomainHasher, Hash32};
use crate::keys::Hotkey;
use crate::params::GROUP_SIZE;

/// Domain of the window seed.
pub const DOMAIN_WINDOW: &str = "grail/v1/window";
/// Domain of a problem seed.
pub const DOMAIN_PROBLEM: &str = "grail/v1/problem";
/// Domain of a rollout's sampling seed.
pub const DOMAIN_SAMPLE: &str = "grail/v1/sample";

/// `S_w = H("grail/v1/window", u64 w, beacon randomness (32 B), block hash of the window's
/// first block (32 B))`.
pub fn window_seed(
    window: u64,
    beacon_randomness: &[u8; 32],
    first_block_hash: &[u8; 32],
) -> Hash32 {
    DomainHasher::new(DOMAIN_WINDOW)
        .u64(window)
        .bytes(beacon_randomness)
        .bytes(first_block_hash)
        .finish()
}

/// `H("grail/v1/problem", S_w, hotkey public key (32 B), u64 j)`: the seed of problem `j` of
/// a miner in a window.
pub fn problem_seed(window_seed: &Hash32, hotkey: &Hotkey, problem_index: u32) -> Hash32 {
    DomainHasher::new(DOMAIN_PROBLEM)
        .bytes(window_seed)
        .bytes(hotkey.as_bytes())
        .u64(u64::from(problem_index))
        .finish()
}

/// The ChaCha20 stream an environment's generator draws problem `j` from.
pub fn problem_stream(window_seed: &Hash32, hotkey: &Hotkey, problem_index: u32) -> ChaCha20Rng {
    rand_core::SeedableRng::from_seed(problem_seed(window_seed, hotkey, problem_index))
}

/// `H("grail/v1/sample", S_w, hotkey public key (32 B), u64 j, u64 r)`: the sampling seed of
/// rollout `r` of problem `j`.
pub fn sample_seed(
    window_seed: &Hash32,
    hotkey: &Hotkey,
    problem_index: u32,
    rollout_index: u32,
) -> Hash32 {
    DomainHasher::new(DOMAIN_SAMPLE)
        .bytes(window_seed)
        .bytes(hotkey.as_bytes())
        .u64(u64::from(problem_index))
        .u64(u64::from(rollout_index))
        .finish()
}

/// The stream whose `t`-th `uniform_f64` draw picks completion token `t` of that rollout.
pub fn sample_stream(
    window_seed: &Hash32,
    hotkey: &Hotkey,
    problem_index: u32,
    rollout_index: u32,
) -> ChaCha20Rng {
    rand_core::SeedableRng::from_seed(sample_seed(
        window_seed,
        hotkey,
        problem_index,
        rollout_index,
    ))
}

/// The [`GROUP_SIZE`] streams of problem `problem_index`'s group, rollout `r` at index `r`.
pub fn group_streams(
    window_seed: &Hash32,
    hotkey: &Hotkey,
    problem_index: u32,
) -> Vec<ChaCha20Rng> {
    (0..GROUP_SIZE).map(|r| sample_stream(window_seed, hotkey, problem_index, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::uniform_f64;

    #[test]
    fn every_input_changes_the_seeds() {
        let (r, b) = ([1u8; 32], [2u8; 32]);
        let s = window_seed(5, &r, &b);
        assert_ne!(s, window_seed(6, &r, &b));
        assert_ne!(s, window_seed(5, &b, &r));
        let (m, m2) = (Hotkey([3u8; 32]), Hotkey([4u8; 32]));
        let p = problem_seed(&s, &m, 0);
        assert_ne!(p, problem_seed(&s, &m, 1));
        assert_ne!(p, problem_seed(&s, &m2, 0));
        assert_ne!(p, sample_seed(&s, &m, 0, 0));
        assert_ne!(sample_seed(&s, &m, 0, 1), sample_seed(&s, &m, 1, 0));
    }

    #[test]
    fn streams_are_seeded_by_the_seed() {
        let s = window_seed(1, &[0u8; 32], &[0u8; 32]);
        let m = Hotkey([9u8; 32]);
        let mut a = sample_stream(&s, &m, 2, 3);
        let mut b =
            DomainHasher::new(DOMAIN_SAMPLE).bytes(&s).bytes(m.as_bytes()).u64(2).u64(3).stream();
        for _ in 0..8 {
            assert_eq!(uniform_f64(&mut a).to_bits(), uniform_f64(&mut b).to_bits());
        }
    }
}

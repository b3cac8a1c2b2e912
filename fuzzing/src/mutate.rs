//! A small deterministic mutator for the test suite's smoke run: the same seed input and
//! counter always give the same mutation, so a failure names an input that can be rebuilt.

/// The bytes libFuzzer's dictionary would favour: boundaries of counts and lengths.
const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xfe, 0xff, b'{', b'}', b'"', b'/', b'?', b'='];

/// xorshift64*: enough spread for choosing mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// `input` with one to four mutations: a bit flipped, a byte set to an interesting value, a
/// little-endian u32 overwritten with a boundary, a range deleted, duplicated or truncated,
/// random bytes inserted.
pub fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if len >= 4 => {
                let i = rng.below(len - 3);
                let v: u32 = [0, 1, u32::MAX, u32::MAX / 2 + 1, 0xffff, 4097][rng.below(6)];
                out[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                out.drain(start..end);
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let copy = out[start..end].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, copy);
            }
            5 => {
                let keep = rng.below(len + 1);
                out.truncate(keep);
            }
            _ => {
                let at = rng.below(len + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next_u64() as u8).collect();
                out.splice(at..at, bytes);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutations_and_they_differ_from_the_input() {
        let input = b"{\"round\": 1, \"signature\": \"00\"}".to_vec();
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..100).map(|_| mutate(&input, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().filter(|m| **m != input).count() > 90);
    }
}

//! A generated completion as the engine hands it to window-file assembly: plain vectors, so
//! assembly (in `grail-challenges`) need not know the engine that made them.

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The last token is one of the stop ids.
    Eos,
    /// `max_new_tokens` tokens were generated without a stop token.
    Length,
}

/// One completion with what the miner commits to per token.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedRollout {
    /// Completion token ids (the stop token included when `stop` is `Eos`).
    pub tokens: Vec<u32>,
    /// `ln p(token)` under the sampling distribution, one per token.
    pub logprobs: Vec<f32>,
    /// `c_t` per token; empty when no commitment key was given.
    pub commitments: Vec<u32>,
    /// Why it ended.
    pub stop: StopReason,
}

impl GeneratedRollout {
    /// Whether `other` is this completion bit for bit: the same tokens, commitments and stop,
    /// and logprobs with the same bits (`==` on floats would let `0.0` equal `-0.0`).
    pub fn same_bits(&self, other: &Self) -> bool {
        self.tokens == other.tokens
            && self.commitments == other.commitments
            && self.stop == other.stop
            && self.logprobs.len() == other.logprobs.len()
            && self.logprobs.iter().zip(&other.logprobs).all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bits_sees_every_field_and_the_sign_of_zero() {
        let a = GeneratedRollout {
            tokens: vec![1, 2],
            logprobs: vec![-0.5, 0.0],
            commitments: vec![7, 8],
            stop: StopReason::Eos,
        };
        assert!(a.same_bits(&a.clone()));
        let changed = [
            GeneratedRollout { tokens: vec![1, 3], ..a.clone() },
            GeneratedRollout { logprobs: vec![-0.5, -0.0], ..a.clone() },
            GeneratedRollout { logprobs: vec![-0.5], ..a.clone() },
            GeneratedRollout { commitments: vec![7, 9], ..a.clone() },
            GeneratedRollout { stop: StopReason::Length, ..a.clone() },
        ];
        for b in &changed {
            assert!(!a.same_bits(b), "{b:?}");
        }
        assert_eq!(a, changed[1], "PartialEq cannot tell -0.0 from 0.0; same_bits can");
    }
}

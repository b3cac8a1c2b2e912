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

//! Timing the decoding loops on the same requests, for `grail-miner bench` and
//! `cargo bench -p grail-fingerprint --bench engine`.

use std::time::Instant;

use super::rollout::{GeneratedRollout, GroupRequest};
use super::{baseline, Engine};
use crate::error::Result;

/// Which decoding loop to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopKind {
    /// [`Engine::generate_group`].
    Engine,
    /// [`baseline::generate_group`].
    Baseline,
}

impl LoopKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            LoopKind::Engine => "engine",
            LoopKind::Baseline => "baseline",
        }
    }
}

/// What one timed run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    /// Completions generated.
    pub rollouts: usize,
    /// Completion tokens generated.
    pub tokens: usize,
    /// Wall time of the generation calls (loading excluded).
    pub seconds: f64,
    /// Every group's rollouts, in request order.
    pub groups: Vec<Vec<GeneratedRollout>>,
}

impl Timed {
    /// Aggregate completion tokens per second.
    pub fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.seconds.max(1e-9)
    }

    /// Completions per second.
    pub fn rollouts_per_s(&self) -> f64 {
        self.rollouts as f64 / self.seconds.max(1e-9)
    }
}

/// Generates every request with `kind`, one group after another, and times it.
pub fn time_groups(
    engine: &mut Engine,
    kind: LoopKind,
    requests: &[GroupRequest<'_>],
) -> Result<Timed> {
    let start = Instant::now();
    let mut groups = Vec::with_capacity(requests.len());
    for request in requests {
        groups.push(match kind {
            LoopKind::Engine => engine.generate_group(request)?,
            LoopKind::Baseline => baseline::generate_group(engine, request)?,
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    let rollouts = groups.iter().map(Vec::len).sum();
    let tokens = groups.iter().flatten().map(|r| r.tokens.len()).sum();
    Ok(Timed { rollouts, tokens, seconds, groups })
}

//! Timing the decoding loops on the same requests, for `grail-audit bench miner` and
//! `cargo bench -p grail-fingerprint --bench engine`, and the process readings (peak RSS, load)
//! every bench reports beside its figures.

use std::time::Instant;

use super::decode::StepFeeds;
use super::rollout::{GeneratedRollout, GroupRequest};
use super::tensors::broadcast_rows;
use super::{baseline, Engine};
use crate::error::{Error, Result};

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

/// What [`decode_rate`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeRate {
    /// Rows decoded together.
    pub batch: usize,
    /// Steps timed.
    pub steps: usize,
    /// Wall seconds of the steps.
    pub seconds: f64,
    /// Cached positions at the first step (the prompt's length).
    pub context: usize,
}

impl DecodeRate {
    /// Tokens (rows × steps) per second.
    pub fn tokens_per_s(&self) -> f64 {
        (self.batch * self.steps) as f64 / self.seconds.max(1e-9)
    }
}

/// The bare decoding rate at `batch` rows: `prompt` runs once at batch 1 and its cache is
/// repeated for `batch` rows (not timed), then `steps` steps decode one token in every row,
/// each row fed the prompt's last token. No sampling, no commitments: what the forward pass
/// alone gives at that batch size.
pub fn decode_rate(
    engine: &mut Engine,
    prompt: &[u32],
    batch: usize,
    steps: usize,
) -> Result<DecodeRate> {
    let (Some(&last), true) = (prompt.last(), batch > 0) else {
        return Err(Error::Request { problem: "decode_rate needs a prompt and rows".into() });
    };
    let p = prompt.len();
    let present = engine.run_prompt(prompt, |_, _| Ok(()))?;
    let mut past = present.iter().map(|v| broadcast_rows(v, batch)).collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    for step in 0..steps {
        let cached = p + step;
        let feeds = StepFeeds {
            batch,
            seq: 1,
            input_ids: vec![i64::from(last); batch],
            attention_mask: vec![1; batch * (cached + 1)],
            position_ids: vec![cached as i64; batch],
        };
        past = engine.run_step(feeds, past, |_, _| Ok(()))?;
    }
    Ok(DecodeRate { batch, steps, seconds: start.elapsed().as_secs_f64(), context: p })
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), in MiB; `None` where
/// `/proc` is not there.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The 1, 5 and 15 minute load averages of `/proc/loadavg`; `None` where it is not there.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decode_rate_runs_every_row_and_step() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny");
        let options = super::super::EngineOptions { intra_threads: Some(1), ..Default::default() };
        let mut engine = Engine::load(&dir, &options).unwrap();
        let r = decode_rate(&mut engine, &[1, 2, 3, 4], 3, 5).unwrap();
        assert_eq!((r.batch, r.steps, r.context), (3, 5, 4));
        assert!(r.seconds > 0.0 && r.tokens_per_s() > 0.0, "{r:?}");
        assert!(decode_rate(&mut engine, &[], 3, 5).is_err());
        assert!(decode_rate(&mut engine, &[1], 0, 5).is_err());
    }

    #[test]
    fn proc_readings_are_positive_where_proc_exists() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_mb().unwrap() > 0.0);
            assert!(load_average().unwrap().iter().all(|x| *x >= 0.0));
        }
    }
}

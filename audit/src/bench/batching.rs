//! `bench miner`'s sweep over batch rows: the whole workload, with commitments, through
//! [`Engine::generate_groups`] at several batch capacities (16 rows is one group at a time),
//! each run's rollouts compared bit for bit with those the bench's run (a) made one group at a
//! time, so the line shows both what batching across groups buys on this machine and that it
//! changed nothing.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use grail_fingerprint::{Engine, GeneratedRollout, GroupJob, GroupSettings};
use serde::Serialize;

use crate::workload::Workload;

/// Default batch capacities of the sweep.
const DEFAULT_ROWS: &str = "16,32,64";
/// Largest capacity accepted.
const MAX_ROWS: usize = 4096;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Batching")]
pub struct BatchingArgs {
    /// Batch capacities (rows decoding together) of the multi-group sweep, comma-separated.
    #[arg(
        id = "batching.rows",
        long = "batching.rows",
        env = "GRAIL_BATCHING_ROWS",
        default_value = DEFAULT_ROWS,
        value_delimiter = ',',
        value_parser = parse_rows
    )]
    pub rows: Vec<usize>,
}

fn parse_rows(text: &str) -> Result<usize, String> {
    super::parse_count(text, "batch rows", MAX_ROWS)
}

/// One capacity of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct BatchingRun {
    pub rows: usize,
    pub tokens_per_s: f64,
    pub tokens: usize,
    pub seconds: f64,
    pub steps: usize,
    /// Rows per decoding step, on average.
    pub mean_rows_per_step: f64,
    /// Share of those rows that had already finished.
    pub idle_row_share: f64,
    pub most_groups_at_once: usize,
    pub padded_joins: usize,
    /// Rollouts whose tokens, logprob bits, commitments or stop differ from run (a)'s.
    pub rollouts_differing: usize,
}

/// The sweep's part of the bench line.
#[derive(Debug, Clone, Serialize)]
pub struct Batching {
    pub runs: Vec<BatchingRun>,
    pub best_rows: usize,
    pub best_tokens_per_s: f64,
    /// `best_tokens_per_s` over the run at 16 rows (when the sweep has one).
    pub best_over_one_group: Option<f64>,
    /// Every run's rollouts are bitwise run (a)'s.
    pub bitwise_equal_to_one_group: bool,
}

/// Runs the sweep; `reference` holds run (a)'s generated rollouts, group by group.
pub fn measure(
    engine: &mut Engine,
    work: &Workload,
    args: &BatchingArgs,
    reference: &[Vec<GeneratedRollout>],
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Batching> {
    let first = work.request(0, true);
    let settings = GroupSettings {
        temperature: first.temperature,
        max_new_tokens: first.max_new_tokens,
        stop_ids: first.stop_ids,
        commitment: first.commitment,
    };
    let groups = work.prompts.len();
    let mut runs = Vec::with_capacity(args.rows.len());
    for &rows in &args.rows {
        let mut next = 0;
        let mut out: Vec<Option<Vec<GeneratedRollout>>> = vec![None; groups];
        let t = Instant::now();
        let stats = engine
            .generate_groups::<anyhow::Error, _, _>(
                &settings,
                rows,
                || {
                    if next == groups {
                        return Ok(None);
                    }
                    let request = work.request(next, true);
                    next += 1;
                    Ok(Some(GroupJob { prompt: request.prompt.to_vec(), streams: request.streams }))
                },
                |id, rollouts| {
                    let slot = out.get_mut(id).with_context(|| format!("group {id} unknown"))?;
                    *slot = Some(rollouts);
                    Ok(())
                },
            )
            .with_context(|| format!("the workload at {rows} batch rows"))?;
        let seconds = t.elapsed().as_secs_f64();
        let out: Vec<Vec<GeneratedRollout>> =
            out.into_iter().map(Option::unwrap_or_default).collect();
        let tokens = out.iter().flatten().map(|r| r.tokens.len()).sum();
        let rollouts_differing = differing(reference, &out);
        let run = BatchingRun {
            rows,
            tokens_per_s: tokens as f64 / seconds.max(1e-9),
            tokens,
            seconds,
            steps: stats.steps,
            mean_rows_per_step: stats.row_steps as f64 / stats.steps.max(1) as f64,
            idle_row_share: stats.idle_row_steps as f64 / stats.row_steps.max(1) as f64,
            most_groups_at_once: stats.most_groups_at_once,
            padded_joins: stats.padded_joins,
            rollouts_differing,
        };
        progress(&format!(
            "batch rows {rows}: {:.1} tok/s, {:.1} rows per step, {} groups at once, \
             {rollouts_differing} rollouts differ from one group at a time",
            run.tokens_per_s, run.mean_rows_per_step, run.most_groups_at_once
        ));
        runs.push(run);
    }
    let best = runs
        .iter()
        .max_by(|a, b| a.tokens_per_s.total_cmp(&b.tokens_per_s))
        .context("--batching.rows names no capacity")?;
    let one_group = runs.iter().find(|r| r.rows == 16).map(|r| r.tokens_per_s);
    Ok(Batching {
        best_rows: best.rows,
        best_tokens_per_s: best.tokens_per_s,
        best_over_one_group: one_group.map(|o| best.tokens_per_s / o.max(1e-9)),
        bitwise_equal_to_one_group: runs.iter().all(|r| r.rollouts_differing == 0),
        runs,
    })
}

/// Rollouts of `b` that differ from `a`'s in any bit (a missing one counts).
fn differing(a: &[Vec<GeneratedRollout>], b: &[Vec<GeneratedRollout>]) -> usize {
    let total = a.iter().map(Vec::len).sum::<usize>().max(b.iter().map(Vec::len).sum());
    let same =
        a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y)).filter(|(x, y)| x.same_bits(y)).count();
    total - same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_are_bounded() {
        assert_eq!(parse_rows("32"), Ok(32));
        assert!(parse_rows("0").unwrap_err().contains("outside 1 to 4096"));
        assert!(parse_rows("5000").is_err());
        assert!(parse_rows("x").unwrap_err().contains("batch rows \"x\""));
    }
}

//! `grail-audit calibrate`: the proof audit (DESIGN.md section 6). Prints one JSON object:
//! honest drift sources, forgers, the analytic forgery bound, the tolerances and the counts;
//! progress goes to stderr (`--log.level info`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use grail_cli::model::ModelArgs;
use grail_fingerprint::Device;

use crate::calibrate::{calibrate, CalibrateOptions};

/// `calibrate`'s flags.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The true model (`--threads` is the standard path's; the threads source uses the other
    /// of 1 and 2) [default threads: 1].
    #[command(flatten)]
    model: ModelArgs,
    /// Honest rollouts generated (rounded up to whole groups of 16). The standard path and
    /// every forger run over all of them.
    #[arg(
        id = "rollouts",
        long = "rollouts",
        env = "GRAIL_ROLLOUTS",
        default_value_t = 64,
        value_parser = clap::value_parser!(u64).range(1..),
        help_heading = "Calibration"
    )]
    rollouts: u64,
    /// Completion positions each other honest source runs over: the first rollouts holding at
    /// least this many [default: all of them]. Some sources (a batch of one) cost far more per
    /// rollout than the forgers, which need many rollouts rather than many positions.
    #[arg(
        id = "positions",
        long = "positions",
        env = "GRAIL_POSITIONS",
        value_parser = clap::value_parser!(u64).range(1..),
        help_heading = "Calibration"
    )]
    positions: Option<u64>,
    /// Rollouts every forger runs over: the first ones, rounded up to whole groups of 16
    /// [default: all of them; 0: no forgers].
    #[arg(
        id = "forger_rollouts",
        long = "forger-rollouts",
        env = "GRAIL_FORGER_ROLLOUTS",
        help_heading = "Calibration"
    )]
    forger_rollouts: Option<u64>,
    /// Length cap of each rollout, in tokens (generation stops at the model's stop tokens).
    #[arg(
        id = "new_tokens",
        long = "new-tokens",
        env = "GRAIL_NEW_TOKENS",
        default_value_t = 128,
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "Calibration"
    )]
    new_tokens: u32,
    /// Rollouts per prefill call.
    #[arg(
        id = "prefill_batch",
        long = "prefill-batch",
        env = "GRAIL_PREFILL_BATCH",
        default_value_t = 16,
        value_parser = clap::value_parser!(u64).range(1..),
        help_heading = "Calibration"
    )]
    prefill_batch: u64,
    /// A second device (`cuda` or `cuda:N`) that verifies the honest rollouts generated on
    /// --device: the "CPU vs CUDA" drift source. Where it cannot run, the source records why.
    #[arg(
        id = "compare_device",
        long = "compare-device",
        env = "GRAIL_COMPARE_DEVICE",
        help_heading = "Calibration"
    )]
    compare_device: Option<Device>,
    /// A forger model NAME=DIR (repeat): another random init, a noisy copy, an int8 copy
    /// (fixtures/scripts/make_forger_models.py makes the tiny ones).
    #[arg(
        id = "forger_model",
        long = "forger-model",
        env = "GRAIL_FORGER_MODEL",
        value_parser = parse_forger,
        value_delimiter = ',',
        help_heading = "Calibration"
    )]
    forger_models: Vec<(String, PathBuf)>,
}

fn parse_forger(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
            Ok((name.to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!("expected NAME=DIR, got {s:?}")),
    }
}

/// Runs `calibrate`.
pub fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    let options = CalibrateOptions {
        model: args.model.dir.clone(),
        rollouts: usize::try_from(args.rollouts).context("--rollouts")?,
        positions: args.positions.map(usize::try_from).transpose().context("--positions")?,
        forger_rollouts: args
            .forger_rollouts
            .map(usize::try_from)
            .transpose()
            .context("--forger-rollouts")?,
        new_tokens: args.new_tokens,
        threads: args.model.threads.unwrap_or(1).max(1),
        prefill_batch: usize::try_from(args.prefill_batch).context("--prefill-batch")?,
        forger_models: args.forger_models.clone(),
        device: args.model.device,
        compare_device: args.compare_device,
    };
    let report =
        calibrate(&options).with_context(|| format!("calibrating {}", args.model.dir.display()))?;
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forger_models_parse() {
        assert_eq!(parse_forger("int8=/m/x"), Ok(("int8".into(), PathBuf::from("/m/x"))));
        assert!(parse_forger("int8").is_err());
        assert!(parse_forger("=dir").is_err());
    }
}

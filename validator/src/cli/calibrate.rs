//! `calibrate`: the proof audit (DESIGN.md section 6). Prints one JSON object: honest drift
//! sources, forgers, the analytic forgery bound, the tolerances and the counts; progress goes
//! to stderr (`--log.level info`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use grail_fingerprint::Device;
use grail_validator::calibrate::{calibrate, CalibrateOptions};

#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// The true model's folder (model.onnx, config.json, tokenizer.json, chat_template.jinja).
    #[arg(long, env = "GRAIL_MODEL")]
    model: PathBuf,
    /// Honest rollouts generated (rounded up to whole groups of 16). The standard path and
    /// every forger run over all of them.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    rollouts: u64,
    /// Completion positions each other honest source runs over: the first rollouts holding at
    /// least this many [default: all of them]. Some sources (a batch of one) cost far more per
    /// rollout than the forgers, which need many rollouts rather than many positions.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    positions: Option<u64>,
    /// Rollouts every forger runs over: the first ones, rounded up to whole groups of 16
    /// [default: all of them; 0: no forgers].
    #[arg(long = "forger-rollouts")]
    forger_rollouts: Option<u64>,
    /// Length cap of each rollout, in tokens (generation stops at the model's stop tokens).
    #[arg(
        long = "new-tokens",
        default_value_t = 128,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    new_tokens: u32,
    /// Intra-op threads of the standard path (the threads source uses the other of 1 and 2).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    threads: u64,
    /// Rollouts per prefill call.
    #[arg(
        long = "prefill-batch",
        default_value_t = 16,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    prefill_batch: u64,
    /// A second device (`cuda` or `cuda:N`) that verifies the honest rollouts generated on the
    /// CPU: the "CPU vs CUDA" drift source. Where it cannot run, the source records why.
    #[arg(long = "compare-device")]
    compare_device: Option<Device>,
    /// A forger model, `NAME=DIR` (repeatable): another random init, a noisy or int8 copy.
    #[arg(long = "forger-model", value_parser = parse_forger)]
    forger_models: Vec<(String, PathBuf)>,
}

/// Parses `NAME=DIR`.
fn parse_forger(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
            Ok((name.to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!("expected NAME=DIR, got {s:?}")),
    }
}

pub(crate) fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    let options = CalibrateOptions {
        model: args.model.clone(),
        rollouts: usize::try_from(args.rollouts).context("--rollouts")?,
        positions: args.positions.map(usize::try_from).transpose().context("--positions")?,
        forger_rollouts: args
            .forger_rollouts
            .map(usize::try_from)
            .transpose()
            .context("--forger-rollouts")?,
        new_tokens: args.new_tokens,
        threads: usize::try_from(args.threads).context("--threads")?,
        prefill_batch: usize::try_from(args.prefill_batch).context("--prefill-batch")?,
        forger_models: args.forger_models.clone(),
        compare_device: args.compare_device,
    };
    let report =
        calibrate(&options).with_context(|| format!("calibrating {}", args.model.display()))?;
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

//! `grail-validator replay TRANSCRIPT --model DIR`: recomputes a transcript's verdicts and
//! weights with the live validator's code and prints one JSON line
//! `{"window", "uids", "weights", "drand_key", "match"}`. Every difference goes to stderr as one
//! line `difference: ...` naming the miner or object and the field, and the exit status is
//! non-zero.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use grail_cli::model::ModelArgs;

use crate::pipeline::ModelVerifier;
use crate::transcript::Transcript;
use serde::Serialize;

/// Recompute a window's verdicts and weights from its transcript.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The transcript (JSON, format grail-transcript/1).
    #[arg(id = "transcript", value_name = "TRANSCRIPT")]
    transcript: PathBuf,
    /// The model (its model_id must be the transcript's), device and threads.
    #[command(flatten)]
    model: ModelArgs,
}

/// The printed line, fields in this order.
#[derive(Debug, Serialize)]
struct ReplayLine<'a> {
    window: u64,
    /// Recomputed weights: uids and u16 weights.
    uids: &'a [u16],
    weights: &'a [u16],
    /// Which pinned drand key signed the beacons (`unpinned` if none).
    drand_key: &'static str,
    #[serde(rename = "match")]
    matched: bool,
}

pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    let transcript = Transcript::read(&args.transcript)
        .with_context(|| format!("reading {}", args.transcript.display()))?;
    let mut verifier = ModelVerifier::load(&args.model.dir, &args.model.engine_options())
        .with_context(|| format!("loading the model {}", args.model.dir.display()))?;
    let drand_key = transcript.drand_key_name()?;
    if drand_key == "unpinned" {
        tracing::warn!("the transcript's drand key is not a pinned one; check it by other means");
    }
    let replay = transcript.replay(&mut verifier).context("replaying the window")?;
    let matched = replay.differences.is_empty();
    let line = ReplayLine {
        window: transcript.window,
        uids: &replay.weights.uids,
        weights: &replay.weights.weights,
        drand_key,
        matched,
    };
    println!("{}", serde_json::to_string(&line).context("printing the result")?);
    for d in &replay.differences {
        eprintln!("difference: {d}");
    }
    if !matched {
        bail!("{} difference(s) from the transcript", replay.differences.len());
    }
    Ok(())
}

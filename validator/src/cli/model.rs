//! `grail-validator model identity`: the numbers that name a model (DESIGN.md 3.6), re-derived
//! from its files, and a check that ONNX Runtime loads it with the contract's inputs and outputs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use grail_fingerprint::{fingerprint_of, model_id_of, read_weights, runtime, ModelSession};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print `model_id` (and the BN254 fingerprint for a beacon), then load the model through
    /// ONNX Runtime and print its dimensions.
    Identity(IdentityArgs),
}

#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// A model folder holding `model.onnx`, or the `.onnx` file itself.
    #[arg(id = "model", long = "model", env = "GRAIL_MODEL", help_heading = "Model")]
    model: PathBuf,
    /// Beacon randomness (64 hex characters) that keys the fingerprint; omitted: no fingerprint.
    #[arg(
        id = "beacon_randomness",
        long = "beacon-randomness",
        env = "GRAIL_BEACON_RANDOMNESS",
        help_heading = "Model"
    )]
    beacon_randomness: Option<String>,
    /// Skip loading the model through ONNX Runtime (identity only).
    #[arg(id = "no_load", long = "no-load", env = "GRAIL_NO_LOAD", help_heading = "Model")]
    no_load: bool,
}

pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Identity(args) => identity(&args),
    }
}

fn onnx_path(model: &Path) -> PathBuf {
    if model.is_dir() {
        model.join("model.onnx")
    } else {
        model.to_path_buf()
    }
}

fn parse_randomness(hex_str: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_str.trim())
        .with_context(|| format!("--beacon-randomness is not hex: {hex_str:?}"))?;
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(r) => Ok(r),
        Err(_) => {
            bail!("--beacon-randomness must be 32 bytes (64 hex characters), got {}", bytes.len())
        }
    }
}

fn identity(args: &IdentityArgs) -> anyhow::Result<()> {
    let path = onnx_path(&args.model);
    let randomness = args.beacon_randomness.as_deref().map(parse_randomness).transpose()?;
    let weights = read_weights(&path)
        .with_context(|| format!("reading the weights of {}", path.display()))?;
    let id = model_id_of(&weights).context("computing model_id")?;
    let mut out = serde_json::json!({
        "model": path.display().to_string(),
        "model_id": id.to_string(),
        "tensors": weights.tensors.len(),
        "elements": weights.tensors.iter().map(|t| t.num_elements()).sum::<u64>(),
    });
    if let Some(r) = randomness {
        let f = fingerprint_of(&weights, &r).context("computing the BN254 fingerprint")?;
        out["beacon_randomness"] = hex::encode(r).into();
        out["fingerprint"] = hex::encode(f).into();
    }
    if !args.no_load {
        let session = ModelSession::load(&path, &Default::default())
            .with_context(|| format!("loading {} with ONNX Runtime", path.display()))?;
        let spec = session.spec();
        out["ort_library"] = runtime::library_path()?.display().to_string().into();
        out["layers"] = spec.num_layers.into();
        out["kv_heads"] = spec.kv_heads.into();
        out["head_dim"] = spec.head_dim.into();
        out["hidden_size"] = spec.hidden_size.into();
        out["vocab_size"] = spec.vocab_size.into();
    }
    println!("{out}");
    Ok(())
}

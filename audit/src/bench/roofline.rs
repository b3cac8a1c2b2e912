//! The distance of `bench miner`'s decoding to what the machine allows: bare decoding rates at
//! several batch sizes (`fingerprint::engine::bench::decode_rate`), each as achieved GFLOP/s and
//! as bytes of matrix weights read per second, beside the machine's peaks measured in the same
//! run (`fingerprint::roofline`: ONNX Runtime's fp32 matrix multiply at a compute-bound shape,
//! and a multi-threaded read of a buffer far larger than the caches).
//!
//! A decoding step reads every matrix weight once for the whole batch and does
//! `flop_per_token` FLOPs per row, so at batch `b` and `s` steps per second it achieves
//! `b · s · flop_per_token` FLOP/s and reads `s · matmul_weight_bytes` bytes per second: small
//! batches are bound by the read, large ones by the arithmetic.

use anyhow::Context;
use clap::Args;
use grail_fingerprint::engine::bench::decode_rate;
use grail_fingerprint::roofline::{matmul_peak, model_cost, read_bandwidth};
use grail_fingerprint::Engine;
use serde::Serialize;

/// Default batch sizes of the sweep.
const DEFAULT_BATCHES: &str = "1,4,16,32,64";
/// Largest batch size accepted.
const MAX_BATCH: usize = 1024;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Roofline")]
pub struct RooflineArgs {
    /// Batch sizes of the bare decoding sweep, comma-separated.
    #[arg(
        id = "roofline.batches",
        long = "roofline.batches",
        env = "GRAIL_ROOFLINE_BATCHES",
        default_value = DEFAULT_BATCHES,
        value_delimiter = ',',
        value_parser = parse_batch
    )]
    pub batches: Vec<usize>,
    /// Decoding steps timed at each batch size.
    #[arg(
        id = "roofline.steps",
        long = "roofline.steps",
        env = "GRAIL_ROOFLINE_STEPS",
        default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..=4096)
    )]
    pub steps: u32,
    /// MiB read by the memory probe (larger than the last-level cache).
    #[arg(
        id = "roofline.probe_mib",
        long = "roofline.probe-mib",
        env = "GRAIL_ROOFLINE_PROBE_MIB",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..=65536)
    )]
    pub probe_mib: u32,
}

fn parse_batch(text: &str) -> Result<usize, String> {
    super::parse_count(text, "batch size", MAX_BATCH)
}

/// One batch size of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct DecodePoint {
    pub batch: usize,
    pub tokens_per_s: f64,
    pub gflop_per_s: f64,
    /// Bytes of matrix weights read per second (one read per step), in GB/s.
    pub weight_gb_per_s: f64,
    pub fraction_of_peak_flops: f64,
    pub fraction_of_peak_read: f64,
    pub seconds: f64,
}

/// The roofline part of the bench line.
#[derive(Debug, Clone, Serialize)]
pub struct Roofline {
    /// FLOPs per decoded token at the sweep's mean context.
    pub flop_per_token: f64,
    pub matmul_weight_elements: u64,
    pub matmul_weight_bytes: u64,
    pub weight_bytes: u64,
    /// ONNX Runtime's fp32 matrix multiply, best of 3 at `matmul_shape`.
    pub peak_gflop_per_s: f64,
    pub matmul_shape: [usize; 3],
    /// Best of 3 sequential reads of `read_probe_bytes` by `threads` threads.
    pub peak_read_gb_per_s: f64,
    pub read_probe_bytes: usize,
    pub threads: usize,
    pub context: usize,
    pub steps: usize,
    pub decode: Vec<DecodePoint>,
    /// The bench's engine run with proofs (batch 16), as GFLOP/s and its share of the peak.
    pub engine_gflop_per_s: f64,
    pub engine_fraction_of_peak_flops: f64,
    /// The batching sweep's best run (engine with proofs, several groups per batch), likewise.
    pub batched_gflop_per_s: f64,
    pub batched_fraction_of_peak_flops: f64,
}

/// Measures the probes and the sweep on `engine` with `prompt`; `engine_tokens_per_s` is the
/// bench's run (a) and `batched_tokens_per_s` the batching sweep's best, set beside them.
pub fn measure(
    engine: &mut Engine,
    prompt: &[u32],
    args: &RooflineArgs,
    threads: usize,
    (engine_tokens_per_s, batched_tokens_per_s): (f64, f64),
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Roofline> {
    let Some(&first) = args.batches.first() else {
        anyhow::bail!("--roofline.batches names no batch size");
    };
    let model_file = engine.dir().join(grail_fingerprint::engine::MODEL_FILE);
    let cost = model_cost(&model_file)
        .with_context(|| format!("reading the weights of {}", model_file.display()))?;
    let matmul = matmul_peak(threads, 3).context("the matrix-multiply probe")?;
    progress(&format!("matmul probe {:?}: {:.1} GFLOP/s", matmul.shape, matmul.gflop_per_s));
    let read = read_bandwidth(args.probe_mib as usize, threads, 3);
    progress(&format!("read probe {} MiB: {:.1} GB/s", args.probe_mib, read.gb_per_s));

    let steps = args.steps as usize;
    let spec = *engine.spec();
    let flop_per_token = cost.flop_per_token(&spec, prompt.len() + steps / 2);
    // Warm-up of the step shapes (ONNX Runtime sizes its buffers on first use).
    decode_rate(engine, prompt, first, 2).context("decoding warm-up")?;
    let mut decode = Vec::with_capacity(args.batches.len());
    for &batch in &args.batches {
        let r = decode_rate(engine, prompt, batch, steps)
            .with_context(|| format!("decoding at batch {batch}"))?;
        let tokens_per_s = r.tokens_per_s();
        let gflop_per_s = tokens_per_s * flop_per_token / 1e9;
        let weight_gb_per_s = tokens_per_s / batch as f64 * cost.matmul_weight_bytes as f64 / 1e9;
        progress(&format!(
            "decode batch {batch}: {tokens_per_s:.1} tok/s, {gflop_per_s:.1} GFLOP/s, \
             {weight_gb_per_s:.2} GB/s of weights"
        ));
        decode.push(DecodePoint {
            batch,
            tokens_per_s,
            gflop_per_s,
            weight_gb_per_s,
            fraction_of_peak_flops: gflop_per_s / matmul.gflop_per_s.max(1e-9),
            fraction_of_peak_read: weight_gb_per_s / read.gb_per_s.max(1e-9),
            seconds: r.seconds,
        });
    }
    let engine_gflop_per_s = engine_tokens_per_s * flop_per_token / 1e9;
    let batched_gflop_per_s = batched_tokens_per_s * flop_per_token / 1e9;
    Ok(Roofline {
        flop_per_token,
        matmul_weight_elements: cost.matmul_weight_elements,
        matmul_weight_bytes: cost.matmul_weight_bytes,
        weight_bytes: cost.weight_bytes,
        peak_gflop_per_s: matmul.gflop_per_s,
        matmul_shape: matmul.shape,
        peak_read_gb_per_s: read.gb_per_s,
        read_probe_bytes: read.bytes,
        threads,
        context: prompt.len(),
        steps,
        decode,
        engine_gflop_per_s,
        engine_fraction_of_peak_flops: engine_gflop_per_s / matmul.gflop_per_s.max(1e-9),
        batched_gflop_per_s,
        batched_fraction_of_peak_flops: batched_gflop_per_s / matmul.gflop_per_s.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_are_bounded() {
        assert_eq!(parse_batch("16"), Ok(16));
        assert!(parse_batch("0").unwrap_err().contains("outside 1 to 1024"));
        assert!(parse_batch("4096").is_err());
        assert!(parse_batch("x").unwrap_err().contains("batch size \"x\""));
    }
}

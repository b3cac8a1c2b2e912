//! What a forward pass costs and what the machine can give it: the model's matrix-multiply
//! weights (FLOPs and bytes per decoded token), and two short probes of the machine, ONNX
//! Runtime's own fp32 matrix multiply at a compute-bound shape (its peak arithmetic rate) and
//! a multi-threaded sequential read of a large buffer (its memory bandwidth). `grail-audit
//! bench miner` sets the decoding rates it measures beside them.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use ndarray::Array2;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::Dimension;
use onnx_protobuf::{
    type_proto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;

use crate::error::{Error, Result};
use crate::session::ModelSpec;
use crate::weights::read_weights;

/// The weights a decoded token reads and multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelCost {
    /// Elements of the weight tensors that are an input of a `MatMul`, `Gemm` or
    /// `MatMulInteger` node (each is one multiply-add per token).
    pub matmul_weight_elements: u64,
    /// Bytes of those tensors: what one decoding step reads from memory, once per batch.
    pub matmul_weight_bytes: u64,
    /// Bytes of every weight tensor.
    pub weight_bytes: u64,
}

impl ModelCost {
    /// FLOPs of one decoded token at `context` cached positions: two per matrix weight, plus
    /// attention's `Q·Kᵀ` and `A·V`, `4 · layers · hidden · context`.
    pub fn flop_per_token(&self, spec: &ModelSpec, context: usize) -> f64 {
        2.0 * self.matmul_weight_elements as f64
            + 4.0 * (spec.num_layers * spec.hidden_size) as f64 * context as f64
    }
}

/// The matrix-multiply weights of the model at `path` (top-level graph).
pub fn model_cost(path: &Path) -> Result<ModelCost> {
    let weights = read_weights(path)?;
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let bytes = std::fs::read(path).map_err(io)?;
    let model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| Error::Protobuf { path: path.to_path_buf(), reason: e.to_string() })?;
    let mut used = std::collections::BTreeSet::new();
    if let Some(graph) = model.graph.as_ref() {
        for node in &graph.node {
            if matches!(node.op_type.as_str(), "MatMul" | "Gemm" | "MatMulInteger") {
                used.extend(node.input.iter().map(String::as_str));
            }
        }
    }
    let mut cost = ModelCost { matmul_weight_elements: 0, matmul_weight_bytes: 0, weight_bytes: 0 };
    for t in &weights.tensors {
        cost.weight_bytes += t.byte_len();
        if t.dims.len() >= 2 && used.contains(t.name.as_str()) {
            cost.matmul_weight_elements += t.num_elements();
            cost.matmul_weight_bytes += t.byte_len();
        }
    }
    Ok(cost)
}

/// What the arithmetic probe measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulPeak {
    /// Best fp32 GFLOP/s over the repetitions.
    pub gflop_per_s: f64,
    /// The product's shape `m × k × n`.
    pub shape: [usize; 3],
    /// Repetitions timed.
    pub repetitions: usize,
}

fn dims(shape: &[i64]) -> TensorShapeProto {
    let mut s = TensorShapeProto::new();
    for &d in shape {
        let mut dim = Dimension::new();
        dim.set_dim_value(d);
        s.dim.push(dim);
    }
    s
}

fn value_info(name: &str, shape: &[i64]) -> ValueInfoProto {
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = DataType::FLOAT as i32;
    tensor.shape = Some(dims(shape)).into();
    let mut ty = TypeProto::new();
    ty.set_tensor_type(tensor);
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

/// A one-node ONNX model `Y = A · B`, `A` an `m × k` input and `B` a `k × n` weight.
fn matmul_model(m: usize, k: usize, n: usize) -> Result<Vec<u8>> {
    let mut b = TensorProto::new();
    b.name = "B".into();
    b.data_type = DataType::FLOAT as i32;
    b.dims = vec![k as i64, n as i64];
    b.float_data = (0..k * n).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect();
    let mut node = NodeProto::new();
    node.op_type = "MatMul".into();
    node.input = vec!["A".into(), "B".into()];
    node.output = vec!["Y".into()];
    let mut graph = GraphProto::new();
    graph.name = "matmul_probe".into();
    graph.node.push(node);
    graph.initializer.push(b);
    graph.input.push(value_info("A", &[m as i64, k as i64]));
    graph.output.push(value_info("Y", &[m as i64, n as i64]));
    let mut opset = OperatorSetIdProto::new();
    opset.version = 17;
    let mut model = ModelProto::new();
    model.ir_version = 8;
    model.opset_import.push(opset);
    model.graph = Some(graph).into();
    model.write_to_bytes().map_err(|e| Error::Request { problem: format!("matmul probe: {e}") })
}

/// ONNX Runtime's fp32 matrix multiply on the CPU with `threads` intra-op threads, at
/// `m × k × n` = 512 × 1024 × 1024 (compute-bound: each weight is reused 512 times); the best
/// of `repetitions` runs after one warm-up.
pub fn matmul_peak(threads: usize, repetitions: usize) -> Result<MatmulPeak> {
    let (m, k, n) = (512, 1024, 1024);
    let bytes = matmul_model(m, k, n)?;
    let mut session = Session::builder(crate::runtime::environment()?)?
        .with_intra_threads(threads.max(1))
        .map_err(ort::Error::from)?
        .commit_from_memory(&bytes)?;
    let a = Array2::<f32>::from_shape_fn((m, k), |(i, j)| ((i + j) % 13) as f32 / 16.0);
    let mut best = f64::INFINITY;
    for rep in 0..=repetitions.max(1) {
        let feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            vec![("A".into(), Tensor::from_array(a.clone())?.into())];
        let start = Instant::now();
        let out = session.run(feeds)?;
        let seconds = start.elapsed().as_secs_f64();
        drop(out);
        if rep > 0 {
            best = best.min(seconds);
        }
    }
    let flops = 2.0 * (m * k * n) as f64;
    Ok(MatmulPeak {
        gflop_per_s: flops / best.max(1e-12) / 1e9,
        shape: [m, k, n],
        repetitions: repetitions.max(1),
    })
}

/// What the memory probe measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadBandwidth {
    /// Best GB/s (10⁹ bytes) over the repetitions.
    pub gb_per_s: f64,
    /// Bytes read per repetition.
    pub bytes: usize,
    /// Threads reading.
    pub threads: usize,
}

/// Reads a `mib` MiB buffer (far larger than any cache) with `threads` threads, each summing
/// its own contiguous part; the best of `repetitions` passes after one warm-up pass.
pub fn read_bandwidth(mib: usize, threads: usize, repetitions: usize) -> ReadBandwidth {
    let threads = threads.max(1);
    let words = (mib.max(1) << 20) / 8;
    let buffer: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(threads);
    let mut best = f64::INFINITY;
    for rep in 0..=repetitions.max(1) {
        let start = Instant::now();
        let sum: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = buffer
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        // Eight independent lanes, so the adds do not serialize the loads.
                        let mut lanes = [0u64; 8];
                        for block in part.chunks_exact(8) {
                            for (lane, &x) in lanes.iter_mut().zip(block) {
                                *lane = lane.wrapping_add(x);
                            }
                        }
                        lanes.iter().fold(0u64, |a, &b| a.wrapping_add(b))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).fold(0, u64::wrapping_add)
        });
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        if rep > 0 {
            best = best.min(seconds);
        }
    }
    ReadBandwidth {
        gb_per_s: (words * 8) as f64 / best.max(1e-12) / 1e9,
        bytes: words * 8,
        threads,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_matmul_probe_model_computes_a_product() {
        let bytes = matmul_model(2, 3, 4).unwrap();
        let env = crate::runtime::environment().unwrap();
        let mut session = Session::builder(env).unwrap().commit_from_memory(&bytes).unwrap();
        let a = Array2::<f32>::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f32);
        let feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            vec![("A".into(), Tensor::from_array(a).unwrap().into())];
        let out = session.run(feeds).unwrap();
        let (shape, y) = out["Y"].try_extract_tensor::<f32>().unwrap();
        assert_eq!(shape.iter().copied().collect::<Vec<_>>(), vec![2, 4]);
        // B[p][q] = ((p·4 + q) % 17 − 8) / 64; row 0 of A is [0, 1, 2].
        let b = |p: usize, q: usize| (((p * 4 + q) % 17) as f32 - 8.0) / 64.0;
        for (q, &got) in y.iter().take(4).enumerate() {
            assert_eq!(got, b(1, q) + 2.0 * b(2, q));
        }
    }

    #[test]
    fn the_memory_probe_reads_the_whole_buffer() {
        let r = read_bandwidth(4, 2, 1);
        assert_eq!((r.bytes, r.threads), (4 << 20, 2));
        assert!(r.gb_per_s.is_finite() && r.gb_per_s > 0.0, "{r:?}");
    }

    #[test]
    fn cost_counts_matmul_weights_of_the_tiny_model() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny");
        let cost = model_cost(&dir.join("model.onnx")).unwrap();
        assert!(cost.matmul_weight_elements > 0);
        assert!(cost.matmul_weight_bytes <= cost.weight_bytes);
        assert_eq!(cost.matmul_weight_bytes, 4 * cost.matmul_weight_elements, "fp32 weights");
        let spec =
            ModelSpec { num_layers: 2, kv_heads: 1, head_dim: 8, vocab_size: 512, hidden_size: 64 };
        let f = cost.flop_per_token(&spec, 10);
        assert_eq!(f, 2.0 * cost.matmul_weight_elements as f64 + 4.0 * 2.0 * 64.0 * 10.0);
    }
}

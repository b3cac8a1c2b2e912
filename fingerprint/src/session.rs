//! Loading a model into ONNX Runtime, checking it against the model contract (DESIGN.md
//! section 4), and running one forward step with a KV cache. The batched generation engine
//! builds on this.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ndarray::{Array3, Array4, ArrayD, Ix3, Ix4};
use ort::session::{Session, SessionInputValue};
use ort::value::{Outlet, Tensor, TensorElementType};

use crate::error::{Error, Result};
use crate::runtime;

/// Input names of the contract.
pub const INPUT_IDS: &str = "input_ids";
/// `[b, past+s]` i64, 1 for real tokens and 0 for padding.
pub const ATTENTION_MASK: &str = "attention_mask";
/// `[b, s]` i64.
pub const POSITION_IDS: &str = "position_ids";
/// `[b, s, V]` f32.
pub const LOGITS: &str = "logits";
/// `[b, s, D]` f32, after the final norm.
pub const LAST_HIDDEN_STATE: &str = "last_hidden_state";

/// Name of the cache input of layer `layer` (`kind` is `key` or `value`).
pub fn past_name(layer: usize, kind: &str) -> String {
    format!("past_key_values.{layer}.{kind}")
}

/// Name of the cache output of layer `layer` (`kind` is `key` or `value`).
pub fn present_name(layer: usize, kind: &str) -> String {
    format!("present.{layer}.{kind}")
}

/// The model's dimensions, read from its declared inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// Decoder layers (pairs of cache tensors).
    pub num_layers: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Size of one head.
    pub head_dim: usize,
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Hidden size `D`.
    pub hidden_size: usize,
}

/// How to build the ONNX Runtime session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Threads inside one operator; `None` lets ONNX Runtime choose.
    pub intra_threads: Option<usize>,
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider on GPU `device_id`. Asking for it where it cannot
    /// be registered is an error, never a silent CPU fallback.
    Cuda {
        /// CUDA device ordinal.
        device_id: i32,
    },
}

impl std::str::FromStr for Device {
    type Err = String;

    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda { device_id: 0 }),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(|device_id| Self::Cuda { device_id })
                .ok_or_else(|| format!("unknown device {s:?}: use cpu, cuda or cuda:N")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda { device_id } => write!(f, "cuda:{device_id}"),
        }
    }
}

/// The KV cache of a batch: per layer, key and value `[b, kv_heads, past, head_dim]`.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// `(key, value)` per layer.
    pub layers: Vec<(Array4<f32>, Array4<f32>)>,
}

impl KvCache {
    /// An empty cache (past length 0) for `batch` rows.
    pub fn empty(spec: &ModelSpec, batch: usize) -> Self {
        let shape = (batch, spec.kv_heads, 0, spec.head_dim);
        let layers =
            (0..spec.num_layers).map(|_| (Array4::zeros(shape), Array4::zeros(shape))).collect();
        Self { layers }
    }

    /// Number of cached positions.
    pub fn past_len(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.shape()[2])
    }
}

/// One forward step over `b` rows of `s` new tokens each (row-major slices).
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// Rows in the batch.
    pub batch: usize,
    /// `[b, s]` token ids.
    pub input_ids: &'a [i64],
    /// `[b, past+s]`, 1 for real tokens, 0 for padding.
    pub attention_mask: &'a [i64],
    /// `[b, s]` positions.
    pub position_ids: &'a [i64],
}

/// What one step returns.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// `[b, s, V]`.
    pub logits: Array3<f32>,
    /// `[b, s, D]`.
    pub last_hidden_state: Array3<f32>,
    /// The cache extended by this step's `s` positions.
    pub present: KvCache,
}

/// A model loaded into ONNX Runtime and checked against the contract.
#[derive(Debug)]
pub struct ModelSession {
    session: Session,
    spec: ModelSpec,
    path: PathBuf,
}

impl ModelSession {
    /// Initializes ONNX Runtime if needed, loads the model on the CPU and checks its inputs and
    /// outputs.
    pub fn load(path: &Path, options: &SessionOptions) -> Result<Self> {
        Self::load_on(path, options, Device::Cpu)
    }

    /// Like [`ModelSession::load`], on `device`.
    pub fn load_on(path: &Path, options: &SessionOptions, device: Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model file"),
            });
        }
        let env = runtime::environment()?;
        let mut builder = Session::builder(env)?;
        if let Some(n) = options.intra_threads {
            builder = builder.with_intra_threads(n).map_err(ort::Error::from)?;
        }
        if let Device::Cuda { device_id } = device {
            let unavailable = |reason: String| Error::DeviceUnavailable {
                device: device.to_string(),
                reason: format!(
                    "{reason} (the CUDA execution provider needs a GPU build of ONNX Runtime \
                     1.31 via ORT_DYLIB_PATH and its CUDA libraries on the library path)"
                ),
            };
            // Full fp32 matmuls: TensorFloat-32 rounds inputs to 10 mantissa bits, a drift
            // (about 1e-3 relative) far above what the validator's tolerances are set from.
            let cuda = ort::ep::CUDA::default()
                .with_device_id(device_id)
                .with_tf32(false)
                .build()
                .error_on_failure();
            builder = builder
                .with_execution_providers([cuda])
                .map_err(|e| unavailable(ort::Error::<()>::from(e).to_string()))?;
        }
        let session = builder.commit_from_file(path)?;
        let spec = check_contract(path, &describe(session.inputs()), &describe(session.outputs()))?;
        Ok(Self { session, spec, path: path.to_path_buf() })
    }

    /// The model's dimensions.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The underlying session, for callers that bind inputs themselves.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Runs one step: the new tokens of every row, attending to `past` and to each other.
    pub fn step(&mut self, input: &StepInput<'_>, past: &KvCache) -> Result<StepOutput> {
        let b = input.batch;
        let s = input.input_ids.len() / b.max(1);
        let total = past.past_len() + s;
        let contract = |problem: String| Error::Contract { path: self.path.clone(), problem };
        if input.input_ids.len() != b * s || input.position_ids.len() != b * s {
            return Err(contract(format!("input_ids/position_ids must hold {b}x{s} values")));
        }
        if input.attention_mask.len() != b * total {
            let n = input.attention_mask.len();
            return Err(contract(format!("attention_mask has {n} values, needs {b}x{total}")));
        }
        if past.layers.len() != self.spec.num_layers {
            return Err(contract(format!(
                "past has {} layers, model has {}",
                past.layers.len(),
                self.spec.num_layers
            )));
        }
        let mut feeds: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            (INPUT_IDS.into(), i64_tensor([b, s], input.input_ids)?),
            (ATTENTION_MASK.into(), i64_tensor([b, total], input.attention_mask)?),
            (POSITION_IDS.into(), i64_tensor([b, s], input.position_ids)?),
        ];
        for (i, (k, v)) in past.layers.iter().enumerate() {
            feeds.push((past_name(i, "key").into(), Tensor::from_array(k.clone())?.into()));
            feeds.push((past_name(i, "value").into(), Tensor::from_array(v.clone())?.into()));
        }
        let outputs = self.session.run(feeds)?;
        let get = |name: &str| -> Result<ArrayD<f32>> {
            let value = outputs.get(name).ok_or_else(|| contract(format!("no output `{name}`")))?;
            Ok(value.try_extract_array::<f32>()?.to_owned())
        };
        let dim3 = |a: ArrayD<f32>, name: &str| {
            a.into_dimensionality::<Ix3>().map_err(|_| contract(format!("`{name}` is not 3-d")))
        };
        let dim4 = |a: ArrayD<f32>, name: &str| {
            a.into_dimensionality::<Ix4>().map_err(|_| contract(format!("`{name}` is not 4-d")))
        };
        let logits = dim3(get(LOGITS)?, LOGITS)?;
        let last_hidden_state = dim3(get(LAST_HIDDEN_STATE)?, LAST_HIDDEN_STATE)?;
        let mut layers = Vec::with_capacity(self.spec.num_layers);
        for i in 0..self.spec.num_layers {
            let (kn, vn) = (present_name(i, "key"), present_name(i, "value"));
            layers.push((dim4(get(&kn)?, &kn)?, dim4(get(&vn)?, &vn)?));
        }
        Ok(StepOutput { logits, last_hidden_state, present: KvCache { layers } })
    }
}

fn i64_tensor(shape: [usize; 2], data: &[i64]) -> Result<SessionInputValue<'static>> {
    Ok(Tensor::from_array((shape, data.to_vec()))?.into())
}

/// Name, element type and declared shape (-1 for a dynamic dimension) of an input or output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IoSpec {
    pub(crate) name: String,
    pub(crate) ty: Option<TensorElementType>,
    pub(crate) shape: Vec<i64>,
}

fn describe(outlets: &[Outlet]) -> Vec<IoSpec> {
    outlets
        .iter()
        .map(|o| IoSpec {
            name: o.name().to_string(),
            ty: o.dtype().tensor_type(),
            shape: o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default(),
        })
        .collect()
}

/// Checks names, element types and ranks against DESIGN.md section 4 and reads the dimensions.
pub(crate) fn check_contract(
    path: &Path,
    inputs: &[IoSpec],
    outputs: &[IoSpec],
) -> Result<ModelSpec> {
    let err = |problem: String| Error::Contract { path: path.to_path_buf(), problem };
    let find = |list: &[IoSpec], side: &str, name: &str, ty: TensorElementType, rank: usize| {
        let io = list
            .iter()
            .find(|io| io.name == name)
            .ok_or_else(|| err(format!("no {side} `{name}`")))?;
        if io.ty != Some(ty) || io.shape.len() != rank {
            return Err(err(format!(
                "{side} `{name}` must be {ty:?} of rank {rank}, is {:?} {:?}",
                io.ty, io.shape
            )));
        }
        Ok(io.shape.clone())
    };
    let fixed = |shape: &[i64], axis: usize, name: &str| {
        usize::try_from(shape[axis])
            .map_err(|_| err(format!("`{name}` needs a fixed size on axis {axis}")))
    };
    use TensorElementType::{Float32, Int64};
    for name in [INPUT_IDS, ATTENTION_MASK, POSITION_IDS] {
        find(inputs, "input", name, Int64, 2)?;
    }
    let num_layers =
        (0..).take_while(|&i| inputs.iter().any(|io| io.name == past_name(i, "key"))).count();
    if num_layers == 0 {
        return Err(err(format!("no input `{}`", past_name(0, "key"))));
    }
    let expected_inputs = 3 + 2 * num_layers;
    if inputs.len() != expected_inputs {
        let names: Vec<_> = inputs.iter().map(|io| io.name.as_str()).collect();
        return Err(err(format!(
            "expected {expected_inputs} inputs for {num_layers} layers, found {names:?}"
        )));
    }
    let first = find(inputs, "input", &past_name(0, "key"), Float32, 4)?;
    let kv_heads = fixed(&first, 1, "past_key_values.0.key")?;
    let head_dim = fixed(&first, 3, "past_key_values.0.key")?;
    for i in 0..num_layers {
        for kind in ["key", "value"] {
            for (list, side, name) in
                [(inputs, "input", past_name(i, kind)), (outputs, "output", present_name(i, kind))]
            {
                let shape = find(list, side, &name, Float32, 4)?;
                if fixed(&shape, 1, &name)? != kv_heads || fixed(&shape, 3, &name)? != head_dim {
                    return Err(err(format!(
                        "`{name}` must be [b, {kv_heads}, _, {head_dim}], is {shape:?}"
                    )));
                }
            }
        }
    }
    let logits = find(outputs, "output", LOGITS, Float32, 3)?;
    let hidden = find(outputs, "output", LAST_HIDDEN_STATE, Float32, 3)?;
    Ok(ModelSpec {
        num_layers,
        kv_heads,
        head_dim,
        vocab_size: fixed(&logits, 2, LOGITS)?,
        hidden_size: fixed(&hidden, 2, LAST_HIDDEN_STATE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(name: &str, ty: TensorElementType, shape: &[i64]) -> IoSpec {
        IoSpec { name: name.into(), ty: Some(ty), shape: shape.to_vec() }
    }

    fn contract() -> (Vec<IoSpec>, Vec<IoSpec>) {
        use TensorElementType::{Float32, Int64};
        let mut inputs = vec![
            io(INPUT_IDS, Int64, &[-1, -1]),
            io(ATTENTION_MASK, Int64, &[-1, -1]),
            io(POSITION_IDS, Int64, &[-1, -1]),
        ];
        let mut outputs =
            vec![io(LOGITS, Float32, &[-1, -1, 50]), io(LAST_HIDDEN_STATE, Float32, &[-1, -1, 8])];
        for i in 0..2 {
            for kind in ["key", "value"] {
                inputs.push(io(&past_name(i, kind), Float32, &[-1, 2, -1, 4]));
                outputs.push(io(&present_name(i, kind), Float32, &[-1, 2, -1, 4]));
            }
        }
        (inputs, outputs)
    }

    #[test]
    fn reads_dimensions_from_a_conforming_model() {
        let (i, o) = contract();
        let spec = check_contract(Path::new("m.onnx"), &i, &o).unwrap();
        assert_eq!(
            spec,
            ModelSpec { num_layers: 2, kv_heads: 2, head_dim: 4, vocab_size: 50, hidden_size: 8 }
        );
    }

    #[test]
    fn names_what_is_missing_or_mistyped() {
        let (i, mut o) = contract();
        o.retain(|io| io.name != LAST_HIDDEN_STATE);
        let e = check_contract(Path::new("m.onnx"), &i, &o).unwrap_err().to_string();
        assert!(e.contains("no output `last_hidden_state`"), "{e}");

        let (mut i, o) = contract();
        i[2].ty = Some(TensorElementType::Int32);
        let e = check_contract(Path::new("m.onnx"), &i, &o).unwrap_err().to_string();
        assert!(e.contains("`position_ids` must be Int64"), "{e}");

        let (mut i, o) = contract();
        i.push(io("token_type_ids", TensorElementType::Int64, &[-1, -1]));
        let e = check_contract(Path::new("m.onnx"), &i, &o).unwrap_err().to_string();
        assert!(e.contains("expected 7 inputs"), "{e}");

        let (i, mut o) = contract();
        o[3].shape = vec![-1, 3, -1, 4];
        let e = check_contract(Path::new("m.onnx"), &i, &o).unwrap_err().to_string();
        assert!(e.contains("must be [b, 2, _, 4]"), "{e}");
    }

    #[test]
    fn devices_parse_and_print_back() {
        for (text, device) in [
            ("cpu", Device::Cpu),
            ("cuda", Device::Cuda { device_id: 0 }),
            ("cuda:2", Device::Cuda { device_id: 2 }),
        ] {
            assert_eq!(text.parse::<Device>(), Ok(device));
        }
        assert_eq!(Device::Cuda { device_id: 2 }.to_string(), "cuda:2");
        assert!("gpu".parse::<Device>().unwrap_err().contains("cpu, cuda or cuda:N"));
        assert!("cuda:x".parse::<Device>().is_err());
    }
}

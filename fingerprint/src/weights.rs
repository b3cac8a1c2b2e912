//! The canonical list of weight tensors of an ONNX model, shared by `model_id` and the BN254
//! fingerprint.
//!
//! Which tensors count as weights: every initializer of the main graph and of every subgraph
//! (`If`/`Loop`/`Scan` bodies), and every tensor held by a `Constant` node there (exporters fold
//! weights into Constant nodes as often as into initializers). A Constant node's tensor takes the
//! name of the node's output, which is the name an initializer in its place would have, so the
//! two forms of the same model list the same tensors. Sparse initializers, string tensors and
//! model-local functions are rejected rather than silently left out.
//!
//! Each tensor is reduced to (name, ONNX data type code, dims, little-endian element bytes in
//! ONNX `raw_data` layout), whether the file stored it as `raw_data`, as typed fields
//! (`float_data`, `int64_data`, ...) or in an external-data file; the list is sorted by the
//! name's UTF-8 bytes. Inline bytes are moved out of the parsed protobuf, not copied; external
//! bytes stay on disk and are streamed.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::{GraphProto, Message, ModelProto, NodeProto, TensorProto};

use crate::error::{Error, Result};

/// Bytes handed to a chunk callback at a time (a multiple of every element size).
pub const CHUNK_BYTES: usize = 1 << 20;

/// One weight tensor in canonical form.
#[derive(Debug)]
pub struct WeightTensor {
    /// Canonical name (initializer name, or a Constant node's output name).
    pub name: String,
    /// ONNX `TensorProto.DataType` code (1 = FLOAT, 7 = INT64, 10 = FLOAT16, ...).
    pub data_type: i32,
    /// Shape; empty for a scalar.
    pub dims: Vec<u64>,
    data: TensorBytes,
}

#[derive(Debug)]
enum TensorBytes {
    Inline(Vec<u8>),
    External { file: PathBuf, offset: u64 },
}

/// All weight tensors of a model, sorted by name.
#[derive(Debug)]
pub struct Weights {
    /// The model file they were read from.
    pub path: PathBuf,
    /// The tensors, in canonical order.
    pub tensors: Vec<WeightTensor>,
}

/// Size in bytes of one element of an ONNX data type, or `None` when not supported.
pub fn element_size(data_type: i32) -> Option<usize> {
    match data_type {
        2 | 3 | 9 | 17..=20 => Some(1), // uint8, int8, bool, float8 variants
        4 | 5 | 10 | 16 => Some(2),     // uint16, int16, float16, bfloat16
        1 | 6 | 12 => Some(4),          // float, int32, uint32
        7 | 11 | 13 => Some(8),         // int64, double, uint64
        _ => None,
    }
}

impl WeightTensor {
    /// Number of elements (1 for a scalar).
    pub fn num_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes per element.
    pub fn element_size(&self) -> usize {
        // Checked when the tensor was read.
        element_size(self.data_type).unwrap_or(1)
    }

    /// Length of the tensor's data in bytes.
    pub fn byte_len(&self) -> u64 {
        self.num_elements() * self.element_size() as u64
    }

    /// Calls `f` on the tensor's bytes in chunks of at most [`CHUNK_BYTES`], front to back, or
    /// back to front when `reverse` (chunks then come last-first; each chunk is in file order).
    pub fn for_each_chunk(&self, reverse: bool, mut f: impl FnMut(&[u8])) -> Result<()> {
        let len = self.byte_len();
        let starts = chunk_starts(len, reverse);
        match &self.data {
            TensorBytes::Inline(bytes) => {
                for start in starts {
                    let end = (start + CHUNK_BYTES as u64).min(len);
                    f(&bytes[start as usize..end as usize]);
                }
            }
            TensorBytes::External { file, offset } => {
                let io = |source| Error::Io { path: file.clone(), source };
                let mut reader = File::open(file).map_err(io)?;
                let mut buf = vec![0u8; CHUNK_BYTES.min(len as usize)];
                for start in starts {
                    let n = ((start + CHUNK_BYTES as u64).min(len) - start) as usize;
                    reader.seek(SeekFrom::Start(offset + start)).map_err(io)?;
                    reader.read_exact(&mut buf[..n]).map_err(io)?;
                    f(&buf[..n]);
                }
            }
        }
        Ok(())
    }
}

fn chunk_starts(len: u64, reverse: bool) -> Box<dyn Iterator<Item = u64>> {
    let forward = (0..len).step_by(CHUNK_BYTES);
    if reverse {
        Box::new(forward.collect::<Vec<_>>().into_iter().rev())
    } else {
        Box::new(forward)
    }
}

/// Reads the weight tensors of an ONNX model (external-data files are looked up beside it).
pub fn read_weights(path: &Path) -> Result<Weights> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut model = ModelProto::parse_from_reader(&mut reader)
        .map_err(|e| Error::Protobuf { path: path.to_path_buf(), reason: e.to_string() })?;
    if !model.functions.is_empty() {
        return Err(Error::Protobuf {
            path: path.to_path_buf(),
            reason: "model-local functions (ModelProto.functions) are not supported".into(),
        });
    }
    let Some(graph) = model.graph.as_mut() else {
        return Err(Error::Protobuf { path: path.to_path_buf(), reason: "no graph".into() });
    };
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut reader = Reader { path, dir, tensors: Vec::new() };
    reader.graph(graph)?;
    let mut tensors = reader.tensors;
    tensors.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    if let Some(pair) = tensors.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::DuplicateTensor {
            path: path.to_path_buf(),
            tensor: pair[0].name.clone(),
        });
    }
    Ok(Weights { path: path.to_path_buf(), tensors })
}

struct Reader<'a> {
    path: &'a Path,
    dir: PathBuf,
    tensors: Vec<WeightTensor>,
}

impl Reader<'_> {
    fn error(&self, tensor: &str, problem: impl Into<String>) -> Error {
        Error::Tensor {
            path: self.path.to_path_buf(),
            tensor: tensor.to_string(),
            problem: problem.into(),
        }
    }

    fn graph(&mut self, graph: &mut GraphProto) -> Result<()> {
        if let Some(sparse) = graph.sparse_initializer.first() {
            let name = sparse.values.as_ref().map(|v| v.name.clone()).unwrap_or_default();
            return Err(self.error(&name, "sparse initializers are not supported"));
        }
        for mut tensor in std::mem::take(&mut graph.initializer) {
            let name = std::mem::take(&mut tensor.name);
            if name.is_empty() {
                return Err(self.error("", "initializer has an empty name"));
            }
            let t = self.tensor(name, tensor)?;
            self.tensors.push(t);
        }
        for node in &mut graph.node {
            self.node(node)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &mut NodeProto) -> Result<()> {
        let is_constant =
            node.op_type == "Constant" && matches!(node.domain.as_str(), "" | "ai.onnx");
        for attr in &mut node.attribute {
            if let Some(g) = attr.g.as_mut() {
                self.graph(g)?;
            }
            for g in &mut attr.graphs {
                self.graph(g)?;
            }
        }
        if !is_constant {
            return Ok(());
        }
        let name = node.output.first().cloned().unwrap_or_default();
        if name.is_empty() {
            return Err(self.error(&node.name, "Constant node has no output name"));
        }
        let Some(attr) = node.attribute.first_mut() else {
            return Err(self.error(&name, "Constant node has no value attribute"));
        };
        let tensor = match attr.name.as_str() {
            "value" => attr.t.take().unwrap_or_default(),
            "value_float" => typed(1, vec![], |t| t.float_data = vec![attr.f]),
            "value_floats" => typed(1, vec![attr.floats.len() as i64], |t| {
                t.float_data = std::mem::take(&mut attr.floats);
            }),
            "value_int" => typed(7, vec![], |t| t.int64_data = vec![attr.i]),
            "value_ints" => typed(7, vec![attr.ints.len() as i64], |t| {
                t.int64_data = std::mem::take(&mut attr.ints);
            }),
            other => {
                return Err(
                    self.error(&name, format!("Constant attribute `{other}` is not supported"))
                )
            }
        };
        let t = self.tensor(name, tensor)?;
        self.tensors.push(t);
        Ok(())
    }

    fn tensor(&self, name: String, mut t: TensorProto) -> Result<WeightTensor> {
        let Some(size) = element_size(t.data_type) else {
            return Err(self.error(&name, format!("data_type {} is not supported", t.data_type)));
        };
        if t.segment.is_some() {
            return Err(self.error(&name, "segmented tensors are not supported"));
        }
        let mut dims = Vec::with_capacity(t.dims.len());
        let mut elements: u64 = 1;
        for &d in &t.dims {
            let d = u64::try_from(d).map_err(|_| self.error(&name, format!("negative dim {d}")))?;
            elements =
                elements.checked_mul(d).ok_or_else(|| self.error(&name, "dims overflow u64"))?;
            dims.push(d);
        }
        let expected = elements
            .checked_mul(size as u64)
            .ok_or_else(|| self.error(&name, "byte length overflows u64"))?;
        let external = t.data_location.enum_value() == Ok(DataLocation::EXTERNAL);
        let data = if external {
            self.external(&name, &t, expected)?
        } else if !t.raw_data.is_empty() || elements == 0 {
            let raw = std::mem::take(&mut t.raw_data);
            if raw.len() as u64 != expected {
                let got = raw.len();
                return Err(
                    self.error(&name, format!("raw_data has {got} bytes, dims need {expected}"))
                );
            }
            TensorBytes::Inline(raw)
        } else {
            TensorBytes::Inline(self.typed_bytes(&name, &t, size, elements)?)
        };
        Ok(WeightTensor { name, data_type: t.data_type, dims, data })
    }

    /// Little-endian bytes from the typed repeated fields, as `raw_data` would hold them.
    fn typed_bytes(
        &self,
        name: &str,
        t: &TensorProto,
        size: usize,
        elements: u64,
    ) -> Result<Vec<u8>> {
        let (field, values): (&str, Vec<[u8; 8]>) = match t.data_type {
            1 => ("float_data", t.float_data.iter().map(|v| widen(&v.to_le_bytes())).collect()),
            7 => ("int64_data", t.int64_data.iter().map(|v| v.to_le_bytes()).collect()),
            11 => ("double_data", t.double_data.iter().map(|v| v.to_le_bytes()).collect()),
            12 | 13 => ("uint64_data", t.uint64_data.iter().map(|v| v.to_le_bytes()).collect()),
            _ => ("int32_data", t.int32_data.iter().map(|v| widen(&v.to_le_bytes())).collect()),
        };
        if values.len() as u64 != elements {
            let n = values.len();
            return Err(self.error(name, format!("{field} has {n} values, dims need {elements}")));
        }
        // Narrow types (int8, float16, ...) keep the low bytes: ONNX stores their bit pattern there.
        Ok(values.iter().flat_map(|v| v[..size].to_vec()).collect())
    }

    fn external(&self, name: &str, t: &TensorProto, expected: u64) -> Result<TensorBytes> {
        let (mut location, mut offset, mut length) = (None, 0u64, None);
        for entry in &t.external_data {
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| self.error(name, format!("external_data {}={v:?}", entry.key)))
            };
            match entry.key.as_str() {
                "location" => location = Some(entry.value.clone()),
                "offset" => offset = number(&entry.value)?,
                "length" => length = Some(number(&entry.value)?),
                _ => {} // "checksum" and future keys do not change the bytes
            }
        }
        let Some(location) = location else {
            return Err(self.error(name, "external_data has no location"));
        };
        let rel = Path::new(&location);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(self.error(
                name,
                format!("external_data location {location:?} leaves the model folder"),
            ));
        }
        if length.is_some_and(|l| l != expected) {
            let l = length.unwrap_or_default();
            return Err(self.error(name, format!("external_data length {l}, dims need {expected}")));
        }
        let file = self.dir.join(rel);
        let size = std::fs::metadata(&file)
            .map_err(|source| Error::Io { path: file.clone(), source })?
            .len();
        if offset.checked_add(expected).is_none_or(|end| end > size) {
            return Err(self.error(
                name,
                format!("external_data offset {offset} + length {expected} exceeds {location} ({size} bytes)"),
            ));
        }
        Ok(TensorBytes::External { file, offset })
    }
}

fn widen(b: &[u8; 4]) -> [u8; 8] {
    [b[0], b[1], b[2], b[3], 0, 0, 0, 0]
}

fn typed(data_type: i32, dims: Vec<i64>, fill: impl FnOnce(&mut TensorProto)) -> TensorProto {
    let mut t = TensorProto { data_type, dims, ..Default::default() };
    fill(&mut t);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(name: &str, data_type: i32, dims: Vec<u64>, bytes: Vec<u8>) -> WeightTensor {
        WeightTensor { name: name.into(), data_type, dims, data: TensorBytes::Inline(bytes) }
    }

    #[test]
    fn chunks_cover_the_tensor_in_both_directions() {
        let n = CHUNK_BYTES * 2 + 12;
        let bytes: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let t = inline("w", 2, vec![n as u64], bytes.clone());
        let mut fwd = Vec::new();
        t.for_each_chunk(false, |c| fwd.extend_from_slice(c)).unwrap();
        assert_eq!(fwd, bytes);
        let mut chunks = Vec::new();
        t.for_each_chunk(true, |c| chunks.push(c.to_vec())).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].len(), 12);
        assert_eq!(chunks.into_iter().rev().flatten().collect::<Vec<_>>(), bytes);
    }

    #[test]
    fn typed_fields_match_raw_layout() {
        let r = Reader { path: Path::new("m.onnx"), dir: PathBuf::from("."), tensors: vec![] };
        let t = TensorProto {
            data_type: 3,
            dims: vec![3],
            int32_data: vec![-1, 2, -128],
            ..Default::default()
        };
        assert_eq!(r.typed_bytes("x", &t, 1, 3).unwrap(), vec![0xff, 2, 0x80]);
        let t = TensorProto {
            data_type: 1,
            dims: vec![2],
            float_data: vec![1.5, -2.0],
            ..Default::default()
        };
        let raw: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(r.typed_bytes("x", &t, 4, 2).unwrap(), raw);
        let err = r.typed_bytes("x", &t, 4, 3).unwrap_err().to_string();
        assert!(err.contains("float_data has 2 values, dims need 3"), "{err}");
    }

    #[test]
    fn garbage_file_is_a_protobuf_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.onnx");
        std::fs::write(&p, [0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap();
        let err = read_weights(&p).unwrap_err();
        assert!(matches!(err, Error::Protobuf { .. }), "{err}");
    }
}

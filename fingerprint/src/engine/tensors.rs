//! Small helpers between Rust slices and ONNX Runtime values: building the int64 inputs,
//! reading f32 outputs in place, and reshaping the KV cache along the batch axis (the only two
//! places the fast path copies cache data: broadcasting the prompt's cache to the group once,
//! and dropping finished rows).

use ort::session::SessionOutputs;
use ort::value::{DynValue, Tensor};

use crate::error::{Error, Result};

/// An owned `[rows, cols]` int64 tensor.
pub(crate) fn i64_matrix(rows: usize, cols: usize, data: Vec<i64>) -> Result<DynValue> {
    Ok(Tensor::from_array(([rows, cols], data))?.into_dyn())
}

/// An empty `[batch, kv_heads, 0, head_dim]` cache tensor.
pub(crate) fn empty_cache(batch: usize, kv_heads: usize, head_dim: usize) -> Result<DynValue> {
    Ok(Tensor::from_array(([batch, kv_heads, 0, head_dim], Vec::<f32>::new()))?.into_dyn())
}

/// The shape and data of an f32 tensor, borrowed from ONNX Runtime's buffer.
pub(crate) fn f32_view(value: &DynValue) -> Result<(Vec<usize>, &[f32])> {
    let (shape, data) = value.try_extract_tensor::<f32>()?;
    let dims = shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
    Ok((dims, data))
}

/// Output `name` of a run, as an f32 view with the expected rank.
pub(crate) fn output<'a>(
    outputs: &'a SessionOutputs<'_>,
    name: &str,
    rank: usize,
) -> Result<(Vec<usize>, &'a [f32])> {
    let value = outputs.get(name).ok_or_else(|| Error::Request {
        problem: format!("the model returned no output `{name}`"),
    })?;
    let (shape, data) = f32_view(value)?;
    if shape.len() != rank {
        return Err(Error::Request {
            problem: format!("output `{name}` has shape {shape:?}, expected rank {rank}"),
        });
    }
    Ok((shape, data))
}

/// Repeats a `[1, ...]` tensor `batch` times along axis 0.
pub(crate) fn broadcast_rows(value: &DynValue, batch: usize) -> Result<DynValue> {
    let (mut shape, data) = f32_view(value)?;
    if shape.first() != Some(&1) {
        return Err(Error::Request {
            problem: format!("cannot broadcast a cache of shape {shape:?}"),
        });
    }
    let mut out = Vec::with_capacity(data.len() * batch);
    for _ in 0..batch {
        out.extend_from_slice(data);
    }
    shape[0] = batch;
    Ok(Tensor::from_array((shape, out))?.into_dyn())
}

/// Keeps rows `keep` (ascending indices) of a tensor along axis 0.
pub(crate) fn gather_rows(value: &DynValue, keep: &[usize]) -> Result<DynValue> {
    let (mut shape, data) = f32_view(value)?;
    let rows = shape.first().copied().unwrap_or(0);
    let row_len = data.len().checked_div(rows).unwrap_or(0);
    let mut out = Vec::with_capacity(row_len * keep.len());
    for &r in keep {
        if r >= rows {
            return Err(Error::Request { problem: format!("row {r} of a batch of {rows}") });
        }
        out.extend_from_slice(&data[r * row_len..(r + 1) * row_len]);
    }
    shape[0] = keep.len();
    Ok(Tensor::from_array((shape, out))?.into_dyn())
}

//! Small helpers between Rust slices and ONNX Runtime values: building the int64 inputs,
//! reading f32 outputs in place, and laying the KV cache out along the batch axis (the only
//! place the fast path copies cache data: when a group's prompt joins the batch and when
//! finished rows leave it).

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

/// Where one row of a re-laid-out cache comes from: the last `len` positions of row `row` of
/// the running batch's cache, or the whole of a prompt's `[1, ...]` cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowSource {
    /// Row `row` of the batch, whose real context is its last `len` positions.
    Batch { row: usize, len: usize },
    /// The prompt's cache (every position is real).
    Prompt,
}

/// Lays out a `[rows.len(), heads, length, head_dim]` cache tensor with every row's real context
/// right-aligned and zeros before it (the positions the attention mask hides). `batch` is the
/// running cache (`[B, heads, T, head_dim]`), `prompt` a `[1, heads, P, head_dim]` one; a row
/// names which it is taken from. Broadcasting a prompt to a group and dropping finished rows
/// are both this one copy.
pub(crate) fn realign(
    batch: Option<&DynValue>,
    prompt: Option<&DynValue>,
    rows: &[RowSource],
    length: usize,
) -> Result<DynValue> {
    let bad = |problem: String| Error::Request { problem };
    fn view<'v>(v: Option<&'v DynValue>, what: &str) -> Result<(Vec<usize>, &'v [f32])> {
        let bad = |problem: String| Error::Request { problem };
        let v = v.ok_or_else(|| bad(format!("a row names the {what} cache, which is absent")))?;
        let (shape, data) = f32_view(v)?;
        if shape.len() != 4 {
            return Err(bad(format!("a {what} cache of shape {shape:?}, expected rank 4")));
        }
        Ok((shape, data))
    }
    let needs = |s: RowSource| matches!(s, RowSource::Batch { .. });
    let from_batch =
        if rows.iter().any(|&s| needs(s)) { Some(view(batch, "batch")?) } else { None };
    let from_prompt =
        if rows.iter().any(|&s| !needs(s)) { Some(view(prompt, "prompt")?) } else { None };
    let (heads, head_dim) = match (&from_batch, &from_prompt) {
        (Some((s, _)), _) | (None, Some((s, _))) => (s[1], s[3]),
        (None, None) => (0, 0),
    };
    for (s, _) in from_batch.iter().chain(from_prompt.iter()) {
        if s[1] != heads || s[3] != head_dim {
            return Err(bad(format!("caches of shapes {s:?} and [_, {heads}, _, {head_dim}]")));
        }
    }
    let mut out = vec![0f32; rows.len() * heads * length * head_dim];
    for (i, &source) in rows.iter().enumerate() {
        let (shape, data, row, len) = match (source, &from_batch, &from_prompt) {
            (RowSource::Batch { row, len }, Some((s, d)), _) => (s, *d, row, len),
            (RowSource::Prompt, _, Some((s, d))) => (s, *d, 0, s[2]),
            _ => return Err(bad("a row's source cache is absent".into())),
        };
        let (rows_there, t) = (shape[0], shape[2]);
        if row >= rows_there || len > t || len > length {
            return Err(bad(format!(
                "row {row} with {len} positions from a cache of {rows_there} rows of {t}, \
                 into rows of {length}"
            )));
        }
        for h in 0..heads {
            let src = ((row * heads + h) * t + (t - len)) * head_dim;
            let dst = ((i * heads + h) * length + (length - len)) * head_dim;
            out[dst..dst + len * head_dim].copy_from_slice(&data[src..src + len * head_dim]);
        }
    }
    Ok(Tensor::from_array(([rows.len(), heads, length, head_dim], out))?.into_dyn())
}

//! The rows as Arrow arrays, written as Parquet with the `arrow`/`parquet` crates.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, UInt32Builder};
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, RecordBatch, StringArray, UInt16Array, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::RolloutRow;
use crate::error::ValidatorError;

fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, false))
}

/// The Arrow schema of the rows: every column required, lists of required items.
pub fn arrow_schema() -> SchemaRef {
    let list = |t: DataType| DataType::List(item(t));
    Arc::new(Schema::new(vec![
        Field::new("window", DataType::UInt64, false),
        Field::new("hotkey", DataType::Utf8, false),
        Field::new("uid", DataType::UInt16, false),
        Field::new("problem_index", DataType::UInt32, false),
        Field::new("rollout_index", DataType::UInt32, false),
        Field::new("environment", DataType::Utf8, false),
        Field::new("environment_version", DataType::UInt32, false),
        Field::new("prompt_tokens", list(DataType::UInt32), false),
        Field::new("completion_tokens", list(DataType::UInt32), false),
        Field::new("logprobs", list(DataType::Float32), false),
        Field::new("reward", DataType::Float32, false),
        Field::new("success", DataType::Boolean, false),
        Field::new("advantage", DataType::Float32, false),
        Field::new("model_id", DataType::Utf8, false),
        Field::new("file_cid", DataType::Utf8, false),
        Field::new("checked", DataType::Boolean, false),
    ]))
}

/// The Parquet schema the Arrow schema maps to, as the `parquet` crate prints it.
pub fn parquet_schema_text() -> Result<String, ValidatorError> {
    let descr = parquet::arrow::ArrowSchemaConverter::new()
        .convert(&arrow_schema())
        .map_err(|e| parquet_error("convert the schema", &e))?;
    let mut out = Vec::new();
    parquet::schema::printer::print_schema(&mut out, descr.root_schema());
    String::from_utf8(out).map_err(|e| ValidatorError::Export { reason: e.to_string() })
}

fn parquet_error(op: &str, e: &dyn std::fmt::Display) -> ValidatorError {
    ValidatorError::Export { reason: format!("parquet: {op}: {e}") }
}

/// One record batch of `rows`.
pub fn batch(rows: &[RolloutRow]) -> Result<RecordBatch, ValidatorError> {
    fn u32_lists(rows: &[RolloutRow], of: fn(&RolloutRow) -> &[u32]) -> ArrayRef {
        let mut b = ListBuilder::new(UInt32Builder::new()).with_field(item(DataType::UInt32));
        for r in rows {
            b.values().append_slice(of(r));
            b.append(true);
        }
        Arc::new(b.finish())
    }
    let mut logprobs = ListBuilder::new(Float32Builder::new()).with_field(item(DataType::Float32));
    for r in rows {
        logprobs.values().append_slice(&r.logprobs);
        logprobs.append(true);
    }
    let text = |of: fn(&RolloutRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(of)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.window))),
        text(|r| &r.hotkey),
        Arc::new(UInt16Array::from_iter_values(rows.iter().map(|r| r.uid))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.problem_index))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.rollout_index))),
        text(|r| &r.environment),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.environment_version))),
        u32_lists(rows, |r| &r.prompt_tokens),
        u32_lists(rows, |r| &r.completion_tokens),
        Arc::new(logprobs.finish()),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.reward))),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.success).collect::<Vec<_>>())),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.advantage))),
        text(|r| &r.model_id),
        text(|r| &r.file_cid),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.checked).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(arrow_schema(), columns).map_err(|e| parquet_error("build a batch", &e))
}

/// Writes batches of rows to one Parquet file.
pub struct RowWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
}

impl<W: Write + Send> std::fmt::Debug for RowWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowWriter").field("rows", &self.writer.in_progress_rows()).finish()
    }
}

impl<W: Write + Send> RowWriter<W> {
    /// A writer of Snappy-compressed pages into `out`.
    pub fn new(out: W) -> Result<Self, ValidatorError> {
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(out, arrow_schema(), Some(props))
            .map_err(|e| parquet_error("start the file", &e))?;
        Ok(RowWriter { writer })
    }

    /// Appends `rows` (nothing for none).
    pub fn write(&mut self, rows: &[RolloutRow]) -> Result<(), ValidatorError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.writer.write(&batch(rows)?).map_err(|e| parquet_error("write rows", &e))
    }

    /// Writes the footer; hands back the output.
    pub fn finish(self) -> Result<W, ValidatorError> {
        self.writer.into_inner().map_err(|e| parquet_error("finish the file", &e))
    }
}

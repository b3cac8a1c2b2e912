//! Verified rollouts for trainers: one row per rollout of every kept window file (the files
//! of miners whose verdict was a pass), with whether the validator checked that rollout itself
//! or only its file passed. Written as JSON Lines or Parquet ([`parquet_file`]); the published
//! schemas are `docs/export/rollout.schema.json` and `docs/export/rollout.parquet.txt`.

pub mod parquet_file;
pub mod schema;

use std::io::Write;
use std::path::{Path, PathBuf};

use grail_protocol::codec::{decode, Limits};
use grail_protocol::window_file::WindowFile;
use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::error::{io, ValidatorError};
use crate::state::{KeptFile, State};

/// One exported rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRow {
    /// Window number.
    pub window: u64,
    /// The miner's hotkey, SS58.
    pub hotkey: String,
    /// The miner's uid in that window's metagraph.
    pub uid: u16,
    /// Problem index within the window.
    pub problem_index: u32,
    /// Rollout index within the problem's group.
    pub rollout_index: u32,
    /// Environment id (`sat`, `arith`, ...).
    pub environment: String,
    /// Version of the environment's generator and reward.
    pub environment_version: u32,
    /// Prompt tokens as the chat template renders them.
    pub prompt_tokens: Vec<u32>,
    /// Sampled completion tokens.
    pub completion_tokens: Vec<u32>,
    /// `ln p` of each completion token under the sampling distribution.
    pub logprobs: Vec<f32>,
    /// Reward of the completion.
    pub reward: f32,
    /// Whether the completion solved the problem.
    pub success: bool,
    /// GRPO advantage within the group.
    pub advantage: f32,
    /// The model's id: CIDv1 of its canonical weights.
    pub model_id: String,
    /// CID of the window file the rollout came from.
    pub file_cid: String,
    /// Whether the validator checked this rollout itself (its commitments and logprobs at the
    /// challenged positions); false: only the file it is in passed.
    pub checked: bool,
}

/// The rows of one kept file.
pub fn rows_of_file(kept: &KeptFile, file: &WindowFile) -> Vec<RolloutRow> {
    let h = &file.header;
    let model_id = cid::Cid::try_from(h.model_id.as_slice())
        .map_or_else(|_| hex::encode(&h.model_id), |c| c.to_string());
    file.rollouts
        .iter()
        .enumerate()
        .map(|(i, r)| RolloutRow {
            window: kept.window,
            hotkey: kept.hotkey.to_ss58(),
            uid: kept.uid,
            problem_index: r.problem_index,
            rollout_index: r.rollout_index,
            environment: h.environment.id.clone(),
            environment_version: h.environment.version,
            prompt_tokens: r.prompt_tokens.clone(),
            completion_tokens: r.completion_tokens.clone(),
            logprobs: r.logprobs.clone(),
            reward: r.reward,
            success: r.success,
            advantage: r.advantage,
            model_id: model_id.clone(),
            file_cid: kept.cid.clone(),
            checked: u32::try_from(i).is_ok_and(|i| kept.checked.binary_search(&i).is_ok()),
        })
        .collect()
}

/// The rows of `kept`'s file, read from `archive` and decoded under `limits`.
pub fn read_rows(
    archive: &Archive,
    kept: &KeptFile,
    limits: &Limits,
) -> Result<Vec<RolloutRow>, ValidatorError> {
    let bytes = archive.read(&kept.cid)?;
    let file = decode(&bytes, limits).map_err(|e| ValidatorError::Archive {
        cid: kept.cid.clone(),
        reason: format!("window {} of {} does not decode: {e}", kept.window, kept.hotkey),
    })?;
    Ok(rows_of_file(kept, &file))
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet (Snappy-compressed pages).
    Parquet,
    /// JSON Lines: one JSON object per rollout.
    Jsonl,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportSummary {
    pub since: u64,
    pub until: u64,
    pub format: Format,
    pub out: PathBuf,
    /// Windows with at least one kept file.
    pub windows: u64,
    pub files: u64,
    pub rows: u64,
    /// Completion tokens in all rows.
    pub completion_tokens: u64,
    /// Size of the written file.
    pub bytes: u64,
}

/// Writes the rollouts of windows `since..=until` kept under `data_dir` to `out` (through
/// `out.partial`, renamed once complete and synced), telling `progress(files done, files)`.
pub fn export(
    data_dir: &Path,
    since: u64,
    until: u64,
    format: Format,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExportSummary, ValidatorError> {
    if since > until {
        return Err(ValidatorError::InvalidRange {
            field: "--since",
            reason: format!("{since} is after --until {until}"),
        });
    }
    let state = State::open_read_only(data_dir)?;
    let kept = state.kept_files(since, until)?;
    let archive = Archive::new(data_dir);
    let partial = out.with_extension(
        out.extension().map_or("partial".into(), |e| format!("{}.partial", e.to_string_lossy())),
    );
    let file = std::fs::File::create(&partial).map_err(io("create", &partial))?;
    let written = write_rows(file, &kept, &archive, &partial, format, progress);
    let mut summary = match written {
        Ok(summary) => summary,
        Err(e) => {
            // Nothing half-written is left behind.
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).map_err(io("rename into place", out))?;
    summary.since = since;
    summary.until = until;
    summary.out = out.to_owned();
    summary.bytes = std::fs::metadata(out).map_err(io("stat", out))?.len();
    Ok(summary)
}

/// Writes the rows of `kept` into `file` (at `partial`) and syncs it; the counts.
fn write_rows(
    file: std::fs::File,
    kept: &[KeptFile],
    archive: &Archive,
    partial: &Path,
    format: Format,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExportSummary, ValidatorError> {
    let limits = Limits::default();
    let mut summary = ExportSummary {
        since: 0,
        until: 0,
        format,
        out: partial.to_owned(),
        windows: 0,
        files: 0,
        rows: 0,
        completion_tokens: 0,
        bytes: 0,
    };
    let total = kept.len() as u64;
    progress(0, total);
    let mut last_window = None;
    let mut sink = match format {
        Format::Parquet => Sink::Parquet(Box::new(parquet_file::RowWriter::new(file)?)),
        Format::Jsonl => Sink::Jsonl(std::io::BufWriter::new(file)),
    };
    for k in kept {
        let rows = read_rows(archive, k, &limits)?;
        summary.rows += rows.len() as u64;
        summary.completion_tokens +=
            rows.iter().map(|r| r.completion_tokens.len() as u64).sum::<u64>();
        match &mut sink {
            Sink::Parquet(w) => w.write(&rows)?,
            Sink::Jsonl(w) => {
                for r in &rows {
                    serde_json::to_writer(&mut *w, r)
                        .map_err(|source| ValidatorError::Json { what: "rollout row", source })?;
                    w.write_all(b"\n").map_err(io("write", partial))?;
                }
            }
        }
        if last_window != Some(k.window) {
            summary.windows += 1;
            last_window = Some(k.window);
        }
        summary.files += 1;
        progress(summary.files, total);
    }
    let file = match sink {
        Sink::Parquet(w) => w.finish()?,
        Sink::Jsonl(w) => w.into_inner().map_err(|e| io("write", partial)(e.into_error()))?,
    };
    file.sync_all().map_err(io("sync", partial))?;
    Ok(summary)
}

enum Sink {
    Parquet(Box<parquet_file::RowWriter<std::fs::File>>),
    Jsonl(std::io::BufWriter<std::fs::File>),
}

#[cfg(test)]
pub(crate) mod tests;

//! `grail-validator export --since W [--until W] --format parquet|jsonl --out PATH`: the
//! verified rollouts of the windows a validator kept (`DATA/verified/`), one row per rollout,
//! for trainers. Prints one JSON line: what was written (windows, files, rows, completion
//! tokens, bytes, seconds).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::export::{export, ExportSummary, Format};

/// Export verified rollouts for trainers.
#[derive(Debug, Args)]
#[command(next_help_heading = "Export")]
pub struct ExportArgs {
    /// The validator's data folder (its state database and kept files).
    #[arg(id = "data", long = "data", env = "GRAIL_DATA", default_value = "grail-validator-data")]
    pub data: PathBuf,
    /// First window to export.
    #[arg(id = "since", long = "since", env = "GRAIL_SINCE", value_name = "WINDOW")]
    pub since: u64,
    /// Last window to export (default: the latest committed).
    #[arg(id = "until", long = "until", env = "GRAIL_UNTIL", value_name = "WINDOW")]
    pub until: Option<u64>,
    /// Output format.
    #[arg(id = "format", long = "format", env = "GRAIL_FORMAT", value_enum)]
    pub format: Format,
    /// Output file; written whole under a `.partial` name, then renamed.
    #[arg(id = "out", long = "out", env = "GRAIL_OUT", value_name = "PATH")]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
struct ExportLine {
    #[serde(flatten)]
    summary: ExportSummary,
    seconds: f64,
    bytes_per_token: Option<f64>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let until = match args.until {
        Some(u) => u,
        None => crate::state::State::open_read_only(&args.data)
            .and_then(|s| s.last_processed())
            .with_context(|| format!("reading the state in {}", args.data.display()))?
            .with_context(|| format!("{} has no committed window", args.data.display()))?,
    };
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        if let Ok(style) =
            ProgressStyle::with_template("export [{bar:30}] {pos}/{len} files ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    });
    let mut last_log = Instant::now();
    let mut progress = |done: u64, total: u64| match &bar {
        Some(b) => {
            b.set_length(total);
            b.set_position(done);
        }
        None if done == total || last_log.elapsed() >= Duration::from_secs(5) => {
            last_log = Instant::now();
            tracing::info!(files = format!("{done}/{total}"), "exporting");
        }
        None => {}
    };
    let summary = export(&args.data, args.since, until, args.format, &args.out, &mut progress)
        .with_context(|| {
            format!("exporting windows {}..={until} of {}", args.since, args.data.display())
        })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if summary.files == 0 {
        tracing::warn!(
            since = args.since,
            until,
            "no kept files in these windows (none passed, or past --export.retain-windows)"
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let bytes_per_token = (summary.completion_tokens > 0)
        .then(|| summary.bytes as f64 / summary.completion_tokens as f64);
    let line = ExportLine { summary, seconds, bytes_per_token };
    println!("{}", serde_json::to_string(&line).context("printing the result")?);
    Ok(())
}

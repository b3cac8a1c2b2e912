//! The logging of every binary: `tracing` to stderr (coloured only on a terminal) and, with
//! `--log.file`, to a rotated file as well; as text or as JSON lines (`--log.format`);
//! filtered by `--log.level` (an `EnvFilter` directive such as `info` or
//! `grail_validator=debug,warn`) or by `-v` / `-vv`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// When `--log.file` starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogRotation {
    /// One file, `--log.file` itself.
    Never,
    /// `FILE.YYYY-MM-DD-HH`, a new one every hour (UTC).
    Hourly,
    /// `FILE.YYYY-MM-DD`, a new one every day (UTC).
    Daily,
}

/// The logging flags (global: they go before or after the subcommand).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log filter (tracing syntax, e.g. `info` or `grail_validator=debug,warn`).
    #[arg(
        id = "log.level",
        long = "log.level",
        env = "GRAIL_LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    pub level: String,
    /// More detail: `-v` logs the grail crates at `debug`, `-vv` at `trace` and the rest at
    /// `debug`; either replaces --log.level.
    #[arg(
        id = "log.verbose",
        short = 'v',
        long = "log.verbose",
        env = "GRAIL_LOG_VERBOSE",
        action = clap::ArgAction::Count,
        global = true
    )]
    pub verbose: u8,
    /// Log line format, on stderr and in --log.file.
    #[arg(
        id = "log.format",
        long = "log.format",
        env = "GRAIL_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub format: LogFormat,
    /// Also write the log to this file (its folder is created), rotated by --log.rotation.
    #[arg(id = "log.file", long = "log.file", env = "GRAIL_LOG_FILE", global = true)]
    pub file: Option<PathBuf>,
    /// When --log.file starts a new file (the date, and hour, is appended to its name).
    #[arg(
        id = "log.rotation",
        long = "log.rotation",
        env = "GRAIL_LOG_ROTATION",
        value_enum,
        default_value = "daily",
        global = true
    )]
    pub rotation: LogRotation,
    /// How many rotated files --log.file keeps (the oldest are deleted).
    #[arg(
        id = "log.max_files",
        long = "log.max-files",
        env = "GRAIL_LOG_MAX_FILES",
        default_value_t = 7,
        value_parser = clap::value_parser!(u16).range(1..),
        global = true
    )]
    pub max_files: u16,
}

impl LogArgs {
    /// The filter directive these flags select.
    pub fn filter(&self) -> String {
        match self.verbose {
            0 => self.level.clone(),
            1 => "info,grail=debug".to_owned(),
            _ => "debug,grail=trace".to_owned(),
        }
    }

    /// Installs the global subscriber: stderr, and the file if one is given.
    pub fn init(&self) -> Result<(), LogError> {
        let filter = self.filter();
        let env_filter = EnvFilter::try_new(&filter)
            .map_err(|source| LogError::Filter { filter: filter.clone(), source })?;
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![match self.format {
            LogFormat::Text => stderr.boxed(),
            LogFormat::Json => stderr.json().boxed(),
        }];
        if let Some(path) = &self.file {
            let file =
                tracing_subscriber::fmt::layer().with_writer(self.appender(path)?).with_ansi(false);
            layers.push(match self.format {
                LogFormat::Text => file.boxed(),
                LogFormat::Json => file.json().boxed(),
            });
        }
        tracing_subscriber::registry()
            .with(layers)
            .with(env_filter)
            .try_init()
            .map_err(|e| LogError::Installed(e.to_string()))
    }

    /// The rotating writer of `path`.
    fn appender(&self, path: &Path) -> Result<RollingFileAppender, LogError> {
        let bad = |reason: String| LogError::File { path: path.to_owned(), reason };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("no file name in UTF-8".into()))?;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(folder)
            .map_err(|e| bad(format!("creating {}: {e}", folder.display())))?;
        let rotation = match self.rotation {
            LogRotation::Never => Rotation::NEVER,
            LogRotation::Hourly => Rotation::HOURLY,
            LogRotation::Daily => Rotation::DAILY,
        };
        RollingFileAppender::builder()
            .rotation(rotation)
            .filename_prefix(name)
            .max_log_files(usize::from(self.max_files))
            .build(folder)
            .map_err(|e| bad(e.to_string()))
    }
}

/// Logging that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A `--log.level` value that is not a filter directive.
    #[error("bad --log.level {filter:?}: {source}")]
    Filter {
        /// The value given.
        filter: String,
        /// Why it does not parse.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A `--log.file` that cannot be written.
    #[error("--log.file {}: {reason}", path.display())]
    File {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be written.
        reason: String,
    },
    /// A subscriber is installed already (a second call).
    #[error("logging is set up already: {0}")]
    Installed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
    }

    fn parse(args: &[&str]) -> LogArgs {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).expect("flags").log
    }

    #[test]
    fn info_by_default_and_each_v_adds_detail() {
        assert_eq!(parse(&[]).filter(), "info");
        assert_eq!(parse(&["--log.level", "warn"]).filter(), "warn");
        assert_eq!(parse(&["--log.level", "warn", "-v"]).filter(), "info,grail=debug");
        assert_eq!(parse(&["-vv"]).filter(), "debug,grail=trace");
        assert_eq!(parse(&["-v", "-v", "-v"]).filter(), "debug,grail=trace");
        let err = Cli::try_parse_from(["x", "--log.max-files", "0"]).unwrap_err().to_string();
        assert!(err.contains("--log.max-files"), "{err}");
    }

    #[test]
    fn bad_input_names_the_flag_and_the_value() {
        let err = parse(&["--log.level", "info,=["]).init().err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("--log.level") && err.contains("info,=["), "{err}");
        // A folder that cannot be made: its parent is a file.
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").expect("write");
        let path = blocker.join("logs").join("v.log");
        let args = parse(&["--log.file", path.to_str().expect("utf-8")]);
        let err = args.appender(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("--log.file ") && err.contains("creating"), "{err}");
    }
}

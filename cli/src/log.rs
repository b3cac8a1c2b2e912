//! `--log.level` and the logging of every binary: `tracing` to stderr, coloured only on a
//! terminal, filtered by an `EnvFilter` directive such as `info` or
//! `grail_validator=debug,warn`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log.level` (global: it goes before or after the subcommand).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log filter (tracing syntax, e.g. `info` or `grail_validator=debug,warn`), to stderr.
    #[arg(
        id = "log.level",
        long = "log.level",
        env = "GRAIL_LOG_LEVEL",
        default_value = "warn",
        global = true
    )]
    pub level: String,
}

impl LogArgs {
    /// Installs the global subscriber with this filter.
    pub fn init(&self) -> Result<(), LogFilterError> {
        init_stderr_logging(&self.level)
    }
}

/// A `--log.level` value that is not a filter directive.
#[derive(Debug, thiserror::Error)]
#[error("bad --log.level {filter:?}: {source}")]
pub struct LogFilterError {
    /// The value given.
    pub filter: String,
    /// Why it does not parse.
    pub source: tracing_subscriber::filter::ParseError,
}

/// Installs the global subscriber: stderr, `filter`.
pub fn init_stderr_logging(filter: &str) -> Result<(), LogFilterError> {
    let env_filter = EnvFilter::try_new(filter)
        .map_err(|source| LogFilterError { filter: filter.to_owned(), source })?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(env_filter)
        .init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_names_the_flag_and_the_value() {
        let err = init_stderr_logging("info,=[").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--log.level") && err.contains("info,=["), "{err}");
    }
}

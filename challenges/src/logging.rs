//! Logging of the three binaries (`grail-miner`, `grail-validator`, `grail-beacon`): `tracing`
//! to stderr, coloured only on a terminal, filtered by `--log.level` (an `EnvFilter`
//! directive such as `info` or `grail_validator=debug,warn`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

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

//! grail-validator: the validator's command line.
//!
//! Machine-readable results are one JSON line on stdout; logs go to stderr; a failure is one
//! line `error: ...` on stderr and a non-zero exit status.

use grail_validator::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    grail_cli::run_main(|c: &Cli| &c.log, run)
}

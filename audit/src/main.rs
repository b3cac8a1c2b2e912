//! grail-audit: calibration, benchmarks and the adversary. Results are JSON on stdout; logs
//! and progress go to stderr; a failure is one line `error: ...` and a non-zero exit status.

use grail_audit::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    grail_cli::run_main(|c: &Cli| &c.log, run)
}

//! grail-miner: the miner's command line.
//!
//! Machine-readable results are one JSON line on stdout; logs go to stderr; a failure is one
//! line `error: ...` on stderr and a non-zero exit status.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if let Err(e) = cli::init_tracing(&args.log_level) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

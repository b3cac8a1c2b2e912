//! TEST BUILD ONLY: `grail-validator run` with a pause between verifying a window and
//! committing it, so `tests/tests/validator_crash.rs` can kill the validator at the one moment
//! where a crash must undo the window's work. It takes every flag of `grail-validator run`
//! plus `--stall-before-commit-ms`; it is built from the validator library, not shipped.

use std::time::Duration;

use clap::Parser;
use grail_cli::log::LogArgs;
use grail_validator::cli::run::{run, PrintLines, RunArgs};
use grail_validator::live::{LoopObserver, WindowLine};

/// `grail-validator run`, stalling before each commit.
#[derive(Debug, Parser)]
#[command(name = "grail-validator-stalling")]
struct Args {
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Milliseconds to sleep between verifying a window and committing it.
    #[arg(
        id = "stall_before_commit_ms",
        long = "stall-before-commit-ms",
        env = "GRAIL_STALL_BEFORE_COMMIT_MS"
    )]
    stall_before_commit_ms: u64,
}

struct Stalling {
    stall: Duration,
}

impl LoopObserver for Stalling {
    fn window_done(&mut self, line: &WindowLine) {
        PrintLines.window_done(line);
    }

    fn before_commit(&mut self, window: u64) {
        tracing::info!(window, stall_ms = self.stall.as_millis() as u64, "stalling before commit");
        std::thread::sleep(self.stall);
    }
}

fn main() -> std::process::ExitCode {
    grail_cli::run_main(
        |a: &Args| &a.log,
        |a| {
            let mut observer = Stalling { stall: Duration::from_millis(a.stall_before_commit_ms) };
            run(a.run, &mut observer)
        },
    )
}

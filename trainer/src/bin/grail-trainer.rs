//! grail-trainer: the trainer's command line.
//!
//! `grail-trainer publish --model DIR --from-window W` publishes the folder as the checkpoint
//! of window W on, signed by the wallet's hotkey, and prints one JSON line.

use grail_trainer::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    grail_cli::run_main(|c: &Cli| &c.log, run)
}

//! grail-beacon: a local drand-compatible beacon for development (INSECURE key, public seed).
//!
//! ```text
//! grail-beacon --listen 127.0.0.1:8081 --period 3
//! ```
//! prints one JSON line (listen address, chain hash, public key, genesis, period) on stdout,
//! then serves drand's HTTP API until interrupted. Logs go to stderr.

use grail_beacon::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    grail_cli::run_main(|c: &Cli| &c.log, run)
}

//! The command-line layer every binary shares: one flag group per concern, each with a help
//! heading and an environment variable on every flag, and one layered configuration
//! ([`config`]: flag, then variable, then `--config` file, then default).
//!
//! | group | flags |
//! |---|---|
//! | [`log::LogArgs`] | `--log.*`, `-v` |
//! | [`config::ConfigArgs`] | `--config` |
//! | [`model::ModelArgs`] | `--model`, `--device`, `--threads` |
//! | [`wallet::WalletArgs`] | `--wallet.path`, `--wallet.name`, `--wallet.hotkey` |
//! | [`storage::StorageArgs`] | `--storage.*` |
//! | [`beacon::BeaconArgs`] | `--beacon.chain`, `--beacon.chain-info`, `--beacon.relays`, ... |
//! | [`chain::ChainArgs`] | `--chain.genesis`, `--chain.block-time` |
//! | [`checkpoint::CheckpointArgs`] | `--checkpoint.*` |
//! | [`network::NetworkArgs`] | `--window.*`, `--env`, `--temperature`, `--max-new-tokens` |
//! | [`http::HttpArgs`] | `--http.listen` (served by [`serve::serve`]) |
//! | [`windows::WindowRangeArgs`] | `--from-window`, `--until-window` |
//!
//! The naming rule, which `tests/tests/cli_surface.rs` checks for every binary: an argument's
//! id is its long flag with `-` written `_` (that id is its key in a config file), and its
//! variable is `GRAIL_` and the id in capitals with `.` written `_`.

pub mod beacon;
pub mod chain;
pub mod checkpoint;
pub mod config;
pub mod http;
pub mod log;
pub mod model;
pub mod network;
pub mod serve;
pub mod storage;
pub mod wallet;
pub mod windows;

/// Runs a binary's `main`: parses its command line (with `--config`), sets up logging, runs
/// `body`, and turns the outcome into an exit status: 0, 1 with one line `error: ...` on
/// stderr for a failure, 2 for bad usage or configuration.
pub fn run_main<P: clap::Parser>(
    log: impl FnOnce(&P) -> &log::LogArgs,
    body: impl FnOnce(P) -> anyhow::Result<()>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let args = match config::parse::<P>() {
        Ok(a) => a,
        Err(config::ConfigError::Clap(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = log(&args).init() {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match body(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

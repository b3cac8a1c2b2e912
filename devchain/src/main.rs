//! `grail-devchain`: a loopback chain with subtensor's wire format (see the crate docs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use grail_cli::beacon::BeaconArgs;
use grail_cli::log::LogArgs;
use grail_devchain::genesis::Genesis;
use grail_devchain::Options;

/// A loopback chain that speaks subtensor's wire format (JSON-RPC over HTTP and WebSocket).
#[derive(Debug, Parser)]
#[command(name = "grail-devchain", version)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    /// The genesis file: the subnet, its hotkeys in uid order, stake and hyperparameters.
    #[arg(id = "genesis", long = "genesis", env = "GRAIL_GENESIS", value_name = "FILE")]
    genesis: PathBuf,
    /// Address to serve JSON-RPC on (HTTP and WebSocket); port 0 picks a free one.
    #[arg(id = "listen", long = "listen", env = "GRAIL_LISTEN", default_value = "127.0.0.1:9944")]
    listen: SocketAddr,
    /// Milliseconds between blocks.
    #[arg(
        id = "block_time_ms",
        long = "block-time-ms",
        env = "GRAIL_BLOCK_TIME_MS",
        default_value_t = 12_000
    )]
    block_time_ms: u64,
    /// Blocks between the best block and the finalized one.
    #[arg(
        id = "finality_lag",
        long = "finality-lag",
        env = "GRAIL_FINALITY_LAG",
        default_value_t = 0
    )]
    finality_lag: u64,
    /// Finalized blocks whose state is kept, as a pruned node's `--state-pruning`: a state
    /// read at an older block is answered "State already discarded". `archive` keeps all.
    #[arg(
        id = "state_pruning",
        long = "state-pruning",
        env = "GRAIL_STATE_PRUNING",
        value_name = "BLOCKS|archive",
        default_value = "archive",
        value_parser = parse_pruning
    )]
    state_pruning: Pruning,
    /// The drand beacon whose pulses the chain stores (subtensor's drand pallet), to reveal
    /// timelocked weight commits; without any `--beacon.*` flag it stores none.
    #[command(flatten)]
    beacon: BeaconArgs,
}

/// `--state-pruning`: how many finalized blocks keep their state (`None`: all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pruning(Option<u64>);

fn parse_pruning(s: &str) -> Result<Pruning, String> {
    if s == "archive" {
        return Ok(Pruning(None));
    }
    match s.parse::<u64>() {
        Ok(0) => Err("0 blocks would keep no state at all; give at least 1 or `archive`".into()),
        Ok(n) => Ok(Pruning(Some(n))),
        Err(e) => Err(format!("{s:?} is neither a block count nor `archive`: {e}")),
    }
}

fn main() -> ExitCode {
    grail_cli::run_main(|c: &Cli| &c.log, run)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { genesis, listen, block_time_ms, finality_lag, state_pruning, beacon, .. } = cli;
    if block_time_ms == 0 {
        anyhow::bail!("--block-time-ms must be at least 1");
    }
    let genesis = Genesis::load(&genesis)?;
    let options = Options {
        listen,
        block_time: Duration::from_millis(block_time_ms),
        finality_lag,
        state_pruning: state_pruning.0,
        beacon: Some(beacon),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let running = grail_devchain::start(&genesis, &options).await?;
        // One line on stdout, for scripts and tests that start the chain on port 0.
        println!(
            "grail-devchain: listening on ws://{addr} and http://{addr}, genesis 0x{}, netuid {}, {} neurons",
            hex::encode(running.genesis_hash),
            genesis.netuid,
            genesis.neurons.len(),
            addr = running.addr,
        );
        tracing::info!(addr = %running.addr, "dev chain serving");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = running.server.clone().stopped() => anyhow::bail!("the RPC server stopped"),
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_flags_parse_with_the_beacons() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "grail-devchain",
            "--genesis",
            "g.json",
            "--beacon.chain",
            "local",
            "--beacon.relays",
            "http://127.0.0.1:8081",
        ])
        .expect("parses");
        assert_eq!(cli.beacon.relays, vec!["http://127.0.0.1:8081".to_owned()]);
        assert_eq!(cli.beacon.trusted().expect("trusted").name(), "local");
        assert!(grail_devchain::pulses::enabled(&cli.beacon));
        let bare = Cli::try_parse_from(["grail-devchain", "--genesis", "g.json"]).expect("parses");
        assert!(!grail_devchain::pulses::enabled(&bare.beacon), "no beacon, no pulses");
        assert_eq!(bare.state_pruning, Pruning(None), "an archive node by default");
    }

    #[test]
    fn state_pruning_takes_a_block_count_or_archive() {
        let parse = |v: &str| {
            Cli::try_parse_from(["grail-devchain", "--genesis", "g.json", "--state-pruning", v])
                .map(|c| c.state_pruning)
        };
        assert_eq!(parse("256").expect("parses"), Pruning(Some(256)));
        assert_eq!(parse("archive").expect("parses"), Pruning(None));
        let zero = parse("0").expect_err("zero refused").to_string();
        assert!(zero.contains("--state-pruning") && zero.contains("at least 1"), "{zero}");
        let word = parse("lite").expect_err("a word refused").to_string();
        assert!(word.contains("\"lite\" is neither"), "{word}");
    }
}

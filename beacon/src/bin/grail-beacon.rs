//! grail-beacon: a local drand-compatible beacon for development (INSECURE key, public seed).
//!
//! ```text
//! grail-beacon --listen 127.0.0.1:8081 --period 3
//! ```
//! prints one JSON line (listen address, chain hash, public key, genesis, period) on stdout,
//! then serves drand's HTTP API until interrupted. Logs go to stderr.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use grail_beacon::LocalBeacon;
use grail_cli::log::LogArgs;
use grail_drand::unix_now;

/// Local drand beacon (quicknet scheme, insecure development key).
#[derive(Debug, Parser)]
#[command(name = "grail-beacon", version, about)]
struct Args {
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    beacon: BeaconServerArgs,
}

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Beacon")]
struct BeaconServerArgs {
    /// Address to listen on (port 0 picks a free port; the JSON line says which).
    #[arg(id = "listen", long = "listen", env = "GRAIL_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Seconds between rounds.
    #[arg(id = "period", long = "period", env = "GRAIL_PERIOD", default_value_t = 3)]
    period: u64,
    /// Unix time (s) of round 1 [default: now].
    #[arg(id = "genesis", long = "genesis", env = "GRAIL_GENESIS")]
    genesis: Option<u64>,
}

fn main() -> ExitCode {
    grail_cli::run_main(|a: &Args| &a.log, |a| serve(&a.beacon))
}

#[tokio::main]
async fn serve(args: &BeaconServerArgs) -> anyhow::Result<()> {
    let genesis = args.genesis.unwrap_or_else(unix_now);
    let beacon = LocalBeacon::new(genesis, args.period).with_context(|| {
        format!("making the local chain (genesis {genesis}, period {})", args.period)
    })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let info = beacon.info();
    let line = serde_json::json!({
        "listen": addr.to_string(),
        "url": format!("http://{addr}"),
        "chain_hash": info.hash_hex(),
        "public_key": hex::encode(info.public_key()),
        "genesis_time": info.genesis_time(),
        "period": info.period(),
        "scheme": info.scheme().id(),
        "insecure_dev_key": true,
    });
    println!("{line}");
    tracing::warn!(
        "serving the INSECURE development beacon: its key is public, use it only locally"
    );
    tracing::info!(%addr, chain = %info.hash_hex(), "grail-beacon listening");

    grail_beacon::serve(listener, beacon, async {
        // If the signal handler cannot be installed, serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await
    .context("serving HTTP")?;
    Ok(())
}

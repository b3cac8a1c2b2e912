//! `grail-beacon`'s command line: where to listen and the chain's clock.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use grail_cli::log::LogArgs;
use grail_drand::unix_now;

use crate::LocalBeacon;

/// Local drand beacon (quicknet scheme, insecure development key).
#[derive(Debug, Parser)]
#[command(name = "grail-beacon", version, about)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
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

/// Prints the start line and serves until interrupted.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let Cli { beacon, .. } = cli;
    runtime.block_on(serve(&beacon))
}

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

    crate::serve(listener, beacon, async {
        // If the signal handler cannot be installed, serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await
    .context("serving HTTP")?;
    Ok(())
}

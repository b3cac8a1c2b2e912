//! `grail-validator run`: the live validator loop (see `grail_validator::live`). One JSON line
//! per window on stdout (`{"window", "verdicts", "weights"}`), a log line per window on stderr
//! (at `--log.level info`), `/weights`, `/status` and `/metrics` on `--http.listen`. Settings
//! (flags, variables, `--config FILE`) are resolved in `run_config`.

use std::time::Duration;

use anyhow::Context;
use grail_challenges::chain::LocalClockChain;
use grail_challenges::drand::ClientOptions;
use grail_challenges::store::WindowStore;
use grail_fingerprint::{Device, EngineOptions};
use grail_validator::http::{router, LiveStatus};
use grail_validator::live::{Validator, WindowLine};
use grail_validator::metagraph::Metagraph;
use grail_validator::pipeline::ModelVerifier;
use grail_validator::sink::FileSink;
use grail_validator::state::State;

pub(crate) use super::run_config::RunArgs;

pub(crate) fn parse_device(s: &str) -> anyhow::Result<Device> {
    s.parse().map_err(|e: String| anyhow::anyhow!("--device: {e}"))
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let s = args.settings()?;
    let device = parse_device(&s.device)?;
    let chain = LocalClockChain::new(s.chain_genesis, s.live.network.block_time_s)
        .context("--chain.block-time")?;
    // Checked once here so a bad file fails at start; the loop reads it again per window.
    let metagraph = Metagraph::load(&s.live.metagraph)
        .with_context(|| format!("--metagraph {}", s.live.metagraph.display()))?;
    let store = WindowStore::open(&s.storage).context("opening the storage")?;
    let opts =
        ClientOptions { request_timeout: Duration::from_secs(5), ..ClientOptions::default() };
    let drand =
        s.beacon_chain.connect(s.beacon_relays, opts).await.with_context(|| {
            format!("connecting to the {} drand beacon's relays", s.beacon_chain)
        })?;
    let options = EngineOptions { device, intra_threads: s.threads, ..EngineOptions::default() };
    let verifier = tokio::task::block_in_place(|| ModelVerifier::load(&s.model, &options))
        .with_context(|| format!("loading the model {}", s.model.display()))?;
    let data = &s.live.data_dir;
    let state =
        State::open(data).with_context(|| format!("opening the state in {}", data.display()))?;
    let live = LiveStatus::new(metagraph.netuid);
    if let Some(addr) = &s.http_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--http.listen {addr}"))?;
        let local = listener.local_addr().context("the HTTP listener's address")?;
        tracing::info!(url = %format!("http://{local}"), "serving /weights, /status, /metrics");
        let app = router(live.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
    }
    tracing::info!(
        model = %s.model.display(),
        store = store.description(),
        beacon = %drand.chain().label(),
        data = %data.display(),
        "validator ready"
    );
    let sink = FileSink::new(data, metagraph.netuid);
    let mut validator =
        Validator { config: s.live, verifier, drand, chain, store, state, sink, live };
    validator.run(print_line).await.context("validator loop")
}

fn print_line(line: &WindowLine) {
    match serde_json::to_string(line) {
        Ok(text) => println!("{text}"),
        Err(e) => tracing::error!(error = %e, "cannot print the window line"),
    }
}

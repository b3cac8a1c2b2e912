//! `--metrics.listen`: the miner's Prometheus metrics ([`grail_miner::metrics`] and the
//! process's own) at `http://ADDR/metrics`, served on the miner's runtime with the same
//! connection limits as the validator's endpoints.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use grail_chain::ChainSource;
use grail_cli::http::MetricsArgs;
use grail_cli::serve::serve;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::metrics::{describe, info, UPLOAD_BUCKETS, UPLOAD_SECONDS};
use crate::window_loop::Miner;

/// Installs the process's recorder and serves it, if `--metrics.listen` is given; the address
/// it listens on.
pub fn start<C: ChainSource>(
    args: &MetricsArgs,
    miner: &Miner<C>,
    device: &str,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(addr) = &args.listen else { return Ok(None) };
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(UPLOAD_SECONDS.into()), &UPLOAD_BUCKETS)
        .context("the upload histogram's buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let process = Arc::new(metrics_process::Collector::default());
    process.describe();
    describe();
    let model_id = cid::Cid::try_from(&miner.model_id[..])
        .map_or_else(|_| hex::encode(&miner.model_id), |c| c.to_string());
    info(&model_id, device, &miner.pair.hotkey().to_ss58());
    let listener = miner
        .runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .with_context(|| format!("--metrics.listen {addr}: cannot listen"))?;
    let local = listener.local_addr().with_context(|| format!("--metrics.listen {addr}"))?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let (handle, process) = (handle.clone(), process.clone());
            async move {
                process.collect();
                ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render())
            }
        }),
    );
    miner.runtime.spawn(serve(listener, app, MetricsArgs::limits()));
    tracing::info!(url = %format!("http://{local}/metrics"), "serving metrics");
    Ok(Some(local))
}

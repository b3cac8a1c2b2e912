//! drand's v1 HTTP API over a [`LocalBeacon`]: `/info`, `/public/latest`, `/public/{round}`,
//! the same under `/{chainhash}/...`, and `/chains`. A round that is not yet due is a 404, as on
//! drand relays; `/public/0` is the latest round, as in drand.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use grail_drand::unix_now;

use crate::LocalBeacon;

#[derive(Clone, Debug)]
struct ServerState {
    beacon: Arc<LocalBeacon>,
    clock: fn() -> u64,
}

/// The HTTP router, on the system clock.
pub fn router(beacon: LocalBeacon) -> Router {
    router_with_clock(beacon, unix_now)
}

/// The HTTP router, on a given clock (tests move time by hand).
pub fn router_with_clock(beacon: LocalBeacon, clock: fn() -> u64) -> Router {
    let state = ServerState { beacon: Arc::new(beacon), clock };
    Router::new()
        .route("/chains", get(chains))
        .route("/info", get(info))
        .route("/public/latest", get(latest))
        .route("/public/{round}", get(round))
        .route("/{chain}/info", get(chain_info))
        .route("/{chain}/public/latest", get(chain_latest))
        .route("/{chain}/public/{round}", get(chain_round))
        .with_state(state)
}

/// Serves the beacon on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    beacon: LocalBeacon,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(beacon)).with_graceful_shutdown(shutdown).await
}

async fn chains(State(s): State<ServerState>) -> Response {
    Json(vec![s.beacon.info().hash_hex()]).into_response()
}

async fn info(State(s): State<ServerState>) -> Response {
    Json(s.beacon.info().to_json()).into_response()
}

async fn latest(State(s): State<ServerState>) -> Response {
    serve_round(&s, 0)
}

async fn round(State(s): State<ServerState>, Path(round): Path<String>) -> Response {
    match round.parse::<u64>() {
        Ok(r) => serve_round(&s, r),
        Err(_) => bad_round(&round),
    }
}

async fn chain_info(State(s): State<ServerState>, Path(chain): Path<String>) -> Response {
    if !is_ours(&s, &chain) {
        return unknown_chain(&chain);
    }
    info(State(s)).await
}

async fn chain_latest(State(s): State<ServerState>, Path(chain): Path<String>) -> Response {
    if !is_ours(&s, &chain) {
        return unknown_chain(&chain);
    }
    serve_round(&s, 0)
}

async fn chain_round(
    State(s): State<ServerState>,
    Path((chain, round)): Path<(String, String)>,
) -> Response {
    if !is_ours(&s, &chain) {
        return unknown_chain(&chain);
    }
    match round.parse::<u64>() {
        Ok(r) => serve_round(&s, r),
        Err(_) => bad_round(&round),
    }
}

fn is_ours(s: &ServerState, chain: &str) -> bool {
    chain.eq_ignore_ascii_case(&s.beacon.info().hash_hex())
}

/// Round 0 means "latest", as in drand.
fn serve_round(s: &ServerState, round: u64) -> Response {
    let now = (s.clock)();
    let round = if round == 0 {
        match s.beacon.latest_round(now) {
            Some(r) => r,
            None => return (StatusCode::NOT_FOUND, "no round yet: before genesis").into_response(),
        }
    } else {
        round
    };
    match s.beacon.beacon_if_due(round, now) {
        Some(b) => Json(b).into_response(),
        None => {
            (StatusCode::NOT_FOUND, format!("round {round} is not available yet")).into_response()
        }
    }
}

fn bad_round(round: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("round {round:?} is not a number")).into_response()
}

fn unknown_chain(chain: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("unknown chain {chain:?}")).into_response()
}

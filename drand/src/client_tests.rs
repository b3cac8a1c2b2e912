//! The client against loopback relays that serve good, tampered and missing rounds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::*;
use crate::dev::dev_chain_key;
use crate::randomness_of;

const BEACONS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/drand/beacons.json"));

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Good,
    /// One bit of the signature flipped (randomness recomputed to match, so only BLS catches it).
    Tampered,
    /// Good signature, claimed randomness off by one bit.
    BadRandomness,
    /// 404 for every round.
    Missing,
    /// Serves the next round's beacon.
    WrongRound,
    /// Not JSON.
    Garbage,
    /// Answers after the client's timeout.
    Slow,
    /// Serves mainnet's info under any chain hash.
    WrongInfo,
}

#[derive(Debug)]
struct Relay {
    mode: Mode,
    hits: AtomicUsize,
    chain: String,
}

fn fixture(chain: &str) -> (serde_json::Value, HashMap<u64, serde_json::Value>) {
    let v: serde_json::Value = serde_json::from_str(BEACONS).unwrap();
    let rounds = v[chain]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["round"].as_u64().unwrap(), e.clone()))
        .collect();
    (v[chain]["info"].clone(), rounds)
}

async fn public(State(r): State<Arc<Relay>>, Path((_, round)): Path<(String, u64)>) -> Response {
    r.hits.fetch_add(1, Ordering::SeqCst);
    let (_, rounds) = fixture(&r.chain);
    let served_round = if r.mode == Mode::WrongRound { round + 1 } else { round };
    let Some(mut beacon) = rounds.get(&served_round).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match r.mode {
        Mode::Good | Mode::WrongRound => {}
        Mode::Missing => return StatusCode::NOT_FOUND.into_response(),
        Mode::Garbage => return "<html>oops</html>".into_response(),
        Mode::Slow | Mode::WrongInfo => {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        }
        Mode::Tampered => {
            let mut sig = hex::decode(beacon["signature"].as_str().unwrap()).unwrap();
            sig[10] ^= 0x01;
            beacon["signature"] = hex::encode(&sig).into();
            beacon["randomness"] = hex::encode(randomness_of(&sig)).into();
        }
        Mode::BadRandomness => {
            let mut rnd = hex::decode(beacon["randomness"].as_str().unwrap()).unwrap();
            rnd[0] ^= 0x80;
            beacon["randomness"] = hex::encode(rnd).into();
        }
    }
    Json(beacon).into_response()
}

async fn info(State(r): State<Arc<Relay>>) -> Response {
    let chain = if r.mode == Mode::WrongInfo { "mainnet" } else { r.chain.as_str() };
    Json(fixture(chain).0).into_response()
}

async fn serve_router(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

async fn relay(mode: Mode, chain: &str) -> (String, Arc<Relay>) {
    let state = Arc::new(Relay { mode, hits: AtomicUsize::new(0), chain: chain.to_owned() });
    let router = Router::new()
        .route("/info", get(info))
        .route("/{chain}/info", get(info))
        .route("/{chain}/public/{round}", get(public))
        .with_state(state.clone());
    (serve_router(router).await, state)
}

fn opts() -> ClientOptions {
    ClientOptions {
        request_timeout: std::time::Duration::from_millis(500),
        passes: 2,
        backoff_initial: std::time::Duration::from_millis(10),
        backoff_max: std::time::Duration::from_millis(20),
    }
}

fn quicknet_client(relays: Vec<String>) -> DrandClient {
    DrandClient::new(ChainInfo::quicknet(), relays, opts()).unwrap()
}

fn expected_randomness(chain: &str, round: u64) -> String {
    fixture(chain).1[&round]["randomness"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn good_relays_give_verified_beacons_of_both_chains() {
    let (url, _) = relay(Mode::Good, "quicknet").await;
    let b = quicknet_client(vec![url]).fetch_round(123).await.unwrap();
    assert_eq!(hex::encode(b.randomness()), expected_randomness("quicknet", 123));

    let (url, _) = relay(Mode::Good, "mainnet").await;
    let client = DrandClient::new(ChainInfo::mainnet(), vec![format!("{url}/")], opts()).unwrap();
    client.check_info().await.unwrap();
    let b = client.fetch_round(1337).await.unwrap();
    assert_eq!(hex::encode(b.randomness()), expected_randomness("mainnet", 1337));
}

#[tokio::test]
async fn a_good_second_relay_is_used_after_a_failing_first() {
    for bad in [
        Mode::Tampered,
        Mode::BadRandomness,
        Mode::Missing,
        Mode::WrongRound,
        Mode::Garbage,
        Mode::Slow,
    ] {
        let (bad_url, bad_state) = relay(bad, "quicknet").await;
        let (good_url, good_state) = relay(Mode::Good, "quicknet").await;
        let b = quicknet_client(vec![bad_url, good_url]).fetch_round(2).await.unwrap();
        assert_eq!(hex::encode(b.randomness()), expected_randomness("quicknet", 2), "{bad:?}");
        assert_eq!(bad_state.hits.load(Ordering::SeqCst), 1, "{bad:?}");
        assert_eq!(good_state.hits.load(Ordering::SeqCst), 1, "{bad:?}");
    }
}

#[tokio::test]
async fn bad_or_missing_beacons_are_never_returned() {
    for bad in [Mode::Tampered, Mode::BadRandomness, Mode::Missing, Mode::WrongRound, Mode::Garbage]
    {
        let (url, state) = relay(bad, "quicknet").await;
        let err = quicknet_client(vec![url]).fetch_round(2).await.unwrap_err();
        match err {
            DrandError::Unavailable { round: 2, attempts: 2, relays: 1, ref last } => {
                let expect = match bad {
                    Mode::Tampered => "`signature`",
                    Mode::BadRandomness => "`randomness`",
                    Mode::Missing => "404",
                    Mode::WrongRound => "returned round 3 when asked for round 2",
                    _ => "bad beacon JSON",
                };
                assert!(last.contains(expect), "{bad:?}: {last}");
            }
            other => panic!("{bad:?}: unexpected {other}"),
        }
        // Retried once after backoff: two passes over one relay.
        assert_eq!(state.hits.load(Ordering::SeqCst), 2, "{bad:?}");
    }
}

#[tokio::test]
async fn a_dead_relay_is_skipped() {
    // Bind then drop, so nothing listens on the port.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (good, _) = relay(Mode::Good, "quicknet").await;
    let b = quicknet_client(vec![dead.clone(), good]).fetch_round(1000).await.unwrap();
    assert_eq!(b.round(), 1000);
    let err = quicknet_client(vec![dead]).fetch_round(1000).await.unwrap_err();
    assert!(matches!(err, DrandError::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn served_info_is_checked_against_the_pinned_chain() {
    let (good, _) = relay(Mode::Good, "quicknet").await;
    quicknet_client(vec![good]).check_info().await.unwrap();
    let (wrong, _) = relay(Mode::WrongInfo, "quicknet").await;
    let err = quicknet_client(vec![wrong]).check_info().await.unwrap_err();
    assert!(err.to_string().contains("`public_key`"), "{err}");
}

#[tokio::test]
async fn a_relay_of_another_chain_is_not_taken_for_the_local_one() {
    let (quicknet, _) = relay(Mode::Good, "quicknet").await;
    let err = DrandClient::discover(dev_chain_key(), vec![quicknet], opts()).await.unwrap_err();
    assert!(err.to_string().contains("`public_key`"), "{err}");
}

#[tokio::test]
async fn argument_errors() {
    assert!(matches!(
        DrandClient::new(ChainInfo::quicknet(), vec![], opts()),
        Err(DrandError::NoRelays)
    ));
    let client = quicknet_client(vec!["http://127.0.0.1:9".into()]);
    assert!(matches!(client.fetch_round(0).await, Err(DrandError::RoundZero)));
}

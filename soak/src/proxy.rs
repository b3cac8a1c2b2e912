//! Fault-injecting proxies on loopback, each in front of one real service: an HTTP proxy for
//! the object store (fails or stalls a share of requests) and for the drand relay (lies with a
//! bad signature or a wrong round, or hangs, for a share of beacon requests), and a TCP proxy
//! for the chain endpoint (drops a share of connections at once or cuts them mid-stream).
//! Every decision comes from one seeded stream, and every fault injected is counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use tokio::net::{TcpListener, TcpStream};

/// Largest request or response body forwarded (a window file is far smaller).
const MAX_BODY: usize = 64 << 20;

/// A seeded stream of decisions shared by a proxy's connections.
#[derive(Clone)]
pub(crate) struct Dice(Arc<Mutex<ChaCha20Rng>>);

impl Dice {
    pub(crate) fn new(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(ChaCha20Rng::seed_from_u64(seed))))
    }

    /// A uniform draw in [0, 1).
    pub(crate) fn unit(&self) -> f64 {
        let mut rng = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform draw in `lo..=hi`.
    pub(crate) fn between(&self, lo: u64, hi: u64) -> u64 {
        let mut rng = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lo + rng.next_u64() % (hi - lo + 1)
    }
}

/// Shares of requests (or connections) that get each fault.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rates {
    /// Store: answered 503 without being forwarded.
    pub(crate) fail: f64,
    /// Store: held 1-4 s before being forwarded.
    pub(crate) stall: f64,
    /// Drand: a beacon answered with one signature byte changed.
    pub(crate) bad_signature: f64,
    /// Drand: a beacon answered as the next round.
    pub(crate) wrong_round: f64,
    /// Drand: held 20 s (past the client's timeout), then answered.
    pub(crate) hang: f64,
    /// Chain: closed as soon as accepted.
    pub(crate) drop: f64,
    /// Chain: forwarded, then closed after 1-5 s.
    pub(crate) cut: f64,
}

/// Faults injected, by kind.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) store_requests: AtomicU64,
    pub(crate) store_fail: AtomicU64,
    pub(crate) store_stall: AtomicU64,
    pub(crate) drand_requests: AtomicU64,
    pub(crate) drand_bad_signature: AtomicU64,
    pub(crate) drand_wrong_round: AtomicU64,
    pub(crate) drand_hang: AtomicU64,
    pub(crate) chain_connections: AtomicU64,
    pub(crate) chain_drop: AtomicU64,
    pub(crate) chain_cut: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What an HTTP proxy stands in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    Store,
    Drand,
}

#[derive(Clone)]
struct Http {
    kind: Upstream,
    upstream: String,
    client: reqwest::Client,
    rates: Rates,
    dice: Dice,
    counts: Arc<Counts>,
}

/// Starts an HTTP proxy to `upstream` (`http://host:port`) on a free loopback port; its URL.
pub(crate) async fn http(
    kind: Upstream,
    upstream: &str,
    rates: Rates,
    dice: Dice,
    counts: Arc<Counts>,
) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .context("HTTP client of the proxy")?;
    let state = Http {
        kind,
        upstream: upstream.trim_end_matches('/').to_owned(),
        client,
        rates,
        dice,
        counts,
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.context("bind the HTTP proxy")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("soak: HTTP proxy on {addr} stopped: {e}");
        }
    });
    Ok(format!("http://{addr}"))
}

/// Headers that belong to one connection, not to the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade" | "content-length"
    )
}

async fn forward(State(p): State<Http>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let draw = p.dice.unit();
    let r = p.rates;
    let mut lie = None;
    match p.kind {
        Upstream::Store => {
            bump(&p.counts.store_requests);
            if draw < r.fail {
                bump(&p.counts.store_fail);
                let xml =
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>ServiceUnavailable\
                           </Code><Message>injected by grail-soak</Message></Error>";
                return answer(StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), xml.into());
            }
            if draw < r.fail + r.stall {
                bump(&p.counts.store_stall);
                tokio::time::sleep(Duration::from_millis(p.dice.between(1_000, 4_000))).await;
            }
        }
        Upstream::Drand if path.contains("/public/") => {
            bump(&p.counts.drand_requests);
            if draw < r.bad_signature {
                lie = Some(Lie::Signature);
            } else if draw < r.bad_signature + r.wrong_round {
                lie = Some(Lie::Round);
            } else if draw < r.bad_signature + r.wrong_round + r.hang {
                bump(&p.counts.drand_hang);
                tokio::time::sleep(Duration::from_secs(20)).await;
            }
        }
        Upstream::Drand => {}
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return answer(StatusCode::PAYLOAD_TOO_LARGE, HeaderMap::new(), Bytes::new());
    };
    let url = format!("{}{path}", p.upstream);
    let mut out = p.client.request(parts.method.clone(), &url).body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    let got = match out.send().await {
        Ok(got) => got,
        Err(e) => {
            return answer(StatusCode::BAD_GATEWAY, HeaderMap::new(), e.to_string().into());
        }
    };
    let status = got.status();
    let mut headers = got.headers().clone();
    let Ok(mut bytes) = got.bytes().await else {
        return answer(StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new());
    };
    if let Some(lie) = lie.filter(|_| status.is_success()) {
        if let Some(lied) = lie.apply(&bytes) {
            bump(match lie {
                Lie::Signature => &p.counts.drand_bad_signature,
                Lie::Round => &p.counts.drand_wrong_round,
            });
            bytes = lied.into();
        }
    }
    let length = headers.get("content-length").cloned();
    let names: Vec<HeaderName> = headers.keys().filter(|n| hop_by_hop(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
    let head = parts.method == axum::http::Method::HEAD;
    let mut response = answer(status, headers, if head { Bytes::new() } else { bytes });
    if let Some(length) = length.filter(|_| head) {
        // A HEAD answer's length is the object's, not its empty body's.
        response.headers_mut().insert("content-length", length);
    }
    response
}

fn answer(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// How a drand beacon is falsified.
#[derive(Debug, Clone, Copy)]
enum Lie {
    /// One hex digit of the signature changed.
    Signature,
    /// The beacon presented as the next round.
    Round,
}

impl Lie {
    fn apply(self, body: &[u8]) -> Option<Vec<u8>> {
        let mut beacon: serde_json::Value = serde_json::from_slice(body).ok()?;
        match self {
            Lie::Signature => {
                let sig = beacon.get("signature")?.as_str()?;
                let mut chars: Vec<char> = sig.chars().collect();
                let last = chars.last_mut()?;
                *last = if *last == '0' { '1' } else { '0' };
                beacon["signature"] = chars.into_iter().collect::<String>().into();
            }
            Lie::Round => {
                let round = beacon.get("round")?.as_u64()?;
                beacon["round"] = (round + 1).into();
            }
        }
        serde_json::to_vec(&beacon).ok()
    }
}

/// Starts a TCP proxy to `upstream` (`host:port`) on a free loopback port; its address.
pub(crate) async fn tcp(
    upstream: SocketAddr,
    rates: Rates,
    dice: Dice,
    counts: Arc<Counts>,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("bind the TCP proxy")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { continue };
            bump(&counts.chain_connections);
            let draw = dice.unit();
            if draw < rates.drop {
                bump(&counts.chain_drop);
                drop(inbound);
                continue;
            }
            let cut = (draw < rates.drop + rates.cut)
                .then(|| Duration::from_millis(dice.between(1_000, 5_000)));
            let counts = counts.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else { return };
                let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                match cut {
                    None => {
                        let _ = copy.await;
                    }
                    Some(after) => {
                        if tokio::time::timeout(after, copy).await.is_err() {
                            bump(&counts.chain_cut);
                        }
                    }
                }
            });
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lie_changes_the_signature_or_the_round_and_nothing_else() {
        let beacon = br#"{"round":7,"randomness":"ab","signature":"c0"}"#;
        let sig: serde_json::Value =
            serde_json::from_slice(&Lie::Signature.apply(beacon).unwrap()).unwrap();
        assert_eq!(sig["signature"], "c1");
        assert_eq!(sig["round"], 7);
        let round: serde_json::Value =
            serde_json::from_slice(&Lie::Round.apply(beacon).unwrap()).unwrap();
        assert_eq!(round["round"], 8);
        assert_eq!(round["signature"], "c0");
        assert!(Lie::Round.apply(b"not json").is_none());
    }

    #[test]
    fn the_dice_are_seeded() {
        let (a, b) = (Dice::new(5), Dice::new(5));
        let draws: Vec<u64> = (0..8).map(|_| a.between(1, 6)).collect();
        assert_eq!(draws, (0..8).map(|_| b.between(1, 6)).collect::<Vec<_>>());
        assert!(draws.iter().all(|d| (1..=6).contains(d)));
        assert!((0..1000).map(|_| a.unit()).all(|u| (0.0..1.0).contains(&u)));
    }
}

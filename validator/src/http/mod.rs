//! The validator's HTTP endpoints (axum), served from a snapshot the validator loop updates:
//!
//! - `GET /`: the status page ([`page`]), a self-contained HTML document over the endpoints;
//! - `GET /weights`: the latest weights in the chain's format ([`ChainWeights`]), 404 before any;
//! - `GET /weights/recent`: those of the latest windows, oldest first (at most 32);
//! - `GET /status`: the current window and, per miner, the latest window's verdict and the
//!   latest weights' score ([`StatusReport`]);
//! - `GET /metrics`: Prometheus text ([`Metrics`]);
//! - `GET /health`: 200 once the model, beacon and chain are up and while no source fails,
//!   503 otherwise, saying which ([`health`]);
//! - `GET /verdicts/{hotkey}?since=W&limit=N`: that miner's verdicts from window `W` on, read
//!   from the state database ([`verdicts`]).
//!
//! Handlers only clone out of the snapshot (or read the database on a blocking thread); the
//! loop never waits on a slow client.

mod health;
mod page;
mod rollouts;
mod verdicts;

pub use health::HealthReport;
pub use rollouts::RolloutsPage;
pub use verdicts::{VerdictAt, VerdictsReport};

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::extract::State as Extract;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use grail_weights::{MinerScore, Weights};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::{Metrics, CONTENT_TYPE};
use crate::sink::ChainWeights;
use crate::state::{State, Submission, Verdict, WindowOutcome};

/// A cheap, cloneable handle on what the endpoints serve; the validator loop writes it.
#[derive(Debug, Clone, Default)]
pub struct LiveStatus {
    inner: Arc<RwLock<Live>>,
}

#[derive(Debug, Default)]
struct Live {
    netuid: Option<u16>,
    current_window: Option<u64>,
    latest_window: Option<u64>,
    verdicts: Vec<Verdict>,
    weights: Option<(ChainWeights, Weights)>,
    metrics: Metrics,
    ignored: Vec<IgnoredRead>,
    submission: Option<Submission>,
    /// Set once the model is loaded and the beacon and chain answered.
    ready: bool,
    /// Sources whose last operation failed (`beacon`, `store`, `chain`, `disk`), with when
    /// (unix seconds); cleared when they work again.
    failing: BTreeMap<&'static str, u64>,
    /// The data folder whose state database `/verdicts` reads.
    data_dir: Option<PathBuf>,
    /// The weights of the latest windows, oldest first (at most [`RECENT_KEPT`]).
    recent: VecDeque<ChainWeights>,
    /// The window being verified now and how far.
    checking: Option<Checking>,
}

/// How far the validator is in verifying a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checking {
    pub window: u64,
    /// Selected miners whose checks are done.
    pub checked: usize,
    /// Miners selected for checking.
    pub selected: usize,
}

/// Windows of weights kept for `GET /weights/recent` and the status page's chart.
pub const RECENT_KEPT: usize = 32;

/// Most recent ignored reads kept for `GET /status`.
const IGNORED_KEPT: usize = 64;

/// A read of a registered miner's key that was not taken as its file (garbage, another
/// window's file, a link, an unreadable object, a read after the cutoff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredRead {
    pub window: u64,
    /// SS58 address of the miner whose key it was.
    pub hotkey: String,
    /// `not_attributable`, `unreadable`, `after_cutoff` or `read_budget`.
    pub reason: String,
    /// The specific cause.
    pub detail: String,
}

/// The body of `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The chain's current window, as the validator last saw it.
    pub current_window: Option<u64>,
    /// The latest window whose verdicts are committed.
    pub latest_window: Option<u64>,
    /// The window the latest weights were computed at.
    pub weights_window: Option<u64>,
    /// The burn uid's share in the latest weights.
    pub burn_share: Option<f64>,
    /// One row per miner with a verdict or a score, ascending by uid then hotkey.
    pub miners: Vec<MinerStatus>,
    /// The latest reads not taken as a miner's file, oldest first (at most 64).
    #[serde(default)]
    pub ignored_reads: Vec<IgnoredRead>,
    /// The latest attempt at putting weights on chain (absent off chain).
    #[serde(default)]
    pub chain_submission: Option<Submission>,
    /// The window being verified now, if one is, and how far.
    #[serde(default)]
    pub checking: Option<Checking>,
}

/// One miner's row in [`StatusReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinerStatus {
    pub uid: u16,
    /// SS58 address.
    pub hotkey: String,
    /// Its verdict in `latest_window`, if it had one.
    pub verdict: Option<Verdict>,
    /// Its score and share in the latest weights, if it was scored.
    pub score: Option<MinerScore>,
}

impl LiveStatus {
    /// An empty snapshot; `netuid` tags the `/weights` body.
    pub fn new(netuid: Option<u16>) -> LiveStatus {
        let live = Live { netuid, ..Live::default() };
        LiveStatus { inner: Arc::new(RwLock::new(live)) }
    }

    /// `/verdicts` reads the state database in `data_dir`.
    pub fn with_history(self, data_dir: PathBuf) -> LiveStatus {
        self.write().data_dir = Some(data_dir);
        self
    }

    /// The model is loaded and the beacon and chain answered: `/health` may say ready.
    pub fn set_ready(&self) {
        self.write().ready = true;
    }

    /// Records a read not taken as a miner's file, in the metrics and the status.
    pub fn read_ignored(&self, read: IgnoredRead, reason: &'static str) {
        let mut live = self.write();
        live.metrics.observe_ignored(reason);
        if live.ignored.len() == IGNORED_KEPT {
            live.ignored.remove(0);
        }
        live.ignored.push(read);
    }

    /// Refills the snapshot after a restart: the last processed window's verdicts and the
    /// latest weights (metrics counters start from zero).
    pub fn restore(&self, state: &State) -> Result<()> {
        let latest = state.last_processed()?;
        let verdicts = match latest {
            Some(w) => state.verdicts(w)?,
            None => Vec::new(),
        };
        let recent = state.recent_weights(RECENT_KEPT as u32)?;
        let submission = state.latest_submission()?;
        let mut live = self.write();
        live.submission = submission;
        live.latest_window = latest;
        live.verdicts = verdicts;
        let netuid = live.netuid;
        live.recent =
            recent.iter().map(|(w, weights)| ChainWeights::new(*w, netuid, weights)).collect();
        if let Some((window, weights)) = recent.into_iter().next_back() {
            live.weights = Some((ChainWeights::new(window, netuid, &weights), weights));
        }
        Ok(())
    }

    /// Records the chain's current window.
    pub fn set_current_window(&self, window: u64) {
        let mut live = self.write();
        live.current_window = Some(window);
        live.failing.remove("chain");
        live.metrics.observe_chain_window(window);
    }

    /// Counts what a verified window's checks did: completion positions checked and each
    /// stage's seconds per miner.
    pub fn checks_done(&self, tokens: u64, stage_seconds: &[(&'static str, f64)]) {
        let mut live = self.write();
        live.metrics.observe_tokens(tokens);
        for (stage, seconds) in stage_seconds {
            live.metrics.observe_stage(stage, *seconds);
        }
    }

    /// Publishes the pace the next window is sized by.
    pub fn pace(&self, miners: u32, per_miner_s: Option<f64>) {
        self.write().metrics.observe_pace(miners, per_miner_s);
    }

    /// Counts an error the validator retries, by source (`beacon`, `store`, `chain`, `disk`).
    pub fn error_retried(&self, source: &'static str) {
        let mut live = self.write();
        live.metrics.observe_error(source);
        live.failing.insert(source, unix_now());
        live.checking = None;
    }

    /// Publishes a committed window's verdicts and counts it in the metrics.
    pub fn window_processed(&self, outcome: &WindowOutcome, verification_seconds: f64) {
        let mut live = self.write();
        // A committed window read its beacons, the chain, the store and wrote the disk.
        live.failing.clear();
        live.checking = None;
        live.metrics.observe_window(outcome, verification_seconds);
        if live.latest_window.is_none_or(|w| w <= outcome.window) {
            live.latest_window = Some(outcome.window);
            live.verdicts = outcome.verdicts.clone();
        }
    }

    /// Publishes the weights emitted at `window`.
    pub fn weights_emitted(&self, window: u64, weights: &Weights) {
        let mut live = self.write();
        live.metrics.observe_weights(weights);
        let chain = ChainWeights::new(window, live.netuid, weights);
        live.recent.retain(|w| w.window != window);
        live.recent.push_back(chain.clone());
        while live.recent.len() > RECENT_KEPT {
            live.recent.pop_front();
        }
        live.weights = Some((chain, weights.clone()));
    }

    /// `checked` of the `selected` miners of `window` are checked so far.
    pub fn checking(&self, window: u64, checked: usize, selected: usize) {
        self.write().checking = Some(Checking { window, checked, selected });
    }

    /// The weights of the latest windows, oldest first.
    pub fn recent_weights(&self) -> Vec<ChainWeights> {
        self.read().recent.iter().cloned().collect()
    }

    /// Publishes an attempt at putting weights on chain; a settled one is counted in the
    /// metrics by its outcome.
    pub fn weights_submission(&self, submission: &Submission) {
        let mut live = self.write();
        live.metrics.observe_submission(submission.status);
        live.submission = Some(submission.clone());
    }

    /// The latest weights in the chain's format, if any were emitted.
    pub fn chain_weights(&self) -> Option<ChainWeights> {
        self.read().weights.as_ref().map(|(chain, _)| chain.clone())
    }

    /// The `/status` report.
    pub fn report(&self) -> StatusReport {
        let live = self.read();
        let scores = live.weights.as_ref().map_or(&[][..], |(_, w)| &w.miners[..]);
        let mut miners: Vec<MinerStatus> = live
            .verdicts
            .iter()
            .map(|v| MinerStatus {
                uid: v.uid,
                hotkey: v.hotkey.to_ss58(),
                verdict: Some(v.clone()),
                score: None,
            })
            .collect();
        for s in scores {
            match miners.iter_mut().find(|m| m.hotkey == s.hotkey) {
                Some(m) => m.score = Some(s.clone()),
                None => miners.push(MinerStatus {
                    uid: s.uid,
                    hotkey: s.hotkey.clone(),
                    verdict: None,
                    score: Some(s.clone()),
                }),
            }
        }
        miners.sort_by(|a, b| (a.uid, &a.hotkey).cmp(&(b.uid, &b.hotkey)));
        StatusReport {
            current_window: live.current_window,
            latest_window: live.latest_window,
            weights_window: live.weights.as_ref().map(|(c, _)| c.window),
            burn_share: live.weights.as_ref().map(|(_, w)| w.burn_share),
            miners,
            ignored_reads: live.ignored.clone(),
            chain_submission: live.submission.clone(),
            checking: live.checking,
        }
    }

    /// The Prometheus text of the metrics.
    pub fn metrics_text(&self) -> String {
        self.read().metrics.render()
    }

    // A panic while holding the lock leaves whole values behind (every write replaces
    // fields), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, Live> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Live> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The router serving every endpoint from `live`.
pub fn router(live: LiveStatus) -> Router {
    Router::new()
        .route("/", get(page::page))
        .route("/weights", get(weights))
        .route("/weights/recent", get(recent_weights))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/health", get(health::health))
        .route("/verdicts/{hotkey}", get(verdicts::verdicts))
        .route("/rollouts", get(rollouts::rollouts))
        .with_state(live)
}

/// The router of `--metrics.listen`: `/metrics` alone.
pub fn metrics_router(live: LiveStatus) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(live)
}

async fn weights(Extract(live): Extract<LiveStatus>) -> Response {
    match live.chain_weights() {
        Some(w) => Json(w).into_response(),
        None => (StatusCode::NOT_FOUND, "no weights emitted yet\n").into_response(),
    }
}

async fn recent_weights(Extract(live): Extract<LiveStatus>) -> Json<Vec<ChainWeights>> {
    Json(live.recent_weights())
}

async fn status(Extract(live): Extract<LiveStatus>) -> Json<StatusReport> {
    Json(live.report())
}

async fn metrics(Extract(live): Extract<LiveStatus>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], live.metrics_text()).into_response()
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Stage, VerdictResult};
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use grail_protocol::keys::Hotkey;
    use grail_weights::{compute_weights, MinerRecord, WeightsConfig, WindowRecord};
    use tower::ServiceExt;

    pub(super) async fn get(live: &LiveStatus, path: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router(live.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().expect("ascii").to_string());
        let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, content_type, String::from_utf8(body.to_vec()).expect("utf-8"))
    }

    pub(super) fn verdict(key: u8, uid: u16, stage: Stage, result: VerdictResult) -> Verdict {
        Verdict {
            hotkey: Hotkey([key; 32]),
            uid,
            stage,
            result,
            reason: (result == VerdictResult::Fail).then(|| "token 17 not sampled".into()),
            rollouts_in_file: 32,
            rollouts_checked: 8,
            unique_verified: 8,
            unique_estimated: 32,
        }
    }

    pub(super) fn outcome(window: u64) -> WindowOutcome {
        WindowOutcome {
            window,
            beacon_round: 100,
            randomness: [1; 32],
            processed_at_unix: 1_700_000_000,
            files: 2,
            verdicts: vec![
                verdict(2, 2, Stage::Duplicates, VerdictResult::Pass),
                verdict(1, 1, Stage::Sampling, VerdictResult::Fail),
            ],
            exclusions: vec![],
        }
    }

    fn weights(window: u64) -> Weights {
        let rec = |uid: u16, key: u8, unique| MinerRecord {
            uid,
            hotkey: Hotkey([key; 32]).to_ss58(),
            windows: vec![WindowRecord { window, unique, hard_failure: false, checked: true }],
        };
        // uid 3 is scored but had no verdict in the latest window.
        compute_weights(&WeightsConfig::default(), window, &[rec(2, 2, 32), rec(3, 3, 16)])
            .expect("valid")
    }

    #[tokio::test]
    async fn weights_is_404_before_any_then_chain_format() {
        let live = LiveStatus::new(Some(81));
        let (code, _, _) = get(&live, "/weights").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        let w = weights(4);
        live.weights_emitted(4, &w);
        let (code, ctype, body) = get(&live, "/weights").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(ctype.as_deref(), Some("application/json"));
        let got: ChainWeights = serde_json::from_str(&body).expect("chain json");
        assert_eq!(got, ChainWeights::new(4, Some(81), &w));
        assert_eq!(got.weights.iter().max(), Some(&65535));
    }

    #[tokio::test]
    async fn status_joins_verdicts_and_scores() {
        let live = LiveStatus::new(None);
        let (_, _, body) = get(&live, "/status").await;
        let empty: StatusReport = serde_json::from_str(&body).expect("json");
        assert_eq!(
            (empty.current_window, empty.latest_window, empty.miners.len()),
            (None, None, 0)
        );

        live.set_current_window(5);
        live.checking(4, 1, 2);
        let checking = Checking { window: 4, checked: 1, selected: 2 };
        assert_eq!(live.report().checking, Some(checking), "progress while verifying");
        live.window_processed(&outcome(4), 1.5);
        assert_eq!(live.report().checking, None, "none once committed");
        live.weights_emitted(4, &weights(4));
        let (code, _, body) = get(&live, "/status").await;
        assert_eq!(code, StatusCode::OK);
        let r: StatusReport = serde_json::from_str(&body).expect("json");
        assert_eq!(
            (r.current_window, r.latest_window, r.weights_window),
            (Some(5), Some(4), Some(4))
        );
        let uids: Vec<u16> = r.miners.iter().map(|m| m.uid).collect();
        assert_eq!(uids, [1, 2, 3]);
        let failed = &r.miners[0];
        assert_eq!(failed.verdict.as_ref().map(|v| v.stage), Some(Stage::Sampling));
        assert!(failed.score.is_none(), "uid 1 was not in the weights input");
        let passed = &r.miners[1];
        assert_eq!(passed.verdict.as_ref().map(|v| v.result), Some(VerdictResult::Pass));
        assert!(passed.score.as_ref().is_some_and(|s| s.share > 0.0));
        assert!(r.miners[2].verdict.is_none() && r.miners[2].score.is_some());
        // An older window arriving late does not replace the latest verdicts.
        live.window_processed(&outcome(3), 1.0);
        assert_eq!(live.report().latest_window, Some(4));
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let live = LiveStatus::new(None);
        live.window_processed(&outcome(4), 2.0);
        let (code, ctype, body) = get(&live, "/metrics").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(ctype.as_deref(), Some(CONTENT_TYPE));
        assert!(body.contains("\ngrail_validator_windows_processed_total 1\n"), "{body}");
        assert!(body.contains("grail_validator_rollouts_checked_total 16\n"), "{body}");
        assert!(
            body.contains("grail_validator_verdicts_total{stage=\"sampling\",result=\"fail\"} 1\n")
        );
        let (code, _, _) = get(&live, "/nope").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn restore_reloads_latest_window_and_weights() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = State::open(dir.path()).expect("open");
        state.record_window(&outcome(3)).expect("record 3");
        let mut later = outcome(4);
        later.verdicts.truncate(1);
        state.record_window(&later).expect("record 4");
        state.record_weights(3, &weights(3)).expect("weights");
        state.record_weights(4, &weights(4)).expect("weights");
        drop(state);

        let state = State::open(dir.path()).expect("reopen");
        let live = LiveStatus::new(Some(1));
        live.restore(&state).expect("restore");
        let r = live.report();
        assert_eq!((r.latest_window, r.weights_window), (Some(4), Some(4)));
        assert_eq!(r.miners.iter().filter(|m| m.verdict.is_some()).count(), 1);
        assert_eq!(live.chain_weights(), Some(ChainWeights::new(4, Some(1), &weights(4))));
        // The recent windows too, oldest first; new ones are appended, the oldest dropped.
        let windows = |live: &LiveStatus| -> Vec<u64> {
            live.recent_weights().iter().map(|w| w.window).collect()
        };
        assert_eq!(windows(&live), [3, 4]);
        for w in 5..40 {
            live.weights_emitted(w, &weights(4));
        }
        let kept = windows(&live);
        assert_eq!((kept.len(), kept[0], kept[RECENT_KEPT - 1]), (RECENT_KEPT, 8, 39));
        let (code, _, body) = get(&live, "/weights/recent").await;
        assert_eq!(code, StatusCode::OK);
        let served: Vec<ChainWeights> = serde_json::from_str(&body).expect("json");
        assert_eq!(served, live.recent_weights());
    }

    #[tokio::test]
    async fn serves_on_a_loopback_listener() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let live = LiveStatus::new(None);
        live.set_current_window(9);
        let server = tokio::spawn(async move { axum::serve(listener, router(live)).await });
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        server.abort();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("\"current_window\":9"), "{response}");
    }
}

//! `GET /health`: whether the validator can do its work now. Ready once the model is loaded
//! and the beacon and chain answered at start; then not ready while a source's last operation
//! failed (a retried beacon, store, chain or disk error), until it works again.

use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::LiveStatus;

/// The body of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// `ready`, `starting` or `failing`.
    pub status: String,
    /// The model is loaded and the beacon and chain answered at start.
    pub started: bool,
    /// Sources whose last operation failed, with the unix second of the failure.
    pub failing: Vec<(String, u64)>,
    /// The chain's current window, as last read.
    pub current_window: Option<u64>,
    /// The latest committed window.
    pub latest_window: Option<u64>,
}

impl LiveStatus {
    /// The `/health` report.
    pub fn health(&self) -> HealthReport {
        let live = self.read();
        let failing: Vec<(String, u64)> =
            live.failing.iter().map(|(s, at)| ((*s).to_owned(), *at)).collect();
        let status = match (live.ready, failing.is_empty()) {
            (false, _) => "starting",
            (true, true) => "ready",
            (true, false) => "failing",
        };
        HealthReport {
            status: status.into(),
            started: live.ready,
            failing,
            current_window: live.current_window,
            latest_window: live.latest_window,
        }
    }
}

pub(super) async fn health(Extract(live): Extract<LiveStatus>) -> Response {
    let report = live.health();
    let code =
        if report.status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(report)).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{get, outcome};
    use super::*;

    #[tokio::test]
    async fn starting_then_ready_then_failing_until_a_window_commits() {
        let live = LiveStatus::new(Some(1));
        let (code, _, body) = get(&live, "/health").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("\"status\":\"starting\""), "{body}");
        live.set_ready();
        let (code, _, body) = get(&live, "/health").await;
        assert_eq!(code, StatusCode::OK, "{body}");
        live.error_retried("beacon");
        live.error_retried("chain");
        let (code, _, body) = get(&live, "/health").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let report: HealthReport = serde_json::from_str(&body).expect("json");
        let sources: Vec<&str> = report.failing.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!((report.status.as_str(), sources), ("failing", vec!["beacon", "chain"]));
        // The chain answering clears the chain only; a committed window clears the rest.
        live.set_current_window(9);
        assert_eq!(live.health().failing.len(), 1);
        live.window_processed(&outcome(8), 1.0);
        let (code, _, body) = get(&live, "/health").await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let report: HealthReport = serde_json::from_str(&body).expect("json");
        assert_eq!((report.current_window, report.latest_window), (Some(9), Some(8)));
    }
}

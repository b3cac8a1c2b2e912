//! `GET /verdicts/{hotkey}?since=W&limit=N`: every verdict of one miner from window `W` (0 if
//! not given) on, oldest first, at most `N` (1000 if not given, at most 10000), with stage and
//! reason, read from the state database (a read-only connection) on a blocking thread.

use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grail_protocol::keys::Hotkey;
use serde::{Deserialize, Serialize};

use super::LiveStatus;
use crate::state::{State, Verdict};

/// Rows answered when `limit` is not given.
const DEFAULT_LIMIT: u32 = 1000;
/// The largest `limit`.
const MAX_LIMIT: u32 = 10_000;

/// The query of `/verdicts/{hotkey}`.
#[derive(Debug, Deserialize)]
pub(super) struct VerdictsQuery {
    since: Option<u64>,
    limit: Option<u32>,
}

/// One verdict and its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictAt {
    pub window: u64,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The body of `GET /verdicts/{hotkey}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictsReport {
    /// SS58 address.
    pub hotkey: String,
    pub since: u64,
    /// Oldest first.
    pub verdicts: Vec<VerdictAt>,
    /// Whether `limit` cut the list (ask again with `since` after the last window).
    pub truncated: bool,
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

pub(super) async fn verdicts(
    Extract(live): Extract<LiveStatus>,
    Path(hotkey): Path<String>,
    Query(q): Query<VerdictsQuery>,
) -> Response {
    let Ok(key) = Hotkey::from_ss58(&hotkey) else {
        return bad(&format!("hotkey: {hotkey:?} is not an SS58 address"));
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return bad(&format!("limit: {limit} is not in 1..={MAX_LIMIT}"));
    }
    let since = q.since.unwrap_or(0);
    let Some(dir) = live.read().data_dir.clone() else {
        return (StatusCode::NOT_FOUND, "no state database here\n").into_response();
    };
    let read = tokio::task::spawn_blocking(move || {
        State::open_read_only(&dir)?.verdicts_of(&key, since, limit.saturating_add(1))
    })
    .await;
    match read {
        Ok(Ok(mut rows)) => {
            let truncated = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let verdicts =
                rows.into_iter().map(|(window, verdict)| VerdictAt { window, verdict }).collect();
            Json(VerdictsReport { hotkey, since, verdicts, truncated }).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "/verdicts: the state database is unreadable");
            (StatusCode::SERVICE_UNAVAILABLE, format!("the state database is unreadable: {e}\n"))
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{get, outcome};
    use super::*;
    use crate::state::VerdictResult;

    #[tokio::test]
    async fn a_miners_verdicts_come_from_the_state_with_stage_and_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut state = State::open(dir.path()).expect("state");
            for w in 4..=6 {
                state.record_window(&outcome(w)).expect("record");
            }
        }
        let live = LiveStatus::new(Some(1)).with_history(dir.path().to_owned());
        let failing = Hotkey([1; 32]).to_ss58();
        let (code, _, body) = get(&live, &format!("/verdicts/{failing}?since=5")).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let report: VerdictsReport = serde_json::from_str(&body).expect("json");
        let windows: Vec<u64> = report.verdicts.iter().map(|v| v.window).collect();
        assert_eq!((windows, report.truncated), (vec![5, 6], false));
        let v = &report.verdicts[0].verdict;
        assert_eq!((v.result, v.stage.as_str()), (VerdictResult::Fail, "sampling"));
        assert_eq!(v.reason.as_deref(), Some("token 17 not sampled"));
        assert!(body.contains("\"window\":5,\"hotkey\""), "window beside the verdict: {body}");

        let (_, _, body) = get(&live, &format!("/verdicts/{failing}?limit=2")).await;
        let report: VerdictsReport = serde_json::from_str(&body).expect("json");
        assert_eq!((report.verdicts.len(), report.truncated), (2, true));

        for (path, needle) in [
            ("/verdicts/5Fnot-an-address".to_owned(), "hotkey: \"5Fnot-an-address\""),
            (format!("/verdicts/{failing}?limit=0"), "limit: 0 is not in 1..=10000"),
            (format!("/verdicts/{failing}?since=x"), "since"),
        ] {
            let (code, _, body) = get(&live, &path).await;
            assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(body.contains(needle), "{path}: {body}");
        }
        let (code, _, _) = get(&LiveStatus::new(Some(1)), &format!("/verdicts/{failing}")).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "no database, no history");
    }
}

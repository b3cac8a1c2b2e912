//! `GET /rollouts?since=W&until=W&limit=N&cursor=C`: the verified rollouts of the kept window
//! files (the rows `grail-validator export` writes, `docs/export/rollout.schema.json`), by
//! window, uid and file order, at most `N` per page (1000 if not given, at most 10000). A page
//! that stops early names the `next` cursor (`WINDOW/UID/ROW`) to ask with; `until` defaults
//! to `since`.

use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grail_protocol::codec::Limits;
use serde::{Deserialize, Serialize};

use super::LiveStatus;
use crate::archive::Archive;
use crate::export::{read_rows, RolloutRow};
use crate::state::State;

/// Rows answered when `limit` is not given.
const DEFAULT_LIMIT: usize = 1000;
/// The largest `limit`.
const MAX_LIMIT: usize = 10_000;
/// The most windows one request may span.
const MAX_WINDOWS: u64 = 10_000;

/// The query of `/rollouts`.
#[derive(Debug, Deserialize)]
pub(super) struct RolloutsQuery {
    since: Option<u64>,
    until: Option<u64>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The body of `GET /rollouts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutsPage {
    pub since: u64,
    pub until: u64,
    pub rows: Vec<RolloutRow>,
    /// Where the next page starts (`cursor=`), or null after the last row.
    pub next: Option<String>,
}

/// A position: the row `index` of uid `uid`'s kept file of `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    window: u64,
    uid: u16,
    index: usize,
}

impl Cursor {
    fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.split('/');
        let window = parts.next()?.parse().ok()?;
        let uid = parts.next()?.parse().ok()?;
        let index = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Cursor { window, uid, index })
    }

    fn text(&self) -> String {
        format!("{}/{}/{}", self.window, self.uid, self.index)
    }
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

pub(super) async fn rollouts(
    Extract(live): Extract<LiveStatus>,
    Query(q): Query<RolloutsQuery>,
) -> Response {
    let Some(since) = q.since else { return bad("since: required (a window number)") };
    let until = q.until.unwrap_or(since);
    if until < since || until - since >= MAX_WINDOWS {
        return bad(&format!(
            "until: {until} is not in {since}..{}",
            since.saturating_add(MAX_WINDOWS)
        ));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return bad(&format!("limit: {limit} is not in 1..={MAX_LIMIT}"));
    }
    let cursor = match q.cursor.as_deref().map(|c| (c, Cursor::parse(c))) {
        None => None,
        Some((_, Some(c))) if (since..=until).contains(&c.window) => Some(c),
        Some((text, _)) => {
            return bad(&format!("cursor: {text:?} is not a cursor of windows {since}..={until}"))
        }
    };
    let Some(dir) = live.read().data_dir.clone() else {
        return (StatusCode::NOT_FOUND, "no state database here\n").into_response();
    };
    let read =
        tokio::task::spawn_blocking(move || page(&dir, since, until, limit, cursor.as_ref())).await;
    match read {
        Ok(Ok(page)) => Json(page).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "/rollouts: the kept files are unreadable");
            (StatusCode::SERVICE_UNAVAILABLE, format!("the kept files are unreadable: {e}\n"))
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

fn page(
    dir: &std::path::Path,
    since: u64,
    until: u64,
    limit: usize,
    cursor: Option<&Cursor>,
) -> crate::Result<RolloutsPage> {
    let kept = State::open_read_only(dir)?.kept_files(since, until)?;
    let archive = Archive::new(dir);
    let limits = Limits::default();
    // Kept files come ordered by window then uid.
    let start = cursor
        .as_ref()
        .map_or(0, |c| kept.partition_point(|k| (k.window, k.uid) < (c.window, c.uid)));
    let mut rows = Vec::new();
    for k in &kept[start..] {
        let skip = cursor.filter(|c| (c.window, c.uid) == (k.window, k.uid)).map_or(0, |c| c.index);
        let file_rows = read_rows(&archive, k, &limits)?;
        for (index, row) in file_rows.into_iter().enumerate().skip(skip) {
            if rows.len() == limit {
                let next = Cursor { window: k.window, uid: k.uid, index };
                return Ok(RolloutsPage { since, until, rows, next: Some(next.text()) });
            }
            rows.push(row);
        }
    }
    Ok(RolloutsPage { since, until, rows, next: None })
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::super::tests::get;
    use super::*;
    use crate::export::rows_of_file;
    use crate::export::tests::data_folder;

    #[tokio::test]
    async fn pages_of_rollouts_follow_their_cursor_to_every_row_once() {
        let (dir, files) = data_folder();
        let want: Vec<RolloutRow> = files.iter().flat_map(|(k, f)| rows_of_file(k, f)).collect();
        let live = LiveStatus::new(Some(1)).with_history(dir.path().to_owned());
        let mut rows = Vec::new();
        let mut path = "/rollouts?since=0&until=9&limit=2".to_owned();
        let mut pages = 0;
        loop {
            let (code, _, body) = get(&live, &path).await;
            assert_eq!(code, StatusCode::OK, "{path}: {body}");
            let page: RolloutsPage = serde_json::from_str(&body).expect("json");
            assert!(page.rows.len() <= 2);
            rows.extend(page.rows);
            pages += 1;
            match page.next {
                Some(next) => path = format!("/rollouts?since=0&until=9&limit=2&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(rows, want, "every row once, in order");
        assert_eq!(pages, want.len().div_ceil(2));
        let (_, _, body) = get(&live, "/rollouts?since=4").await;
        let page: RolloutsPage = serde_json::from_str(&body).expect("json");
        assert_eq!((page.until, page.rows), (4, rows_of_file(&files[1].0, &files[1].1)));

        for (path, needle) in [
            ("/rollouts", "since: required"),
            ("/rollouts?since=5&until=4", "until: 4 is not in 5.."),
            ("/rollouts?since=1&limit=0", "limit: 0 is not in 1..=10000"),
            ("/rollouts?since=1&cursor=x/y", "cursor: \"x/y\" is not a cursor"),
            ("/rollouts?since=1&until=2&cursor=3/1/0", "cursor: \"3/1/0\""),
        ] {
            let (code, _, body) = get(&live, path).await;
            assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(body.contains(needle), "{path}: {body}");
        }
        let (code, _, _) = get(&LiveStatus::new(Some(1)), "/rollouts?since=1").await;
        assert_eq!(code, StatusCode::NOT_FOUND, "no database, no rollouts");
    }
}

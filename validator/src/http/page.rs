//! `GET /`: the status page, one HTML document embedded in the binary (no build step, no
//! external network: its script and styles are inline and it fetches only this server's
//! `/status`, `/weights/recent` and `/health`). It shows the current and latest windows, how
//! far the validator is behind, a table of miners (uid, hotkey, verdict, stage, reason, unique
//! rollouts, share, weight) and each uid's u16 weight over the recent windows as an SVG chart,
//! refreshed every 5 s. Miners' text is set as text, never as markup.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page.
const PAGE: &str = include_str!("status_page.html");

/// Only this server: inline script and styles, requests to the same origin.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                      connect-src 'self'; img-src 'self'";

pub(super) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
        ],
        PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::super::tests::get;
    use super::super::LiveStatus;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn the_page_is_html_that_reads_only_this_servers_endpoints() {
        let (code, content_type, body) = get(&LiveStatus::new(Some(1)), "/").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
        for path in ["\"/status\"", "\"/weights/recent\"", "\"/health\""] {
            assert!(body.contains(path), "fetches {path}");
        }
        assert!(!body.contains("src="), "no script, image or frame is fetched from anywhere");
        for href in body.split("href=\"").skip(1) {
            assert!(href.starts_with('/'), "links stay on this server: {}", &href[..20]);
        }
        assert!(!body.contains("innerHTML"), "miners' text is never markup");
    }
}

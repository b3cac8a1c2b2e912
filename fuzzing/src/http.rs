//! The validator's HTTP endpoints: any path and query, answered from a state database that
//! holds a window and one kept file.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, Uri};
use axum::Router;
use grail_protocol::codec::{decode, Limits};
use grail_protocol::keys::Hotkey;
use grail_validator::archive::Archive;
use grail_validator::http::{router, LiveStatus};
use grail_validator::state::{KeptFile, Stage, State, Verdict, VerdictResult, WindowOutcome};
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

struct Server {
    runtime: Runtime,
    router: Router,
    _data_dir: TempDir,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let outcome = WindowOutcome {
            window: 5,
            beacon_round: 100,
            randomness: [1; 32],
            processed_at_unix: 1_700_000_000,
            files: 1,
            verdicts: vec![Verdict {
                hotkey: Hotkey([1; 32]),
                uid: 1,
                stage: Stage::Sampling,
                result: VerdictResult::Fail,
                reason: Some("token 17 not sampled".into()),
                rollouts_in_file: 64,
                rollouts_checked: 8,
                unique_verified: 0,
                unique_estimated: 0,
            }],
            exclusions: vec![],
        };
        // A kept file, so that `/rollouts` reads and decodes one.
        let bytes = include_bytes!("../../fuzz/seeds/window_file/honest-0.bin");
        let file = decode(bytes, &Limits::default()).expect("the seed decodes");
        let cid = Archive::new(data_dir.path()).keep(bytes).expect("keep");
        let kept =
            KeptFile { window: 5, hotkey: file.header.hotkey, uid: 2, cid, checked: vec![0, 3] };
        State::open(data_dir.path())
            .expect("state")
            .record_window_kept(&outcome, &[kept])
            .expect("record");
        let live = LiveStatus::new(Some(81)).with_history(data_dir.path().to_owned());
        live.set_ready();
        live.set_current_window(6);
        live.window_processed(&outcome, 1.5);
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Server { runtime, router: router(live), _data_dir: data_dir }
    })
}

/// The bytes are a request target (a leading `/` is added); the first selects the method.
/// No request, however malformed its path or query, gets a server error.
pub(crate) fn http_query(data: &[u8]) -> bool {
    let Some((method, target)) = data.split_first() else { return false };
    let Ok(target) = std::str::from_utf8(target) else { return false };
    let target = if target.starts_with('/') { target.to_owned() } else { format!("/{target}") };
    let Ok(uri) = target.parse::<Uri>() else { return false };
    let method = match method % 3 {
        0 => "GET",
        1 => "HEAD",
        _ => "POST",
    };
    let Ok(request) = Request::builder().method(method).uri(uri).body(Body::empty()) else {
        return false;
    };
    let s = server();
    let response = s.runtime.block_on(s.router.clone().oneshot(request));
    let status = match response {
        Ok(r) => r.status(),
        Err(never) => match never {},
    };
    assert!(!status.is_server_error(), "{method} {target}: {status}");
    status.is_success()
}

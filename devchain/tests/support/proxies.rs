//! Proxies between the client and the dev chain for the fault tests: a TCP proxy that cuts,
//! delays or refuses connections, an HTTP JSON-RPC proxy that rewrites answers (and keeps
//! every answer to a submission), and the metadata it serves instead of the node's.

use grail_chain::metadata::FINNEY_METADATA;
use grail_chain::rpc::{header_hash, Header};
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subxt::config::substrate::Digest;
use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
use subxt::utils::H256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP proxy to `upstream` that can cut every live connection, answer late, or refuse
/// (accept and close at once).
pub(crate) struct TcpProxy {
    pub addr: SocketAddr,
    pub state: Arc<TcpState>,
}

#[derive(Default)]
pub(crate) struct TcpState {
    pub live: Mutex<Vec<AbortHandle>>,
    pub accepted: AtomicUsize,
    pub delay_ms: AtomicU64,
    pub refusing: AtomicBool,
}

impl TcpProxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(TcpState::default());
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.refusing.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let conn = shared.clone();
                let task = tokio::spawn(async move {
                    let Ok(node) = TcpStream::connect(upstream).await else { return };
                    let (client_read, client_write) = client.into_split();
                    let (node_read, node_write) = node.into_split();
                    tokio::select! {
                        () = pump(client_read, node_write, None) => {}
                        () = pump(node_read, client_write, Some(&conn.delay_ms)) => {}
                    }
                });
                shared.live.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { addr, state }
    }

    /// Closes every connection open now; new ones are accepted.
    pub(crate) fn drop_all(&self) {
        for conn in self.state.live.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    /// Holds each chunk from the node this long before passing it on.
    pub(crate) fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub(crate) fn set_refusing(&self, refusing: bool) {
        self.state.refusing.store(refusing, Ordering::SeqCst);
    }

    pub(crate) fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

pub(crate) async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay_ms: Option<&AtomicU64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = delay_ms.map_or(0, |d| d.load(Ordering::SeqCst));
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// What the rewriting HTTP proxy does to the node's answers.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// Passes everything through.
    None,
    /// Where the node has no hash for a block, makes up a block: a hash, and a header of that
    /// number that hashes to it.
    MadeUpBlocks,
    /// Answers `chain_getHeader(hash)` with the header's state root changed.
    OtherStateRoot(String),
    /// Answers `chain_getHeader(hash)` with the header's number plus one.
    OtherNumber(String),
    /// Answers the metadata requests.
    Metadata { at_version: Served, legacy: Served },
    /// Answers `system_accountNextIndex` with one less than the node, this many times more: a
    /// node behind the one that took the account's last extrinsic.
    LaggingNonce(Arc<AtomicUsize>),
    /// Refuses `author_submitExtrinsic` as a node does (1010, `Invalid Transaction`, this
    /// reason), this many times more, without passing the extrinsic on.
    RefuseSubmissions(&'static str, Arc<AtomicUsize>),
}

/// Takes one from `left`; false once it is 0.
fn take(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// What a metadata request is answered with.
#[derive(Debug, Clone)]
pub(crate) enum Served {
    /// The node's answer.
    Node,
    /// A runtime call error.
    Error,
    /// These bytes (as `Some(bytes)` for `Metadata_metadata_at_version`).
    Bytes(Vec<u8>),
}

/// An HTTP/1.1 JSON-RPC proxy to `upstream` that rewrites answers as its [`Fault`] says.
pub(crate) struct HttpProxy {
    pub addr: SocketAddr,
    pub state: Arc<HttpState>,
}

pub(crate) struct HttpState {
    pub upstream: SocketAddr,
    pub fault: Mutex<Fault>,
    pub made_up: Mutex<HashMap<String, Value>>,
    /// Every answer to `author_submitExtrinsic` the client got, in order.
    pub submissions: Mutex<Vec<Value>>,
}

impl HttpProxy {
    pub(crate) async fn start(upstream: SocketAddr, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(HttpState {
            upstream,
            fault: Mutex::new(fault),
            made_up: Mutex::new(HashMap::new()),
            submissions: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve_http(client, shared.clone()));
            }
        });
        Self { addr, state }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn set(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok())
}

/// Reads one HTTP request with a `Content-Length` body from a kept-alive connection: its head
/// (lower case) and body; `None` once the client closes it.
pub(crate) async fn read_request(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let total = end + 4 + content_length(&head).unwrap_or(0);
            while buf.len() < total {
                let n = stream.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..total].to_vec();
            buf.drain(..total);
            return Some((head, body));
        }
        let n = stream.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The body of a chunked HTTP message.
pub(crate) fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(raw, b"\r\n") {
        let line = std::str::from_utf8(&raw[..eol]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// POSTs `body` to the node and returns the answer's body.
pub(crate) async fn forward(upstream: SocketAddr, body: &[u8]) -> Vec<u8> {
    let mut node = TcpStream::connect(upstream).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {upstream}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    node.write_all(head.as_bytes()).await.unwrap();
    node.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    node.read_to_end(&mut raw).await.unwrap();
    let end = find(&raw, b"\r\n\r\n").expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let rest = &raw[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest[..content_length(&head).unwrap_or(rest.len()).min(rest.len())].to_vec()
    }
}

pub(crate) async fn serve_http(mut client: TcpStream, state: Arc<HttpState>) {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut client, &mut buf).await {
        let answer = answer(&state, &body).await;
        let close = head.contains("connection: close");
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
            answer.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        if client.write_all(head.as_bytes()).await.is_err()
            || client.write_all(&answer).await.is_err()
            || close
        {
            return;
        }
    }
}

pub(crate) async fn answer(state: &HttpState, body: &[u8]) -> Vec<u8> {
    let request = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let method = request["method"].as_str().unwrap_or_default();
    let fault = state.fault.lock().unwrap().clone();
    let submission = method == "author_submitExtrinsic";
    let response = match &fault {
        Fault::RefuseSubmissions(reason, left) if submission && take(left) => json!({
            "jsonrpc": "2.0",
            "id": request["id"],
            "error": {"code": 1010, "message": "Invalid Transaction", "data": reason},
        }),
        _ => {
            let from_node = forward(state.upstream, body).await;
            if method.is_empty() {
                return from_node;
            }
            let mut response: Value = serde_json::from_slice(&from_node).unwrap();
            rewrite(state, &fault, method, &request["params"], &mut response);
            response
        }
    };
    if submission {
        state.submissions.lock().unwrap().push(response.clone());
    }
    serde_json::to_vec(&response).unwrap()
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

pub(crate) fn block_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => u64::from_str_radix(s.strip_prefix("0x")?, 16).ok(),
        _ => None,
    }
}

pub(crate) fn serve(response: &mut Value, served: &Served, encode: impl Fn(&[u8]) -> Vec<u8>) {
    match served {
        Served::Node => {}
        Served::Error => {
            let obj = response.as_object_mut().unwrap();
            obj.remove("result");
            obj.insert(
                "error".into(),
                json!({"code": 1002, "message": "Execution failed: refused by the test proxy"}),
            );
        }
        Served::Bytes(bytes) => response["result"] = json!(hex0x(&encode(bytes))),
    }
}

pub(crate) fn rewrite(
    state: &HttpState,
    fault: &Fault,
    method: &str,
    params: &Value,
    response: &mut Value,
) {
    let first = &params[0];
    let asked_hash = first.as_str().map(str::to_ascii_lowercase);
    match (fault, method) {
        (Fault::LaggingNonce(left), "system_accountNextIndex") => {
            let nonce = response["result"].as_u64().unwrap();
            if nonce > 0 && take(left) {
                response["result"] = json!(nonce - 1);
            }
        }
        (Fault::MadeUpBlocks, "chain_getBlockHash") if response["result"].is_null() => {
            let Some(number) = block_number(first) else { return };
            let header = Header {
                parent_hash: H256([9; 32]),
                number,
                state_root: H256([8; 32]),
                extrinsics_root: H256([7; 32]),
                digest: Digest { logs: Vec::new() },
            };
            let hash = hex0x(&header_hash(&header));
            let json = serde_json::to_value(&header).unwrap();
            state.made_up.lock().unwrap().insert(hash.clone(), json);
            response["result"] = json!(hash);
        }
        (Fault::MadeUpBlocks, "chain_getHeader") => {
            let made_up = state.made_up.lock().unwrap();
            if let Some(header) = asked_hash.and_then(|h| made_up.get(&h)) {
                response["result"] = header.clone();
            }
        }
        (Fault::OtherStateRoot(target) | Fault::OtherNumber(target), "chain_getHeader")
            if asked_hash.as_ref() == Some(target) =>
        {
            let mut header: Header = serde_json::from_value(response["result"].clone()).unwrap();
            if matches!(fault, Fault::OtherStateRoot(_)) {
                header.state_root = H256([0xee; 32]);
            } else {
                header.number += 1;
            }
            response["result"] = serde_json::to_value(&header).unwrap();
        }
        (Fault::Metadata { at_version, .. }, "state_call")
            if first.as_str() == Some("Metadata_metadata_at_version") =>
        {
            serve(response, at_version, |b| Some(b.to_vec()).encode());
        }
        (Fault::Metadata { legacy, .. }, "state_getMetadata") => {
            serve(response, legacy, <[u8]>::to_vec);
        }
        _ => {}
    }
}

/// The vendored finney metadata without `SubtensorModule.Keys`, re-encoded.
pub(crate) fn metadata_without_keys() -> Vec<u8> {
    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &FINNEY_METADATA[..]).unwrap();
    let RuntimeMetadata::V16(v16) = &mut prefixed.1 else { panic!("the metadata is not V16") };
    let subtensor = v16.pallets.iter_mut().find(|p| p.name == "SubtensorModule").unwrap();
    let entries = &mut subtensor.storage.as_mut().unwrap().entries;
    let before = entries.len();
    entries.retain(|e| e.name != "Keys");
    assert_eq!(entries.len() + 1, before);
    prefixed.encode()
}

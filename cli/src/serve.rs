//! Serving a role's HTTP endpoints so that no client can hold its resources: at most
//! `max_connections` at once (the rest wait in the kernel's listen queue), a deadline on
//! every request's headers, and a lifetime for every connection, idle or not. An `accept`
//! error (out of file handles) is logged and retried after a pause, never the end of the
//! server.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time to send a request's headers.
    pub header_timeout: Duration,
    /// Longest life of one connection.
    pub connection_timeout: Duration,
}

/// Serves `app` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, app: Router, limits: ServeLimits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            // Past its lifetime the connection is dropped, which closes it.
            let _ = tokio::time::timeout(limits.connection_timeout, connection).await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use axum::routing::get;

    use super::*;

    async fn start(limits: ServeLimits) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route("/status", get(|| async { "{}" }));
        tokio::spawn(serve(listener, app, limits));
        addr
    }

    async fn get_status(addr: std::net::SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    /// Clients that connect and send nothing, or half a request, fill every slot; they are
    /// closed after the header timeout and a real request is then answered.
    #[tokio::test]
    async fn silent_and_half_sent_connections_are_closed_and_do_not_lock_out_others() {
        let limits = ServeLimits {
            max_connections: 4,
            header_timeout: Duration::from_millis(300),
            connection_timeout: Duration::from_secs(30),
        };
        let addr = start(limits).await;
        let mut hogs = Vec::new();
        for i in 0..8 {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            if i % 2 == 1 {
                s.write_all(b"GET /status HTTP/1.1\r\nhost:").await.expect("send");
            }
            hogs.push(s);
        }
        let started = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(10), get_status(addr))
            .await
            .expect("answered while the hogs wait");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(started.elapsed() >= Duration::from_millis(250), "the slots were full first");
        // Every hog was closed by the server (read returns 0 bytes or an error, not a hang).
        for mut h in hogs {
            let mut buf = [0u8; 256];
            let closed = tokio::time::timeout(Duration::from_secs(5), h.read(&mut buf)).await;
            assert!(closed.is_ok(), "a silent connection stayed open");
        }
    }

    /// A keep-alive connection that goes idle is closed at its lifetime.
    #[tokio::test]
    async fn idle_keep_alive_connections_end_at_their_lifetime() {
        let limits = ServeLimits {
            max_connections: 2,
            header_timeout: Duration::from_secs(30),
            connection_timeout: Duration::from_millis(400),
        };
        let addr = start(limits).await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /status HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("send");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let started = Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "an idle keep-alive connection stayed open");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

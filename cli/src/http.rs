//! `--http.listen`: where a role serves its status, weights and metrics.

/// The HTTP listener.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Status and metrics")]
pub struct HttpArgs {
    /// Serve /status, /weights and /metrics on this address (e.g. 127.0.0.1:9100); unset: no
    /// HTTP server.
    #[arg(
        id = "http.listen",
        long = "http.listen",
        env = "GRAIL_HTTP_LISTEN",
        value_name = "ADDR"
    )]
    pub listen: Option<String>,
    /// Connections served at once; further clients wait in the listen queue.
    #[arg(
        id = "http.max_connections",
        long = "http.max-connections",
        env = "GRAIL_HTTP_MAX_CONNECTIONS",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub max_connections: u32,
    /// Seconds a client has to send a request's headers before its connection is closed.
    #[arg(
        id = "http.header_timeout",
        long = "http.header-timeout",
        env = "GRAIL_HTTP_HEADER_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    pub header_timeout: u64,
    /// Seconds any one connection may stay open, idle or not.
    #[arg(
        id = "http.connection_timeout",
        long = "http.connection-timeout",
        env = "GRAIL_HTTP_CONNECTION_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub connection_timeout: u64,
}

/// `--metrics.listen`: a listener for Prometheus' scrapes alone.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Status and metrics")]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9101; port 0 picks
    /// one, logged); unset: none on their own listener.
    #[arg(
        id = "metrics.listen",
        long = "metrics.listen",
        env = "GRAIL_METRICS_LISTEN",
        value_name = "ADDR"
    )]
    pub listen: Option<String>,
}

impl MetricsArgs {
    /// The connection limits of the metrics listener: a scraper or two.
    pub fn limits() -> crate::serve::ServeLimits {
        crate::serve::ServeLimits {
            max_connections: 16,
            header_timeout: std::time::Duration::from_secs(10),
            connection_timeout: std::time::Duration::from_secs(60),
        }
    }
}

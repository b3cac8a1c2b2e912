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
}

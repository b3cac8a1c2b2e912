//! `--storage.*`: where window files are kept (a local folder, or an S3-compatible store).

use std::fmt;
use std::path::PathBuf;

use grail_storage::{
    StorageConfig, StoreError, WindowStore, DEFAULT_STORAGE_PATH, DEFAULT_STORE_TIMEOUT_S,
};

/// The object store's settings. For S3 the standard `AWS_*` variables are read first, so these
/// override them.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageArgs {
    /// `s3://bucket[/prefix]` for an S3-compatible store (S3, R2, MinIO), or `file:///path`;
    /// unset: the local folder --storage.path.
    #[arg(id = "storage.url", long = "storage.url", env = "GRAIL_STORAGE_URL")]
    pub url: Option<String>,
    /// Local folder for window files, created if missing.
    #[arg(
        id = "storage.path",
        long = "storage.path",
        env = "GRAIL_STORAGE_PATH",
        default_value = DEFAULT_STORAGE_PATH
    )]
    pub path: PathBuf,
    /// S3 endpoint URL (R2, MinIO, a local server); unset: AWS.
    #[arg(id = "storage.endpoint", long = "storage.endpoint", env = "GRAIL_STORAGE_ENDPOINT")]
    pub endpoint: Option<String>,
    /// S3 region.
    #[arg(
        id = "storage.region",
        long = "storage.region",
        env = "GRAIL_STORAGE_REGION",
        default_value = "us-east-1"
    )]
    pub region: String,
    /// S3 access key id.
    #[arg(
        id = "storage.access_key_id",
        long = "storage.access-key-id",
        env = "GRAIL_STORAGE_ACCESS_KEY_ID"
    )]
    pub access_key_id: Option<String>,
    /// S3 secret access key (prefer the environment variable to the flag).
    #[arg(
        id = "storage.secret_access_key",
        long = "storage.secret-access-key",
        env = "GRAIL_STORAGE_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,
    /// Allow a plain-HTTP S3 endpoint (local servers only).
    #[arg(
        id = "storage.allow_http",
        long = "storage.allow-http",
        env = "GRAIL_STORAGE_ALLOW_HTTP",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_http: bool,
    /// Seconds one store operation (a read, a listing, an upload's check) may take before it
    /// counts as failed.
    #[arg(
        id = "storage.timeout",
        long = "storage.timeout",
        env = "GRAIL_STORAGE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = DEFAULT_STORE_TIMEOUT_S,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub timeout: u64,
}

impl fmt::Debug for StorageArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageArgs")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl StorageArgs {
    /// The store's configuration.
    pub fn config(&self) -> StorageConfig {
        StorageConfig {
            url: self.url.clone(),
            path: Some(self.path.clone()),
            endpoint: self.endpoint.clone(),
            region: Some(self.region.clone()),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            allow_http: Some(self.allow_http),
        }
    }

    /// Opens the store, with the timeout.
    pub fn open(&self) -> Result<WindowStore, StoreError> {
        Ok(WindowStore::open(&self.config())?
            .with_timeout(std::time::Duration::from_secs(self.timeout)))
    }
}

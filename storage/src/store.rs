//! The object store window files live in (DESIGN.md 3.7): a local folder by default, any
//! S3-compatible store (S3, R2, MinIO) when `storage.url` is `s3://bucket[/prefix]`.
//!
//! A file's upload time is the store's last-modified time of its object ([`ObjectInfo`]),
//! which is what the validator compares with the upload deadline. Keys are the protocol's
//! (`windows/{w}/{hotkey}.grail`, see [`grail_protocol::window_file::window_file_key`]), in
//! each miner's own part of the store, `{hotkey}/` ([`WindowStore::for_miner`]).
//!
//! [`StorageConfig`] says where (the `--storage.*` flags of `grail-cli` fill it). For S3 the
//! standard `AWS_*` variables are read first, so the configured values override them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, PutPayload};

use crate::local_read::{self, LocalError};

/// Default local folder for window files.
pub const DEFAULT_STORAGE_PATH: &str = "grail-storage";
/// Default limit on one store operation, in seconds.
pub const DEFAULT_STORE_TIMEOUT_S: u64 = 30;

/// Errors of the object store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage configuration is unusable.
    #[error("storage configuration: {field}: {reason}")]
    Config {
        /// The setting at fault (`storage.url`, ...).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The local storage folder could not be created.
    #[error("cannot create the storage folder {path}: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A key is not a valid object path.
    #[error("invalid object key {key:?}: {reason}")]
    BadKey {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// An object is larger than the reader accepts.
    #[error("object {key} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The key.
        key: String,
        /// Its size as far as it was read or as the store reports it.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The object, or a folder on its path, is not a regular file or folder.
    #[error("object {key} is {kind}, not a regular file; not read")]
    NotRegular {
        /// The key.
        key: String,
        /// What it is (`a symbolic link`, `a FIFO`, ...).
        kind: &'static str,
    },
    /// An operation did not finish within the store's timeout.
    #[error("{op} {key} on {store}: no answer within {seconds} s")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The key.
        key: String,
        /// The store's description.
        store: String,
        /// The timeout.
        seconds: u64,
    },
    /// A local read failed.
    #[error("{op} {key} on {store}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The key.
        key: String,
        /// The store's description.
        store: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store failed (not found, network, permissions).
    #[error("{op} {key} on {store}: {source}")]
    Store {
        /// The operation (`put`, `head`, `get`, `list`).
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// The store's description.
        store: String,
        /// The store's error (boxed: it is large).
        source: Box<object_store::Error>,
    },
}

/// Where window files go.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StorageConfig {
    /// `s3://bucket[/prefix]` for an S3-compatible store; unset: the local folder `path`.
    pub url: Option<String>,
    /// Local folder (created if missing); default `grail-storage`.
    pub path: Option<PathBuf>,
    /// S3 endpoint URL (R2, MinIO, a local server); unset: AWS.
    pub endpoint: Option<String>,
    /// S3 region; default `us-east-1`.
    pub region: Option<String>,
    /// S3 access key id.
    pub access_key_id: Option<String>,
    /// S3 secret access key.
    pub secret_access_key: Option<String>,
    /// Allow plain-HTTP endpoints (local servers only).
    pub allow_http: Option<bool>,
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConfig")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Size and upload time of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's last-modified time (set by whoever wrote the object: a claim, not a fact).
    pub last_modified: SystemTime,
    /// The store's version tag (S3: the ETag; local: device, inode, mtime and size), when it
    /// has one: a changed tag means changed bytes.
    pub version: Option<String>,
}

impl ObjectInfo {
    fn from_meta(meta: &ObjectMeta) -> Self {
        Self {
            key: meta.location.to_string(),
            size: meta.size,
            last_modified: meta.last_modified.into(),
            version: meta.e_tag.clone(),
        }
    }

    /// Upload time as unix seconds (0 for a time before 1970).
    pub fn last_modified_unix(&self) -> u64 {
        self.last_modified.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// An opened object store with a description for logs and errors.
#[derive(Debug, Clone)]
pub struct WindowStore {
    store: Arc<dyn ObjectStore>,
    description: String,
    /// The folder of a local store, read through [`local_read`] (no links, regular files).
    local_root: Option<PathBuf>,
    timeout: Duration,
    /// Prepended to every key (`{miner}/` for [`WindowStore::for_miner`]); keys in and out of
    /// this type are relative to it.
    prefix: String,
}

impl WindowStore {
    /// Opens the store the configuration names: S3 when `url` is set, else the local folder
    /// (created if missing).
    pub fn open(cfg: &StorageConfig) -> Result<Self, StoreError> {
        match cfg.url.as_deref() {
            None => {
                Self::open_local(&cfg.path.clone().unwrap_or_else(|| DEFAULT_STORAGE_PATH.into()))
            }
            Some(url) => match url.strip_prefix("s3://") {
                Some(rest) => Self::open_s3(cfg, rest),
                None => match url.strip_prefix("file://") {
                    Some(path) => Self::open_local(&PathBuf::from(path)),
                    None => Err(StoreError::Config {
                        field: "storage.url",
                        reason: format!("{url:?} is neither s3://bucket[/prefix] nor file:///path"),
                    }),
                },
            },
        }
    }

    /// Opens a store that someone else named (a miner's commitment) for reading: nothing of
    /// this process's environment is used (no `AWS_*` variable, no instance credentials), so
    /// what the validator holds never reaches the named endpoint; with no credentials in
    /// `cfg` the requests are unsigned (a public bucket). A local folder must exist already.
    pub fn open_isolated(cfg: &StorageConfig) -> Result<Self, StoreError> {
        let url = cfg.url.as_deref().ok_or_else(|| StoreError::Config {
            field: "storage.url",
            reason: "a store named by someone else needs its URL".into(),
        })?;
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::open_s3_with(AmazonS3Builder::new(), cfg, rest, true);
        }
        match url.strip_prefix("file://") {
            Some(path) => {
                let path = std::path::Path::new(path);
                if !path.is_dir() {
                    return Err(StoreError::Config {
                        field: "storage.url",
                        reason: format!("{url}: no such folder"),
                    });
                }
                Self::open_local(path)
            }
            None => Err(StoreError::Config {
                field: "storage.url",
                reason: format!("{url:?} is neither s3://bucket[/prefix] nor file:///path"),
            }),
        }
    }

    /// A local folder, created if missing.
    pub fn open_local(path: &std::path::Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path)
            .map_err(|source| StoreError::CreateDir { path: path.to_owned(), source })?;
        let fs = LocalFileSystem::new_with_prefix(path).map_err(|e| StoreError::Config {
            field: "storage.path",
            reason: format!("{}: {e}", path.display()),
        })?;
        let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        Ok(Self {
            store: Arc::new(fs),
            description: format!("local folder {}", shown.display()),
            local_root: Some(path.to_owned()),
            timeout: Duration::from_secs(DEFAULT_STORE_TIMEOUT_S),
            prefix: String::new(),
        })
    }

    fn open_s3(cfg: &StorageConfig, rest: &str) -> Result<Self, StoreError> {
        Self::open_s3_with(AmazonS3Builder::from_env(), cfg, rest, false)
    }

    /// An S3 store from `builder` (the environment's settings, or none); `unsigned_without_keys`:
    /// with no keys in `cfg`, send unsigned requests instead of looking for credentials.
    fn open_s3_with(
        builder: AmazonS3Builder,
        cfg: &StorageConfig,
        rest: &str,
        unsigned_without_keys: bool,
    ) -> Result<Self, StoreError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() {
            return Err(StoreError::Config {
                field: "storage.url",
                reason: "no bucket in s3:// URL".into(),
            });
        }
        let mut b = builder.with_bucket_name(bucket);
        if unsigned_without_keys && cfg.access_key_id.is_none() && cfg.secret_access_key.is_none() {
            b = b.with_skip_signature(true);
        }
        b = b.with_region(cfg.region.as_deref().unwrap_or("us-east-1"));
        if let Some(e) = &cfg.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(k) = &cfg.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &cfg.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        if let Some(h) = cfg.allow_http {
            b = b.with_allow_http(h);
        }
        let s3 = b.build().map_err(|e| StoreError::Config {
            field: "storage.url",
            reason: format!("s3://{rest}: {e}"),
        })?;
        let at = cfg.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
        let description = format!("s3://{rest}{at}");
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            let p = parse_key(prefix)?;
            Arc::new(PrefixStore::new(s3, p))
        };
        Ok(Self {
            store,
            description,
            local_root: None,
            timeout: Duration::from_secs(DEFAULT_STORE_TIMEOUT_S),
            prefix: String::new(),
        })
    }

    /// Wraps any `object_store` (tests, in-memory stores).
    pub fn from_object_store(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Self {
        Self {
            store,
            description: description.into(),
            local_root: None,
            timeout: Duration::from_secs(DEFAULT_STORE_TIMEOUT_S),
            prefix: String::new(),
        }
    }

    /// The same store with every [`probe`](Self::probe) and [`read`](Self::read) bounded by
    /// `timeout` (default [`DEFAULT_STORE_TIMEOUT_S`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What this store is, for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The part of this store that belongs to one miner: every key under `{miner}/` (one
    /// path segment, the miner's SS58 address). A miner writes only there, and a validator
    /// reads a miner's file only from there, so what is under another miner's name in this
    /// part is never read as that miner's.
    pub fn for_miner(&self, miner: &str) -> Result<Self, StoreError> {
        let bad =
            |reason: &str| StoreError::BadKey { key: miner.to_owned(), reason: reason.into() };
        if miner.is_empty() || miner.contains('/') || miner == "." || miner == ".." {
            return Err(bad("a miner's part of the store is one non-empty path segment"));
        }
        parse_key(miner)?;
        Ok(Self {
            description: format!("{} ({miner}/)", self.description),
            prefix: format!("{}{miner}/", self.prefix),
            ..self.clone()
        })
    }

    /// `key` under this store's prefix.
    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The object's key relative to this store's prefix.
    fn info(&self, meta: &ObjectMeta) -> ObjectInfo {
        strip(ObjectInfo::from_meta(meta), &self.prefix)
    }

    /// Writes `bytes` under `key` (replacing any object there) and returns its size and
    /// last-modified time as the store records them.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<ObjectInfo, StoreError> {
        let path = parse_key(&self.full(key))?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| self.err("put", key, source))?;
        self.head(key).await?.ok_or_else(|| {
            self.err(
                "head",
                key,
                object_store::Error::NotFound {
                    path: key.to_owned(),
                    source: "the object just written is missing".into(),
                },
            )
        })
    }

    /// Size and last-modified time of `key`; `None` when there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        match self.store.head(&parse_key(&self.full(key))?).await {
            Ok(meta) => Ok(Some(self.info(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.err("head", key, source)),
        }
    }

    /// The objects directly under the folder `prefix` (e.g. `windows/17`), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let p = parse_key(&self.full(prefix))?;
        let listed = self
            .store
            .list_with_delimiter(Some(&p))
            .await
            .map_err(|source| self.err("list", prefix, source))?;
        let mut out: Vec<ObjectInfo> = listed.objects.iter().map(|m| self.info(m)).collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The bytes of `key`, refusing an object over `limit` bytes without reading it whole.
    pub async fn get_bounded(&self, key: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let got = self
            .store
            .get(&parse_key(&self.full(key))?)
            .await
            .map_err(|source| self.err("get", key, source))?;
        let too_large = |size| StoreError::TooLarge { key: key.to_owned(), size, limit };
        if got.meta.size > limit {
            return Err(too_large(got.meta.size));
        }
        let mut out = Vec::with_capacity(usize::try_from(got.meta.size).unwrap_or(0));
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| self.err("get", key, source))?;
            out.extend_from_slice(&chunk);
            // The reported size could be wrong; stop reading as soon as the limit is passed.
            if out.len() as u64 > limit {
                return Err(too_large(out.len() as u64));
            }
        }
        Ok(out)
    }

    /// Size, time and version of the object at `key`; `None` when there is none. On a local
    /// folder no link is followed and anything but a regular file is
    /// [`StoreError::NotRegular`]; every store answers within the timeout or
    /// [`StoreError::Timeout`].
    pub async fn probe(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let path = parse_key(&self.full(key))?;
        match &self.local_root {
            Some(root) => {
                let (root, owned, prefix) = (root.clone(), self.full(key), self.prefix.clone());
                let probed =
                    move || local_read::probe(&root, &owned).map(|i| i.map(|i| strip(i, &prefix)));
                self.local("probe", key, probed).await
            }
            None => match self.timed("head", key, self.store.head(&path)).await? {
                Ok(meta) => Ok(Some(self.info(&meta))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(source) => Err(self.err("head", key, source)),
            },
        }
    }

    /// The object at `key` and its bytes, at most `limit` of them ([`StoreError::TooLarge`]
    /// past that, without reading on); `None` when there is none. The same guarantees as
    /// [`probe`](Self::probe); the whole read is bounded by the timeout.
    pub async fn read(
        &self,
        key: &str,
        limit: u64,
    ) -> Result<Option<(ObjectInfo, Vec<u8>)>, StoreError> {
        let path = parse_key(&self.full(key))?;
        match &self.local_root {
            Some(root) => {
                let (root, owned, prefix) = (root.clone(), self.full(key), self.prefix.clone());
                let read = move || {
                    local_read::read(&root, &owned, limit)
                        .map(|r| r.map(|(i, b)| (strip(i, &prefix), b)))
                };
                self.local("get", key, read).await
            }
            None => {
                let info = match self.timed("head", key, self.store.head(&path)).await? {
                    Ok(meta) => self.info(&meta),
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(source) => return Err(self.err("head", key, source)),
                };
                match self.timed("get", key, self.get_bounded(key, limit)).await? {
                    Ok(bytes) => Ok(Some((ObjectInfo { size: bytes.len() as u64, ..info }, bytes))),
                    Err(StoreError::Store { source, .. })
                        if matches!(*source, object_store::Error::NotFound { .. }) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        key: &str,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work).await.map_err(|_| StoreError::Timeout {
            op,
            key: key.to_owned(),
            store: self.description.clone(),
            seconds: self.timeout.as_secs(),
        })
    }

    /// Runs a blocking local read on tokio's blocking pool under the timeout (a read that
    /// hangs past it is abandoned, not waited for).
    async fn local<T: Send + 'static>(
        &self,
        op: &'static str,
        key: &str,
        work: impl FnOnce() -> Result<T, LocalError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let joined = self.timed(op, key, tokio::task::spawn_blocking(work)).await?;
        let io = |source| StoreError::Io {
            op,
            key: key.to_owned(),
            store: self.description.clone(),
            source,
        };
        match joined.map_err(|e| io(std::io::Error::other(e.to_string())))? {
            Ok(v) => Ok(v),
            Err(LocalError::NotRegular(kind)) => {
                Err(StoreError::NotRegular { key: key.to_owned(), kind })
            }
            Err(LocalError::TooLarge(size, limit)) => {
                Err(StoreError::TooLarge { key: key.to_owned(), size, limit })
            }
            Err(LocalError::Io(source)) => Err(io(source)),
        }
    }

    fn err(&self, op: &'static str, key: &str, source: object_store::Error) -> StoreError {
        StoreError::Store {
            op,
            key: key.to_owned(),
            store: self.description.clone(),
            source: Box::new(source),
        }
    }
}

/// `info` with its key relative to `prefix`.
fn strip(mut info: ObjectInfo, prefix: &str) -> ObjectInfo {
    if let Some(rest) = info.key.strip_prefix(prefix) {
        info.key = rest.to_owned();
    }
    info
}

fn parse_key(key: &str) -> Result<StorePath, StoreError> {
    StorePath::parse(key)
        .map_err(|e| StoreError::BadKey { key: key.to_owned(), reason: e.to_string() })
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;

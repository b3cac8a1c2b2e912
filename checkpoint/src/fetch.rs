//! The consumers' side: every manifest of the trainer's store, checked, its files cached, and
//! the checkpoint of each window.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use grail_challenges::env::environment_by_id;
use grail_protocol::checkpoint::{
    parse_manifest, verify_manifest, CheckpointFile, CheckpointManifest, MAX_MANIFEST_BYTES,
    MODEL_FILE,
};
use grail_protocol::cid::cid_of_bytes;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::{EnvironmentSpec, NetworkParams};
use grail_storage::durable::{write_file, Access};
use grail_storage::{ObjectInfo, StorageConfig, WindowStore};

use crate::{CheckpointError, MANIFESTS_PREFIX};

/// Default largest checkpoint file fetched, in bytes (16 GiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 << 30;

/// Where checkpoints come from and where their files are kept.
#[derive(Debug, Clone)]
pub struct CheckpointSource {
    /// The trainer's store, opened for reading.
    pub store: WindowStore,
    /// The settings it was opened with; a manifest whose `location` is a URL is read with the
    /// same endpoint, region and `allow_http`, and no credentials.
    pub config: StorageConfig,
    /// The only hotkey whose manifests are accepted.
    pub trainer: Hotkey,
    /// Local folder of the fetched files, one folder per `model_id`.
    pub cache: PathBuf,
    /// Largest file fetched, in bytes.
    pub max_file_bytes: u64,
}

/// An accepted checkpoint: manifest checked, files fetched and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The signed manifest.
    pub manifest: CheckpointManifest,
    /// CIDv1 text of the manifest's bytes as published.
    pub manifest_cid: String,
    /// The local folder holding its files.
    pub dir: PathBuf,
}

impl Checkpoint {
    /// `base` with this checkpoint's environment and generation parameters.
    pub fn network(&self, base: &NetworkParams) -> NetworkParams {
        NetworkParams {
            environment: self.manifest.environment.clone(),
            generation: self.manifest.generation,
            ..base.clone()
        }
    }
}

/// A manifest that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its key in the store.
    pub key: String,
    /// The window its name gives, if it is a manifest name.
    pub window: Option<u64>,
    /// What was wrong.
    pub reason: String,
}

/// What one [`Checkpoints::refresh`] found.
#[derive(Debug, Clone, Default)]
pub struct Refresh {
    /// Windows whose manifests were accepted by this refresh.
    pub accepted: Vec<u64>,
    /// Manifests refused for their content (not read again until they change).
    pub refused: Vec<Refused>,
    /// Manifests that could not be read completely this time (tried again next refresh).
    pub retry: Vec<Refused>,
}

/// The checkpoints of one trainer's store, as far as they have been fetched.
#[derive(Debug)]
pub struct Checkpoints {
    source: CheckpointSource,
    accepted: BTreeMap<u64, Checkpoint>,
    /// Refused manifests by key, with the size and time they had then.
    refused: BTreeMap<String, (u64, SystemTime, String)>,
}

impl Checkpoints {
    /// No checkpoint fetched yet.
    pub fn new(source: CheckpointSource) -> Self {
        Self { source, accepted: BTreeMap::new(), refused: BTreeMap::new() }
    }

    /// Where checkpoints come from.
    pub fn source(&self) -> &CheckpointSource {
        &self.source
    }

    /// The checkpoint that holds for `window`: the accepted one with the latest
    /// `from_window <= window`; `None` before the first (the node's own model holds).
    pub fn for_window(&self, window: u64) -> Option<&Checkpoint> {
        self.accepted.range(..=window).next_back().map(|(_, c)| c)
    }

    /// Every accepted checkpoint, by first window.
    pub fn accepted(&self) -> &BTreeMap<u64, Checkpoint> {
        &self.accepted
    }

    /// Lists the trainer's manifests and checks each one not yet accepted or refused (a
    /// refused one again once its size or time changes). A window's accepted checkpoint is
    /// never replaced. Fails only when the listing fails.
    pub async fn refresh(&mut self) -> Result<Refresh, CheckpointError> {
        let mut out = Refresh::default();
        for info in self.source.store.list(MANIFESTS_PREFIX).await? {
            let Some(window) = window_of_key(&info.key) else {
                self.refuse(
                    &info,
                    format!("not a manifest name ({MANIFESTS_PREFIX}W.json)"),
                    &mut out,
                );
                continue;
            };
            let unchanged = |(size, time, _): &(u64, SystemTime, String)| {
                *size == info.size && *time == info.last_modified
            };
            if self.accepted.contains_key(&window)
                || self.refused.get(&info.key).is_some_and(unchanged)
            {
                continue;
            }
            match self.check(window, &info.key).await {
                Ok(checkpoint) => {
                    tracing::info!(
                        from_window = window,
                        model_id = %checkpoint.manifest.model_id,
                        manifest = %checkpoint.manifest_cid,
                        dir = %checkpoint.dir.display(),
                        "checkpoint accepted"
                    );
                    self.refused.remove(&info.key);
                    self.accepted.insert(window, checkpoint);
                    out.accepted.push(window);
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(key = %info.key, error = %e, "checkpoint not fetched; trying again later");
                    out.retry.push(Refused {
                        key: info.key.clone(),
                        window: Some(window),
                        reason: e.to_string(),
                    });
                }
                Err(e) => self.refuse(&info, e.to_string(), &mut out),
            }
        }
        Ok(out)
    }

    fn refuse(&mut self, info: &ObjectInfo, reason: String, out: &mut Refresh) {
        tracing::warn!(
            key = %info.key,
            store = self.source.store.description(),
            reason = %reason,
            "checkpoint manifest refused; the windows it names keep the previous model"
        );
        self.refused.insert(info.key.clone(), (info.size, info.last_modified, reason.clone()));
        let window = window_of_key(&info.key);
        out.refused.push(Refused { key: info.key.clone(), window, reason });
    }

    /// Reads, verifies and fetches the manifest at `key`, which names `window`.
    async fn check(&self, window: u64, key: &str) -> Result<Checkpoint, CheckpointError> {
        let invalid = |reason: String| CheckpointError::Invalid(format!("{key}: {reason}"));
        let read = self.source.store.read(key, MAX_MANIFEST_BYTES).await.map_err(|e| match e {
            // Content, not the store failing: refused, not tried again while unchanged.
            grail_storage::StoreError::TooLarge { size, limit, .. } => {
                invalid(format!("{size} bytes exceed the manifest limit {limit}"))
            }
            e => e.into(),
        })?;
        let Some((_, bytes)) = read else {
            return Err(CheckpointError::Io {
                what: "reading",
                path: key.into(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        };
        let manifest = parse_manifest(&bytes).map_err(|e| invalid(e.to_string()))?;
        if manifest.from_window != window {
            return Err(invalid(format!(
                "from_window {} differs from the window of its name, {window}",
                manifest.from_window
            )));
        }
        verify_manifest(&manifest, &self.source.trainer).map_err(|e| invalid(e.to_string()))?;
        check_environment(&manifest.environment).map_err(invalid)?;
        let dir = self.fetch_files(&manifest).await.map_err(|e| match e {
            CheckpointError::Invalid(reason) => invalid(reason),
            e => e,
        })?;
        Ok(Checkpoint { manifest, manifest_cid: cid_of_bytes(&bytes).to_string(), dir })
    }

    /// The local folder of the manifest's files: the cached one when every file in it checks,
    /// else fetched anew into a partial folder, checked, and renamed into place.
    async fn fetch_files(&self, m: &CheckpointManifest) -> Result<PathBuf, CheckpointError> {
        let dir = self.source.cache.join(&m.model_id);
        if dir.is_dir() && m.files.iter().all(|f| cached_file_matches(&dir, f)) {
            check_model_id(&dir, m)?;
            return Ok(dir);
        }
        for f in &m.files {
            if f.bytes > self.source.max_file_bytes {
                return Err(CheckpointError::Invalid(format!(
                    "file {}: {} bytes exceed the limit {}",
                    f.name, f.bytes, self.source.max_file_bytes
                )));
            }
        }
        // A partial folder of its own per fetch: several processes may share a cache.
        static FETCHES: AtomicU64 = AtomicU64::new(0);
        let n = FETCHES.fetch_add(1, Ordering::Relaxed);
        let name = format!(".{}.partial-{}-{n}", m.model_id, std::process::id());
        let partial = self.source.cache.join(name);
        remove_dir(&partial)?;
        let fetched = self.fetch_into(m, &partial).await;
        if fetched.is_err() {
            let _ = remove_dir(&partial);
        }
        fetched?;
        if dir.is_dir() && !m.files.iter().all(|f| cached_file_matches(&dir, f)) {
            remove_dir(&dir)?;
        }
        if let Err(source) = std::fs::rename(&partial, &dir) {
            // Another fetch may have put the same files in place first.
            let _ = remove_dir(&partial);
            if !(dir.is_dir() && m.files.iter().all(|f| cached_file_matches(&dir, f))) {
                return Err(CheckpointError::Io { what: "renaming", path: partial, source });
            }
        }
        Ok(dir)
    }

    /// Fetches and checks every file of `m` into `partial`.
    async fn fetch_into(
        &self,
        m: &CheckpointManifest,
        partial: &Path,
    ) -> Result<(), CheckpointError> {
        let (store, prefix) = self.files_store(&m.location)?;
        for f in &m.files {
            let key = format!("{prefix}{}", f.name);
            let Some((_, bytes)) = store.read(&key, f.bytes).await.map_err(|e| match e {
                grail_storage::StoreError::TooLarge { size, .. } => CheckpointError::Invalid(
                    format!("file {}: {size} bytes, but the manifest says {}", f.name, f.bytes),
                ),
                e => e.into(),
            })?
            else {
                return Err(CheckpointError::Invalid(format!(
                    "file {} is missing from {} ({key})",
                    f.name,
                    store.description()
                )));
            };
            check_bytes(f, &bytes)?;
            write_file(&partial.join(&f.name), &bytes, Access::Default)?;
        }
        check_model_id(partial, m)
    }

    /// The store and key prefix of a manifest's `location`.
    fn files_store(&self, location: &str) -> Result<(WindowStore, String), CheckpointError> {
        if !location.contains("://") {
            return Ok((self.source.store.clone(), location.to_owned()));
        }
        let config = StorageConfig {
            url: Some(location.to_owned()),
            access_key_id: None,
            secret_access_key: None,
            ..self.source.config.clone()
        };
        let store = WindowStore::open_isolated(&config).map_err(|e| {
            CheckpointError::Invalid(format!("location {location:?} cannot be opened: {e}"))
        })?;
        Ok((store, String::new()))
    }
}

/// The environment must be one this build runs, at that version.
fn check_environment(spec: &EnvironmentSpec) -> Result<(), String> {
    let env = environment_by_id(&spec.id).map_err(|e| format!("environment: {e}"))?;
    if env.version() != spec.version {
        return Err(format!(
            "environment: {} v{} is not the version this build runs (v{})",
            spec.id,
            spec.version,
            env.version()
        ));
    }
    Ok(())
}

/// The window of a manifest key `checkpoints/manifests/{W}.json`, W in plain decimal.
fn window_of_key(key: &str) -> Option<u64> {
    let digits = key.strip_prefix(MANIFESTS_PREFIX)?.strip_suffix(".json")?;
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let window: u64 = digits.parse().ok().filter(|_| plain)?;
    (window.to_string() == digits).then_some(window)
}

fn check_bytes(f: &CheckpointFile, bytes: &[u8]) -> Result<(), CheckpointError> {
    if bytes.len() as u64 != f.bytes {
        return Err(CheckpointError::Invalid(format!(
            "file {}: {} bytes, but the manifest says {}",
            f.name,
            bytes.len(),
            f.bytes
        )));
    }
    let cid = cid_of_bytes(bytes).to_string();
    if cid != f.cid {
        return Err(CheckpointError::Invalid(format!(
            "file {}: its content id is {cid}, but the manifest says {}",
            f.name, f.cid
        )));
    }
    Ok(())
}

fn cached_file_matches(dir: &Path, f: &CheckpointFile) -> bool {
    std::fs::read(dir.join(&f.name)).is_ok_and(|bytes| check_bytes(f, &bytes).is_ok())
}

fn check_model_id(dir: &Path, m: &CheckpointManifest) -> Result<(), CheckpointError> {
    let path = dir.join(MODEL_FILE);
    let id = grail_fingerprint::model_id(&path)
        .map_err(|source| CheckpointError::Model { path, source })?
        .to_string();
    if id != m.model_id {
        return Err(CheckpointError::Invalid(format!(
            "the files' weights have model_id {id}, but the manifest names {}",
            m.model_id
        )));
    }
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<(), CheckpointError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(CheckpointError::Io { what: "removing", path: dir.to_owned(), source: e })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;

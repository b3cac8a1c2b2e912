//! The trainer's side: a model folder becomes a checkpoint in a store.

use std::path::Path;

use grail_protocol::checkpoint::{
    check_file_name, manifest_json, sign_manifest, CheckpointFile, CheckpointManifest,
    MANIFEST_VERSION, MAX_CHECKPOINT_FILES, MODEL_FILE,
};
use grail_protocol::cid::cid_of_bytes;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::params::{EnvironmentSpec, GenerationParams};
use grail_storage::WindowStore;

use crate::{files_prefix, manifest_key, CheckpointError};

/// What [`publish`] put in the store.
#[derive(Debug, Clone)]
pub struct Published {
    /// The signed manifest.
    pub manifest: CheckpointManifest,
    /// Its key in the store.
    pub manifest_key: String,
    /// Bytes of all files.
    pub bytes: u64,
}

/// Publishes the regular files of `dir` (plain names only; `model.onnx` among them) as the
/// checkpoint of `from_window` on: each file under `checkpoints/{model_id}/`, then the manifest
/// signed by `pair`, last, so a reader that finds the manifest finds every file. Refuses a
/// window that already has a manifest. `progress` is told each file as it is uploaded.
pub async fn publish(
    dir: &Path,
    store: &WindowStore,
    pair: &HotkeyPair,
    from_window: u64,
    environment: EnvironmentSpec,
    generation: GenerationParams,
    mut progress: impl FnMut(&CheckpointFile),
) -> Result<Published, CheckpointError> {
    let key = manifest_key(from_window);
    if store.probe(&key).await?.is_some() {
        return Err(CheckpointError::Invalid(format!(
            "window {from_window} already has a checkpoint manifest ({key} in {}); a \
             published checkpoint is never replaced",
            store.description()
        )));
    }
    let names = file_names(dir)?;
    let model_file = dir.join(MODEL_FILE);
    let model_id = grail_fingerprint::model_id(&model_file)
        .map_err(|source| CheckpointError::Model { path: model_file.clone(), source })?
        .to_string();
    let location = files_prefix(&model_id);
    let mut files = Vec::with_capacity(names.len());
    let mut total = 0u64;
    for name in names {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|source| CheckpointError::Io {
            what: "reading",
            path,
            source,
        })?;
        let file = CheckpointFile {
            name: name.clone(),
            cid: cid_of_bytes(&bytes).to_string(),
            bytes: bytes.len() as u64,
        };
        total += file.bytes;
        store.put(&format!("{location}{name}"), bytes).await?;
        progress(&file);
        files.push(file);
    }
    let mut manifest = CheckpointManifest {
        version: MANIFEST_VERSION,
        from_window,
        model_id,
        location,
        files,
        environment,
        generation,
        trainer: String::new(),
        signature: String::new(),
    };
    sign_manifest(pair, &mut manifest)?;
    store.put(&key, manifest_json(&manifest)).await?;
    Ok(Published { manifest, manifest_key: key, bytes: total })
}

/// The sorted names of the regular files in `dir`; anything else there is an error naming it.
fn file_names(dir: &Path) -> Result<Vec<String>, CheckpointError> {
    let io = |what, source| CheckpointError::Io { what, path: dir.to_owned(), source };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io("listing", e))? {
        let entry = entry.map_err(|e| io("listing", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().map_err(|e| io("listing", e))?.is_file() {
            return Err(CheckpointError::Invalid(format!(
                "{}: {name:?} is not a regular file (a checkpoint folder holds only files)",
                dir.display()
            )));
        }
        check_file_name(&format!("{}: file name", dir.display()), &name)?;
        names.push(name);
    }
    names.sort();
    if names.len() > MAX_CHECKPOINT_FILES {
        return Err(CheckpointError::Invalid(format!(
            "{}: {} files exceed the limit {MAX_CHECKPOINT_FILES}",
            dir.display(),
            names.len()
        )));
    }
    if !names.iter().any(|n| n == MODEL_FILE) {
        return Err(CheckpointError::Invalid(format!("{}: no {MODEL_FILE}", dir.display())));
    }
    Ok(names)
}

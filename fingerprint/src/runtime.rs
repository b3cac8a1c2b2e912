//! Finding and initializing ONNX Runtime (loaded at run time, `ort` feature `load-dynamic`).
//!
//! The library comes from `ORT_DYLIB_PATH` when that is set, else from `.ort/lib/libonnxruntime.so`
//! in the repository (installed by `scripts/setup-ort.sh`), searched upward from the current
//! directory and from the running executable. `ort::init()` without a path panics when the
//! library is missing, so it is never used.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use crate::error::{Error, Result};

/// The environment variable that names the library file directly.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";
/// Where `scripts/setup-ort.sh` puts the library, relative to the repository root.
pub const REPO_LIBRARY: &str = ".ort/lib/libonnxruntime.so";

struct Runtime {
    library: PathBuf,
    environment: Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
// Serializes first initialization; a failure is not cached, so a later call may succeed.
static INIT: Mutex<()> = Mutex::new(());

/// Where the ONNX Runtime library would be loaded from, without loading it.
pub fn find_library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ORT_DYLIB_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::RuntimeMissing {
                searched: format!("{} (from {ORT_DYLIB_ENV})", path.display()),
            })
        };
    }
    let mut starts = Vec::new();
    if let Ok(dir) = std::env::current_dir() {
        starts.push(dir);
    }
    if let Some(dir) =
        std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        starts.push(dir);
    }
    let mut searched = Vec::new();
    for start in &starts {
        for dir in start.ancestors() {
            let candidate = dir.join(REPO_LIBRARY);
            if candidate.is_file() {
                return Ok(candidate);
            }
            searched.push(candidate.display().to_string());
        }
    }
    searched.dedup();
    Err(Error::RuntimeMissing {
        searched: format!("${ORT_DYLIB_ENV} unset, {}", searched.join(", ")),
    })
}

/// Loads ONNX Runtime once per process and returns its environment; later calls are cheap.
/// Safe to call from many threads (tests run in parallel).
pub fn environment() -> Result<&'static Environment> {
    Ok(&runtime()?.environment)
}

/// The library file that was loaded (initializing the runtime if needed).
pub fn library_path() -> Result<&'static Path> {
    Ok(&runtime()?.library)
}

fn runtime() -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    // A poisoned lock only means another thread panicked mid-init; the state is still a plain Option.
    let _guard = INIT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let library = find_library()?;
    let load_error = |reason: String| Error::RuntimeLoad { path: library.clone(), reason };
    let builder = ort::init_from(&library).map_err(|e| load_error(e.to_string()))?;
    let environment = builder
        .with_name("grail")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    tracing::debug!(library = %library.display(), "ONNX Runtime initialized");
    Ok(RUNTIME.get_or_init(|| Runtime { library, environment }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initializes_from_the_repository_copy_and_is_idempotent() {
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(library_path)).collect();
        let paths: Vec<_> = threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| "init thread panicked")
                    .and_then(|r| r.map_err(|_| "init failed"))
            })
            .collect();
        let first = paths[0].as_ref().map(|p| p.to_path_buf());
        assert!(first.is_ok(), "{:?}", find_library());
        for p in &paths {
            assert_eq!(p.as_ref().map(|p| p.to_path_buf()), first);
        }
        assert!(environment().is_ok());
    }

    #[test]
    fn missing_library_error_says_how_to_fix_it() {
        let msg = Error::RuntimeMissing { searched: "x".into() }.to_string();
        assert!(msg.contains("scripts/setup-ort.sh") && msg.contains(ORT_DYLIB_ENV), "{msg}");
    }
}

//! `scripts/setup-ort-gpu.sh --dry-run` on this machine: pip resolves the GPU build of ONNX
//! Runtime at the version the CPU setup pins, with its CUDA libraries (cuDNN, cuBLAS, the CUDA
//! runtime), as wheels for this platform, and the script says whether an NVIDIA driver is here;
//! nothing is installed. A bad argument is refused with the usage.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use grail_tests::repo_root;
use serde_json::Value;

#[test]
fn the_gpu_runtime_and_its_cuda_libraries_resolve_for_this_machine() {
    let script = repo_root().join("scripts/setup-ort-gpu.sh");
    let out = Command::new(&script).arg("--dry-run").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let cpu = std::fs::read_to_string(repo_root().join("scripts/setup-ort.sh")).unwrap();
    let pinned = cpu.split("GRAIL_ORT_VERSION:-").nth(1).unwrap().split('}').next().unwrap();
    let version_of = |prefix: &str| {
        lines.iter().find(|l| l["name"].as_str().is_some_and(|n| n.starts_with(prefix))).cloned()
    };
    let ort = version_of("onnxruntime-gpu").expect("onnxruntime-gpu");
    assert_eq!(ort["version"], pinned, "the same ONNX Runtime as the CPU setup");
    assert!(ort["file"].as_str().unwrap().ends_with(".whl"), "{ort}");
    for lib in ["nvidia-cudnn", "nvidia-cublas", "nvidia-cuda-runtime"] {
        let wheel = version_of(lib).unwrap_or_else(|| panic!("{lib} in {lines:?}"));
        assert!(wheel["file"].as_str().unwrap().contains("linux"), "{wheel}");
    }
    assert!(lines.last().unwrap()["nvidia_driver"].is_boolean(), "{lines:?}");

    let out = Command::new(&script).arg("--install-everything").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

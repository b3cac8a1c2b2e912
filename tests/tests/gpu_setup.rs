//! `scripts/setup-ort-gpu.sh --dry-run` on this machine: pip resolves the GPU build of ONNX
//! Runtime at the version the CPU setup pins, with its CUDA libraries (cuDNN, cuBLAS, the CUDA
//! runtime), as wheels for this platform, and the script says whether an NVIDIA driver is here;
//! nothing is installed. A bad argument is refused with the usage. `scripts/gpu-check.sh
//! --cpu-only` runs its CPU parts and names each CUDA step it skips; without the flag and
//! without a GPU it stops at once, saying what is missing.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use grail_tests::{bin, repo_root};
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

#[test]
fn gpu_check_runs_its_cpu_parts_and_says_why_each_cuda_step_is_skipped() {
    let out_dir = tempfile::tempdir().unwrap();
    let audit = bin("grail-audit");
    let out = Command::new(repo_root().join("scripts/gpu-check.sh"))
        .args(["--cpu-only", "--out"])
        .arg(out_dir.path())
        .env("GRAIL_GPU_CHECK_BIN_DIR", audit.parent().unwrap())
        .env("GRAIL_NVIDIA_SMI", "/nonexistent/nvidia-smi")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["mode"], "cpu");
    assert_eq!(summary["failed"], Value::Array(vec![]), "{summary}");
    let steps = summary["steps"].as_array().unwrap();
    let status = |step: &str| {
        let s = steps.iter().find(|s| s["step"] == step).unwrap_or_else(|| panic!("{step}"));
        (s["status"].as_str().unwrap().to_owned(), s["reason"].as_str().unwrap_or("").to_owned())
    };
    for step in ["test-engine", "test-calibrate", "calibrate-smollm2"] {
        let (s, reason) = status(step);
        assert_eq!(s, "skipped", "{step}");
        assert!(reason.contains("needs CUDA"), "{step}: {reason}");
        assert!(stderr.contains(&format!("{step} skipped: needs CUDA")), "{stderr}");
    }
    for (step, file) in [
        ("calibrate-tiny", "calibrate-tiny.json"),
        ("bench-miner", "bench-miner.json"),
        ("bench-validator", "bench-validator.json"),
    ] {
        assert_eq!(status(step).0, "ok", "{step}");
        let text = std::fs::read_to_string(out_dir.path().join(file)).unwrap();
        let json: Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(json.is_object(), "{file}: {json}");
    }
    // The calibration ran on the CPU and says the CUDA comparison was not made.
    let calibration: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("calibrate-tiny.json")).unwrap(),
    )
    .unwrap();
    let device = calibration["honest"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["source"] == "CPU vs CUDA")
        .unwrap();
    assert!(device["status"].as_str().unwrap().starts_with("not measured"), "{device}");
}

#[test]
fn gpu_check_without_a_gpu_stops_at_once_naming_what_is_missing() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(repo_root().join("scripts/gpu-check.sh"))
        .arg("--out")
        .arg(out_dir.path())
        .env("GRAIL_NVIDIA_SMI", "/nonexistent/nvidia-smi")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no NVIDIA GPU here") && stderr.contains("--cpu-only"), "{stderr}");
    assert!(!out_dir.path().join("summary.json").exists(), "it stopped before any step");
}

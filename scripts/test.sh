#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (ONNX Runtime from its pip
# wheel, into .ort/), checks formatting and lints, builds every binary, runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s ==\n' "$*" >&2; }

step "toolchain"
command -v cargo >/dev/null || { echo "test.sh: cargo is not installed (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "test.sh: python3 is needed to fetch ONNX Runtime's pip wheel" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >&2 || true
cargo --version >&2

step "ONNX Runtime (pip wheel onnxruntime==1.31.1 -> .ort/lib)"
scripts/setup-ort.sh
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.ort/lib/libonnxruntime.so}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build binaries"
cargo build --workspace --bins --locked

step "tests"
cargo test --workspace --locked "$@"

step "object store against a real S3-compatible server (moto, pip)"
scripts/test-s3.sh --locked

#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (ONNX Runtime from its pip
# wheel into .ort/, the Python reference's pinned packages into .venv-reference/, Debian's
# prometheus and chromium for the scrape and status page tests, pm2 from npm into .tools/),
# checks formatting and lints, builds every binary, recomputes the golden vectors with the
# independent Python reference, runs every test (cargo-nextest's `ci` profile, .config/nextest.toml, when
# cargo-nextest is installed; `cargo test` otherwise), and the object store against a real
# S3-compatible server. Extra arguments go to the test runner.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

started=$SECONDS
step() { printf '\n== %s (at %ds) ==\n' "$*" "$((SECONDS - started))" >&2; }

step "toolchain"
command -v cargo >/dev/null || { echo "test.sh: cargo is not installed (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "test.sh: python3 is needed to fetch ONNX Runtime's pip wheel" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >&2 || true
cargo --version >&2

step "ONNX Runtime (pip wheel onnxruntime==1.31.1 -> .ort/lib)"
scripts/setup-ort.sh
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.ort/lib/libonnxruntime.so}"

step "Debian packages the interop tests run (prometheus, chromium, npm, systemd-analyze)"
scripts/setup-debian.sh prometheus=prometheus chromium=chromium npm=npm systemd-analyze=systemd

step "npm tools the interop tests run (pm2 -> .tools/)"
[ -x .tools/node_modules/.bin/pm2 ] || npm install --prefix .tools --no-audit --no-fund --no-save pm2@6.0.14 >&2

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Binaries and tests in one build: the end-to-end tests run the binaries, and building every
# target at once gives the binaries the same dependency features as the tests (dev-dependencies
# enable some), so the test runner below reuses every artifact instead of compiling the
# dependency tree a second time.
step "build binaries and tests"
cargo build --workspace --all-targets --locked

step "golden vectors, recomputed by the Python reference (reference/)"
scripts/check-vectors.sh

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci "$@"
  cargo test --workspace --locked --doc
else
  echo "test.sh: cargo-nextest is not installed; running cargo test" >&2
  cargo test --workspace --locked "$@"
fi

step "object store against a real S3-compatible server (moto, pip)"
scripts/test-s3.sh --locked

step "done"

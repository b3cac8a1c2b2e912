#!/usr/bin/env bash
# Runs the object-store tests against a real S3-compatible server: `moto_server` (pip
# `moto[server]`, pinned, in .venv-moto/) on a free loopback port, with one bucket: the store's
# own tests, and the end-to-end store attacks on S3 (needs the binaries built).
# Usage: scripts/test-s3.sh   (extra arguments go to `cargo test`)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/moto.sh
. "$root/scripts/lib/moto.sh"
bucket="grail-test"
moto_start "$bucket"
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT

cd "$root"
GRAIL_TEST_S3_ENDPOINT="$endpoint" GRAIL_TEST_S3_BUCKET="$bucket" \
    cargo test -p grail-storage --lib "$@" -- --include-ignored --nocapture \
    && GRAIL_TEST_S3_ENDPOINT="$endpoint" GRAIL_TEST_S3_BUCKET="$bucket" \
    cargo test -p grail-tests --test store_attacks "$@" -- --ignored --nocapture

#!/usr/bin/env bash
# Runs the object-store tests against a real S3-compatible server: `moto_server` (pip
# `moto[server]`, pinned, in .venv-moto/) on a free loopback port, with one bucket: the store's
# own tests, and the end-to-end store attacks on S3 (needs the binaries built).
# Usage: scripts/test-s3.sh   (extra arguments go to `cargo test`)
set -euo pipefail

MOTO_VERSION="5.2.5"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-moto"
python="${PYTHON:-python3}"

if ! "$venv/bin/python" -c "from importlib.metadata import version; import sys; sys.exit(version('moto') != '$MOTO_VERSION')" 2>/dev/null; then
    echo "test-s3: installing moto[server]==$MOTO_VERSION into $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
    curl -fs "$endpoint/" >/dev/null 2>&1 && break
    sleep 0.2
done
bucket="grail-test"
curl -fsS -X PUT "$endpoint/$bucket" >/dev/null

cd "$root"
GRAIL_TEST_S3_ENDPOINT="$endpoint" GRAIL_TEST_S3_BUCKET="$bucket" \
    cargo test -p grail-storage --lib "$@" -- --include-ignored --nocapture \
    && GRAIL_TEST_S3_ENDPOINT="$endpoint" GRAIL_TEST_S3_BUCKET="$bucket" \
    cargo test -p grail-tests --test store_attacks "$@" -- --ignored --nocapture

#!/usr/bin/env bash
# Creates .venv-bittensor/ in the repository with the pinned `bittensor-wallet` (btwallet) and
# `bittensor-drand` pip packages (both Rust-backed binary wheels): tests/tests/miner_keys.rs
# checks our hotkey files and signatures against the real wallet code, and
# chain/tests/tlock_interop.rs our timelocked weight commits against the SDK's timelock code. Idempotent: a venv that already has the
# pinned version is left alone, and the script returns at once.
set -euo pipefail

BTWALLET_VERSION="4.1.1"
BTDRAND_VERSION="2.0.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-bittensor"
python="${PYTHON:-python3}"

# Test binaries run in parallel and each may call this: one installs, the others wait.
exec 9>"$root/.venv-bittensor.lock"
flock 9

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" - "$BTWALLET_VERSION" "$BTDRAND_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
import bittensor_drand, bittensor_wallet  # noqa: F401  (the imports themselves must work)
found = (version("bittensor-wallet"), version("bittensor-drand"))
sys.exit(0 if found == (sys.argv[1], sys.argv[2]) else 1)
PY
    exit 0
fi

echo "bittensor-venv: installing bittensor-wallet==$BTWALLET_VERSION" \
    "bittensor-drand==$BTDRAND_VERSION into $venv" >&2
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: "bittensor-wallet==$BTWALLET_VERSION" "bittensor-drand==$BTDRAND_VERSION"
"$venv/bin/python" -c "import bittensor_drand, bittensor_wallet" >&2

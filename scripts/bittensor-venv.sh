#!/usr/bin/env bash
# Creates .venv-bittensor/ in the repository with the pinned `bittensor-wallet` pip package
# (btwallet, Rust-backed), used by tests/tests/miner_keys.rs to check our hotkey files and
# signatures against the real Bittensor wallet code. Idempotent: a venv that already has the
# pinned version is left alone, and the script returns at once.
set -euo pipefail

BTWALLET_VERSION="4.1.1"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-bittensor"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" - "$BTWALLET_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
import bittensor_wallet  # noqa: F401  (the import itself must work)
sys.exit(0 if version("bittensor-wallet") == sys.argv[1] else 1)
PY
    exit 0
fi

echo "bittensor-venv: installing bittensor-wallet==$BTWALLET_VERSION into $venv" >&2
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: "bittensor-wallet==$BTWALLET_VERSION"
"$venv/bin/python" -c "import bittensor_wallet" >&2

#!/usr/bin/env bash
# Creates .venv-scalecodec/ in the repository with the pinned `scalecodec` (Polkascan's SCALE
# codec, the one py-substrate-interface uses) and `xxhash` pip packages, used by
# devchain/tests/scalecodec.rs to decode what the dev chain serves and what the client signs
# with an independent implementation driven by the same metadata. Idempotent: a venv that
# already has the pinned versions is left alone, and the script returns at once.
set -euo pipefail

SCALECODEC_VERSION="1.2.12"
XXHASH_VERSION="3.5.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-scalecodec"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" - "$SCALECODEC_VERSION" "$XXHASH_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
import scalecodec, xxhash  # noqa: F401  (the imports themselves must work)
sys.exit(0 if (version("scalecodec"), version("xxhash")) == (sys.argv[1], sys.argv[2]) else 1)
PY
    exit 0
fi

echo "scalecodec-venv: installing scalecodec==$SCALECODEC_VERSION xxhash==$XXHASH_VERSION into $venv" >&2
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "scalecodec==$SCALECODEC_VERSION" "xxhash==$XXHASH_VERSION"
"$venv/bin/python" -c "import scalecodec, xxhash" >&2

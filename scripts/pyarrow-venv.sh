#!/usr/bin/env bash
# Creates .venv-pyarrow/ in the repository with the pinned `pyarrow` pip package (Apache
# Arrow's own Parquet reader), used by tests/tests/export.rs to read what
# `grail-validator export` writes with an independent implementation. Idempotent: a venv that
# already has the pinned version is left alone, and the script returns at once.
set -euo pipefail

PYARROW_VERSION="26.0.1"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-pyarrow"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" - "$PYARROW_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
import pyarrow.parquet  # noqa: F401  (the import itself must work)
sys.exit(0 if version("pyarrow") == sys.argv[1] else 1)
PY
    exit 0
fi

echo "pyarrow-venv: installing pyarrow==$PYARROW_VERSION into $venv" >&2
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pyarrow==$PYARROW_VERSION"
"$venv/bin/python" -c "import pyarrow.parquet" >&2

#!/usr/bin/env bash
# Recomputes every golden vector in protocol/vectors/*.json with the independent Python reference
# (reference/, written from protocol/README.md alone) and compares the files byte for byte.
# Creates .venv-reference/ in the repository with the pinned packages of
# reference/requirements.txt (binary wheels only); a venv that already has exactly those
# versions is reused. Extra arguments go to reference/check_vectors.py (e.g. --dir DIR).
# Exits with the checker's status: non-zero on any difference.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-reference"
requirements="$root/reference/requirements.txt"
python="${PYTHON:-python3}"

pins_present() {
    "$venv/bin/python" - "$requirements" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        if version(name) != want:
            sys.exit(1)
import Crypto.Cipher.ChaCha20, sr25519  # noqa: E401,F401  (the imports themselves must work)
PY
}

if ! { [ -x "$venv/bin/python" ] && pins_present; }; then
    echo "check-vectors: installing reference/requirements.txt into $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary=:all: -r "$requirements"
    pins_present
fi

exec "$venv/bin/python" "$root/reference/check_vectors.py" "$@"

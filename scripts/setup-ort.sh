#!/usr/bin/env bash
# Installs libonnxruntime.so from the pip wheel onnxruntime==1.31.1 into .ort/lib (git-ignored).
# Idempotent: does nothing when the library is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${GRAIL_ORT_VERSION:-1.31.1}"
dest="$root/.ort/lib"
if [ -f "$dest/libonnxruntime.so" ] && [ -f "$root/.ort/VERSION" ] && [ "$(cat "$root/.ort/VERSION")" = "$version" ]; then
  exit 0
fi
echo "setup-ort: fetching onnxruntime==$version wheel from PyPI" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: "onnxruntime==$version" -d "$tmp" >&2
wheel="$(ls "$tmp"/onnxruntime-*.whl | head -1)"
mkdir -p "$dest"
python3 - "$wheel" "$dest" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
found = []
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime") and ".so" in base:
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                out.write(src.read())
            found.append(base)
if not any(f.startswith("libonnxruntime.so") for f in found):
    sys.exit(f"setup-ort: no libonnxruntime.so in {wheel}")
PY
# The wheel ships a versioned name; give the loader the plain one too.
if [ ! -f "$dest/libonnxruntime.so" ]; then
  ln -sf "$(cd "$dest" && ls libonnxruntime.so.* | head -1)" "$dest/libonnxruntime.so"
fi
echo "$version" > "$root/.ort/VERSION"
echo "setup-ort: installed $(ls "$dest" | tr '\n' ' ')into $dest" >&2

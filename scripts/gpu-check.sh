#!/usr/bin/env bash
# The CUDA side in one command, on a machine with an NVIDIA GPU: installs the onnxruntime-gpu
# wheel and its CUDA libraries from pip into .ort-gpu/ (scripts/setup-ort-gpu.sh), runs the
# tests that need CUDA, `grail-audit calibrate --compare-device cuda` on the tiny model and on
# SmolLM2-135M, and both benches on CUDA, writing every JSON result under one folder:
#   scripts/gpu-check.sh [--cpu-only] [--out DIR]      # DIR defaults to gpu-check/ (ignored)
# Each step's output is DIR/STEP.json (or .log), and DIR/summary.json lists every step with
# its status (ok, failed, skipped), seconds and reason, and the total against the 600 s budget.
# --cpu-only runs what needs no GPU (the tiny model's calibration and both benches on the CPU)
# and records each CUDA step as skipped, saying why. Without it, a machine with no NVIDIA GPU
# stops at once with a message naming what is missing.
# GRAIL_GPU_CHECK_BIN_DIR: take grail-audit from there instead of building it (release).
# GRAIL_NVIDIA_SMI: the nvidia-smi to ask (default: the one on PATH).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "gpu-check: $*" >&2; }
die() { echo "gpu-check: error: $*" >&2; exit 1; }

mode=cuda
out="$root/gpu-check"
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-only) mode=cpu ;;
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (arguments: --cpu-only, --out DIR)" ;;
  esac
  shift
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
steps="$out/steps.jsonl"
: > "$steps"
started=$(date +%s)

# record STEP STATUS SECONDS REASON [FILE...]
record() {
  python3 - "$@" >> "$steps" <<'PY'
import json, sys
step, status, seconds, reason, *files = sys.argv[1:]
print(json.dumps({"step": step, "status": status, "seconds": float(seconds),
                  "reason": reason or None, "files": files}))
PY
}

# run STEP FILE COMMAND...: runs COMMAND with its stdout in DIR/FILE and stderr in DIR/STEP.log.
run() {
  local step="$1" file="$2"
  shift 2
  say "$step"
  local t0 status=0
  t0=$(date +%s.%N)
  "$@" > "$out/$file" 2> "$out/$step.log" || status=$?
  local seconds
  seconds=$(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))")
  if [ "$status" -eq 0 ]; then
    record "$step" ok "$seconds" "" "$file" "$step.log"
  else
    say "$step failed (exit $status); the end of $out/$step.log:"
    tail -15 "$out/$step.log" >&2
    record "$step" failed "$seconds" "exit $status" "$file" "$step.log"
  fi
}

skip() { say "$1 skipped: $2"; record "$1" skipped 0 "$2"; }

# The GPU.
smi="${GRAIL_NVIDIA_SMI:-nvidia-smi}"
gpu=""
if command -v "$smi" >/dev/null 2>&1; then
  gpu="$("$smi" --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true)"
fi
if [ -z "$gpu" ]; then
  why="no NVIDIA GPU here ($smi is missing or lists no GPU)"
  [ "$mode" = cpu ] || die "$why: the CUDA steps cannot run. scripts/gpu-check.sh --cpu-only runs the rest."
  skip gpu "$why; --cpu-only"
else
  printf '%s\n' "$gpu" | python3 -c '
import json, sys
rows = [[f.strip() for f in line.split(",")] for line in sys.stdin if line.strip()]
print(json.dumps([{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows]))' > "$out/gpu.json"
  record gpu ok 0 "" gpu.json
fi

# ONNX Runtime: the GPU build and its CUDA libraries, or the CPU build.
if [ "$mode" = cuda ]; then
  run runtime runtime.txt "$root/scripts/setup-ort-gpu.sh"
  [ -f "$root/.ort-gpu/env" ] || die "the GPU runtime is not installed (see $out/runtime.log); the CUDA steps cannot run"
  # shellcheck disable=SC1091
  . "$root/.ort-gpu/env"
else
  run runtime runtime.txt "$root/scripts/setup-ort.sh"
  export ORT_DYLIB_PATH="$root/.ort/lib/libonnxruntime.so"
fi

# grail-audit.
if [ -n "${GRAIL_GPU_CHECK_BIN_DIR:-}" ]; then
  bin="$GRAIL_GPU_CHECK_BIN_DIR"
  record build skipped 0 "grail-audit from GRAIL_GPU_CHECK_BIN_DIR=$bin"
else
  run build build.txt cargo build --release --bin grail-audit --manifest-path "$root/Cargo.toml"
  bin="$root/target/release"
fi
audit="$bin/grail-audit"
[ -x "$audit" ] || die "no grail-audit at $audit"

tiny="$root/fixtures/models/tiny"
forgers=()
for name in other noisy int8; do
  forgers+=(--forger-model "tiny-$name=$root/fixtures/models/tiny-$name")
done
needs_cuda="needs CUDA (an NVIDIA GPU and the GPU runtime)"

if [ "$mode" = cuda ]; then
  run test-engine test-engine.txt cargo test --release --manifest-path "$root/Cargo.toml" \
    -p grail-fingerprint --test engine cuda_and_cpu -- --ignored --nocapture
  run test-calibrate test-calibrate.txt cargo test --release --manifest-path "$root/Cargo.toml" \
    -p grail-tests --test calibrate_cli -- --nocapture
  run calibrate-tiny calibrate-tiny.json "$audit" calibrate --model "$tiny" \
    --rollouts 256 --new-tokens 64 --compare-device cuda "${forgers[@]}"
  smol="$root/models/smollm2-135m"
  run fetch-smollm2 fetch-smollm2.txt "$root/scripts/fetch-model.sh" --skip-check smollm2-135m
  if [ -f "$smol/model.onnx" ]; then
    run calibrate-smollm2 calibrate-smollm2.json "$audit" calibrate --model "$smol" \
      --rollouts 64 --new-tokens 64 --compare-device cuda
    run bench-miner bench-miner.json "$audit" bench miner --model "$smol" --device cuda
    run bench-validator bench-validator.json "$audit" bench validator --model "$smol" --device cuda
  else
    for s in calibrate-smollm2 bench-miner bench-validator; do skip "$s" "no $smol"; done
  fi
else
  skip test-engine "$needs_cuda"
  skip test-calibrate "$needs_cuda (the CPU calibration test runs in scripts/test.sh)"
  run calibrate-tiny calibrate-tiny.json "$audit" calibrate --model "$tiny" \
    --rollouts 16 --new-tokens 32 "${forgers[@]}"
  skip fetch-smollm2 "the SmolLM2 steps run on CUDA"
  skip calibrate-smollm2 "$needs_cuda"
  run bench-miner bench-miner.json "$audit" bench miner --model "$tiny" --groups 1 --new-tokens 16
  run bench-validator bench-validator.json "$audit" bench validator --model "$tiny" --groups 1 --new-tokens 16
fi

total=$(( $(date +%s) - started ))
python3 - "$steps" "$mode" "$total" "$out/summary.json" <<'PY'
import json, sys
steps_file, mode, total, summary = sys.argv[1:]
steps = [json.loads(line) for line in open(steps_file)]
failed = [s["step"] for s in steps if s["status"] == "failed"]
doc = {"mode": mode, "seconds": int(total), "budget_seconds": 600,
       "within_budget": int(total) <= 600, "failed": failed, "steps": steps}
json.dump(doc, open(summary, "w"), indent=1)
print(json.dumps({"mode": mode, "seconds": int(total), "failed": failed,
                  "skipped": [s["step"] for s in steps if s["status"] == "skipped"]}))
PY
rm -f "$steps"
say "results in $out (summary.json)"
python3 -c "import json,sys; sys.exit(1 if json.load(open('$out/summary.json'))['failed'] else 0)"

#!/usr/bin/env bash
# Long fuzz runs (not part of CI): each cargo-fuzz target of fuzz/ under libFuzzer with
# AddressSanitizer, for a number of executions, from a working corpus (fuzz/corpus/TARGET,
# git-ignored) started from the committed seeds (fuzz/seeds/TARGET). Prints one JSON line
# per target: executions, seconds, crashes (files libFuzzer left in fuzz/artifacts/TARGET),
# corpus size after the run, peak RSS, and the limits it ran under; then a total line.
#   scripts/fuzz.sh                      # every target, 1,000,000 executions each
#   scripts/fuzz.sh -r 10000 window_file # one target, 10,000 executions
# Needs the nightly toolchain; installs cargo-fuzz into .tools/ when it is not on PATH.
# A target's allocation over the malloc limit, RSS over the RSS limit, or an input running
# past the timeout counts as a crash.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=1000000
malloc_mb="${GRAIL_FUZZ_MALLOC_MB:-512}"
rss_mb="${GRAIL_FUZZ_RSS_MB:-2048}"
timeout_s="${GRAIL_FUZZ_TIMEOUT_S:-10}"

usage() { echo "usage: scripts/fuzz.sh [-r RUNS] [TARGET...]" >&2; exit 2; }
while getopts "r:" opt; do
  case "$opt" in
    r) runs="$OPTARG" ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ "$runs" =~ ^[0-9]+$ ]] && [ "$runs" -gt 0 ] || { echo "-r: $runs is not a positive count" >&2; exit 2; }

cd "$root/fuzz"
all_targets=$(ls fuzz_targets | sed 's/\.rs$//')
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<< "$(echo $all_targets)"
for t in "${targets[@]}"; do
  echo "$all_targets" | grep -qx "$t" || { echo "no fuzz target $t (have: $(echo $all_targets))" >&2; exit 2; }
done

rustup run nightly true 2>/dev/null || { echo "scripts/fuzz.sh needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
if ! command -v cargo-fuzz >/dev/null; then
  export PATH="$root/.tools/bin:$PATH"
  command -v cargo-fuzz >/dev/null || cargo install --locked --root "$root/.tools" cargo-fuzz@0.13.2 >&2
fi

# The bundled SQLite amalgamation has two function-local statics named `aiOff`, which ASan's
# one-definition-rule check reports at start: a false positive, so that check is off.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
echo "building the fuzz targets (release, AddressSanitizer)" >&2
cargo +nightly fuzz build -O >&2

total_runs=0
total_crashes=0
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  artifacts="artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp -n "seeds/$t"/* "$corpus"/
  log="$(mktemp)"
  echo "fuzzing $t: $runs executions" >&2
  start=$(date +%s.%N)
  set +e
  /usr/bin/time -f '%M' -o "$log.rss" \
    "target/x86_64-unknown-linux-gnu/release/$t" "$corpus" \
    -runs="$runs" -malloc_limit_mb="$malloc_mb" -rss_limit_mb="$rss_mb" -timeout="$timeout_s" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  end=$(date +%s.%N)
  done_runs=$( (grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" || true) | grep -oE '[0-9]+$' | tail -1 || true)
  crashes=$(find "$artifacts" -type f | wc -l)
  corpus_files=$(find "$corpus" -type f | wc -l)
  corpus_bytes=$(du -sb "$corpus" | cut -f1)
  rss_kb=$(tail -1 "$log.rss" | grep -oE '^[0-9]+$' || echo 0)
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    echo "$t: libFuzzer exited $status without an artifact; its log:" >&2
    tail -30 "$log" >&2
    crashes=1
  fi
  [ "$crashes" -eq 0 ] || { echo "$t: crash; the last lines of libFuzzer's log:" >&2; tail -30 "$log" >&2; }
  python3 - "$t" "${done_runs:-0}" "$start" "$end" "$crashes" "$corpus_files" "$corpus_bytes" "$rss_kb" "$malloc_mb" "$rss_mb" "$timeout_s" <<'PY'
import json, sys
t, runs, start, end, crashes, files, size, rss, malloc, rss_limit, timeout = sys.argv[1:]
print(json.dumps({
    "target": t, "executions": int(runs), "seconds": round(float(end) - float(start), 1),
    "crashes": int(crashes), "corpus_files": int(files), "corpus_bytes": int(size),
    "peak_rss_mb": round(int(rss) / 1024, 1),
    "limits": {"malloc_mb": int(malloc), "rss_mb": int(rss_limit), "timeout_s": int(timeout)},
}))
PY
  total_runs=$((total_runs + ${done_runs:-0}))
  total_crashes=$((total_crashes + crashes))
  rm -f "$log" "$log.rss"
done
echo "{\"targets\": ${#targets[@]}, \"executions\": $total_runs, \"crashes\": $total_crashes}"
[ "$total_crashes" -eq 0 ]

#!/usr/bin/env bash
# A long run under faults (not part of CI): a local subnet of the real binaries on the tiny
# model, 32 miners and two validators for 20 windows of 12 one-second blocks, with faults on a
# schedule drawn from the seed: SIGKILLs of the validators and miners, a store that fails or
# stalls requests, a drand relay that lies or hangs, a chain endpoint that drops connections,
# and (as root) validator 1's data folder on a 64 MB tmpfs that is filled for a while, twice.
# Then each validator's transcripts must replay to what it recorded, and a reference validator
# takes every window from the store without faults: each verdict or weights file of a
# validator that differs from the reference's must be explained by what the validator read
# (another file, or other upload times). Prints one JSON summary line (also in
# .soak/summary.json); exits 1 if a check failed. About 6 minutes on 2 cores once built.
#   scripts/soak.sh                    # seed 1
#   scripts/soak.sh --seed 7 --windows 30
# Every flag of `grail-soak --help` can be passed; logs are in .soak/logs/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'soak: %s\n' "$*" >&2; }

command -v cargo >/dev/null || { say "cargo is not installed (https://rustup.rs)"; exit 1; }
command -v curl >/dev/null || { say "curl is needed (the store's bucket is made with it)"; exit 1; }
scripts/setup-ort.sh
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.ort/lib/libonnxruntime.so}"
say "building (cargo build --workspace --bins)"
cargo build --workspace --bins --locked -q

# shellcheck source=scripts/lib/moto.sh
. "$root/scripts/lib/moto.sh"
bucket="grail-soak"
moto_start "$bucket"
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
say "store: moto at $endpoint, bucket $bucket"

target/debug/grail-soak --store.endpoint "$endpoint" --store.bucket "$bucket" \
  --work "$root/.soak" --model "$root/fixtures/models/tiny" "$@"

#!/usr/bin/env bash
# The main job, end to end, on the embedded defaults: a local subnet on loopback.
#
#   the local drand beacon (real BLS, quicknet's scheme, an insecure development key)
#   grail-devchain, a loopback chain with subtensor's wire format (JSON-RPC over WebSocket and
#     HTTP, SCALE storage under subtensor's keys): netuid 1 with the subnet owner at uid 0 and
#     miners 1-3 at uids 1-3 from its genesis; miner 4 registers itself with a signed
#     burned_register extrinsic (`grail-miner register`) and gets uid 4; each miner publishes
#     its part of the local store with set_commitment (`grail-miner commit`), where the
#     validator reads its files; the roles read blocks, hashes and the metagraph from it
#   3 grail-miner processes per window (fresh sr25519 hotkeys, local-folder object store), and
#     miner 4, the adversary of `grail-audit`, which forges a token in every rollout
#   1 grail-validator (SQLite state, weights files, HTTP /status /weights /metrics, transcripts),
#     which on the dev chain puts its weights on chain as a timelocked commit signed by the
#     subnet owner's hotkey; the demo ends by reading them back once the chain has revealed them
#
#   grail-trainer, which publishes a second model as the checkpoint of the second window: every
#     role fetches it, checks the trainer's signature and the files, and switches at that window
#
# It runs two windows with short demo timing (1 s blocks, 6-block windows), then prints a table
# of miners with verdicts, scores and weights, the model of each window, replays the last
# window's transcript (under the checkpoint's model) and
# exports both windows' verified rollouts as Parquet (`grail-validator export`). The
# weights use a 2-window span with the cap at what one honest miner makes per window, so an
# honest miner's full score is visible; the network defaults are in `grail-validator run --help`.
# GRAIL_DEMO_CHAIN=clock runs the same subnet offline on the local clock chain and a metagraph
# file instead of the dev chain. The model is fixtures/models/tiny; set GRAIL_DEMO_MODEL=models/smollm2-135m (after
# `scripts/fetch-model.sh smollm2-135m`) to run the same subnet on SmolLM2-135M-Instruct.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'demo: %s\n' "$*" >&2; }

command -v cargo >/dev/null || { say "cargo is not installed (https://rustup.rs)"; exit 1; }
command -v python3 >/dev/null || { say "python3 is needed (ONNX Runtime comes from its pip wheel)"; exit 1; }
scripts/setup-ort.sh
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.ort/lib/libonnxruntime.so}"

model="${GRAIL_DEMO_MODEL:-$root/fixtures/models/tiny}"
[ -f "$model/model.onnx" ] || { say "no model at $model (fetch it with scripts/fetch-model.sh smollm2-135m)"; exit 1; }
case "$model" in
  *tiny*) blocks=6 tokens=16 problems=2 ;;
  *) blocks=20 tokens=48 problems=1 ;;   # a real model needs longer windows on 2 cores
esac
grace=2

say "building (cargo build --workspace --bins)"
cargo build --workspace --bins --locked -q
bin="$root/target/debug"
work="$root/.demo"
rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# shellcheck source=scripts/lib/subnet.sh
. "$root/scripts/lib/subnet.sh"
subnet_beacon
subnet_keys 4
if [ "${GRAIL_DEMO_CHAIN:-devchain}" = clock ]; then
  now=$(date +%s)
  w=$(( (now - genesis) / blocks + 1 ))
  say "beacon at $url; local clock chain (genesis $genesis) and $work/metagraph.json"
else
  subnet_devchain 3
  say "beacon at $url; dev chain at ws://$chain (genesis $chain_genesis); no metagraph file"
  subnet_register 4
  say "miner4 registered on chain: $(cat "$work/register4.json")"
  commits=()
  for i in 1 2 3 4; do subnet_commit "$i" & commits+=($!); done
  for p in "${commits[@]}"; do wait "$p" || exit 1; done
  say "miner1 committed its store: $(cat "$work/commit1.json")"
  subnet_best
  w=$(( best / blocks + 2 ))
fi
say "model $(basename "$model"); windows $w and $((w + 1)), ${blocks} blocks of 1 s each"

# The trainer rotates the model: window w runs every role's own --model, window w+1 the
# checkpoint it publishes now (files, manifest, signature) in its store, which the miners and
# the validator fetch, check and switch to.
case "$model" in
  *tiny*) next_model="$root/fixtures/models/tiny-other" ;;
  *) next_model="$model" ;;   # one real model here: the checkpoint names it again
esac
next_model="${GRAIL_DEMO_NEXT_MODEL:-$next_model}"
trainer="$("$bin/grail-miner" keygen --wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey trainer \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["ss58"])')"
"$bin/grail-trainer" publish --model "$next_model" --from-window "$((w + 1))" --max-new-tokens "$tokens" \
  --wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey trainer --storage.path "$work/trainer" \
  --log.level warn >"$work/checkpoint.json"
next_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model_id"])' "$work/checkpoint.json")"
checkpoint=(--checkpoint.url "file://$work/trainer" --checkpoint.trainer "$trainer" --checkpoint.cache "$work/checkpoints")
say "trainer $trainer published $(basename "$next_model") (model_id $next_id) as the checkpoint of window $((w + 1)) on"

miners=()
for window in "$w" "$((w + 1))"; do
  for i in 1 2 3; do subnet_mine "$window" "$i" "$problems" & miners+=($!); done
  subnet_tamper "$window" 4 "$problems" & miners+=($!)
done

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
say "validator HTTP on http://127.0.0.1:$port (/status /weights /metrics /health /verdicts/HOTKEY); logs in $work"
# While the validator runs, ask it why miner4 failed: GET /verdicts/{miner4's hotkey}.
hk4="$(python3 -c 'import json,sys; print(next(n["hotkey"] for n in json.load(open(sys.argv[1]))["neurons"] if n["uid"] == 4))' "$work/metagraph.json")"
python3 - "http://127.0.0.1:$port/verdicts/$hk4?since=$w" "$work/verdicts4.json" <<'PY' &
import json, sys, time, urllib.request
deadline = time.time() + 300
while time.time() < deadline:
    try:
        body = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))
        if any(v["result"] == "fail" for v in body["verdicts"]):
            json.dump(body, open(sys.argv[2], "w"))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit("no failed verdict of miner4 at " + sys.argv[1])
PY
asker=$!
if [ -n "${chain:-}" ]; then
  # The subnet owner's hotkey signs the weights: a timelocked commit per epoch. The miners'
  # committed stores are local folders, which a validator takes only when told to.
  on_chain=(--wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey owner --commitments.allow-local)
else
  on_chain=()
fi
subnet_validate "$w" "$((w + 1))" --http.listen "127.0.0.1:$port" \
  --weights.span 2 --weights.cap "$((problems * 16))" --weights.burn-bps 5000 "${on_chain[@]}" \
  || { tail -n 20 "$work/validator.log" >&2; exit 1; }
for p in "${miners[@]}"; do wait "$p" || { say "a miner failed:"; tail -n 5 "$work"/miner*.log >&2; exit 1; }; done
wait "$asker" || { say "the validator's /verdicts did not show miner4's failure"; exit 1; }

python3 - "$work/validator.jsonl" "$work/metagraph.json" "$work/validator/transcripts" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# Names for display only (the keys subnet_keys made); the validator had uids and hotkeys from
# the chain, or from this file on the local clock.
names = {n["hotkey"]: f"miner{n['uid']}" for n in json.load(open(sys.argv[2]))["neurons"]}
print()
print(f"{'window':>8}  {'uid':>3}  {'miner':<7} {'hotkey':<14} {'verdict':<9} {'stage':<12} {'checked':>7} {'unique':>6}  reason")
for line in lines:
    for v in sorted(line["verdicts"], key=lambda v: v["uid"]):
        note = (v.get("reason") or "")[:70]
        hk = v["hotkey"][:12] + ".."
        print(f"{line['window']:>8}  {v['uid']:>3}  {names.get(v['hotkey'], '?'):<7} {hk:<14} {v['result']:<9} "
              f"{v['stage']:<12} {v['rollouts_checked']:>7} {v['unique_estimated']:>6}  {note}")
print()
print("the model of each window (from the validator's transcripts):")
for line in lines:
    t = json.load(open(f"{sys.argv[3]}/{line['window']}.json"))
    c = t.get("checkpoint")
    source = f"checkpoint of window {c['from_window']} on, signed by {c['trainer'][:12]}.." if c else "the validator's own --model"
    print(f"  window {line['window']}: model_id {t['model_id'][:20]}..  {source}")
last = lines[-1]["weights"]
weights = dict(zip(last["uids"], last["weights"]))
print()
print(f"weights after window {lines[-1]['window']} (chain format: uids, u16 max-upscaled to 65535, version key {last['version_key']}):")
print(f"{'uid':>5}  {'miner':<7} {'status':<22} {'unique':>6} {'share':>8} {'u16':>6}")
print(f"{0:>5}  {'burn':<7} {'':<22} {'':>6} {last['burn_share']:>8.4f} {weights.get(0, 0):>6}")
for m in last["miners"]:
    status = m["status"] if isinstance(m["status"], str) else json.dumps(m["status"])
    print(f"{m['uid']:>5}  {names.get(m['hotkey'], '?'):<7} {status[:22]:<22} {m['unique']:>6} {m['share']:>8.4f} {weights.get(m['uid'], 0):>6}")
PY

if [ -n "${chain:-}" ]; then
  say "waiting for the chain to reveal the validator's last timelocked commit (the next epoch, with the beacon's round)"
  python3 - "$bin/grail-validator" "ws://$chain" "$work/validator.jsonl" "$work/validator/validator.sqlite" <<'PY' || exit 1
import json, sqlite3, subprocess, sys, time
validator, endpoint, lines, db = sys.argv[1:5]
# The validator commits once per epoch: the window of its last included commit.
window, block = sqlite3.connect(db).execute(
    "SELECT window, block FROM weight_submissions WHERE status = 'included' ORDER BY id DESC LIMIT 1").fetchone()
line = next(json.loads(l) for l in open(lines) if l.strip() and json.loads(l)["window"] == window)
mine = dict(zip(line["weights"]["uids"], line["weights"]["weights"]))
deadline = time.time() + 60
while True:
    out = subprocess.run([validator, "weights", "on-chain", "--netuid", "1", "--subtensor.chain_endpoint",
                          endpoint, "--chain.block-time", "1"], capture_output=True, text=True, check=True)
    chain = json.loads(out.stdout)
    owner = next((u for u in chain["uids"] if u["uid"] == 0), None)
    revealed = {u: w for u, w in owner["weights"]} if owner else {}
    # Zero weights pad the vector to the subnet's MinAllowedWeights.
    if {u: w for u, w in revealed.items() if w} == mine or time.time() > deadline:
        break
    time.sleep(2)
print()
print(f"weights on chain at block {chain['block']}, revealed from uid 0's timelocked commit of window {window}'s")
print(f"weights (included in block {block}), beside the validator's:")
print(f"{'uid':>5}  {'chain':>6}  {'validator':>9}")
for uid in sorted(set(revealed) | set(mine)):
    print(f"{uid:>5}  {revealed.get(uid, '-'):>6}  {mine.get(uid, '-'):>9}")
if {u: w for u, w in revealed.items() if w} != mine:
    sys.exit("demo: the chain's weights are not the validator's")
PY
fi

python3 - "$work/verdicts4.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
print(f"\nGET /verdicts/{body['hotkey'][:12]}.. (miner4, asked while the validator ran):")
for v in body["verdicts"]:
    print(f"  window {v['window']}: {v['result']} at stage {v['stage']}: {v.get('reason') or ''}")
PY
say "replaying window $((w + 1)) from its transcript with the same code (an auditor's check):"
"$bin/grail-validator" replay "$work/validator/transcripts/$((w + 1)).json" --model "$work/checkpoints/$next_id" --log.level warn
say "exporting the verified rollouts of both windows for a trainer (Parquet, one row per rollout):"
"$bin/grail-validator" export --data "$work/validator" --since "$w" --until "$((w + 1))" \
  --format parquet --out "$work/rollouts.parquet" --log.level warn
say "done: honest miners got weight under both models; miner4 (tampered token) was rejected at the stage shown;"
say "their verified rollouts are in $work/rollouts.parquet."

# Shared by scripts/demo.sh and fixtures/scripts/make_transcripts.sh: a local subnet on
# loopback from the real binaries. Source it after setting:
#   bin    folder of the built binaries     work   scratch folder (logs, keys, storage)
#   model  model folder                     tokens --max-new-tokens of miners and validator
#   blocks --window.blocks                  grace  --window.grace
#   pids   an array the caller's EXIT trap kills
#   checkpoint (optional) the --checkpoint.* flags every role gets (the trainer's store)
# and call, in order: subnet_beacon, subnet_keys, optionally subnet_devchain (the roles then
# read blocks, hashes and the metagraph from the dev chain over RPC instead of the local clock
# and $work/metagraph.json), then subnet_mine / subnet_tamper / subnet_validate.

# Starts the local beacon (1 s rounds); sets `url`, `genesis` and the `timing` flags.
subnet_beacon() {
  [ -n "${checkpoint+set}" ] || checkpoint=()
  "$bin/grail-beacon" --listen 127.0.0.1:0 --period 1 --log.level warn >"$work/beacon.json" 2>"$work/beacon.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/beacon.json" ] && break; sleep 0.1; done
  [ -s "$work/beacon.json" ] || { echo "the beacon did not start; see $work/beacon.log" >&2; return 1; }
  read -r url genesis < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["url"], d["genesis_time"])' "$work/beacon.json")
  timing=(--chain.genesis "$genesis" --chain.block-time 1 --window.blocks "$blocks" --window.grace "$grace")
}

# subnet_keys COUNT: hotkeys miner1..minerCOUNT (uids 1..COUNT, burn uid 0) and
# $work/metagraph.json.
subnet_keys() {
  local neurons="" ss58 i
  for i in $(seq "$1"); do
    ss58="$("$bin/grail-miner" keygen --wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey "miner$i" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["ss58"])')"
    neurons="$neurons${neurons:+, }{\"uid\": $i, \"hotkey\": \"$ss58\"}"
  done
  echo "{\"netuid\": 1, \"burn_uid\": 0, \"neurons\": [$neurons]}" >"$work/metagraph.json"
  metagraph=(--metagraph "$work/metagraph.json")
}

# subnet_devchain [REGISTERED]: starts grail-devchain on a free loopback port with block time
# 1 s, netuid 1, uid 0 the subnet owner (hotkey `owner`, which the weights' burn share goes to,
# and which signs the validator's weights) and uids 1..REGISTERED (default: all) the first keys
# of subnet_keys; the owner and every miner's hotkey are funded (1 TAO) so that they can sign
# (the others register with subnet_register). Commit-reveal is on, as on subtensor, with one
# epoch per window (tempo = blocks - 1), and the chain takes drand pulses from the local
# beacon to reveal the validator's timelocked commits. Sets `chain` (host:port),
# `chain_genesis`, `best` (its best block) and points `timing` at it: miners over WebSocket,
# the validator over HTTP.
subnet_devchain() {
  local owner
  owner="$("$bin/grail-miner" keygen --wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey owner \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["ss58"])')"
  python3 - "$work/metagraph.json" "$owner" "${1:-256}" "$blocks" >"$work/genesis.json" <<'PY'
import json, sys
keys = [n["hotkey"] for n in sorted(json.load(open(sys.argv[1]))["neurons"], key=lambda n: n["uid"])]
neurons = [{"hotkey": hk, "stake": 10**9} for hk in [sys.argv[2]] + keys[:int(sys.argv[3])]]
balances = [{"account": hk, "free": 10**9} for hk in [sys.argv[2]] + keys]
print(json.dumps({"netuid": 1, "owner": sys.argv[2], "tempo": int(sys.argv[4]) - 1,
                  "weights_rate_limit": 0, "neurons": neurons, "balances": balances}))
PY
  "$bin/grail-devchain" --genesis "$work/genesis.json" --listen 127.0.0.1:0 --block-time-ms 1000 \
    --beacon.chain local --beacon.relays "$url" \
    --log.level info >"$work/devchain.out" 2>"$work/devchain.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/devchain.out" ] && break; sleep 0.1; done
  [ -s "$work/devchain.out" ] || { echo "the dev chain did not start; see $work/devchain.log" >&2; return 1; }
  # grail-devchain: listening on ws://ADDR and http://ADDR, genesis 0x…, netuid N, K neurons
  read -r chain chain_genesis < <(sed -E 's|.*ws://([^ ]+) .*genesis (0x[0-9a-f]+).*|\1 \2|' "$work/devchain.out")
  subnet_best
  metagraph=()
  timing=(--netuid 1 --chain.block-time 1 --window.blocks "$blocks" --window.grace "$grace")
}

# subnet_register I: miner I registers its hotkey on the dev chain (`grail-miner register`,
# burned_register signed by the hotkey); its JSON line goes to $work/registerI.json.
subnet_register() {
  "$bin/grail-miner" register --wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey "miner$1" \
    --netuid 1 --subtensor.chain_endpoint "ws://$chain" --chain.block-time 1 \
    >"$work/register$1.json" 2>"$work/register$1.log" \
    || { echo "miner$1 could not register; see $work/register$1.log" >&2; return 1; }
}

# subnet_commit I: miner I publishes its part of the local store (`$work/storage/{hotkey}`) on
# the dev chain (`grail-miner commit`, set_commitment signed by the hotkey), where validators
# read its files; its JSON line goes to $work/commitI.json.
subnet_commit() {
  "$bin/grail-miner" commit --wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey "miner$1" \
    --netuid 1 --subtensor.chain_endpoint "ws://$chain" --chain.block-time 1 --storage.path "$work/storage" \
    >"$work/commit$1.json" 2>"$work/commit$1.log" \
    || { echo "miner$1 could not commit its store; see $work/commit$1.log" >&2; return 1; }
}

# subnet_best: sets `best` to the dev chain's best block.
subnet_best() {
  best="$(subnet_rpc chain_getHeader | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["number"], 16))')"
}

# subnet_rpc METHOD [PARAMS_JSON]: one JSON-RPC call to the dev chain over HTTP; prints `result`.
subnet_rpc() {
  python3 - "http://$chain" "$1" "${2:-[]}" <<'PY'
import json, sys, urllib.request
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": sys.argv[2], "params": json.loads(sys.argv[3])}).encode()
req = urllib.request.Request(sys.argv[1], body, {"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(req, timeout=30))
if "error" in answer:
    sys.exit(f"{sys.argv[2]}: {answer['error']}")
print(json.dumps(answer["result"]))
PY
}

# The endpoint flag of a role: `ws` or `http` on the dev chain, nothing on the local clock.
subnet_endpoint() {
  if [ -n "${chain:-}" ]; then endpoint=(--subtensor.chain_endpoint "$1://$chain"); else endpoint=(); fi
}

# The flags every mining process shares.
subnet_miner_flags() {
  subnet_endpoint ws
  miner_flags=("${endpoint[@]}" --model "$model" --wallet.path "$work/wallets" --wallet.name subnet
    --beacon.chain local --beacon.relays "$url" "${timing[@]}" --max-new-tokens "$tokens" --threads 1
    --storage.path "$work/storage" "${checkpoint[@]}")
}

# subnet_mine WINDOW I PROBLEMS [FLAGS...]: miner I mines one window; JSON lines to
# $work/minerI.jsonl, log to $work/minerI.log.
subnet_mine() {
  local window=$1 i=$2 problems=$3; shift 3
  subnet_miner_flags
  "$bin/grail-miner" mine "${miner_flags[@]}" --wallet.hotkey "miner$i" \
    --from-window "$window" --until-window "$window" --problems "$problems" "$@" \
    >>"$work/miner$i.jsonl" 2>>"$work/miner$i.log"
}

# subnet_tamper WINDOW I PROBLEMS: miner I is the adversary of `grail-audit` for one window:
# it mines honestly, then uploads its file with the middle token of every rollout replaced
# (re-signed), which the validator rejects at stage `sampling`.
subnet_tamper() {
  local window=$1 i=$2 problems=$3
  subnet_miner_flags
  "$bin/grail-audit" adversary "${miner_flags[@]}" --window "$window" --problems "$problems" \
    --attack "forged-token=miner$i" >>"$work/miner$i.jsonl" 2>>"$work/miner$i.log"
}

# subnet_validate FIRST LAST [FLAGS...]: the validator over windows FIRST..LAST, with
# transcripts; JSON lines to $work/validator.jsonl, log to $work/validator.log.
subnet_validate() {
  local first=$1 last=$2; shift 2
  subnet_endpoint http
  "$bin/grail-validator" run --model "$model" --threads 1 --data "$work/validator" "${metagraph[@]}" "${endpoint[@]}" \
    --beacon.chain local --beacon.relays "$url" "${timing[@]}" --window.challenge-buffer 2 \
    --max-new-tokens "$tokens" --storage.path "$work/storage" --transcripts "${checkpoint[@]}" \
    --from-window "$first" --until-window "$last" --log.level info "$@" \
    >"$work/validator.jsonl" 2>"$work/validator.log"
}

#!/usr/bin/env bash
# Prepares the folder the pm2 ecosystem (ecosystem.config.js) runs the demo's local subnet in:
#   deploy/pm2/prepare.sh WORK
# makes hotkeys `owner` (the subnet owner, uid 0, which signs the validator's weights) and
# miner1..miner3 (uids 1-3) under WORK/wallets, the dev chain's genesis (WORK/genesis.json:
# netuid 1, 6-block epochs, everyone funded), the beacon's genesis time (WORK/beacon-genesis)
# and WORK/logs. GRAIL_BIN names the built binaries (default: target/debug).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="${1:?usage: deploy/pm2/prepare.sh WORK}"
bin="${GRAIL_BIN:-$root/target/debug}"
[ -x "$bin/grail-miner" ] || { echo "prepare.sh: no $bin/grail-miner (cargo build --workspace --bins)" >&2; exit 1; }
mkdir -p "$work/logs" "$work/storage"
keys=()
for name in owner miner1 miner2 miner3; do
  keys+=("$("$bin/grail-miner" keygen --wallet.path "$work/wallets" --wallet.name subnet --wallet.hotkey "$name" --log.level warn \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["ss58"])')")
done
python3 - "$work/genesis.json" "${keys[@]}" <<'PY'
import json, sys
out, owner, *miners = sys.argv[1:]
keys = [owner] + miners
json.dump({"netuid": 1, "owner": owner, "tempo": 5, "weights_rate_limit": 0,
           "neurons": [{"hotkey": k, "stake": 10**9} for k in keys],
           "balances": [{"account": k, "free": 10**9} for k in keys]}, open(out, "w"))
PY
date +%s >"$work/beacon-genesis"
echo "prepared $work: hotkeys ${keys[*]}" >&2

# Shared by scripts/test-s3.sh and scripts/soak.sh: a real S3-compatible server,
# `moto_server` (pip `moto[server]`, pinned, in .venv-moto/), on a free loopback port with one
# bucket. Source it after setting `root` (the repository), then call moto_start BUCKET: it sets
# `endpoint` (http://127.0.0.1:PORT) and `moto_pid` (the caller's EXIT trap kills it).

MOTO_VERSION="5.2.5"

moto_start() {
    local venv="$root/.venv-moto" python="${PYTHON:-python3}" port
    if ! "$venv/bin/python" -c "from importlib.metadata import version; import sys; sys.exit(version('moto') != '$MOTO_VERSION')" 2>/dev/null; then
        echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    fi
    port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    moto_pid=$!
    endpoint="http://127.0.0.1:$port"
    for _ in $(seq 1 50); do
        curl -fs "$endpoint/" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -fsS -X PUT "$endpoint/$1" >/dev/null
}

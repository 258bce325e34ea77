#!/usr/bin/env bash
# Runs the same pipelined encode on every backend and prints one line per backend:
#   backend NAME md5 HEX seconds S tasks N
# (HEX the MD5 of the output file, S the wall time of `flick encode`, N the tasks run), so that
# equal MD5s show the backends give the same bytes. Brings up on loopback what a backend needs
# (`wasmtime serve` with the HTTP worker, under a secret made for the run) and stops it after.
#
# Usage: scripts/backends.sh IN.y4m [flick encode options...]   (default: --chunk-frames 6)
# Builds flick with the wasmtime feature and the worker components first; needs wasmtime-cli
# (scripts/setup-wasm.sh installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 1 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
input=$1; shift
[ -r "$input" ] || { echo "backends: cannot read $input" >&2; exit 2; }
options=("$@")
[[ " ${options[*]} " == *" --chunk-frames "* ]] || options+=(--chunk-frames 6)

scripts/setup-wasm.sh
cargo build --quiet --release -p orchestrator --features wasmtime
{ read -r worker_wasm; read -r worker_http; } < <(scripts/build-worker-wasm.sh)
flick=$(dirname "$(dirname "$(dirname "$worker_wasm")")")/release/flick

work=$(mktemp -d)
server=""
cleanup() {
    [ -z "$server" ] || kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

FLICK_WORKER_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export FLICK_WORKER_SECRET
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
wasmtime serve -Scli --addr "127.0.0.1:$port" --env FLICK_WORKER_SECRET \
    "$worker_http" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
done

run() {
    local name=$1; shift
    local out=$work/$name.ivf start end
    start=$(date +%s.%N)
    "$flick" encode "$input" -o "$out" "${options[@]}" "$@" 2>"$work/$name.log" || {
        cat "$work/$name.log" >&2; exit 1; }
    end=$(date +%s.%N)
    local tasks
    tasks=$(grep -o '[0-9]* tasks run' "$work/$name.log" | head -1 | cut -d' ' -f1)
    printf 'backend %s md5 %s seconds %.2f tasks %s\n' "$name" \
        "$(md5sum "$out" | cut -d' ' -f1)" "$(echo "$end - $start" | bc)" "${tasks:-?}"
}
run local --backend local
run wasmtime --backend wasmtime --worker-wasm "$worker_wasm"
run http --backend http --endpoint "http://127.0.0.1:$port"

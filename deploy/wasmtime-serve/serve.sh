#!/usr/bin/env bash
# Serves flick's task worker (the worker-http component) with `wasmtime serve` on ADDR
# (default 127.0.0.1:8080): POST /task takes signed task requests, GET /health answers 200.
# The worker signs nothing itself; it refuses any request not signed with FLICK_WORKER_SECRET
# (at least 32 bytes), which must be set here and for `flick encode --backend http`.
#
# Usage: FLICK_WORKER_SECRET=... deploy/wasmtime-serve/serve.sh [ADDR]
# Needs wasmtime-cli 48 (`cargo install wasmtime-cli@48.0.8 --locked`, about 15 minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${FLICK_WORKER_SECRET:?set FLICK_WORKER_SECRET (32 bytes or more) to the secret flick signs requests with}"
addr=${1:-127.0.0.1:8080}
if ! command -v wasmtime >/dev/null 2>&1; then
    echo "serve.sh: wasmtime is not installed: cargo install wasmtime-cli@48.0.8 --locked" >&2
    exit 1
fi
component=$(scripts/build-worker-wasm.sh | tail -n 1)
# -Scli: the CLI environment (the secret); --env passes just that one variable in.
exec wasmtime serve -Scli --addr "$addr" --env FLICK_WORKER_SECRET \
    "$component"

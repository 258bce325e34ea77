#!/usr/bin/env bash
# Builds flick's two worker components for wasm32-wasip2, where a flick built in this checkout
# (target/release or target/debug) and the tests find them by default, and prints their paths:
#   target/wasm32-wasip2/release/worker_wasm.wasm  run in-process by `--backend wasmtime`
#   target/wasm32-wasip2/release/worker_http.wasm  served by `wasmtime serve` or Spin for
#                                                  `--backend http` (deploy/wasmtime-serve)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --quiet -p worker-wasm -p worker-http --target wasm32-wasip2 --release
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "$target_dir/wasm32-wasip2/release/worker_wasm.wasm"
echo "$target_dir/wasm32-wasip2/release/worker_http.wasm"

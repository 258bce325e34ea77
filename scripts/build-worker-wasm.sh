#!/usr/bin/env bash
# Builds the worker component that `flick encode --backend wasmtime` runs: the worker-wasm
# crate for wasm32-wasip2, into target/wasm32-wasip2/release/worker_wasm.wasm, where a flick
# built in this checkout (target/release or target/debug) finds it by default. Prints its path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --quiet -p worker-wasm --target wasm32-wasip2 --release
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "$target_dir/wasm32-wasip2/release/worker_wasm.wasm"

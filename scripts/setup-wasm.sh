#!/usr/bin/env bash
# Installs what the WebAssembly backends need beside the Rust toolchain, when missing: the
# wasm32-wasip2 target (the worker components) and wasmtime-cli 48 (`wasmtime serve` runs the
# HTTP worker in the tests and in deploy/wasmtime-serve; `cargo install`, about 15 minutes the
# first time). Does nothing when they are there.
set -euo pipefail

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
if ! wasmtime --version 2>/dev/null | grep -q '^wasmtime 48\.'; then
    echo "setup-wasm: installing wasmtime-cli 48.0.8 (cargo install, about 15 minutes)"
    cargo install --quiet --locked wasmtime-cli@48.0.8
fi

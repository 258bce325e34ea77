#!/usr/bin/env bash
# The whole test suite, set-up included, from any directory on a fresh Debian machine:
# installs ffmpeg and vpx-tools (scripts/setup.sh), the browser tool chain (Chromium,
# Node.js, wasm-bindgen-cli, web-demo's npm packages: scripts/setup-web.sh), wasmtime-cli
# (scripts/setup-wasm.sh), moto's S3 server (scripts/setup-s3.sh) and cargo-lambda
# (scripts/setup-lambda.sh, which also builds the worker function) if missing, then
# builds the worker components for wasm32-wasip2 (scripts/build-worker-wasm.sh) and runs every
# test in the workspace with every feature (conformance vectors, libvpx interop, the flick CLI
# end to end on each backend, the web demo in headless Chromium, unit tests). Extra arguments
# go to `cargo test`, e.g. `scripts/test.sh -p flick-tests --test conformance`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
scripts/setup-web.sh
scripts/setup-wasm.sh
scripts/setup-s3.sh
scripts/setup-lambda.sh
scripts/build-worker-wasm.sh >/dev/null
if [ "$#" -eq 0 ]; then
    set -- --workspace --all-features
fi
cargo test "$@"

#!/usr/bin/env bash
# Installs what the lambda backend's tests need beside the Rust toolchain, when missing:
# cargo-lambda (`pip install cargo-lambda`, a binary wheel, seconds), whose `cargo lambda watch`
# serves the worker function on the Lambda Invoke API on loopback. Then builds the function as
# `cargo lambda watch` runs it, so the tests' watcher starts it at once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! cargo lambda --version >/dev/null 2>&1; then
    echo "setup-lambda: installing cargo-lambda (pip)"
    python3 -m pip install --quiet --disable-pip-version-check cargo-lambda
fi
cargo build --quiet -p worker-lambda

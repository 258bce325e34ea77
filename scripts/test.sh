#!/usr/bin/env bash
# The whole test suite, set-up included, from any directory on a fresh Debian machine:
# installs ffmpeg and vpx-tools if missing, then runs every test in the workspace (conformance
# vectors, libvpx interop, the flick CLI end to end, unit tests). Extra arguments go to
# `cargo test`, e.g. `scripts/test.sh -p flick-tests --test conformance`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
if [ "$#" -eq 0 ]; then
    set -- --workspace
fi
cargo test "$@"

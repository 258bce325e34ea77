#!/usr/bin/env bash
# Installs what the browser build and tests need beside the Rust toolchain, on a Debian machine:
# Debian's Chromium (driven headless by playwright-core), Node.js and npm when missing, the
# wasm32-unknown-unknown target, wasm-bindgen-cli at exactly codec-wasm's wasm-bindgen version,
# and web-demo's npm packages (playwright-core, binaryen's wasm-opt) from its lock file.
# Does nothing that is already done. Uses sudo only when not root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [ "${#packages[@]}" -gt 0 ]; then
    echo "setup-web: installing ${packages[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${packages[@]}" </dev/null
fi

rustup target list --installed | grep -qx wasm32-unknown-unknown ||
    rustup target add wasm32-unknown-unknown

version="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' codec-wasm/Cargo.toml)"
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
    echo "setup-web: installing wasm-bindgen-cli $version"
    cargo install wasm-bindgen-cli --version "=$version"
fi

if ! (cd web-demo && npm ls --depth=0 >/dev/null 2>&1); then
    echo "setup-web: installing web-demo's npm packages"
    (cd web-demo && npm ci --no-audit --no-fund)
fi

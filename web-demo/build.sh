#!/usr/bin/env bash
# Builds the static site into web-demo/dist: codec-wasm for wasm32-unknown-unknown, its
# JavaScript glue from wasm-bindgen-cli (scripts/setup-web.sh installs it at exactly
# codec-wasm's wasm-bindgen version, with the rest of the browser tool chain), wasm-opt from
# npm's binaryen where it makes the module smaller, and the page's own files. Prints the .wasm
# size. Serve dist/ over HTTP (module workers do not load from file://), e.g.
# `python3 -m http.server -d web-demo/dist`, and open index.html.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"

"$root/scripts/setup-web.sh"

# WebAssembly SIMD (in every current browser) lets LLVM vectorise the codec's loops.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:--C target-feature=+simd128}" \
    cargo build -p codec-wasm --target wasm32-unknown-unknown --release
target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
wasm="$target_dir/wasm32-unknown-unknown/release/codec_wasm.wasm"

dist="$here/dist"
rm -rf "$dist"
mkdir -p "$dist/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$dist/pkg" "$wasm"
module="$dist/pkg/codec_wasm_bg.wasm"
before=$(stat -c %s "$module")
web-demo/node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    --enable-simd \
    "$module" -o "$module.opt"
after=$(stat -c %s "$module.opt")
if [ "$after" -lt "$before" ]; then
    mv "$module.opt" "$module"
else
    rm "$module.opt"
fi
cp "$here"/src/* "$dist/"
gzipped=$(gzip -9 -c "$module" | wc -c)
echo "build.sh: $dist/pkg/codec_wasm_bg.wasm: $(stat -c %s "$module") bytes" \
    "(wasm-bindgen output $before, wasm-opt -O3 $after; gzip -9 $gzipped)"

#!/usr/bin/env bash
# Decode speed of flick in the browser (codec-wasm in headless Chromium, in the web demo's
# Web Worker) against flick native, on the 720p stream scripts/bench-decode.sh uses (vpxenc
# from the real clip, all 132 frames). One thread each.
#
# Browser: the self-test page's decode time, the sum of the decode() calls alone (no MD5,
# no drawing), best of $RUNS (default 3) page loads; its MD5 lines must equal vpxdec's.
# Native: `flick decode --summary`'s own decode time (after the file is read), best of $RUNS.
# Writes into bench-out/ (or $FLICK_BENCH_OUT).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench=bench

out=${FLICK_BENCH_OUT:-bench-out}
runs=${RUNS:-3}

scripts/setup.sh
web-demo/build.sh
cargo build --release -p orchestrator
flick=target/release/flick
stream=$(bench_stream "$out")
vpxdec --codec=vp8 --i420 --md5 -o 'bigbuckbunny-720p-%wx%h-%4.i420' "$stream" >"$out/vpxdec.md5"

browser_ms=()
for run in $(seq "$runs"); do
    node web-demo/test/browser-test.mjs --dist web-demo/dist --out "$out/browser" \
        --selftest "$stream" >/dev/null
    result=$(python3 - "$out/browser/results.json" "$out/vpxdec.md5" <<'PY'
import json, sys
report = next(iter(json.load(open(sys.argv[1]))["selftest"].values()))
expected = open(sys.argv[2]).read().split("\n")[:-1]
if report["title"] != "selftest:done" or report["lines"] != expected:
    sys.exit(f"bench: the browser's frames differ from vpxdec's ({report['title']})")
print(report["decodeMs"], report["frames"])
PY
)
    read -r ms frames <<<"$result"
    echo "bench: browser run $run: $frames frames in $ms ms"
    browser_ms+=("$ms")
done

native_s=()
for run in $(seq "$runs"); do
    seconds=$("$flick" decode "$stream" --summary 2>&1 >/dev/null |
        sed -n 's/.* in \([0-9.]*\) s,.*/\1/p')
    echo "bench: native run $run: $seconds s"
    native_s+=("$seconds")
done
best_browser=$(minimum "${browser_ms[@]}")
best_native=$(minimum "${native_s[@]}")

awk -v n="$frames" -v b="$best_browser" -v k="$best_native" 'BEGIN {
    browser = n / (b / 1000); native = n / k
    printf "\n%-34s %10s %10s\n", "decoder (1280x720, 1 thread)", "frames/s", "vs native"
    printf "%-34s %10.1f %9.2fx\n", "flick native (release)", native, 1
    printf "%-34s %10.1f %9.2fx\n", "flick in Chromium (codec-wasm)", browser, browser / native
}'

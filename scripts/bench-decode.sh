#!/usr/bin/env bash
# Single-threaded VP8 decode speed of flick against libvpx's vpxdec and ffmpeg's native VP8
# decoder, on a 720p stream vpxenc makes from the real clip (all 132 frames).
#
# Fairness: each decoder decodes every frame and writes nothing. vpxdec runs with --noblit
# (decode, do not output) and one thread; ffmpeg with one decoder thread into its null muxer;
# flick decode with no output option (decode only). Process start and reading the file count
# for all three. Each is timed best of $RUNS (default 3) runs, after one warm-up run.
# Writes into bench-out/ (or $FLICK_BENCH_OUT).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench=bench

out=${FLICK_BENCH_OUT:-bench-out}
runs=${RUNS:-3}

scripts/setup.sh
cargo build --release -p orchestrator
flick=target/release/flick
stream=$(bench_stream "$out")
frames=$(("$(wc -l < <("$flick" info "$stream"))" - 1))

# Only a bit-exact decoder's speed is worth comparing.
"$flick" decode "$stream" --frame-md5 >"$out/flick.md5"
vpxdec --codec=vp8 --i420 --md5 -o 'bigbuckbunny-720p-%wx%h-%4.i420' "$stream" >"$out/vpxdec.md5"
if ! cmp -s "$out/flick.md5" "$out/vpxdec.md5"; then
    echo "bench: flick's frames differ from vpxdec's; fix the decoder before timing it" >&2
    exit 1
fi

# Best wall-clock seconds of $runs runs of the command, after a warm-up run.
best_seconds() {
    "$@" >/dev/null 2>&1
    local best="" start end t
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        t=$((end - start))
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
    done
    awk -v ns="$best" 'BEGIN { printf "%.4f", ns / 1e9 }'
}

echo "bench: $stream, $frames frames, best of $runs runs, one thread each"
t_vpxdec=$(best_seconds vpxdec --codec=vp8 --threads=1 --noblit "$stream")
t_ffmpeg=$(best_seconds ffmpeg -hide_banner -nostdin -threads 1 -i "$stream" -f null -)
t_flick=$(best_seconds "$flick" decode "$stream")

awk -v n="$frames" -v v="$t_vpxdec" -v f="$t_ffmpeg" -v k="$t_flick" 'BEGIN {
    printf "%-8s %9s %9s\n", "decoder", "seconds", "frames/s"
    printf "%-8s %9.3f %9.1f\n", "vpxdec", v, n / v
    printf "%-8s %9.3f %9.1f\n", "ffmpeg", f, n / f
    printf "%-8s %9.3f %9.1f\n", "flick", k, n / k
    printf "flick/vpxdec speed: %.2fx   flick/ffmpeg speed: %.2fx   (above 1 = flick faster)\n", v / k, f / k
}' | tee "$out/bench-decode.txt"

#!/usr/bin/env bash
# Compression and speed of `flick encode` against libvpx's best VP8 encoder (vpxenc --good
# --cpu-used=0, two passes, alt-ref frames), at several target bitrates on two clips:
#   bbb720        the real clip ../shared/testdata/clips/bigbuckbunny.mp4, 1280x720 (Big Buck
#                 Bunny), natural camera-like content;
#   mandelbrot360 a synthetic but natural-looking sequence: ffmpeg's lavfi `mandelbrot` zoom at
#                 640x360, 25 fps (a slow, steady zoom, 2x over 120 frames; smooth gradients
#                 around fine fractal detail).
# Both decoded streams are measured against the source with the same tool (ffmpeg's `ssim`
# "All" and `psnr` "average", i.e. all planes weighted by sample count), bitrates come from the
# IVF payload (file size less the 32-byte file and 12-byte frame headers), and the table ends
# with the Bjøntegaard delta rate of flick against vpxenc at equal SSIM (dB) and equal PSNR
# (scripts/bd-rate.py) and the ratio of total encode times.
#
# Fairness: every encode runs alone, single-threaded (vpxenc --threads=1; both pinned to one
# CPU with taskset when it exists), wall clock including process start and reading the Y4M.
#
# Usage: scripts/compare-encoders.sh [--frames N] [--rates K1,K2,...] [--clips C1,C2]
#                                    [--vpxenc-only] [--out DIR]
#   --frames N     frames per clip (default: all 132 of bbb720, 120 of mandelbrot360)
#   --rates LIST   target bitrates in kb/s, at least 4 for a BD-rate (default 300,600,1000,
#                  1600,2400,3500)
#   --clips LIST   which clips (default bbb720,mandelbrot360)
#   --vpxenc-only  skip flick (e.g. while its encoder is being built)
#   --out DIR      work directory (default bench-out/compare, or $FLICK_BENCH_OUT/compare)
# Environment: FLICK_ARGS, extra options for `flick encode` (e.g. "--speed 2"); FLICK, a flick
# binary to use instead of building target/release/flick.
# Quick run: scripts/compare-encoders.sh --frames 30 --rates 300,600,1000,1600,2400
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench=compare

frames=""
rates="300,600,1000,1600,2400,3500"
clips="bbb720,mandelbrot360"
run_flick=1
out="${FLICK_BENCH_OUT:-bench-out}/compare"
while [ $# -gt 0 ]; do
    case "$1" in
        --frames) frames=$2; shift 2 ;;
        --rates) rates=$2; shift 2 ;;
        --clips) clips=$2; shift 2 ;;
        --vpxenc-only) run_flick=0; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$frames" ] && ! [[ "$frames" =~ ^[1-9][0-9]*$ ]]; then
    echo "compare: --frames wants a positive number, got '$frames'" >&2; exit 2
fi
IFS=, read -r -a rate_list <<<"$rates"
for k in "${rate_list[@]}"; do
    [[ "$k" =~ ^[1-9][0-9]*$ ]] || { echo "compare: bad bitrate '$k' in --rates" >&2; exit 2; }
done
IFS=, read -r -a clip_list <<<"$clips"
read -r -a flick_args <<<"${FLICK_ARGS:-}"

scripts/setup.sh
scripts/bd-rate.py --self-test >/dev/null || { echo "compare: bd-rate.py self-test failed" >&2; exit 1; }
flick=${FLICK:-target/release/flick}
if [ "$run_flick" -eq 1 ]; then
    [ -n "${FLICK:-}" ] || cargo build --release -p orchestrator
    if ! "$flick" encode --help >/dev/null 2>&1; then
        echo "compare: this flick has no 'encode' command yet; comparing vpxenc alone" >&2
        run_flick=0
    fi
fi
pin=()
command -v taskset >/dev/null 2>&1 && pin=(taskset -c 0)
mkdir -p "$out"

summary=$out/summary.txt
: >"$summary"
for clip in "${clip_list[@]}"; do
    dir=$out/$clip
    mkdir -p "$dir"
    log=$dir/encode.log
    : >"$log"
    y4m=$dir/source-${frames:-all}.y4m
    [ -s "$y4m" ] || make_source "$clip" "$y4m" "$frames"
    read -r fps size source_frames < <(y4m_facts "$y4m")

    : >"$dir/vpxenc.csv"
    : >"$dir/flick.csv"
    rows=()
    t_vpx_total=0
    t_flick_total=0
    for k in "${rate_list[@]}"; do
        stream=$dir/vpxenc-$k.ivf
        t=$(time_command "${pin[@]}" vpxenc --codec=vp8 --ivf --good --cpu-used=0 --passes=2 \
            --auto-alt-ref=1 --lag-in-frames=25 --end-usage=vbr --threads=1 \
            --target-bitrate="$k" -q -o "$stream" "$y4m") ||
            { echo "compare: vpxenc at $k kb/s failed (see $log)" >&2; exit 1; }
        read -r shown kbps psnr ssim < <(measure "$stream" "$y4m" "$fps")
        [ "$shown" -eq "$source_frames" ] || echo "compare: $stream shows $shown of $source_frames frames" >&2
        echo "$kbps,$psnr,$ssim" >>"$dir/vpxenc.csv"
        rows+=("vpxenc $k $kbps $psnr $ssim $t")
        t_vpx_total=$(awk -v a="$t_vpx_total" -v b="$t" 'BEGIN { print a + b }')

        [ "$run_flick" -eq 1 ] || continue
        stream=$dir/flick-$k.ivf
        if ! t=$(time_command "${pin[@]}" "$flick" encode "$y4m" -o "$stream" \
            --target-bitrate "$k" "${flick_args[@]}"); then
            echo "compare: flick encode at $k kb/s failed (see $log)" >&2
            rows+=("flick $k failed - - -")
            continue
        fi
        read -r shown kbps psnr ssim < <(measure "$stream" "$y4m" "$fps")
        [ "$shown" -eq "$source_frames" ] || echo "compare: $stream shows $shown of $source_frames frames" >&2
        echo "$kbps,$psnr,$ssim" >>"$dir/flick.csv"
        rows+=("flick $k $kbps $psnr $ssim $t")
        t_flick_total=$(awk -v a="$t_flick_total" -v b="$t" 'BEGIN { print a + b }')
    done

    {
        echo
        echo "== $clip ($(describe_clip "$clip")): $size, $source_frames frames at ${fps/:/\/} fps"
        echo "   vpxenc: --good --cpu-used=0 --passes=2 --auto-alt-ref=1 --lag-in-frames=25 --end-usage=vbr --threads=1"
        echo "   flick:  encode --target-bitrate K ${FLICK_ARGS:-}"
        printf '%-7s %7s %9s %8s %8s %9s %9s\n' encoder target kb/s PSNR SSIM "SSIM dB" seconds
        for row in "${rows[@]}"; do
            read -r enc k kbps psnr ssim t <<<"$row"
            if [ "$kbps" = failed ]; then
                printf '%-7s %7s %9s\n' "$enc" "$k" "(failed)"
                continue
            fi
            awk -v e="$enc" -v k="$k" -v r="$kbps" -v p="$psnr" -v s="$ssim" -v t="$t" 'BEGIN {
                db = (s < 1) ? -10 * log(1 - s) / log(10) : 100
                printf "%-7s %7d %9.1f %8.3f %8.5f %9.3f %9.2f\n", e, k, r, p, s, db, t
            }'
        done
        if [ "$run_flick" -eq 1 ] && [ "$(wc -l <"$dir/flick.csv")" -ge 4 ]; then
            echo "flick against vpxenc (negative: flick needs fewer bits for the same quality):"
            scripts/bd-rate.py "$dir/vpxenc.csv" "$dir/flick.csv" | sed 's/^/  /'
            awk -v f="$t_flick_total" -v v="$t_vpx_total" 'BEGIN {
                printf "  encode time, all points: flick %.1f s, vpxenc %.1f s, ratio flick/vpxenc %.2f\n", f, v, f / v
            }'
        elif [ "$run_flick" -eq 1 ]; then
            echo "flick: fewer than 4 successful encodes, no BD-rate"
        else
            echo "flick: not run; vpxenc total encode time $t_vpx_total s"
        fi
    } | tee -a "$summary"
done
echo
echo "compare: streams, stats and logs in $out; this summary in $summary"

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

ffmpeg_quiet() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# Writes clip $1's source as Y4M into $2 with $3 frames (empty: the clip's default).
make_source() {
    local clip=$1 y4m=$2 n=$3
    case "$clip" in
        bbb720)
            local mp4=../shared/testdata/clips/bigbuckbunny.mp4
            [ -f "$mp4" ] || { echo "compare: $mp4 not found (shared/ must sit beside the repository)" >&2; exit 1; }
            ffmpeg_quiet -i "$mp4" -frames:v "${n:-132}" -pix_fmt yuv420p -f yuv4mpegpipe "$y4m" ;;
        mandelbrot360)
            ffmpeg_quiet -f lavfi -i "mandelbrot=size=640x360:rate=25" \
                -frames:v "${n:-120}" -pix_fmt yuv420p -f yuv4mpegpipe "$y4m" ;;
        *) echo "compare: unknown clip '$clip' (bbb720, mandelbrot360)" >&2; exit 2 ;;
    esac
}

describe_clip() {
    case "$1" in
        bbb720) echo "real: Big Buck Bunny, 1280x720 (../shared/testdata/clips/bigbuckbunny.mp4)" ;;
        mandelbrot360) echo "synthetic: ffmpeg lavfi mandelbrot zoom, 640x360" ;;
    esac
}

# Seconds (wall clock) the command takes; its output goes to $log.
time_command() {
    local start end
    start=$(date +%s%N)
    "$@" >>"$log" 2>&1 || return $?
    end=$(date +%s%N)
    awk -v ns="$((end - start))" 'BEGIN { printf "%.3f", ns / 1e9 }'
}

# Prints "frames kbps psnr ssim" for stream $1 against source $2 at frame rate $3 (a ratio).
measure() {
    local ivf=$1 y4m=$2 fps=$3 stats=$1.stats
    ffmpeg -hide_banner -nostdin -i "$ivf" -i "$y4m" -lavfi \
        "[0:v]split[a][b];[1:v]split[c][d];[a][c]ssim=stats_file=$stats.ssim;[b][d]psnr=stats_file=$stats.psnr" \
        -f null - >"$stats.log" 2>&1 || { echo "compare: ffmpeg could not measure $ivf (see $stats.log)" >&2; return 1; }
    local size ivf_frames shown ssim psnr
    size=$(stat -c %s "$ivf")
    ivf_frames=$(od -An -tu4 -j24 -N4 "$ivf" | tr -d ' ')
    shown=$(wc -l <"$stats.psnr")
    ssim=$(sed -n 's/.*SSIM .* All:\([0-9.]*\).*/\1/p' "$stats.log" | tail -1)
    psnr=$(sed -n 's/.*PSNR .* average:\([0-9.inf]*\).*/\1/p' "$stats.log" | tail -1)
    awk -v size="$size" -v n="$ivf_frames" -v shown="$shown" -v fps="$fps" -v s="$ssim" -v p="$psnr" 'BEGIN {
        split(fps, r, ":"); seconds = shown / (r[1] / r[2])
        printf "%d %.2f %s %s\n", shown, (size - 32 - 12 * n) * 8 / seconds / 1000, p, s
    }'
}

summary=$out/summary.txt
: >"$summary"
for clip in "${clip_list[@]}"; do
    dir=$out/$clip
    mkdir -p "$dir"
    log=$dir/encode.log
    : >"$log"
    y4m=$dir/source-${frames:-all}.y4m
    [ -s "$y4m" ] || make_source "$clip" "$y4m" "$frames"
    header=$(head -c 200 "$y4m" | head -n 1)
    fps=$(sed -n 's/.* F\([0-9]*:[0-9]*\).*/\1/p' <<<"$header")
    size=$(sed -n 's/.* W\([0-9]*\) H\([0-9]*\).*/\1x\2/p' <<<"$header")
    # Every frame is a 6-byte "FRAME" line and I420 planes (chroma rounded up).
    source_frames=$(awk -v total="$(stat -c %s "$y4m")" -v hdr="$((${#header} + 1))" -v wh="$size" 'BEGIN {
        split(wh, d, "x"); frame = d[1] * d[2] + 2 * int((d[1] + 1) / 2) * int((d[2] + 1) / 2)
        print int((total - hdr) / (6 + frame))
    }')

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

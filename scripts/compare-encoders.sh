#!/usr/bin/env bash
# Compression and speed of flick's serial encoder against libvpx's best VP8 mode (vpxenc --good
# --cpu-used=0, two passes, alt-ref frames), on the pipeline's test set (scripts/bench-lib.sh:
# the real clip and footage made from it, pans, zooms, grain, a static scene, cuts, a small
# crop, a synthetic zoom).
#
# vpxenc runs at six target bitrates per clip. flick runs in both of its modes: at the same
# target bitrates (`--target-bitrate K`) and at seven constant-quality levels (`--cq-level C`).
# Every decoded stream is measured against the source with the same tool (ffmpeg's `ssim` "All"
# and `psnr` "average", all planes weighted by sample count); bitrates come from the IVF payload.
# Each clip's table ends with the Bjøntegaard delta rate of each flick mode against vpxenc at
# equal SSIM (dB) and equal PSNR (scripts/bd-rate.py) and the ratio of total encode times; the
# run ends with one line per clip and mode and the mean over clips.
#
# Fairness: every encode runs alone, single-threaded (vpxenc --threads=1; both pinned to one
# CPU with taskset when it exists), wall clock including process start and reading the Y4M.
#
# Usage: scripts/compare-encoders.sh [--clips C1,C2|all] [--frames N] [--rates K1,K2,...]
#            [--cq-levels C1,C2,...] [--modes bitrate,cq] [--keep-vpxenc] [--out DIR]
#   --clips LIST     clips of the test set, or `all` (default all: bbb720,bbb360,pan360,zoom360,
#                    grain360,static360,qcif,cuts360,mandelbrot360)
#   --frames N       frames per clip (default: each clip's own length, see bench-lib.sh)
#   --rates LIST     target bitrates in kb/s for every clip (default: per clip, the bits per pixel
#                    0.013,0.026,0.043,0.07,0.104,0.152 at the clip's size and frame rate, i.e.
#                    300 to 3500 kb/s at 1280x720 and 25 fps)
#   --cq-levels LIST flick's constant-quality levels (default 18,25,32,39,46,53,60)
#   --modes LIST     which flick modes (default bitrate,cq)
#   --keep-vpxenc    reuse vpxenc's streams and times from an earlier run in the same --out
#                    (for quick turns while working on flick; a reported figure comes from
#                    one run without it)
#   --vpxenc-only    skip flick
#   --out DIR        work directory (default bench-out/compare, or $FLICK_BENCH_OUT/compare)
# Environment: FLICK_ARGS, extra options for `flick encode` (e.g. "--speed 2"); FLICK, a flick
# binary to use instead of building target/release/flick; FLICK_BENCH_CPU, the CPU every encode
# is pinned to (default 0; two runs with different --out and CPUs can share a machine).
# Quick run: scripts/compare-encoders.sh --clips bbb360,pan360,grain360 --frames 30
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench=compare

frames=""
rates=""
cq_levels="18,25,32,39,46,53,60"
modes="bitrate,cq"
clips=all
run_flick=1
keep_vpxenc=0
out="${FLICK_BENCH_OUT:-bench-out}/compare"
while [ $# -gt 0 ]; do
    case "$1" in
        --frames) frames=$2; shift 2 ;;
        --rates) rates=$2; shift 2 ;;
        --cq-levels) cq_levels=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --clips) clips=$2; shift 2 ;;
        --keep-vpxenc) keep_vpxenc=1; shift ;;
        --vpxenc-only) run_flick=0; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$frames" ] && ! [[ "$frames" =~ ^[1-9][0-9]*$ ]]; then
    echo "compare: --frames wants a positive number, got '$frames'" >&2; exit 2
fi
[ "$clips" = all ] && clips=$TEST_SET
IFS=, read -r -a clip_list <<<"$clips"
IFS=, read -r -a cq_list <<<"$cq_levels"
IFS=, read -r -a mode_list <<<"$modes"
rate_list=()
[ -n "$rates" ] && IFS=, read -r -a rate_list <<<"$rates"
for k in "${rate_list[@]}"; do
    [[ "$k" =~ ^[1-9][0-9]*$ ]] || { echo "compare: bad bitrate '$k' in --rates" >&2; exit 2; }
done
for c in "${cq_list[@]}"; do
    [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -le 63 ] || { echo "compare: bad cq level '$c' (0..63)" >&2; exit 2; }
done
for m in "${mode_list[@]}"; do
    case "$m" in bitrate|cq) ;; *) echo "compare: unknown mode '$m' (bitrate, cq)" >&2; exit 2 ;; esac
done
read -r -a flick_args <<<"${FLICK_ARGS:-}"

scripts/setup.sh
scripts/bd-rate.py --self-test >/dev/null || { echo "compare: bd-rate.py self-test failed" >&2; exit 1; }
flick=${FLICK:-target/release/flick}
if [ "$run_flick" -eq 1 ]; then
    [ -n "${FLICK:-}" ] || cargo build --release -p orchestrator
    "$flick" encode --help >/dev/null 2>&1 || { echo "compare: $flick does not run" >&2; exit 1; }
fi
pin=()
command -v taskset >/dev/null 2>&1 && pin=(taskset -c "${FLICK_BENCH_CPU:-0}")
mkdir -p "$out"

# Default bitrates of a clip: kb/s for bits per pixel BPP at its size WxH and frame rate N:D.
clip_rates() {
    local size=$1 fps=$2
    awk -v wh="$size" -v fps="$fps" 'BEGIN {
        split(wh, d, "x"); split(fps, r, ":"); n = split("0.013 0.026 0.043 0.07 0.104 0.152", b, " ")
        for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), int(b[i] * d[1] * d[2] * r[1] / r[2] / 1000 + 0.5)
    }'
}

# One row of a clip's table from "encoder setting kbps psnr ssim seconds".
print_row() {
    awk -v e="$1" -v k="$2" -v r="$3" -v p="$4" -v s="$5" -v t="$6" 'BEGIN {
        db = (s < 1) ? -10 * log(1 - s) / log(10) : 100
        printf "%-14s %7s %9.1f %8.3f %8.5f %9.3f %9.2f\n", e, k, r, p, s, db, t
    }'
}

summary=$out/summary.txt
: >"$summary"
totals=$out/totals.txt
: >"$totals"
for clip in "${clip_list[@]}"; do
    dir=$out/$clip
    mkdir -p "$dir"
    log=$dir/encode.log
    : >"$log"
    y4m=$dir/source-${frames:-all}.y4m
    [ -s "$y4m" ] || make_source "$clip" "$y4m" "$frames"
    read -r fps size source_frames < <(y4m_facts "$y4m")
    clip_rate_list=("${rate_list[@]}")
    [ ${#clip_rate_list[@]} -gt 0 ] || IFS=, read -r -a clip_rate_list <<<"$(clip_rates "$size" "$fps")"

    rows=()
    # vpxenc at each bitrate; its stream and time are kept beside each other for --keep-vpxenc.
    : >"$dir/vpxenc.csv"
    t_vpx=0
    for k in "${clip_rate_list[@]}"; do
        stream=$dir/vpxenc-${frames:-all}-$k.ivf
        if [ "$keep_vpxenc" -eq 1 ] && [ -s "$stream" ] && [ -s "$stream.seconds" ]; then
            t=$(cat "$stream.seconds")
        else
            t=$(time_command "${pin[@]}" vpxenc --codec=vp8 --ivf --good --cpu-used=0 --passes=2 \
                --auto-alt-ref=1 --lag-in-frames=25 --end-usage=vbr --threads=1 \
                --target-bitrate="$k" -q -o "$stream" "$y4m") ||
                { echo "compare: vpxenc at $k kb/s failed (see $log)" >&2; exit 1; }
            echo "$t" >"$stream.seconds"
        fi
        read -r shown kbps psnr ssim < <(measure "$stream" "$y4m" "$fps")
        [ "$shown" -eq "$source_frames" ] || echo "compare: $stream shows $shown of $source_frames frames" >&2
        echo "$kbps,$psnr,$ssim" >>"$dir/vpxenc.csv"
        rows+=("vpxenc $k $kbps $psnr $ssim $t")
        t_vpx=$(awk -v a="$t_vpx" -v b="$t" 'BEGIN { print a + b }')
    done

    declare -A t_flick=()
    if [ "$run_flick" -eq 1 ]; then
        for mode in "${mode_list[@]}"; do
            : >"$dir/flick-$mode.csv"
            t_flick[$mode]=0
            if [ "$mode" = bitrate ]; then settings=("${clip_rate_list[@]}"); else settings=("${cq_list[@]}"); fi
            for k in "${settings[@]}"; do
                stream=$dir/flick-$mode-$k.ivf
                if [ "$mode" = bitrate ]; then opt=(--target-bitrate "$k"); else opt=(--cq-level "$k"); fi
                if ! t=$(time_command "${pin[@]}" "$flick" encode "$y4m" -o "$stream" "${opt[@]}" \
                    "${flick_args[@]}"); then
                    echo "compare: flick encode ${opt[*]} failed (see $log)" >&2
                    rows+=("flick-$mode $k failed - - -")
                    continue
                fi
                read -r shown kbps psnr ssim < <(measure "$stream" "$y4m" "$fps")
                [ "$shown" -eq "$source_frames" ] || echo "compare: $stream shows $shown of $source_frames frames" >&2
                echo "$kbps,$psnr,$ssim" >>"$dir/flick-$mode.csv"
                rows+=("flick-$mode $k $kbps $psnr $ssim $t")
                t_flick[$mode]=$(awk -v a="${t_flick[$mode]}" -v b="$t" 'BEGIN { print a + b }')
            done
        done
    fi

    {
        echo
        echo "== $clip ($(describe_clip "$clip")): $size, $source_frames frames at ${fps/:/\/} fps"
        echo "   vpxenc: --good --cpu-used=0 --passes=2 --auto-alt-ref=1 --lag-in-frames=25 --end-usage=vbr --threads=1 --target-bitrate=K"
        echo "   flick:  encode --target-bitrate K | --cq-level C ${FLICK_ARGS:-}"
        printf '%-14s %7s %9s %8s %8s %9s %9s\n' encoder setting kb/s PSNR SSIM "SSIM dB" seconds
        for row in "${rows[@]}"; do
            read -r enc k kbps psnr ssim t <<<"$row"
            if [ "$kbps" = failed ]; then
                printf '%-14s %7s %9s\n' "$enc" "$k" "(failed)"
            else
                print_row "$enc" "$k" "$kbps" "$psnr" "$ssim" "$t"
            fi
        done
        if [ "$run_flick" -eq 0 ]; then
            echo "flick: not run; vpxenc total encode time $t_vpx s"
        fi
        for mode in "${!t_flick[@]}"; do
            csv=$dir/flick-$mode.csv
            if [ "$(wc -l <"$csv")" -lt 4 ]; then
                echo "flick --$mode: fewer than 4 successful encodes, no BD-rate"
                continue
            fi
            bd=$(scripts/bd-rate.py "$dir/vpxenc.csv" "$csv")
            psnr_bd=$(sed -n 's/.*equal PSNR: *\([-+0-9.]*\)%.*/\1/p' <<<"$bd")
            ssim_bd=$(sed -n 's/.*equal SSIM (dB): *\([-+0-9.]*\)%.*/\1/p' <<<"$bd")
            # Time against vpxenc's at the same bitrates; the cq points make other bitrates, so
            # their time is per encode.
            ratio=$(awk -v f="${t_flick[$mode]}" -v v="$t_vpx" -v nf="$(wc -l <"$csv")" \
                -v nv="$(wc -l <"$dir/vpxenc.csv")" 'BEGIN { printf "%.2f", (f / nf) / (v / nv) }')
            echo "flick --$mode against vpxenc (negative: flick needs fewer bits for the same quality):"
            sed 's/^/  /' <<<"$bd"
            echo "  encode time per encode: flick ${t_flick[$mode]} s, vpxenc $t_vpx s in all; ratio flick/vpxenc $ratio"
            echo "$clip $mode ${ssim_bd:-n/a} ${psnr_bd:-n/a} $ratio" >>"$totals"
        done
    } | tee -a "$summary"
    unset t_flick
done

if [ -s "$totals" ]; then
    {
        echo
        echo "== BD-rate of flick against vpxenc, per clip (negative: flick smaller), and time ratio"
        printf '%-14s %-8s %10s %10s %8s\n' clip mode "SSIM" "PSNR" time
        sort -k2,2 -s "$totals" | awk '{
            printf "%-14s %-8s %9s%% %9s%% %7sx\n", $1, $2, $3, $4, $5
            if ($3 != "n/a") { s[$2] += $3; ns[$2]++ }
            if ($4 != "n/a") { p[$2] += $4; np[$2]++ }
            t[$2] += $5; nt[$2]++
        } END {
            for (m in t) printf "%-14s %-8s %+9.2f%% %+9.2f%% %7.2fx\n", "mean", m, s[m] / ns[m], p[m] / np[m], t[m] / nt[m]
        }'
    } | tee -a "$summary"
fi
echo
echo "compare: streams, stats and logs in $out; this summary in $summary"

#!/usr/bin/env bash
# Figures for flick's chunked pipeline, ExCamera[N,x]: for chunks of N frames (default 6) and
# batches of x chunks (default 1, 2, 4, 8, 16 and the whole video), on the real clip and a
# synthetic one (the clips of scripts/compare-encoders.sh), at constant quality levels:
#   - BD-rate at equal SSIM (dB) and at equal PSNR against flick's serial encoder, and
#     against vpxenc --good --cpu-used=0 two-pass (the curve scripts/compare-encoders.sh
#     measures; reused from its output when present);
#   - wall-clock speedup over the serial encoder with W workers (default 2), all levels
#     summed, each run alone, including process start, reading the Y4M, and the pipeline's
#     final decode and measurement;
#   - the serial rebase work per rebased frame as a fraction of the encode work per frame
#     (encode_chunk and encode_given_state task time per frame), from the pipeline's
#     timeline.
# Quality is measured by ffmpeg (ssim "All", psnr "average") against the source.
#
# Usage: scripts/pipeline-figures.sh [--clips C1,C2] [--levels L1,L2,...] [--chunk-frames N]
#                                    [--batches X1,X2,...] [--workers W] [--frames F]
#                                    [--out DIR]
#   --clips LIST     bbb720, mandelbrot360 (default both)
#   --levels LIST    --cq-level values, at least 4 (default 16,24,32,40)
#   --chunk-frames N frames per chunk (default 6)
#   --batches LIST   chunks per batch, numbers or "whole" (default 1,2,4,8,16,whole)
#   --workers W      pipeline workers (default 2)
#   --frames F       frames per clip (default: all)
#   --out DIR        work directory (default bench-out/pipeline, or $FLICK_BENCH_OUT/pipeline)
# Environment: FLICK_ARGS, extra options for every `flick encode` (e.g. "--speed 6").
# Quick run: scripts/pipeline-figures.sh --clips mandelbrot360 --frames 48 --batches 1,4,whole
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench=pipeline-figures

clips="bbb720,mandelbrot360"
levels="16,24,32,40"
chunk_frames=6
batches="1,2,4,8,16,whole"
workers=2
frames=""
out="${FLICK_BENCH_OUT:-bench-out}/pipeline"
while [ $# -gt 0 ]; do
    case "$1" in
        --clips) clips=$2; shift 2 ;;
        --levels) levels=$2; shift 2 ;;
        --chunk-frames) chunk_frames=$2; shift 2 ;;
        --batches) batches=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --frames) frames=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "pipeline-figures: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
number() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "pipeline-figures: $1 wants a positive number, got '$2'" >&2; exit 2; }; }
number --chunk-frames "$chunk_frames"
number --workers "$workers"
[ -z "$frames" ] || number --frames "$frames"
IFS=, read -r -a level_list <<<"$levels"
for l in "${level_list[@]}"; do
    [[ "$l" =~ ^[0-9]+$ ]] && [ "$l" -le 63 ] || { echo "pipeline-figures: bad level '$l'" >&2; exit 2; }
done
[ "${#level_list[@]}" -ge 4 ] || { echo "pipeline-figures: a BD-rate needs at least 4 levels" >&2; exit 2; }
IFS=, read -r -a batch_list <<<"$batches"
for x in "${batch_list[@]}"; do
    [ "$x" = whole ] || number --batches "$x"
done
IFS=, read -r -a clip_list <<<"$clips"
read -r -a flick_args <<<"${FLICK_ARGS:-}"

scripts/setup.sh
scripts/bd-rate.py --self-test >/dev/null || { echo "pipeline-figures: bd-rate.py self-test failed" >&2; exit 1; }
cargo build --release -p orchestrator
flick=target/release/flick
mkdir -p "$out"
# "kbps,psnr,ssim" of stream $1 against source $2 at frame rate $3: a row for bd-rate.py.
bd_row() {
    local row shown kbps psnr ssim
    row=$(measure "$@") || return 1
    read -r shown kbps psnr ssim <<<"$row"
    echo "$kbps,$psnr,$ssim"
}

# Task seconds per frame from a timeline: "encode_per_frame rebase_per_rebased_frame".
work_per_frame() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
records = [r for r in json.load(open(sys.argv[1])) if r.get("ok", True)]
frames, chunk = int(sys.argv[2]), int(sys.argv[3])
def total(kind):
    return sum(r["end_s"] - r["start_s"] for r in records if r["kind"] == kind)
rebased_chunks = {r["chunk"] for r in records if r["kind"] == "rebase"}
# Every chunk has `chunk` frames but the last, which may be shorter.
last = (frames - 1) // chunk
rebased_frames = sum(min(chunk, frames - c * chunk) for c in rebased_chunks)
encode = (total("encode_chunk") + total("encode_given_state")) / frames
rebase = total("rebase") / rebased_frames if rebased_frames else 0.0
print(f"{encode:.5f} {rebase:.5f}")
EOF
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
    read -r fps size source_frames < <(y4m_facts "$y4m")

    # The vpxenc anchor: compare-encoders.sh's curve for the same frames, made if missing.
    compare_out=${FLICK_BENCH_OUT:-bench-out}/compare
    vpx_csv=$compare_out/$clip/vpxenc.csv
    if [ -n "$frames" ] || [ ! -s "$vpx_csv" ] || [ ! -s "$compare_out/$clip/source-all.y4m" ]; then
        vpx_args=(--vpxenc-only --clips "$clip" --out "$dir/compare")
        [ -z "$frames" ] || vpx_args+=(--frames "$frames")
        scripts/compare-encoders.sh "${vpx_args[@]}" >>"$log" 2>&1
        vpx_csv=$dir/compare/compare/$clip/vpxenc.csv
        [ -s "$vpx_csv" ] || vpx_csv=$dir/compare/$clip/vpxenc.csv
    fi

    : >"$dir/serial.csv"
    serial_time=0
    for l in "${level_list[@]}"; do
        stream=$dir/serial-$l.ivf
        t=$(time_command "$flick" encode "$y4m" -o "$stream" --cq-level "$l" "${flick_args[@]}")
        bd_row "$stream" "$y4m" "$fps" >>"$dir/serial.csv"
        serial_time=$(awk -v a="$serial_time" -v b="$t" 'BEGIN { print a + b }')
    done

    rows=()
    for x in "${batch_list[@]}"; do
        csv=$dir/batch-$x.csv
        : >"$csv"
        pipe_time=0
        encode_work=0
        rebase_work=0
        for l in "${level_list[@]}"; do
            stream=$dir/batch-$x-$l.ivf
            timeline=$dir/batch-$x-$l.json
            t=$(time_command "$flick" encode "$y4m" -o "$stream" --cq-level "$l" \
                --chunk-frames "$chunk_frames" --batch "$x" --workers "$workers" \
                --timeline "$timeline" "${flick_args[@]}")
            bd_row "$stream" "$y4m" "$fps" >>"$csv"
            pipe_time=$(awk -v a="$pipe_time" -v b="$t" 'BEGIN { print a + b }')
            read -r e r < <(work_per_frame "$timeline" "$source_frames" "$chunk_frames")
            encode_work=$(awk -v a="$encode_work" -v b="$e" 'BEGIN { print a + b }')
            rebase_work=$(awk -v a="$rebase_work" -v b="$r" 'BEGIN { print a + b }')
        done
        bd_serial=$(scripts/bd-rate.py "$dir/serial.csv" "$csv")
        bd_vpx=$(scripts/bd-rate.py "$vpx_csv" "$csv")
        pick() { sed -n "s/^BD-rate at equal $1:[[:space:]]*//p" <<<"$2"; }
        rows+=("$x|$(pick 'SSIM (dB)' "$bd_serial")|$(pick PSNR "$bd_serial")|$(pick 'SSIM (dB)' "$bd_vpx")|$(pick PSNR "$bd_vpx")|$pipe_time|$encode_work|$rebase_work")
    done

    {
        echo
        echo "== $clip: $size, $source_frames frames at ${fps/:/\/} fps; ExCamera[$chunk_frames,x], $workers workers, --cq-level ${levels} ${FLICK_ARGS:-}"
        bd_vpx_serial=$(scripts/bd-rate.py "$vpx_csv" "$dir/serial.csv")
        echo "   serial flick against vpxenc two-pass: SSIM $(pick 'SSIM (dB)' "$bd_vpx_serial"), PSNR $(pick PSNR "$bd_vpx_serial"); serial time, all levels: ${serial_time} s"
        printf '%-6s %16s %16s %16s %16s %9s %8s %16s\n' x "vs serial SSIM" "vs serial PSNR" "vs vpxenc SSIM" "vs vpxenc PSNR" "time s" speedup "rebase/encode"
        for row in "${rows[@]}"; do
            IFS='|' read -r x s1 p1 s2 p2 t e r <<<"$row"
            awk -v x="$x" -v s1="$s1" -v p1="$p1" -v s2="$s2" -v p2="$p2" -v t="$t" -v st="$serial_time" -v e="$e" -v r="$r" 'BEGIN {
                frac = (e > 0) ? r / e : 0
                printf "%-6s %16s %16s %16s %16s %9.2f %7.2fx %9.4f (1/%.1f)\n", x, s1, p1, s2, p2, t, st / t, frac, (frac > 0) ? 1 / frac : 0
            }'
        done
    } | tee -a "$summary"
done
echo
echo "pipeline-figures: summary in $summary"

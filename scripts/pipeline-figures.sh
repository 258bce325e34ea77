#!/usr/bin/env bash
# Figures for flick's chunked pipeline, ExCamera[N,x]: for chunks of N frames (default 6) and
# batches of x chunks (default 1, 2, 4, 8, 16 and the whole video), over the test set of
# scripts/bench-lib.sh (the real clip, and pans, zooms, grain, a static scene, a small crop and
# spliced scene cuts made from it, and a synthetic zoom), in both rate modes:
#   - constant quality: `--cq-level` at each level given;
#   - bitrate: `--target-bitrate` at the bitrates the serial encoder reached at those levels,
#     so that both modes span the same qualities;
# and for each clip, mode and x:
#   - BD-rate at equal SSIM (dB) and at equal PSNR against flick's serial encoder in the same
#     mode, and against vpxenc's best VP8 mode (--good --cpu-used=0, two passes, alt-ref
#     frames, lag 25, one thread) at those same bitrates;
#   - wall-clock speedup over the serial encoder with W workers (default 2), all levels summed,
#     each run alone, including process start, reading the Y4M and the pipeline's final decode;
#   - work: the pipeline's total task time over the serial encode's wall time;
#   - the serial rebase work per rebased frame as a fraction of the encode work per frame
#     (encode_chunk and encode_given_state task time per frame), from the timeline;
#   - rebase's quality as the pipeline reports it: each rebased frame's PSNR against the frame
#     it was made from (mean over all levels, and the worst frame), and their bytes.
# Quality is measured by ffmpeg (ssim "All", psnr "average") against the source. The summary
# ends with each x's mean and largest BD-rate against the serial encoder over the set.
#
# Usage: scripts/pipeline-figures.sh [--clips C1,C2] [--levels L1,L2,...] [--chunk-frames N]
#                                    [--batches X1,X2,...] [--modes cq,bitrate] [--workers W]
#                                    [--frames F] [--no-vpxenc] [--out DIR]
#   --clips LIST     clips of the test set (default: all of bench-lib.sh's TEST_SET)
#   --levels LIST    --cq-level values, at least 4 (default 12,24,36,48)
#   --chunk-frames N frames per chunk (default 6)
#   --batches LIST   chunks per batch, numbers or "whole" (default 1,2,4,8,16,whole)
#   --modes LIST     cq, bitrate or both (default cq,bitrate)
#   --workers W      pipeline workers (default 2)
#   --frames F       frames per clip (default: each clip's own length)
#   --no-vpxenc      leave out the vpxenc columns (and its encodes)
#   --out DIR        work directory (default bench-out/pipeline, or $FLICK_BENCH_OUT/pipeline)
# Environment: FLICK_ARGS, extra options for every `flick encode` (e.g. "--speed 6").
# Quick run: scripts/pipeline-figures.sh --clips qcif,cuts360 --batches 1,16 --modes cq --no-vpxenc
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench=pipeline-figures

clips=$TEST_SET
levels="12,24,36,48"
chunk_frames=6
batches="1,2,4,8,16,whole"
modes="cq,bitrate"
workers=2
frames=""
vpx=1
out="${FLICK_BENCH_OUT:-bench-out}/pipeline"
while [ $# -gt 0 ]; do
    case "$1" in
        --clips) clips=$2; shift 2 ;;
        --levels) levels=$2; shift 2 ;;
        --chunk-frames) chunk_frames=$2; shift 2 ;;
        --batches) batches=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --frames) frames=$2; shift 2 ;;
        --no-vpxenc) vpx=0; shift ;;
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
IFS=, read -r -a mode_list <<<"$modes"
for m in "${mode_list[@]}"; do
    case "$m" in cq|bitrate) ;; *) echo "pipeline-figures: bad mode '$m' (cq, bitrate)" >&2; exit 2 ;; esac
done
IFS=, read -r -a clip_list <<<"$clips"
for clip in "${clip_list[@]}"; do
    [[ ",$TEST_SET," == *",$clip,"* ]] || { echo "pipeline-figures: unknown clip '$clip' (one of $TEST_SET)" >&2; exit 2; }
done
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
# The figure bd-rate.py gives at equal $1 in its output $2 (its first word: "n/a" when it has none).
pick() { sed -n "s/^BD-rate at equal $1:[[:space:]]*//p" <<<"$2" | awk 'NR == 1 { print $1 }' | grep . || echo n/a; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }

# From a timeline $1 of $2 frames in chunks of $3: "encode_s_per_frame rebase_s_per_rebased_frame
# task_s", counting successful attempts.
work_per_frame() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
records = [r for r in json.load(open(sys.argv[1])) if r.get("ok", True)]
frames, chunk = int(sys.argv[2]), int(sys.argv[3])
def total(kind):
    return sum(r["end_s"] - r["start_s"] for r in records if r["kind"] == kind)
rebased_chunks = {r["chunk"] for r in records if r["kind"] == "rebase"}
rebased_frames = sum(min(chunk, frames - c * chunk) for c in rebased_chunks)
encode = (total("encode_chunk") + total("encode_given_state")) / frames
rebase = total("rebase") / rebased_frames if rebased_frames else 0.0
print(f"{encode:.5f} {rebase:.5f} {sum(r['end_s'] - r['start_s'] for r in records):.3f}")
EOF
}

# "mean_db worst_db bytes_pct" from the pipeline's "rebased N frames: ..." line in log $1, or
# "- - -" when nothing was rebased.
rebase_quality() {
    sed -n 's/.*rebased [0-9]* frames: PSNR \([-+0-9.]*\) dB on average.*(worst \([-+0-9.]*\) dB.*bytes \([-+0-9.]*\)%.*/\1 \2 \3/p' "$1" | tail -n 1 | grep . || echo "- - -"
}

# vpxenc's best mode at bitrate $3 kb/s: source $1 to stream $2.
vpxenc_best() {
    vpxenc --codec=vp8 --ivf --quiet --good --cpu-used=0 --passes=2 --auto-alt-ref=1 \
        --lag-in-frames=25 --end-usage=vbr --threads=1 --target-bitrate="$3" -o "$2" "$1" </dev/null
}

summary=$out/summary.txt
overall=$out/overall.csv
: >"$summary"
: >"$overall"
for clip in "${clip_list[@]}"; do
    dir=$out/$clip
    mkdir -p "$dir"
    log=$dir/encode.log
    : >"$log"
    y4m=$dir/source-${frames:-all}.y4m
    [ -s "$y4m" ] || make_source "$clip" "$y4m" "$frames"
    read -r fps size source_frames < <(y4m_facts "$y4m")

    # The serial constant-quality curve, whose bitrates the bitrate mode and vpxenc target.
    : >"$dir/serial-cq.csv"
    serial_cq_time=0
    rates=()
    for l in "${level_list[@]}"; do
        stream=$dir/serial-cq-$l.ivf
        t=$(time_command "$flick" encode "$y4m" -o "$stream" --cq-level "$l" "${flick_args[@]}")
        row=$(bd_row "$stream" "$y4m" "$fps")
        echo "$row" >>"$dir/serial-cq.csv"
        rates+=("$(awk -F, '{ k = int($1 + 0.5); print (k < 1) ? 1 : k }' <<<"$row")")
        serial_cq_time=$(add "$serial_cq_time" "$t")
    done
    if [ "$vpx" = 1 ]; then
        : >"$dir/vpxenc.csv"
        for k in "${rates[@]}"; do
            # Kept from an earlier run into the same directory: vpxenc is slow and its
            # output depends only on the source and the bitrate.
            stream=$dir/vpxenc-${frames:-all}-$k.ivf
            if [ ! -s "$stream" ]; then
                vpxenc_best "$y4m" "$stream.partial" "$k" >>"$log" 2>&1
                mv "$stream.partial" "$stream"
            fi
            bd_row "$stream" "$y4m" "$fps" >>"$dir/vpxenc.csv"
        done
    fi

    for mode in "${mode_list[@]}"; do
        if [ "$mode" = cq ]; then
            settings=("${level_list[@]}")
            option=--cq-level
            serial_time=$serial_cq_time
        else
            settings=("${rates[@]}")
            option=--target-bitrate
            : >"$dir/serial-bitrate.csv"
            serial_time=0
            for k in "${settings[@]}"; do
                stream=$dir/serial-bitrate-$k.ivf
                t=$(time_command "$flick" encode "$y4m" -o "$stream" --target-bitrate "$k" "${flick_args[@]}")
                bd_row "$stream" "$y4m" "$fps" >>"$dir/serial-bitrate.csv"
                serial_time=$(add "$serial_time" "$t")
            done
        fi
        rows=()
        for x in "${batch_list[@]}"; do
            csv=$dir/$mode-batch-$x.csv
            : >"$csv"
            pipe_time=0 encode_work=0 rebase_work=0 task_time=0
            quality=()
            for v in "${settings[@]}"; do
                stream=$dir/$mode-batch-$x-$v.ivf
                timeline=$dir/$mode-batch-$x-$v.json
                run_log=$dir/$mode-batch-$x-$v.log
                : >"$run_log"
                t=$(log=$run_log time_command "$flick" encode "$y4m" -o "$stream" "$option" "$v" \
                    --chunk-frames "$chunk_frames" --batch "$x" --workers "$workers" \
                    --timeline "$timeline" "${flick_args[@]}")
                bd_row "$stream" "$y4m" "$fps" >>"$csv"
                pipe_time=$(add "$pipe_time" "$t")
                read -r e r w < <(work_per_frame "$timeline" "$source_frames" "$chunk_frames")
                encode_work=$(add "$encode_work" "$e")
                rebase_work=$(add "$rebase_work" "$r")
                task_time=$(add "$task_time" "$w")
                quality+=("$(rebase_quality "$run_log")")
            done
            # A curve whose qualities repeat (a rate mode stuck at one quantizer) has no BD-rate.
            bd_serial=$(scripts/bd-rate.py "$dir/serial-$mode.csv" "$csv" 2>>"$log" || true)
            s1=$(pick 'SSIM (dB)' "$bd_serial") p1=$(pick PSNR "$bd_serial") s2=- p2=-
            if [ "$vpx" = 1 ]; then
                bd_vpx=$(scripts/bd-rate.py "$dir/vpxenc.csv" "$csv" 2>>"$log" || true)
                s2=$(pick 'SSIM (dB)' "$bd_vpx") p2=$(pick PSNR "$bd_vpx")
            fi
            q=$(printf '%s\n' "${quality[@]}" | awk '$1 != "-" { n++; m += $1; b += $3; if (n == 1 || $2 < w) w = $2 }
                END { if (n) printf "%+.3f %+.3f %+.2f%%", m / n, w, b / n; else print "- - -" }')
            rows+=("$x|$s1|$p1|$s2|$p2|$pipe_time|$serial_time|$task_time|$encode_work|$rebase_work|$q")
            echo "$clip,$mode,$x,${s1%\%},${p1%\%}" >>"$overall"
        done

        {
            echo
            echo "== $clip ($(describe_clip "$clip")): $size, $source_frames frames at ${fps/:/\/} fps; ExCamera[$chunk_frames,x], $workers workers, $option ${settings[*]} ${FLICK_ARGS:-}"
            line="   serial flick: time, all levels: ${serial_time} s"
            if [ "$vpx" = 1 ]; then
                bd_vpx_serial=$(scripts/bd-rate.py "$dir/vpxenc.csv" "$dir/serial-$mode.csv" 2>>"$log" || true)
                line="   serial flick against vpxenc's best mode: SSIM $(pick 'SSIM (dB)' "$bd_vpx_serial"), PSNR $(pick PSNR "$bd_vpx_serial"); serial time, all levels: ${serial_time} s"
            fi
            echo "$line"
            printf '%-6s %15s %15s %15s %15s %8s %8s %7s %15s %30s\n' x "vs serial SSIM" "vs serial PSNR" \
                "vs vpxenc SSIM" "vs vpxenc PSNR" "time s" speedup work "rebase/encode" "rebased: dB mean, worst, bytes"
            for row in "${rows[@]}"; do
                IFS='|' read -r x s1 p1 s2 p2 t st w e r q <<<"$row"
                awk -v x="$x" -v s1="$s1" -v p1="$p1" -v s2="$s2" -v p2="$p2" -v t="$t" -v st="$st" \
                    -v w="$w" -v e="$e" -v r="$r" -v q="$q" 'BEGIN {
                    frac = (e > 0) ? r / e : 0
                    rebase = (frac > 0) ? sprintf("%.4f (1/%.1f)", frac, 1 / frac) : "-"
                    printf "%-6s %15s %15s %15s %15s %8.2f %7.2fx %6.2fx %15s %30s\n", x, s1, p1, s2, p2, t, st / t, w / st, rebase, q
                }'
            done
        } | tee -a "$summary"
    done
done

{
    echo
    echo "== over the set: BD-rate against the serial encoder, mean and largest (clip) per mode and x"
    python3 - "$overall" <<'EOF'
import sys
rows = [l.strip().split(",") for l in open(sys.argv[1]) if l.strip()]
for mode in dict.fromkeys(r[1] for r in rows):
    for x in dict.fromkeys(r[2] for r in rows if r[1] == mode):
        sel = [r for r in rows if r[1] == mode and r[2] == x]
        def stats(col):
            vals = [(float(r[col]), r[0]) for r in sel if r[col] not in ("", "-", "n/a")]
            if not vals:
                return "-"
            mean = sum(v for v, _ in vals) / len(vals)
            worst = max(vals)
            return f"mean {mean:+6.2f}%, largest {worst[0]:+6.2f}% ({worst[1]})"
        print(f"{mode:8} x={x:6} SSIM {stats(3)};  PSNR {stats(4)}")
EOF
} | tee -a "$summary"
echo
echo "pipeline-figures: summary in $summary"

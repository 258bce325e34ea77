#!/usr/bin/env bash
# Checks `flick simulate` against this machine, then predicts ExCamera's headline job.
#
# For each clip (default: bbb360 and pan360 of the test set, scripts/bench-lib.sh), encodes it
# with ExCamera[6, 16] on the local backend with one worker and with two, three times each
# (the median run, by the pipeline's wall time, is the measurement, and writes the timeline),
# then simulates one and two workers from the one-worker run's timeline (task costs measured
# on a CPU of their own, as the simulator wants them) and prints
#   check CLIP from W_MEASURED workers W measured_s M predicted_s P error E%
# (M the pipeline's wall time of the run with W workers, P the prediction for W from the
# run with W_MEASURED workers' costs). The workers share this machine's CPUs (--cores, nproc)
# with flick's own work beside the tasks (--host-load: the one-worker run's CPU time less its
# task time, per second of its pipeline), which the simulator is told. Then, from the 720p clip's one-worker costs, the
# prediction for ExCamera's headline job (888 s of 4K at 24 fps, ExCamera[6, 16], 3,552
# workers: 2.6 minutes for ExCamera on AWS Lambda), with Lambda's cold start and latency:
#   headline workers W wall_s S ...
#
# Usage: scripts/simulate-check.sh [CLIP,...]    Writes its files under target/simulate-check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench=simulate-check
source scripts/bench-lib.sh
clips=${1:-bbb360,pan360}
out=target/simulate-check
mkdir -p "$out"
cargo build --quiet --release -p orchestrator
flick=target/release/flick
pipeline=(--chunk-frames 6 --batch 16)

# The pipeline's wall time, from the summary line `... tasks run (...) in S s; ...`.
pipeline_seconds() { sed -n 's/.* tasks run (.*) in \([0-9.]*\) s;.*/\1/p' "$1"; }
# The seconds of a timeline's attempts, all together.
task_seconds() {
    python3 -c 'import json, sys; print(sum(r["end_s"] - r["start_s"] for r in json.load(open(sys.argv[1]))))' "$1"
}
cores=$(nproc)

for clip in ${clips//,/ } bbb720; do
    y4m=$out/$clip.y4m
    [ -s "$y4m" ] || make_source "$clip" "$y4m" ""
    [ "$clip" = bbb720 ] && continue
    for w in 1 2; do
        for run in 1 2 3; do
            TIMEFORMAT='%U %S'
            { time "$flick" encode "$y4m" -o "$out/$clip-$w.ivf" "${pipeline[@]}" --workers "$w" \
                --timeline "$out/$clip-$w-$run.json" 2> "$out/$clip-$w-$run.log"; } \
                2> "$out/$clip-$w-$run.cpu"
            echo "$(pipeline_seconds "$out/$clip-$w-$run.log") $run"
        done | sort -n | sed -n 2p | {
            read -r _ median
            for ext in json log cpu; do cp "$out/$clip-$w-$median.$ext" "$out/$clip-$w.$ext"; done
        }
    done
    read -r user sys < "$out/$clip-1.cpu"
    host_load=$(awk -v u="$user" -v s="$sys" -v t="$(task_seconds "$out/$clip-1.json")" \
        -v p="$(pipeline_seconds "$out/$clip-1.log")" 'BEGIN { h = (u + s - t) / p; printf "%.3f", h < 0 ? 0 : h }')
    echo "host $clip cpu_s $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') host_load $host_load cores $cores"
    for from in 1; do
        for w in 1 2; do
            measured=$(pipeline_seconds "$out/$clip-$w.log")
            predicted=$("$flick" simulate "$out/$clip-$from.json" --workers "$w" \
                --cores "$cores" --host-load "$host_load" |
                sed -n 's/^workers [0-9]* wall_s \([0-9.]*\) .*/\1/p')
            awk -v c="$clip" -v f="$from" -v w="$w" -v m="$measured" -v p="$predicted" 'BEGIN {
                printf "check %s from %d workers %d measured_s %.3f predicted_s %.3f error %+.1f%%\n",
                    c, f, w, m, p, 100 * (p - m) / m }'
        done
    done
done

# ExCamera's headline job from the 720p clip's costs, one worker measuring compute alone.
"$flick" encode "$out/bbb720.y4m" -o "$out/bbb720-1.ivf" "${pipeline[@]}" --workers 1 \
    --timeline "$out/bbb720-1.json" 2> "$out/bbb720-1.log"
"$flick" simulate "$out/bbb720-1.json" --workers 1,100,1000,3552,10000 --frames 21312 \
    --width 3840 --height 2160 --cold-start 1 --invoke-latency 0.05 --bandwidth 50 \
    --concurrency-limit 3552 --plot "$out/headline.png" | sed 's/^/headline /'
echo "simulate-check: plot in $out/headline.png"

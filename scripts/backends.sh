#!/usr/bin/env bash
# Runs the same pipelined encode on every backend and prints one line per backend:
#   backend NAME md5 HEX seconds S tasks N
# (HEX the MD5 of the output file, S the wall time of `flick encode`, N the tasks run), so that
# equal MD5s show the backends give the same bytes; then, for the lambda backend, one line per
# task kind from the function's log and flick's timeline:
#   lambda KIND tasks N inline_in_mb A s3_in_mb B inline_out_mb C s3_out_mb D
#     compute_s E s3_s F invoke_s G
# (A, C the bytes inside the invocations, before base64; B, D those fetched from and put into
# S3; E the function's seconds computing, F fetching and putting, G the rest of the
# invocations' wall time as flick saw it: the Invoke API, JSON and base64, queueing). Brings up on loopback what a backend needs
# (`wasmtime serve` with the HTTP worker, under a secret made for the run; moto's S3 server
# with a bucket, and `cargo lambda watch` serving the Lambda worker on it) and stops it after.
#
# Usage: scripts/backends.sh IN.y4m [flick encode options...]   (default: --chunk-frames 6)
# Builds flick with the wasmtime and lambda features and the worker components first; needs
# wasmtime-cli, moto and cargo-lambda (scripts/setup-wasm.sh, setup-s3.sh, setup-lambda.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 1 ] || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
input=$1; shift
[ -r "$input" ] || { echo "backends: cannot read $input" >&2; exit 2; }
options=("$@")
[[ " ${options[*]} " == *" --chunk-frames "* ]] || options+=(--chunk-frames 6)

scripts/setup-wasm.sh
scripts/setup-s3.sh
scripts/setup-lambda.sh
cargo build --quiet --release -p orchestrator --features wasmtime,lambda
cargo build --quiet --release -p worker-lambda
{ read -r worker_wasm; read -r worker_http; } < <(scripts/build-worker-wasm.sh)
flick=$(dirname "$(dirname "$(dirname "$worker_wasm")")")/release/flick

work=$(mktemp -d)
server="" moto="" watch=""
cleanup() {
    for pid in $server $moto; do kill "$pid" 2>/dev/null || true; done
    # The watcher runs the function as a child: stop its whole process group.
    [ -z "$watch" ] || kill -- "-$watch" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

FLICK_WORKER_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export FLICK_WORKER_SECRET
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
wasmtime serve -Scli --addr "127.0.0.1:$port" --env FLICK_WORKER_SECRET \
    "$worker_http" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
done

# The lambda backend: the function under `cargo lambda watch`, its blobs in moto's S3. Both
# sides sign with SigV4; neither server checks the credentials.
export AWS_ACCESS_KEY_ID=flick-bench AWS_SECRET_ACCESS_KEY=flick-bench AWS_REGION=us-east-1
s3_port=$(free_port) lambda_port=$(free_port)
moto_server -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
moto=$!
for _ in $(seq 600); do
    curl -sf -X PUT "http://127.0.0.1:$s3_port/flick-bench" >/dev/null 2>&1 && break
    kill -0 "$moto" 2>/dev/null || { cat "$work/moto.log" >&2; exit 1; }
    sleep 0.1
done
store=s3://flick-bench/run
setsid cargo lambda watch --quiet --ignore-changes --release -p worker-lambda \
    -A 127.0.0.1 -P "$lambda_port" --concurrency 64 \
    --env-var "FLICK_STORE=$store" --env-var "FLICK_S3_ENDPOINT=http://127.0.0.1:$s3_port" \
    >"$work/watch.log" 2>&1 &
watch=$!
for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$lambda_port") 2>/dev/null && break
    kill -0 "$watch" 2>/dev/null || { cat "$work/watch.log" >&2; exit 1; }
    sleep 0.1
done

run() {
    local name=$1; shift
    local out=$work/$name.ivf start end
    start=$(date +%s.%N)
    "$flick" encode "$input" -o "$out" "${options[@]}" "$@" 2>"$work/$name.log" || {
        cat "$work/$name.log" >&2; exit 1; }
    end=$(date +%s.%N)
    local tasks
    tasks=$(grep -o '[0-9]* tasks run' "$work/$name.log" | head -1 | cut -d' ' -f1)
    printf 'backend %s md5 %s seconds %.2f tasks %s\n' "$name" \
        "$(md5sum "$out" | cut -d' ' -f1)" "$(echo "$end - $start" | bc)" "${tasks:-?}"
}
run local --backend local
run wasmtime --backend wasmtime --worker-wasm "$worker_wasm"
run http --backend http --endpoint "http://127.0.0.1:$port"
run lambda --backend lambda --function flick-worker --lambda-endpoint "http://127.0.0.1:$lambda_port" \
    --store "$store" --s3-endpoint "http://127.0.0.1:$s3_port" --timeline "$work/lambda.json"
python3 - "$work/watch.log" "$work/lambda.json" <<'PY'
import collections, json, sys
served = collections.defaultdict(list)
for line in open(sys.argv[1], errors="replace"):
    at = line.find("flick-task ")
    if at >= 0:
        task = json.loads(line[at + len("flick-task "):])
        served[task["kind"]].append(task)
wall = collections.Counter()
for record in json.load(open(sys.argv[2])):
    if record["ok"]:
        wall[record["kind"]] += record["end_s"] - record["start_s"]
mb = lambda tasks, field: sum(t[field] for t in tasks) / 1e6
for kind in ("encode_chunk", "encode_given_state", "rebase"):
    tasks = served.get(kind, [])
    worker = sum(t["fetch_s"] + t["compute_s"] + t["put_s"] for t in tasks)
    print(f"lambda {kind} tasks {len(tasks)} "
          f"inline_in_mb {mb(tasks, 'request_bytes'):.2f} s3_in_mb {mb(tasks, 'fetched_bytes'):.2f} "
          f"inline_out_mb {mb(tasks, 'response_bytes'):.2f} s3_out_mb {mb(tasks, 'stored_bytes'):.2f} "
          f"compute_s {sum(t['compute_s'] for t in tasks):.2f} "
          f"s3_s {sum(t['fetch_s'] + t['put_s'] for t in tasks):.2f} "
          f"invoke_s {max(wall[kind] - worker, 0.0):.2f}")
PY

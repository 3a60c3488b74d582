#!/usr/bin/env bash
# Benchmark `laneway serve` against a fast local upstream (issue 5).
#
#   upstream   Debian's nginx answering a fixed chat.completion (JSON) or a fixed
#              SSE stream, pinned to core 1
#   gateway    laneway serve (uvicorn + uvloop + httptools), pinned to core 0,
#              one client key, audit (SQLite, batched) and metrics on
#   load       wrk on core 1, 1 and 32 connections, JSON and streaming
#
# Prints a markdown table: rps, p50/p99, added p50 latency over hitting nginx
# directly, and the gateway's peak RSS. Usage: bash bench/bench_server.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
WORK="$(mktemp -d /tmp/laneway-bench.XXXXXX)"
UP_PORT=18081
GW_PORT=18080
MIN_PORT=18082
PY=.venv/bin/python
command -v nginx >/dev/null && command -v wrk >/dev/null || {
    echo "needs nginx and wrk: apt-get install -y nginx wrk" >&2; exit 1; }

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# -- upstream -------------------------------------------------------------------
$PY bench/server/render_configs.py "$WORK" "$UP_PORT" "$GW_PORT"
taskset -c 1 nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" &
pids+=($!)

# -- gateway --------------------------------------------------------------------
(cd "$WORK" && exec taskset -c 0 "$OLDPWD/.venv/bin/laneway" serve --config "$WORK/laneway.yaml" \
    --port "$GW_PORT" --log-level warning) &
GW_PID=$!
pids+=($GW_PID)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$GW_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$GW_PORT/readyz" >/dev/null || { echo "gateway did not start" >&2; exit 1; }

# the floor: a minimal uvicorn + aiohttp pass-through proxy on the same core
taskset -c 0 $PY bench/server/minimal_proxy.py "http://127.0.0.1:$UP_PORT/v1/chat/completions" \
    "$MIN_PORT" &
pids+=($!)
sleep 1

run_wrk() {  # name url lua connections
    local name=$1 url=$2 lua=$3 conns=$4
    taskset -c 1 wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$lua" "$url" \
        > "$WORK/wrk-$name-$conns.txt" 2>&1
}

# warm-up (first requests import modules and open the upstream pool)
taskset -c 1 wrk -t1 -c4 -d2s -s "$WORK/json.lua" "http://127.0.0.1:$GW_PORT/v1/chat/completions" >/dev/null

for conns in 1 32; do
    run_wrk direct-json "http://127.0.0.1:$UP_PORT/v1/chat/completions" "$WORK/direct.lua" "$conns"
    run_wrk direct-stream "http://127.0.0.1:$UP_PORT/sse/v1/chat/completions" "$WORK/direct.lua" "$conns"
    run_wrk minimal-json "http://127.0.0.1:$MIN_PORT/v1/chat/completions" "$WORK/direct.lua" "$conns"
    run_wrk laneway-json "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$WORK/json.lua" "$conns"
    run_wrk laneway-stream "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$WORK/stream.lua" "$conns"
done

RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status")
$PY bench/server/report.py "$WORK" "$RSS_KB"
echo "(raw wrk output in $WORK)"

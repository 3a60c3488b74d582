#!/usr/bin/env bash
# Benchmark `laneway serve` and its peers against one fast local upstream (issue 5).
#
#   upstream  Debian's nginx answering a fixed chat.completion (JSON) or a fixed SSE
#             stream (the OpenAI spec's examples), pinned to core 1
#   gateways  all pinned to core 0, one process each, each a pass-through to that nginx:
#             - minimal proxy: uvicorn + raw ASGI + laneway's HTTP client (aiohttp), nothing
#               else (the floor of laneway's stack)
#             - laneway serve, one client key, metrics on, audit on SQLite, twice:
#               durability strict (the default) and batched
#             - LiteLLM proxy (`litellm[proxy]`, master key, no database)
#             - TensorZero's gateway (PyPI `tensorzero`: the Rust gateway embedded in
#               its wheel, served over HTTP; no ClickHouse/PostgreSQL, so no observability)
#   load      wrk on core 1, 1 and 32 connections, JSON and streaming, after a warm-up;
#             ROUNDS rounds, each running every gateway in turn, so that a slow or fast
#             phase of a shared machine falls on all of them alike; each cell of the
#             table is its median-rps round
#
# Prints a markdown table (rps, p50/p99, added p50 over nginx direct, the gateway's CPU
# per request from /proc, non-2xx), the ratios against the issue's targets and each
# gateway's peak RSS. CPU per request is the steadiest figure on a shared machine.
#
# Usage: bash bench/bench_server.sh [seconds-per-run]      (default 10)
#   ROUNDS=N         rounds of every run (default 3)
#   PEERS=0          skip LiteLLM and TensorZero
#   PEERS_VENV=DIR   where the peers live (default /tmp/laneway-bench-peers); created with
#                    pip on first use. Never the project's venv: they are not dependencies.
#   BENCH_PYTHON=P   run laneway, the minimal proxy and LiteLLM on interpreter P (say
#                    /usr/bin/python3.11, a PGO+LTO build), in venvs made from it under
#                    /tmp/laneway-bench-<tag>/ on first use; default: the project's .venv
#                    and the peers on `python3`. The interpreter moves CPU per request by
#                    10-15% (docs/performance.md, "The interpreter"): compare like with like.
#   LANEWAY_VENV=DIR the venv laneway runs from (default .venv)
# Needs nginx and wrk (installed with apt-get when missing and running as root).
# Loopback only. The machine should be otherwise idle: the script prints the load average.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
ROUNDS="${ROUNDS:-3}"
ROUND=1
PEERS="${PEERS:-1}"
BENCH_PYTHON="${BENCH_PYTHON:-}"
if [ -n "$BENCH_PYTHON" ]; then  # one venv pair per interpreter (its path and version)
    tag=$("$BENCH_PYTHON" -c 'import hashlib, sys
print(hashlib.sha256(f"{sys.executable} {sys.version}".encode()).hexdigest()[:8])')
    LANEWAY_VENV="${LANEWAY_VENV:-/tmp/laneway-bench-$tag/laneway}"
    PEERS_VENV="${PEERS_VENV:-/tmp/laneway-bench-$tag/peers}"
fi
LANEWAY_VENV="${LANEWAY_VENV:-.venv}"
PEERS_VENV="${PEERS_VENV:-/tmp/laneway-bench-peers}"
WORK="$(mktemp -d /tmp/laneway-bench.XXXXXX)"
UP_PORT=18081
STRICT_PORT=18080
MIN_PORT=18082
LITELLM_PORT=18083
BATCHED_PORT=18084

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null
    else
        echo "needs nginx and wrk: sudo apt-get install -y nginx wrk" >&2; exit 1
    fi
fi
if [ ! -x "$LANEWAY_VENV/bin/laneway" ]; then
    echo "installing laneway into $LANEWAY_VENV ..." >&2
    "${BENCH_PYTHON:-python3}" -m venv "$LANEWAY_VENV"
    "$LANEWAY_VENV/bin/pip" install -q -e .
fi
LANEWAY_VENV="$(cd "$LANEWAY_VENV" && pwd)"
PY="$LANEWAY_VENV/bin/python"
if [ "$PEERS" = 1 ] && [ ! -x "$PEERS_VENV/bin/litellm" ]; then
    echo "installing the peers into $PEERS_VENV (bench only) ..." >&2
    "${BENCH_PYTHON:-python3}" -m venv "$PEERS_VENV"
    # the versions docs/performance.md reports; newer ones may differ in speed
    "$PEERS_VENV/bin/pip" install -q 'litellm[proxy]==1.108.7' 'tensorzero==2026.6.0'
fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_ok() {  # url what: poll until a GET answers 2xx (60 s)
    for _ in $(seq 600); do curl -sf -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "$2 did not start; logs in $WORK" >&2; exit 1
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# -- upstream -------------------------------------------------------------------
$PY bench/server/render_configs.py "$WORK" "$UP_PORT"
taskset -c 1 nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" &
pids+=($!)

# -- gateways, all on core 0 ------------------------------------------------------
declare -A GW_PID GW_URL
start_laneway() {  # durability port
    (cd "$WORK" && exec taskset -c 0 "$LANEWAY_VENV/bin/laneway" serve \
        --config "$WORK/laneway-$1.yaml" --port "$2" --log-level warning) \
        > "$WORK/laneway-$1.log" 2>&1 &
    GW_PID[laneway-$1]=$!; pids+=($!)
    GW_URL[laneway-$1]="http://127.0.0.1:$2/v1/chat/completions"
    wait_ok "http://127.0.0.1:$2/readyz" "laneway ($1)"
}
start_laneway strict "$STRICT_PORT"
start_laneway batched "$BATCHED_PORT"

taskset -c 0 $PY bench/server/minimal_proxy.py "http://127.0.0.1:$UP_PORT/v1/chat/completions" \
    "$MIN_PORT" > "$WORK/minimal.log" 2>&1 &
GW_PID[minimal]=$!; pids+=($!)
GW_URL[minimal]="http://127.0.0.1:$MIN_PORT/v1/chat/completions"

if [ "$PEERS" = 1 ]; then
    # LITELLM_LOCAL_MODEL_COST_MAP: use the bundled price map, do not fetch it from the web
    LITELLM_LOCAL_MODEL_COST_MAP=True taskset -c 0 "$PEERS_VENV/bin/litellm" \
        --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" \
        --num_workers 1 --log_config "$WORK/litellm-log.json" > "$WORK/litellm.log" 2>&1 &
    GW_PID[litellm]=$!; pids+=($!)
    GW_URL[litellm]="http://127.0.0.1:$LITELLM_PORT/v1/chat/completions"
    wait_ok "http://127.0.0.1:$LITELLM_PORT/health/liveliness" "LiteLLM"

    taskset -c 0 "$PEERS_VENV/bin/python" bench/server/tensorzero_gateway.py \
        "$WORK/tensorzero.toml" "$WORK/tensorzero.url" > "$WORK/tensorzero.log" 2>&1 &
    GW_PID[tensorzero]=$!; pids+=($!)
    for _ in $(seq 300); do [ -s "$WORK/tensorzero.url" ] && break; sleep 0.1; done
    [ -s "$WORK/tensorzero.url" ] || { echo "TensorZero did not start: $WORK/tensorzero.log" >&2; exit 1; }
    GW_URL[tensorzero]="$(cat "$WORK/tensorzero.url")/chat/completions"
fi

cpu_ticks() {  # pid: user + system clock ticks of every thread of the process
    awk '{print $14 + $15}' "/proc/$1/stat"
}
run_wrk() {  # target kind conns url; wrk's output and the gateway's CPU ticks go to
            # wrk-<target>-<kind>-<conns>-r<round>.txt and cpu-<...>-r<round>.txt
    local pid="${GW_PID[$1]:-}" before=0 name="$1-$2-$3-r$ROUND"
    [ -n "$pid" ] && before=$(cpu_ticks "$pid")
    taskset -c 1 wrk -t1 -c"$3" -d"${DURATION}s" --latency -s "$WORK/$1-$2.lua" "$4" \
        > "$WORK/wrk-$name.txt" 2>&1
    [ -n "$pid" ] && echo "$(( $(cpu_ticks "$pid") - before )) $(getconf CLK_TCK)" \
        > "$WORK/cpu-$name.txt"
    return 0
}
check_one() {  # target kind url: a request must answer 200 (within 10 s) before we measure
    local auth=() script="$WORK/$1-$2.lua" body key
    body=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$script")
    key=$(sed -n 's/.*"Authorization"\] = "\(.*\)"$/\1/p' "$script")
    [ -n "$key" ] && auth=(-H "Authorization: $key")
    for _ in $(seq 100); do
        curl -sf -o "$WORK/check-$1-$2.out" -H 'Content-Type: application/json' "${auth[@]}" \
            -d "$body" "$3" && return 0
        sleep 0.1
    done
    echo "$1 $2: no 200 from $3; see $WORK/check-$1-$2.out and the logs there" >&2; exit 1
}

targets=(laneway-strict laneway-batched)
[ "$PEERS" = 1 ] && targets+=(litellm tensorzero)

for target in minimal "${targets[@]}"; do  # a 200 first, then a warm-up: imports, pools
    for kind in json stream; do
        [ "$target" = minimal ] && [ "$kind" = stream ] && continue
        check_one "$target" "$kind" "${GW_URL[$target]}"
        taskset -c 1 wrk -t1 -c4 -d2s -s "$WORK/$target-$kind.lua" "${GW_URL[$target]}" >/dev/null
    done
done

for ROUND in $(seq "$ROUNDS"); do
    echo "round $ROUND of $ROUNDS ..." >&2
    for conns in 1 32; do
        run_wrk direct json "$conns" "http://127.0.0.1:$UP_PORT/v1/chat/completions"
        run_wrk direct stream "$conns" "http://127.0.0.1:$UP_PORT/sse/v1/chat/completions"
        run_wrk minimal json "$conns" "${GW_URL[minimal]}"
        for target in "${targets[@]}"; do
            run_wrk "$target" json "$conns" "${GW_URL[$target]}"
            run_wrk "$target" stream "$conns" "${GW_URL[$target]}"
        done
    done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
rss=()
for target in minimal "${targets[@]}"; do
    rss+=("$target=$(awk '/VmHWM/ {print $2}' "/proc/${GW_PID[$target]}/status")")
done
interpreter() { "$1" -c 'import sys; print(sys.version.split()[0], sys.executable)'; }
echo "laneway and the minimal proxy ran on Python $(interpreter "$PY")"
[ "$PEERS" = 1 ] && echo "LiteLLM ran on Python $(interpreter "$PEERS_VENV/bin/python")"
$PY bench/server/report.py "$WORK" "${rss[@]}"
echo "(raw wrk output and gateway logs in $WORK)"

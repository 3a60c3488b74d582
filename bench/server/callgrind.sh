#!/usr/bin/env bash
# Instructions per request of the ASGI app (callgrind_app.py): the difference of a
# 300- and a 1,300-request run (SMALL, LARGE), divided by the difference in requests,
# so start-up cancels out.
#
#   bash bench/server/callgrind.sh [json|stream|long|drip] [batched|strict|off|minimal] [metrics 0|1]
#   (long: a stream of 200 content deltas the upstream writes at once; drip: the same, an
#   event per write, so each read brings one; try SMALL=20 LARGE=80, slow under valgrind)
#   PY=/path/to/python   another interpreter or venv (default .venv/bin/python)
#   CONCURRENCY=N        requests in flight at once (default 32; 1: one at a time)
#
# Needs valgrind. Instruction counts repeat run to run, whatever else the machine
# does, which makes them the measure for small A/B changes (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
KIND="${1:-json}" AUDIT="${2:-batched}" METRICS="${3:-1}"
PY="${PY:-.venv/bin/python}"
OUT="$(mktemp -d /tmp/laneway-callgrind.XXXXXX)"
count() {  # requests -> total instructions
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$1" \
        "$PY" bench/server/callgrind_app.py "$1" "$KIND" "$AUDIT" "$METRICS" \
        > "$OUT/log.$1" 2>&1 || { cat "$OUT/log.$1" >&2; exit 1; }
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$OUT/cg.$1"
}
SMALL="${SMALL:-300}" LARGE="${LARGE:-1300}"
small=$(count "$SMALL")
large=$(count "$LARGE")
per=$(( (large - small) / (LARGE - SMALL) ))
echo "$KIND audit=$AUDIT metrics=$METRICS: $per instructions per request (callgrind files in $OUT)"

"""Turn the server benchmark's wrk outputs into the tables of docs/performance.md.

    python bench/server/report.py WORK_DIR TARGET=PEAK_RSS_KB ...

Reads `wrk-<target>-<kind>-<conns>-r<round>.txt` for every target that has them
and keeps, per cell, the round with the median rps (its p50, p99 and CPU with
it); prints one table (added p50 is over nginx direct for the same kind and
connections), then laneway's ratios against the issue's targets and each
gateway's peak RSS.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
TARGETS = {
    "direct": "nginx direct",
    "minimal": "minimal proxy",
    "laneway-strict": "laneway, audit strict",
    "laneway-batched": "laneway, audit batched",
    "litellm": "LiteLLM proxy",
    "tensorzero": "TensorZero gateway",
}
LANEWAYS = ("laneway-strict", "laneway-batched")
ADDED_P50_TARGET_MS = 0.3
LITELLM_RATIO_TARGET = 50.0
RSS_TARGET_MIB = 80.0

Row = dict[str, float]


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse(path: Path) -> Row:
    text = path.read_text()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    requests = re.search(r"(\d+) requests in", text)
    socket = re.search(r"Socket errors:.*", text)
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"{path}: no wrk summary in it:\n{text}")
    return {
        "rps": float(rps.group(1)),
        "p50": _ms(p50.group(1)),
        "p99": _ms(p99.group(1)),
        "errors": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket else 0.0,
        "requests": float(requests.group(1)) if requests else 0.0,
    }


def cpu_us_per_request(path: Path, requests: float) -> float | None:
    """From `cpu-*.txt` (clock ticks, ticks per second), written by bench_server.sh."""
    if not path.exists() or requests <= 0:
        return None
    ticks, per_second = (float(field) for field in path.read_text().split())
    return ticks / per_second / requests * 1e6


def load(work: Path) -> dict[tuple[str, str, int], Row]:
    rows: dict[tuple[str, str, int], Row] = {}
    for target in TARGETS:
        for kind in ("json", "stream"):
            for conns in (1, 32):
                rounds = []
                for path in sorted(work.glob(f"wrk-{target}-{kind}-{conns}-r*.txt")):
                    row = parse(path)
                    cpu_path = path.with_name("cpu-" + path.name.removeprefix("wrk-"))
                    cpu = cpu_us_per_request(cpu_path, row["requests"])
                    if cpu is not None:
                        row["cpu_us"] = cpu
                    rounds.append(row)
                if rounds:
                    rounds.sort(key=lambda r: r["rps"])
                    rows[(target, kind, conns)] = rounds[len(rounds) // 2]
                    rows[(target, kind, conns)]["rounds"] = float(len(rounds))
    return rows


def table(rows: dict[tuple[str, str, int], Row]) -> None:
    rounds = int(max((row["rounds"] for row in rows.values()), default=1))
    print(f"each cell: the median-rps round of {rounds}, every gateway run in turn per round\n")
    print("| run | conns | rps | p50 ms | p99 ms | added p50 ms | CPU µs/request | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in ("json", "stream"):
        for conns in (1, 32):
            direct = rows[("direct", kind, conns)]
            for target, name in TARGETS.items():
                row = rows.get((target, kind, conns))
                if row is None:
                    continue
                added = "" if target == "direct" else f"{row['p50'] - direct['p50']:.3f}"
                flag = " (socket errors)" if row["socket_errors"] else ""
                cpu = f"{row['cpu_us']:,.0f}" if "cpu_us" in row else ""
                print(
                    f"| {name}, {kind} | {conns} | {row['rps']:,.0f} | {row['p50']:.3f} | "
                    f"{row['p99']:.2f} | {added} | {cpu} | {row['errors']:.0f}{flag} |"
                )


def ratios(rows: dict[tuple[str, str, int], Row]) -> None:
    print(
        "\n| laneway | kind | added p50, 1 conn (≤ 0.3 ms) | ÷ minimal, 32 | ÷ LiteLLM, 32 "
        "(≥ 50×) | ÷ TensorZero, 32 (≥ 1×) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for target in LANEWAYS:
        for kind in ("json", "stream"):
            row1 = rows.get((target, kind, 1))
            row32 = rows.get((target, kind, 32))
            if row1 is None or row32 is None:
                continue
            added = row1["p50"] - rows[("direct", kind, 1)]["p50"]
            cells = [f"{added:.3f} {'met' if added <= ADDED_P50_TARGET_MS else 'missed'}"]
            for peer, goal in (
                ("minimal", None),
                ("litellm", LITELLM_RATIO_TARGET),
                ("tensorzero", 1.0),
            ):
                other = rows.get((peer, kind, 32))
                if other is None:
                    cells.append("")
                    continue
                ratio = row32["rps"] / other["rps"]
                verdict = "" if goal is None else (" met" if ratio >= goal else " missed")
                cells.append(f"{ratio:.2f}×{verdict}")
            print(f"| {TARGETS[target]} | {kind} | " + " | ".join(cells) + " |")


def main(work: Path, rss: list[str]) -> None:
    rows = load(work)
    table(rows)
    ratios(rows)
    print()
    for item in rss:
        target, _, kb = item.partition("=")
        mib = int(kb) / 1024 if kb else float("nan")
        note = ""
        if target in LANEWAYS:
            note = f" (≤ {RSS_TARGET_MIB:g} MiB: {'met' if mib <= RSS_TARGET_MIB else 'missed'})"
        print(f"peak RSS, {TARGETS.get(target, target)}: {mib:.1f} MiB{note}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])

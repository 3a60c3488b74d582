"""Turn the server benchmark's wrk outputs into the tables of docs/performance.md.

    python bench/server/report.py WORK_DIR TARGET=PEAK_RSS_KB ...

Reads `wrk-<target>-<kind>-<conns>-r<round>.txt` for every target that has them
and keeps, per cell, the round with the median rps (its p50, p99 and CPU with
it); prints one table (added p50 is over nginx direct for the same kind and
connections), laneway's ratios against the issue's targets, the same ratios
round by round, and each gateway's peak RSS.
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


Cell = tuple[str, str, int]  # target, kind, connections


def load_rounds(work: Path) -> dict[Cell, list[Row]]:
    """Every cell's rounds, in round order."""
    cells: dict[Cell, list[Row]] = {}
    for target in TARGETS:
        for kind in ("json", "stream"):
            for conns in (1, 32):
                paths = work.glob(f"wrk-{target}-{kind}-{conns}-r*.txt")
                rounds = []
                for path in sorted(paths, key=lambda p: int(p.stem.rpartition("-r")[2])):
                    row = parse(path)
                    cpu_path = path.with_name("cpu-" + path.name.removeprefix("wrk-"))
                    cpu = cpu_us_per_request(cpu_path, row["requests"])
                    if cpu is not None:
                        row["cpu_us"] = cpu
                    rounds.append(row)
                if rounds:
                    cells[(target, kind, conns)] = rounds
    return cells


def median_rounds(cells: dict[Cell, list[Row]]) -> dict[Cell, Row]:
    rows: dict[Cell, Row] = {}
    for cell, rounds in cells.items():
        row = sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]
        rows[cell] = {**row, "rounds": float(len(rounds))}
    return rows


def by_round(cells: dict[Cell, list[Row]]) -> None:
    """Each round's ratios: gateways measured minutes apart share the machine's phase,
    which medians taken cell by cell may not (they can come from different rounds)."""
    print(
        "\nby round (same phase of the machine for every gateway in a round):\n\n"
        "| laneway | kind | ÷ LiteLLM, 32 | ÷ TensorZero, 32 | added p50 ms, 1 conn "
        "(minimal proxy; TensorZero) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for target in LANEWAYS:
        for kind in ("json", "stream"):
            ours32, ours1 = cells.get((target, kind, 32)), cells.get((target, kind, 1))
            direct1 = cells.get(("direct", kind, 1))
            if ours32 is None or ours1 is None or direct1 is None:
                continue
            ratios = []
            for peer in ("litellm", "tensorzero"):
                theirs = cells.get((peer, kind, 32), [])
                pairs = zip(ours32, theirs, strict=False)
                ratios.append(", ".join(f"{a['rps'] / b['rps']:.2f}×" for a, b in pairs))
            added = []
            for index, (ours, direct) in enumerate(zip(ours1, direct1, strict=False)):
                refs = []
                for peer in ("minimal", "tensorzero"):
                    theirs = cells.get((peer, "json" if peer == "minimal" else kind, 1), [])
                    if index < len(theirs):
                        refs.append(f"{theirs[index]['p50'] - direct['p50']:.3f}")
                added.append(f"{ours['p50'] - direct['p50']:.3f} ({'; '.join(refs)})")
            cells_text = " | ".join([*ratios, ", ".join(added)])
            print(f"| {TARGETS[target]} | {kind} | {cells_text} |")


def table(rows: dict[Cell, Row]) -> None:
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


def ratios(rows: dict[Cell, Row]) -> None:
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
    cells = load_rounds(work)
    rows = median_rounds(cells)
    table(rows)
    ratios(rows)
    if max((len(rounds) for rounds in cells.values()), default=0) > 1:
        by_round(cells)
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

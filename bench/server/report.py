"""Turn the benchmark's wrk outputs into the markdown table of docs/performance.md."""

from __future__ import annotations

import re
import sys
from pathlib import Path

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse(path: Path) -> dict[str, float]:
    text = path.read_text()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"{path}: no wrk summary in it:\n{text}")
    return {
        "rps": float(rps.group(1)),
        "p50": _ms(p50.group(1)),
        "p99": _ms(p99.group(1)),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def main(work: Path, rss_kb: int) -> None:
    print("| run | conns | rps | p50 ms | p99 ms | added p50 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in ("json", "stream"):
        for conns in (1, 32):
            direct = parse(work / f"wrk-direct-{kind}-{conns}.txt")
            rows = [("nginx direct", direct)]
            if kind == "json":
                rows.append(("minimal proxy", parse(work / f"wrk-minimal-{kind}-{conns}.txt")))
            rows.append(("laneway", parse(work / f"wrk-laneway-{kind}-{conns}.txt")))
            for name, row in rows:
                added = f"{row['p50'] - direct['p50']:.3f}" if name != "nginx direct" else ""
                print(
                    f"| {name} {kind} | {conns} | {row['rps']:,.0f} | {row['p50']:.3f} | "
                    f"{row['p99']:.2f} | {added} | {row['errors']:.0f} |"
                )
    print(f"\nlaneway peak RSS: {rss_kb / 1024:.1f} MiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))

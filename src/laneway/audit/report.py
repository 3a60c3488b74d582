"""`laneway stats --html`: one self-contained page of inline SVG charts.

No script, no CDN, no fonts to fetch: the file opens the same offline, in a
mail attachment or a CI artifact. Charts: requests and spend by model over
time (stacked bars), fallback rate over time (line), latency distribution
(histogram) and breaker openings by model, followed by the `stats` tables.

Requests count under the configured model that served them (`served_model`),
so a failure is never drawn as its decided model's; spend has no "not served"
series (such requests cost nothing). Dates carry the year: a log may span one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from laneway.audit.query import (
    NOT_SERVED,
    GroupStats,
    is_fallback,
    routing_stats,
    served_model,
    summarize,
)
from laneway.audit.records import RequestRow, RoutingEventRow

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#4b5563")
LATENCY_EDGES_MS = (100, 250, 500, 1000, 2500, 5000, 10000, 30000)
W, H, PAD = 720, 240, 56

_STEPS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)


def bucket_size_s(start: float, end: float, target: int = 24) -> int:
    """The smallest round step giving at most `target` buckets over [start, end]."""
    span = max(end - start, 1.0)
    for step in _STEPS:
        if span / step <= target:
            return step
    return _STEPS[-1]


def _label(ts: float, step: int) -> str:
    fmt = "%Y-%m-%d" if step >= 86400 else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(ts, tz=UTC).strftime(fmt)


Series = dict[str, list[float]]


def _time_series(
    rows: Sequence[RequestRow],
) -> tuple[list[str], Series, Series, list[float | None]]:
    """Bucket labels; requests and spend per model per bucket; fallback rate per bucket."""
    start = min(r.ts for r in rows)
    step = bucket_size_s(start, max(r.ts for r in rows))
    first = int(start // step) * step
    count = int((max(r.ts for r in rows) - first) // step) + 1
    requests: dict[str, list[float]] = defaultdict(lambda: [0.0] * count)
    spend: dict[str, list[float]] = defaultdict(lambda: [0.0] * count)
    totals, fallbacks = [0] * count, [0] * count
    for row in rows:
        index = int((row.ts - first) // step)
        model = served_model(row)
        requests[model][index] += 1
        if model != NOT_SERVED:
            spend[model][index] += row.cost_usd or 0.0
        totals[index] += 1
        fallbacks[index] += is_fallback(row)
    labels = [_label(first + i * step, step) for i in range(count)]
    rate = [f / t if t else None for f, t in zip(fallbacks, totals, strict=True)]
    return labels, dict(requests), dict(spend), rate


def _figure(chart_id: str, title: str, body: str, legend: Sequence[str] = ()) -> str:
    keys = "".join(
        f'<span class="key"><i style="background:{_colour(i)}"></i>{escape(name)}</span>'
        for i, name in enumerate(legend)
    )
    return (
        f'<figure class="chart" id="{chart_id}"><figcaption>{escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(title)}">{body}</svg><div class="legend">{keys}</div></figure>'
    )


def _empty(chart_id: str, title: str) -> str:
    """A chart with nothing to draw says so, instead of an empty axis from 0 to 1."""
    note = "nothing recorded"
    if chart_id == "chart-spend":
        note = "no spend recorded: the served models have no known price (providers.*.models)"
    body = f'<text x="{W / 2:.0f}" y="{H / 2:.0f}" text-anchor="middle">{escape(note)}</text>'
    return _figure(chart_id, title, body)


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _axes(labels: Sequence[str], top: float, fmt: str) -> str:
    parts = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" class="axis"/>']
    parts.append(f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" class="axis"/>')
    parts.append(f'<text x="{PAD - 4}" y="16" text-anchor="end">{fmt.format(top)}</text>')
    parts.append(f'<text x="{PAD - 4}" y="{H - PAD}" text-anchor="end">0</text>')
    every = max(1, len(labels) // 6)
    width = (W - PAD - 10) / max(len(labels), 1)
    for i in range(0, len(labels), every):
        x = PAD + (i + 0.5) * width
        parts.append(
            f'<text x="{x:.1f}" y="{H - PAD + 16}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    return "".join(parts)


def stacked_bars(chart_id: str, title: str, labels: Sequence[str], series: Series, fmt: str) -> str:
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = max(totals, default=0.0)
    if top <= 0:
        return _empty(chart_id, title)
    width = (W - PAD - 10) / max(len(labels), 1)
    bars: list[str] = []
    for i in range(len(labels)):
        y = float(H - PAD)
        for k, (name, values) in enumerate(series.items()):
            height = values[i] / top * (H - PAD - 10)
            if height <= 0:
                continue
            y -= height
            bars.append(
                f'<rect class="bar" x="{PAD + i * width + 1:.1f}" y="{y:.1f}" '
                f'width="{max(width - 2, 1):.1f}" height="{height:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(name)} {escape(labels[i])}: '
                f"{fmt.format(values[i])}</title></rect>"
            )
    return _figure(chart_id, title, _axes(labels, top, fmt) + "".join(bars), list(series))


def line_chart(
    chart_id: str, title: str, labels: Sequence[str], values: Sequence[float | None]
) -> str:
    width = (W - PAD - 10) / max(len(labels), 1)
    points = [
        (PAD + (i + 0.5) * width, H - PAD - v * (H - PAD - 10))
        for i, v in enumerate(values)
        if v is not None
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[2]}"/>' for x, y in points
    )
    body = (
        f'<polyline class="line" points="{path}" fill="none" '
        f'stroke="{PALETTE[2]}" stroke-width="2"/>'
    )
    return _figure(chart_id, title, _axes(labels, 1.0, "{:.0%}") + body + dots)


def bar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    return stacked_bars(chart_id, title, labels, {title: list(values)}, "{:g}")


def latency_histogram(rows: Sequence[RequestRow]) -> tuple[list[str], list[float]]:
    edges = LATENCY_EDGES_MS
    labels = [f"<{e / 1000:g}s" if e >= 1000 else f"<{e}ms" for e in edges] + [
        f">={edges[-1] / 1000:g}s"
    ]
    counts = [0.0] * len(labels)
    for row in rows:
        if row.duration_ms is None or row.status == "pending":
            continue
        index = next((i for i, e in enumerate(edges) if row.duration_ms < e), len(edges))
        counts[index] += 1
    return labels, counts


def _table(groups: Sequence[GroupStats]) -> str:
    columns = (
        "group",
        "requests",
        "share",
        "fallback",
        "p50 ms",
        "p95 ms",
        "tokens in/out",
        "spend USD",
        "errors",
    )
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    body = "".join(
        f"<tr><td>{escape(g.key)}</td><td>{g.requests}</td><td>{g.share:.0%}</td>"
        f"<td>{g.fallback_rate:.0%}</td><td>{_ms(g.p50_ms)}</td><td>{_ms(g.p95_ms)}</td>"
        f"<td>{g.tokens_in}/{g.tokens_out}</td><td>{g.cost_usd:.4f}</td>"
        f"<td>{escape(', '.join(f'{k}: {v}' for k, v in g.error_codes.items()))}</td></tr>"
        for g in groups
    )
    return f'<table id="stats-table">{head}{body}</table>'


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#111;background:#fff}
figure.chart{margin:16px 0;padding:8px;border:1px solid #ddd;display:inline-block}
figcaption{font-weight:600;margin-bottom:4px} svg text{font-size:11px;fill:#333}
.axis{stroke:#999} .legend{font-size:12px} .key{margin-right:12px}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse;margin:12px 0} td,th{border:1px solid #ddd;padding:3px 8px}
"""


def render_report(
    rows: Sequence[RequestRow],
    events: Sequence[RoutingEventRow],
    *,
    title: str,
    generated_ts: float,
) -> str:
    """The whole HTML page for `rows` (requests) and `events` (routing events)."""
    parts = [f"<h1>{escape(title)}</h1>"]
    parts.append(f"<p>{len(rows)} requests; generated {_label(generated_ts, 60)} UTC.</p>")
    if rows:
        labels, requests, spend, rate = _time_series(rows)
        parts.append(stacked_bars("chart-requests", "Requests by model", labels, requests, "{:g}"))
        spend = {model: values for model, values in spend.items() if any(values)}
        parts.append(stacked_bars("chart-spend", "Spend by model (USD)", labels, spend, "{:.6f}"))
        parts.append(line_chart("chart-fallback", "Fallback rate", labels, rate))
        hist_labels, counts = latency_histogram(rows)
        parts.append(bar_chart("chart-latency", "Latency distribution", hist_labels, counts))
    openings = routing_stats(rows, events).breaker_openings
    parts.append(
        bar_chart("chart-breaker", "Breaker openings", list(openings), list(openings.values()))
    )
    parts.append("<h2>By lane and model</h2>" + _table(summarize(rows)))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )

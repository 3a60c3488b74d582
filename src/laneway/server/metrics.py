"""HTTP-level metrics of the server, counted in plain dicts and rendered at scrape time.

A request costs two dict updates; `prometheus_client` is imported only when
`/metrics` is scraped, through a custom collector over these counts. With
`telemetry.metrics` on, `/metrics` also serves the engine's metrics
(`laneway.telemetry.metrics.Metrics`, subscribed to the gateway's events).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

#: seconds; the last bucket is +Inf
BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HttpMetrics:
    """Requests by route and status, request duration per route, and the refusals the
    audit log sampled out (`audit/sampling.py`), by reason."""

    def __init__(self, sampled_out: dict[str, int] | None = None) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self._hist: dict[str, list[float]] = {}  # route -> counts per bucket (summed: count), sum
        self._sampled_out = {} if sampled_out is None else sampled_out  # read at scrape time

    def observe(self, route: str, status: int, duration_s: float) -> None:
        key = (route, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        hist = self._hist.get(route)
        if hist is None:
            hist = self._hist[route] = [0.0] * (len(BUCKETS_S) + 2)
        hist[bisect_left(BUCKETS_S, duration_s)] += 1
        hist[-1] += duration_s

    def collect(self) -> Iterator[Any]:
        """prometheus_client collector protocol."""
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        counter = CounterMetricFamily(
            "laneway_http_requests", "HTTP requests answered", labels=["route", "status"]
        )
        for (route, status), count in sorted(self.requests.items()):
            counter.add_metric([route, str(status)], count)
        yield counter
        hist_family = HistogramMetricFamily(
            "laneway_http_request_duration_seconds", "HTTP request duration", labels=["route"]
        )
        for route, hist in sorted(self._hist.items()):
            cumulative: float = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, in_bucket in zip((*BUCKETS_S, float("inf")), hist, strict=False):
                cumulative += in_bucket
                bucket = "+Inf" if bound == float("inf") else repr(bound)
                buckets.append((bucket, cumulative))
            hist_family.add_metric([route], buckets, sum_value=hist[-1])
        yield hist_family
        sampled = CounterMetricFamily(
            "laneway_audit_refusals_sampled_out",
            "Refusals with no audit row of their own (past audit.refusals_per_s)",
            labels=["reason"],
        )
        for reason, count in sorted(self._sampled_out.items()):
            sampled.add_metric([reason], count)
        yield sampled


def render(metrics: HttpMetrics, extra: Callable[[], bytes] | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition of the server's metrics (and the telemetry layer's)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    body = generate_latest(registry)
    if extra is not None:
        body += extra()
    return body, str(CONTENT_TYPE_LATEST)

"""The server's own request counts and durations, as `/metrics` renders them."""

from __future__ import annotations

from laneway.server.metrics import HttpMetrics, render


def test_durations_render_as_a_histogram_with_its_count_and_sum() -> None:
    metrics = HttpMetrics()
    for seconds in (0.0005, 0.003, 0.003, 45.0):
        metrics.observe("/v1/chat/completions", 200, seconds)
    metrics.observe("/v1/chat/completions", 429, 0.0001)
    text = render(metrics)[0].decode()
    route = 'route="/v1/chat/completions"'
    assert f'laneway_http_requests_total{{{route},status="200"}} 4.0' in text
    assert f'laneway_http_requests_total{{{route},status="429"}} 1.0' in text
    prefix = "laneway_http_request_duration_seconds"
    assert f'{prefix}_bucket{{le="0.001",{route}}} 2.0' in text
    assert f'{prefix}_bucket{{le="0.005",{route}}} 4.0' in text
    assert f'{prefix}_bucket{{le="30.0",{route}}} 4.0' in text
    assert f'{prefix}_bucket{{le="+Inf",{route}}} 5.0' in text
    assert f"{prefix}_count{{{route}}} 5.0" in text
    assert f"{prefix}_sum{{{route}}} 45.0066" in text

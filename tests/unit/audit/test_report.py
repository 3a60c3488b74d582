"""The HTML report: self-contained, and it renders in headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from audit_scenario import record_run

from laneway.audit.records import RequestRow
from laneway.audit.report import render_report
from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import RequestFilter

CHARTS = ("chart-requests", "chart-spend", "chart-fallback", "chart-latency", "chart-breaker")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


async def _page(tmp_path: Path) -> str:
    await record_run(tmp_path / "run.db")
    store = SqliteStore(tmp_path / "run.db")
    await store.open()
    rows = await store.select_requests(RequestFilter())
    events = await store.select_events()
    await store.aclose()
    return render_report(rows, events, title="t <report>", generated_ts=1_700_010_000.0)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium is not installed (apt-get install -y chromium; .ci/services.sh does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _distinct_colours(png: bytes) -> int:
    """Count distinct pixel values of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, _, colour_type = struct.unpack(">IIBB", data[:10])
            channels = {2: 3, 6: 4}[colour_type]
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # Unfiltered bytes are enough to tell a blank page (one value) from a drawn one.
    pixels = {
        raw[y * stride + 1 + x * channels : y * stride + 1 + (x + 1) * channels]
        for y in range(0, height, 4)
        for x in range(0, width, 4)
    }
    return len(pixels)


async def test_report_is_self_contained_and_escapes_text(tmp_path: Path) -> None:
    page = await _page(tmp_path)
    assert all(f'id="{chart}"' in page for chart in CHARTS)
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert "t &lt;report&gt;" in page
    assert page.count('class="bar"') > 10


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    html = tmp_path / "report.html"
    html.write_text(asyncio.run(_page(tmp_path)), encoding="utf-8")
    png = tmp_path / "shot.png"
    common = [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run(
        [*common, f"--screenshot={png}", "--window-size=1000,1400", html.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    dom = subprocess.run(
        [*common, "--dump-dom", html.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert png.stat().st_size > 1000
    assert _distinct_colours(png.read_bytes()) > 5  # not a blank page
    for chart in CHARTS:
        assert f'id="{chart}"' in dom
    assert dom.count("<rect") > 10
    assert "<polyline" in dom
    assert "<rect" in _figure(dom, "chart-spend")  # the spend chart draws bars
    assert "(not served)" in _figure(dom, "chart-requests")


def _figure(page: str, chart: str) -> str:
    start = page.index(f'id="{chart}"')
    return page[start : page.index("</figure>", start)]


async def test_report_attributes_spend_and_requests_to_the_serving_model(tmp_path: Path) -> None:
    page = await _page(tmp_path)
    spend = _figure(page, "chart-spend")
    assert spend.count('class="bar"') >= 5
    assert "anthropic/opus" in spend
    assert "zai/glm" in spend
    assert "(not served)" not in spend  # a failure spends nothing
    requests = _figure(page, "chart-requests")
    assert "(not served)" in requests  # the timeout, not under its decided model
    assert "</i>-</span>" not in page  # no legend entry "-"
    assert "2023-11-14" in requests  # dates carry the year
    assert "generated 2023-11-15" in page


def test_a_report_without_prices_says_so_instead_of_an_empty_axis() -> None:
    row = RequestRow("r", 1_700_000_000.0, "success", "demo", model="local/echo", cost_usd=0.0)
    page = render_report([row], [], title="t", generated_ts=1_700_000_000.0)
    spend = _figure(page, "chart-spend")
    assert "no spend recorded" in spend
    assert "1.0000" not in spend
    assert 'class="bar"' not in spend

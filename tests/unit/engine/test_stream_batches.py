"""`Gateway.stream_batches`: what one upstream read brought travels as one list.

The upstream is the Chat Completions adapter (preset zai) over an
`httpx.MockTransport`; each body chunk the handler sends is one read. Events
are `chat.completion.chunk`s as in tests/fixtures/openai/stream_text.sse
(openai-openapi.yaml's "Streaming" example).
"""

from __future__ import annotations

import httpx
from engine_scenario import KEYS, REAL_PROVIDERS, ZAI_HOST, Upstream, ask, config, gateway

from laneway.errors import ErrorCode
from laneway.types import (
    Delta,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    StreamBatch,
    StreamDone,
    StreamOpened,
    TaskContext,
    TextDelta,
    UsageDelta,
)
from wire_helpers import CHUNK_FINISH as FINISH
from wire_helpers import CHUNK_USAGE as USAGE
from wire_helpers import SSE_DONE as DONE
from wire_helpers import Reads
from wire_helpers import chunk_text as text

CTX = TaskContext(lane="work")


async def batches_of(*reads: bytes, pii: bool = True) -> list[StreamBatch]:
    upstream = Upstream()
    headers = {"content-type": "text/event-stream"}
    upstream.queue(ZAI_HOST, httpx.Response(200, stream=Reads(*reads), headers=headers))
    lane = {"primary": "zai/glm-4.7", "pii": {"scan": pii}}
    cfg = config({"work": lane}, providers=REAL_PROVIDERS)
    async with gateway(cfg, env=KEYS, transport=upstream.transport()) as gw:
        return [batch async for batch in gw.stream_batches(ask(), CTX)]


def lists(batches: list[StreamBatch]) -> list[list[Delta]]:
    return [batch for batch in batches if isinstance(batch, list)]


async def test_the_events_of_one_read_come_as_one_list_their_text_joined() -> None:
    batches = await batches_of(text("Hel") + text("lo") + FINISH + USAGE + DONE, pii=False)

    assert isinstance(batches[0], StreamOpened)
    (deltas,) = lists(batches)
    assert deltas[0] == TextDelta("Hello")
    assert deltas[1] == FinishDelta(FinishReason.STOP)
    assert isinstance(deltas[2], UsageDelta)
    done = batches[-1]
    assert isinstance(done, StreamDone)
    assert done.completion.content == "Hello"


async def test_each_read_is_a_list_of_its_own() -> None:
    reads = (text("Hel"), text("lo") + text(" you"), FINISH + USAGE + DONE)
    batches = await batches_of(*reads, pii=False)

    texts = [[d.text for d in deltas if isinstance(d, TextDelta)] for deltas in lists(batches)]
    assert texts == [["Hel"], ["lo you"], []]


async def test_screened_text_is_held_back_then_sent_whole_before_the_finish() -> None:
    long = "word " * 40  # longer than the scan's window: its head may go at once
    batches = await batches_of(text(long), text("end") + FINISH + USAGE + DONE)

    first, last = lists(batches)
    assert first == [TextDelta(long[: len(long) - 96])]
    assert last[0] == TextDelta(long[len(long) - 96 :] + "end")
    assert isinstance(last[1], FinishDelta)
    done = batches[-1]
    assert isinstance(done, StreamDone)
    assert done.completion.content == long + "end"


async def test_an_address_split_across_the_events_of_one_read_never_goes_out() -> None:
    batches = await batches_of(text("mail me at ada"), text("@example.com") + FINISH + DONE)

    sent = "".join(d.text for deltas in lists(batches) for d in deltas if isinstance(d, TextDelta))
    assert "@" not in sent
    assert "ada" not in sent
    error = batches[-1]
    assert isinstance(error, ErrorDelta)
    assert error.error.code is ErrorCode.PII_LEAK


async def test_a_cut_after_a_read_keeps_that_reads_text_and_ends_with_the_error() -> None:
    batches = await batches_of(text("Hello") + text(" there"), pii=False)

    (deltas,) = lists(batches)
    assert deltas == [TextDelta("Hello there")]
    error = batches[-1]
    assert isinstance(error, ErrorDelta)
    assert error.error.code is ErrorCode.INVALID_RESPONSE  # before its finish and [DONE]


async def test_the_public_stream_hands_on_the_same_deltas_one_by_one() -> None:
    upstream = Upstream()
    body = Reads(text("Hel") + text("lo"), FINISH + USAGE + DONE)
    upstream.queue(
        ZAI_HOST, httpx.Response(200, stream=body, headers={"content-type": "text/event-stream"})
    )
    cfg = config({"work": {"primary": "zai/glm-4.7"}}, providers=REAL_PROVIDERS)
    async with gateway(cfg, env=KEYS, transport=upstream.transport()) as gw:
        events = [e async for e in gw.stream(ask(), CTX)]

    assert isinstance(events[0], StreamOpened)
    assert events[1] == TextDelta("Hello")
    assert events[2] == FinishDelta(FinishReason.STOP)
    assert isinstance(events[3], UsageDelta)
    assert isinstance(events[4], StreamDone)

"""Pass-through: a client's own Messages API request, sent on with only the model changed.

When the client spoke the Messages API (the server's `/v1/messages`) and the
served model speaks it too, the body goes upstream as the client sent it:
thinking blocks and their signatures, `cache_control`, documents, citations,
server tools, fields laneway has never heard of. Only `model` (the routed one)
and `stream` are set. The client's `anthropic-version` and `anthropic-beta`
headers are forwarded as sent.

The answer comes back whole as well: `Completion.wire` holds the upstream's
JSON body, and a stream yields each upstream event as a `WireEvent` after the
deltas the engine needs (usage, finish, tool calls). Text is the exception:
a text delta travels only as its `TextDelta`, so the engine's PII screen holds
it back exactly as on chat completions, and the server writes it out again as
a `text_delta` event of the same block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from laneway.providers._base_http import StateReader
from laneway.providers._wire import decode_event
from laneway.providers.anthropic.stream import StreamState, parse_stream_event
from laneway.types import Delta, TextDelta, WireEvent, WirePayload

WIRE_FORMAT = "anthropic"
#: client headers that go upstream as sent (NOTES "Endpoint and request headers")
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
#: events that carry a piece of the answer (a thinking block counts: the stream has begun)
_CONTENT_EVENTS = frozenset({"content_block_start", "content_block_delta"})


def build_body(wire: WirePayload, model: str, *, stream: bool) -> dict[str, Any]:
    """The client's body with the routed `model`; every other field as it came."""
    body = dict(wire.body)
    body["model"] = model
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return body


def forwarded_headers(wire: WirePayload, configured: Mapping[str, str]) -> dict[str, str]:
    """The client's version and beta headers; a beta the provider's config sets is kept too."""
    headers = {name: wire.headers[name] for name in FORWARDED_HEADERS if name in wire.headers}
    beta = configured.get("anthropic-beta")
    if beta and "anthropic-beta" in headers:
        mine = [b.strip() for b in beta.split(",") if b.strip()]
        theirs = [b.strip() for b in headers["anthropic-beta"].split(",") if b.strip()]
        headers["anthropic-beta"] = ",".join(dict.fromkeys([*theirs, *mine]))
    return headers


class PassthroughReader(StateReader[StreamState]):
    """The normalized deltas of each event, then the event itself as a `WireEvent`."""

    def __init__(self, state: StreamState) -> None:
        super().__init__(parse_stream_event, state)

    def parse(self, name: str, data: str) -> list[Delta]:
        deltas = super().parse(name, data)
        if name == "message":  # an event without its name line: its `type` names it
            name = str(decode_event(data, what="stream event").get("type") or name)
        if not deltas or not isinstance(deltas[0], TextDelta):
            return [*deltas, WireEvent(name, data, name in _CONTENT_EVENTS)]
        if name == "content_block_delta":
            return deltas  # text: its TextDelta carries it (screened) to the server
        # a text block that starts with text: the block opens empty, its text follows
        start = decode_event(data, what="stream event")
        start["content_block"] = {**start["content_block"], "text": ""}
        return [WireEvent(name, orjson.dumps(start).decode(), True), *deltas]

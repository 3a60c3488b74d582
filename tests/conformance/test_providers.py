"""The provider conformance suite: every HTTP adapter kind against its own wire format.

One suite, run over the OpenAI, Anthropic and Gemini fixture sets
(`wire_openai.py`, `wire_anthropic.py`, `wire_gemini.py`, each citing its
sources): the canonical request's shape, how the key or an OAuth token is
sent, parsing of text and tool-call answers, SSE delta sequences, how a
stream that breaks off ends, and the classification of each kind's
documented error bodies and of transport failures. Behaviour only one kind
has stays in its own module under tests/unit/providers/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from provider_wires import EACH_WIRE, REQUEST, WIRES, Answer, ErrorCase, StreamCut, Wire

from laneway.config.loader import load_config
from laneway.engine.gateway import Gateway
from laneway.errors import ErrorCode, ProviderError
from laneway.http import HttpxTransport
from laneway.types import Answer as ProviderAnswer
from laneway.types import (
    Capability,
    Delta,
    ErrorDelta,
    FinishDelta,
    ModelInfo,
    ModelRef,
    Price,
    TaskContext,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    UsageDelta,
)
from wire_helpers import WEATHER, AdapterMaker, CutStream, Upstream, ask, collect, counting_command


def maker(adapters: AdapterMaker, wire: Wire) -> Callable[..., Any]:
    return adapters(wire.kind, wire.adapter, wire.spec, wire.key_env, wire.key)


def cases(pick: Callable[[Wire], tuple[Any, ...]], name: Callable[[Any], str]) -> Any:
    """(wire, case) pairs over every wire, with readable ids."""
    return [
        pytest.param(wire, case, id=f"{wire.kind}-{name(case)}")
        for wire in WIRES
        for case in pick(wire)
    ]


# -- request shapes ------------------------------------------------------------------


@EACH_WIRE
async def test_the_canonical_request_is_sent_in_the_documented_shape(
    adapters: AdapterMaker, wire: Wire
) -> None:
    upstream = Upstream(wire.ok(wire.text.fixture))
    await maker(adapters, wire)(upstream).complete(REQUEST, wire.model, timeout_s=5)
    sent = upstream.requests[0]
    assert (sent.method, str(sent.url)) == ("POST", wire.url)
    assert sent.headers[wire.key_header] == wire.key_prefix + wire.key
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == wire.request_body


@EACH_WIRE
async def test_a_stream_request_is_the_same_body_asking_for_sse(
    adapters: AdapterMaker, wire: Wire
) -> None:
    upstream = Upstream(wire.sse(wire.fixture(wire.stream_fixture)))
    await collect(maker(adapters, wire)(upstream).stream(REQUEST, wire.model, timeout_s=5))
    sent = upstream.requests[0]
    assert str(sent.url) == wire.stream_url
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.headers[wire.key_header] == wire.key_prefix + wire.key
    assert json.loads(sent.content) == {**wire.request_body, **wire.stream_extra}


@EACH_WIRE
async def test_a_missing_key_is_not_configured_names_the_variable_and_sends_nothing(
    adapters: AdapterMaker, wire: Wire
) -> None:
    upstream = Upstream()
    adapter = maker(adapters, wire)(upstream, env={})
    assert adapter.credentials() == ()
    [status] = adapter.check_credentials()
    assert not status.present
    assert wire.key_env in (status.problem or "")
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(ask(), wire.model, timeout_s=5)
    assert caught.value.code is ErrorCode.NOT_CONFIGURED
    assert upstream.requests == []


@EACH_WIRE
async def test_the_kinds_own_header_carries_the_key_and_no_other_does(
    adapters: AdapterMaker, wire: Wire
) -> None:
    upstream = Upstream(wire.ok(wire.text.fixture))
    await maker(adapters, wire)(upstream).complete(ask(), wire.model, timeout_s=5)
    headers = upstream.requests[0].headers
    others = {"authorization", "x-api-key", "x-goog-api-key"} - {wire.key_header}
    assert not others & set(headers)


@EACH_WIRE
async def test_bearer_auth_sends_the_command_token_as_authorization(
    adapters: AdapterMaker, wire: Wire, tmp_path: Path
) -> None:
    """`auth_header: bearer` with `api_key_command`: OAuth access tokens go as
    `Authorization: Bearer` on every kind (Anthropic OAuth; Google OAuth 2.0,
    https://ai.google.dev/gemini-api/docs/oauth), for answers and streams alike."""
    upstream = Upstream(wire.ok(wire.text.fixture), wire.sse(wire.fixture(wire.stream_fixture)))
    adapter = maker(adapters, wire)(
        upstream, api_key_command=counting_command(tmp_path, "oauth-N"), auth_header="bearer"
    )
    await adapter.complete(ask(), wire.model, timeout_s=5)
    deltas = await collect(adapter.stream(ask(), wire.model, timeout_s=5))
    assert not any(isinstance(d, ErrorDelta) for d in deltas)
    for request in upstream.requests:
        assert request.headers["authorization"] == "Bearer oauth-1"
        assert not {"x-api-key", "x-goog-api-key"} & set(request.headers)


@EACH_WIRE
async def test_a_rejected_command_token_is_fetched_anew(
    adapters: AdapterMaker, wire: Wire, tmp_path: Path
) -> None:
    """A 401 (`auth`) drops the cached token: it may have expired before it said."""
    upstream = Upstream(wire.unauthorized("invalid"), wire.ok(wire.text.fixture))
    adapter = maker(adapters, wire)(
        upstream, api_key_command=counting_command(tmp_path, "oauth-N"), auth_header="bearer"
    )
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(ask(), wire.model, timeout_s=5)
    assert caught.value.code is ErrorCode.AUTH
    await adapter.complete(ask(), wire.model, timeout_s=5)
    tokens = [request.headers["authorization"] for request in upstream.requests]
    assert tokens == ["Bearer oauth-1", "Bearer oauth-2"]


# -- answers -------------------------------------------------------------------------


def assert_call(answer: Answer, call: ToolCall | ToolCallDelta) -> None:
    """The call's id (any non-empty one where the kind synthesizes it), name and arguments."""
    assert answer.call is not None
    call_id, name, arguments = answer.call
    assert call.id == (call_id or call.id)
    assert call.id
    assert (call.name, json.loads(call.arguments)) == (name, arguments)


@EACH_WIRE
@pytest.mark.parametrize("answer", ["text", "tool"])
async def test_answers_are_parsed_into_content_finish_usage_and_calls(
    adapters: AdapterMaker, wire: Wire, answer: str
) -> None:
    expected: Answer = getattr(wire, answer)
    upstream = Upstream(wire.ok(expected.fixture))
    request = ask(tools=(WEATHER,)) if expected.call else REQUEST
    answer: ProviderAnswer = await maker(adapters, wire)(upstream).complete(
        request, wire.model, timeout_s=5
    )
    assert answer.content == expected.content
    assert answer.finish_reason is expected.finish
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == expected.tokens
    assert answer.usage.cost_usd is None  # the engine prices it
    if expected.call:
        assert_call(expected, answer.tool_calls[0])
    else:
        assert answer.tool_calls == ()


@EACH_WIRE
@pytest.mark.parametrize("source", ["catalog", "config"])
async def test_the_gateway_prices_the_answer_and_names_its_credential(
    wire: Wire, source: str
) -> None:
    """An adapter says what the provider said; the engine prices the answer from the
    model's price (the catalog's, else the config's) and names the credential profile."""
    price = Price(input=2.5, output=10.0)
    upstream = Upstream(wire.ok(wire.text.fixture))
    provider: dict[str, Any] = {
        "kind": wire.kind,
        "credentials": [{"name": "team-b", "api_key_env": wire.key_env}],
    }
    if source == "config":
        provider["models"] = {wire.model: {"price": {"input": 2.5, "output": 10.0}}}
    config = load_config(
        {
            "providers": {wire.kind: provider},
            "lanes": {"main": {"primary": f"{wire.kind}/{wire.model}"}},
            "audit": {"enabled": False},
        },
        env={wire.key_env: wire.key},
    )
    if source == "catalog":
        ref = ModelRef(wire.kind, wire.model)
        info = ModelInfo(ref, frozenset(Capability), price=price)
        config = replace(config, catalog={**config.catalog, ref: info})
    transport = HttpxTransport(transport=httpx.MockTransport(upstream))
    env = {wire.key_env: wire.key}
    async with Gateway.from_config(config, env=env, transport=transport) as gateway:
        completion = await gateway.complete(REQUEST, TaskContext(lane="main"))
    assert completion.usage.cost_usd == pytest.approx(price.cost_usd(*wire.text.tokens))
    assert (completion.provider, completion.credential) == (wire.kind, f"{wire.kind}[team-b]")


@pytest.mark.parametrize(("wire", "case"), cases(lambda w: w.malformed, lambda c: c[0]))
async def test_success_bodies_off_the_documented_shape_are_invalid_responses(
    adapters: AdapterMaker, wire: Wire, case: tuple[str, bytes, str]
) -> None:
    _, body, words = case
    upstream = Upstream(httpx.Response(200, content=body))
    with pytest.raises(ProviderError) as caught:
        await maker(adapters, wire)(upstream).complete(ask(), wire.model, timeout_s=5)
    assert caught.value.code is ErrorCode.INVALID_RESPONSE
    assert words in caught.value.message


# -- SSE sequences -------------------------------------------------------------------


async def read_stream(
    adapters: AdapterMaker, wire: Wire, response: httpx.Response, request: Any = REQUEST
) -> list[Delta]:
    adapter = maker(adapters, wire)(Upstream(response))
    return await collect(adapter.stream(request, wire.model, timeout_s=5))


@EACH_WIRE
async def test_a_text_stream_yields_its_documented_delta_sequence(
    adapters: AdapterMaker, wire: Wire
) -> None:
    deltas = await read_stream(adapters, wire, wire.sse(wire.fixture(wire.stream_fixture)))
    assert tuple(deltas) == wire.stream_deltas


@EACH_WIRE
async def test_a_stream_split_anywhere_gives_the_same_deltas(
    adapters: AdapterMaker, wire: Wire
) -> None:
    """Reads cut events (and CRLF pairs) in two; the parser joins them again."""
    raw = wire.fixture(wire.stream_fixture)
    for at in range(1, len(raw), 37):
        response = httpx.Response(200, content=split_body((raw[:at], raw[at:])))
        assert tuple(await read_stream(adapters, wire, response)) == wire.stream_deltas


def split_body(parts: tuple[bytes, ...]) -> Any:
    async def chunks() -> Any:
        for part in parts:
            yield part

    return chunks()


@EACH_WIRE
async def test_a_tool_call_stream_yields_the_call_in_fragments_then_its_finish(
    adapters: AdapterMaker, wire: Wire
) -> None:
    expected = wire.tool_stream
    deltas = await read_stream(
        adapters, wire, wire.sse(wire.fixture(expected.fixture)), ask(tools=(WEATHER,))
    )
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert text == expected.content
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert calls[0].name
    whole = ToolCallDelta(
        calls[0].index, calls[0].id, calls[0].name, "".join(c.arguments for c in calls)
    )
    assert_call(expected, whole)
    assert FinishDelta(expected.finish) in deltas
    assert not any(isinstance(d, ErrorDelta) for d in deltas)


@pytest.mark.parametrize(("wire", "cut"), cases(lambda w: w.cuts, lambda c: c.id))
async def test_a_stream_that_breaks_off_ends_with_one_error_delta(
    adapters: AdapterMaker, wire: Wire, cut: StreamCut
) -> None:
    stream = CutStream(cut.body) if cut.drop_connection else httpx.ByteStream(cut.body)
    deltas = await read_stream(adapters, wire, httpx.Response(200, stream=stream))
    assert tuple(d.text for d in deltas if isinstance(d, TextDelta)) == cut.text_before
    last = deltas[-1]
    assert isinstance(last, ErrorDelta)
    assert last.error.code is cut.code
    assert sum(isinstance(d, ErrorDelta) for d in deltas) == 1
    assert not any(isinstance(d, FinishDelta | UsageDelta) for d in deltas)


@EACH_WIRE
async def test_a_status_error_before_the_stream_raises_with_its_retry_hint(
    adapters: AdapterMaker, wire: Wire
) -> None:
    with pytest.raises(ProviderError) as caught:
        await read_stream(adapters, wire, wire.stream_refusal())
    assert caught.value.code is ErrorCode.RATE_LIMIT
    assert caught.value.retry_after_s == wire.stream_refusal_retry_after_s


# -- error classification ------------------------------------------------------------


@pytest.mark.parametrize(("wire", "case"), cases(lambda w: w.errors, lambda c: c.id))
async def test_error_answers_are_classified_by_status_body_and_headers(
    adapters: AdapterMaker, wire: Wire, case: ErrorCase
) -> None:
    response = case.response()
    with pytest.raises(ProviderError) as caught:
        await maker(adapters, wire)(Upstream(response)).complete(ask(), wire.model, timeout_s=5)
    error = caught.value
    assert (error.code, error.retryable, error.retry_after_s) == (
        case.code,
        case.retryable,
        case.retry_after_s,
    )
    assert (error.status, error.provider, error.model) == (
        response.status_code,
        wire.kind,
        wire.model,
    )
    assert wire.key not in str(error)
    assert "<html>" not in str(error)


@EACH_WIRE
async def test_an_error_message_echoing_the_key_never_carries_it(
    adapters: AdapterMaker, wire: Wire
) -> None:
    """A provider (or a proxy before it) may quote the credential back in `message`."""
    upstream = Upstream(wire.unauthorized(f"Incorrect API key provided: Bearer {wire.key}"))
    with pytest.raises(ProviderError) as caught:
        await maker(adapters, wire)(upstream).complete(ask(), wire.model, timeout_s=5)
    assert wire.key not in str(caught.value)
    assert wire.key[:12] not in str(caught.value)
    assert wire.key not in repr(caught.value)


TRANSPORT_FAILURES = [
    (httpx.ReadTimeout("read timed out"), ErrorCode.TIMEOUT),
    (httpx.ConnectTimeout("connect timed out"), ErrorCode.TIMEOUT),
    (httpx.ConnectError("[Errno 111] Connection refused"), ErrorCode.NETWORK),
    (httpx.RemoteProtocolError("peer closed connection"), ErrorCode.NETWORK),
]


@EACH_WIRE
@pytest.mark.parametrize(("failure", "code"), TRANSPORT_FAILURES)
async def test_transport_failures_become_timeout_or_network(
    adapters: AdapterMaker, wire: Wire, failure: Exception, code: ErrorCode
) -> None:
    """No HTTP answer at all: only timeouts are worth retrying on the same model."""
    with pytest.raises(ProviderError) as caught:
        await maker(adapters, wire)(Upstream(failure)).complete(ask(), wire.model, timeout_s=5)
    assert caught.value.code is code
    assert caught.value.retryable is (code is ErrorCode.TIMEOUT)
    assert caught.value.__cause__ is not None

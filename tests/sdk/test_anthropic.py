"""The Anthropic Messages API through the official anthropic SDK, strict response validation on."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone

import anthropic
import httpx
import openai
import pydantic
import pytest
import pytest_asyncio

import llmfake
from llmfake.engine._call import Call
from llmfake.engine._plan import Choice, Plan, RateLimit
from llmfake.engine._text import count_tokens, tokenize
from llmfake.providers.anthropic import rate_limit_headers, render_messages

MODEL = "claude-sonnet-4-6"  # not in the SDK's deprecated list: that one warns, and warnings fail
USER = [{"role": "user", "content": "Hello there"}]
PROMPT_TOKENS = count_tokens("Hello there") + 3 + 3
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                      "days": {"type": "integer"}},
                     "required": ["city", "days"]},
}
# The engine marks the stop sequence that cut a reply once Choice.stop_sequence exists.


@pytest.fixture
def claude(fake) -> Iterator[anthropic.Anthropic]:
    """An Anthropic client on the test's tenant: strict validation, no retries."""
    with anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0,
                             _strict_response_validation=True) as c:
        yield c


@pytest_asyncio.fixture
async def aclaude(fake) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The async client, likewise."""
    async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0,
                                        _strict_response_validation=True) as c:
        yield c


def test_create_text_usage_and_request_id(fake, claude):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    raw = claude.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=USER)
    message = raw.parse()
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from llmfake."
    assert message.id.startswith("msg_")
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens == PROMPT_TOKENS
    assert message.usage.output_tokens == count_tokens("Hello from llmfake.")
    assert message.usage.service_tier == "standard"
    assert raw.headers["request-id"].startswith("req_")
    assert message._request_id == raw.headers["request-id"]
    assert raw.headers["content-type"] == "application/json"
    exchange = fake.journal[0]
    assert (exchange.provider, exchange.endpoint, exchange.model) == ("anthropic", "chat", MODEL)


def test_stream_helper_text_stream_and_final_message(fake, claude):
    text = "One two three, four five."
    fake.use({"reply": {"text": text}})
    with claude.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == list(tokenize(text))
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(pieces)
    assert final.usage.input_tokens == PROMPT_TOKENS
    assert fake.journal[0].headers["x-stainless-helper-method"] == "stream"
    assert fake.journal[0].response_text == text


def test_raw_stream_event_order(fake, claude):
    fake.use({"reply": {"text": "a b c"}})
    events = list(claude.messages.create(model=MODEL, max_tokens=100, messages=USER,
                                         stream=True))
    assert [e.type for e in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert events[0].message.usage.output_tokens == 1
    assert events[0].message.stop_reason is None
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 3


def test_wire_events_are_named_and_ping_follows_the_first_block(fake):
    fake.use({"reply": {"text": "a b"}})
    response = httpx.post(f"{fake.url}/v1/messages", headers={"x-api-key": "k"}, json={
        "model": MODEL, "max_tokens": 10, "messages": USER, "stream": True})
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    frames = [f for f in response.text.split("\n\n") if f]
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    for frame, name in zip(frames, names, strict=True):
        assert json.loads(frame.split("\n")[1].removeprefix("data: "))["type"] == name


def test_tool_use_non_streaming(fake, claude):
    fake.use({"reply": {"tool_calls": [{"name": "get_weather",
                                        "arguments": {"city": "Paris", "days": 2}}]}})
    message = claude.messages.create(model=MODEL, max_tokens=100, messages=USER,
                                     tools=[WEATHER_TOOL])
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["tool_use"]
    block = message.content[0]
    assert block.name == "get_weather"
    assert block.input == {"city": "Paris", "days": 2}
    assert block.id.startswith("toolu_01")
    assert len(block.id) == len("toolu_01") + 22


def test_text_then_tool_use_streaming(fake, claude):
    fake.use({"reply": {"text": "Let me check.", "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]}})
    with claude.messages.stream(model=MODEL, max_tokens=100, messages=USER,
                                tools=[WEATHER_TOOL]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Let me check."
    assert final.content[1].input == {"city": "Paris", "days": 2}
    assert final.stop_reason == "tool_use"
    json_deltas = [e for e in events if e.type == "input_json"]
    assert json_deltas[0].partial_json == ""  # the real stream opens with an empty fragment
    assert "".join(e.partial_json for e in json_deltas) == '{"city":"Paris","days":2}'


def test_non_streamed_and_streamed_tool_use_agree(fake, claude):
    fake.use({"reply": {"tool_calls": [{"name": "get_weather",
                                        "arguments": {"city": "Oslo", "days": 1}}]}})
    plain = claude.messages.create(model=MODEL, max_tokens=100, messages=USER,
                                   tools=[WEATHER_TOOL])
    with claude.messages.stream(model=MODEL, max_tokens=100, messages=USER,
                                tools=[WEATHER_TOOL]) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].input == plain.content[0].input == {"city": "Oslo", "days": 1}
    assert streamed.usage.output_tokens == plain.usage.output_tokens


@pytest.mark.parametrize("choice", [{"type": "tool", "name": "get_weather"}, {"type": "any"}])
def test_forced_tool_choice_generates_input_from_the_schema(fake, claude, choice):
    other = {"name": "other", "input_schema": {"type": "object", "properties": {}}}
    tools = [WEATHER_TOOL, other] if choice["type"] == "any" else [other, WEATHER_TOOL]
    message = claude.messages.create(model=MODEL, max_tokens=100, messages=USER, tools=tools,
                                     tool_choice=choice)
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.name == "get_weather"
    assert isinstance(block.input["city"], str)
    assert isinstance(block.input["days"], int)


def test_stop_sequences_cut_the_text(fake, claude):
    fake.use({"reply": {"text": "alpha beta STOP gamma"}})
    message = claude.messages.create(model=MODEL, max_tokens=100, messages=USER,
                                     stop_sequences=["STOP", "x"])
    assert message.content[0].text == "alpha beta "


def test_stop_sequence_is_reported(fake, claude):
    fake.use({"reply": {"text": "alpha beta STOP gamma"}})
    message = claude.messages.create(model=MODEL, max_tokens=100, messages=USER,
                                     stop_sequences=["x", "STOP"])
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "STOP"
    with claude.messages.stream(model=MODEL, max_tokens=100, messages=USER,
                                stop_sequences=["STOP"]) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "STOP")


@pytest.mark.parametrize("stream", [False, True])
def test_a_choice_cut_by_a_stop_sequence_renders_it(stream):
    # The provider's side of stop_sequence, whatever the engine does yet.
    choice = Choice("alpha ", ("alpha", " "), stop_sequence="STOP")
    plan = Plan(call=Call("anthropic", "chat", MODEL, stream=stream), ordinal=0, uid="u" * 29,
                request_id="req_1", created=0, choices=(choice,))
    rendered = render_messages(plan)
    if stream:
        frames = b"".join(e.data for e in rendered.events or ()).decode().split("\n\n")
        body = json.loads(next(f for f in frames if "message_delta" in f).split("data: ")[1])
        assert body["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "STOP"}
    else:
        body = json.loads(rendered.body)
        assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "STOP")


def test_max_tokens_cuts_with_stop_reason_max_tokens(fake, claude):
    fake.use({"reply": {"text": "one two three four five six"}})
    message = claude.messages.create(model=MODEL, max_tokens=3, messages=USER)
    assert message.content[0].text == "one two three"
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


def test_missing_or_bad_fields_are_400(fake, claude):
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.post("/v1/messages", cast_to=anthropic.types.Message,
                    body={"model": MODEL, "messages": USER})
    assert info.value.body["error"] == {"type": "invalid_request_error",
                                        "message": "max_tokens: Field required"}
    assert info.value.request_id == info.value.body["request_id"]
    for body, message in [({"max_tokens": 5, "messages": USER}, "model: Field required"),
                          ({"model": MODEL, "max_tokens": 5}, "messages: Field required"),
                          ({"model": MODEL, "max_tokens": "5", "messages": USER},
                           "max_tokens: Input should be a valid integer")]:
        with pytest.raises(anthropic.BadRequestError) as info:
            claude.post("/v1/messages", cast_to=anthropic.types.Message, body=body)
        assert info.value.body["error"]["message"] == message
    response = httpx.post(f"{fake.url}/v1/messages", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["request-id"] == response.json()["request_id"]


def test_documented_optional_fields_are_accepted(fake, claude):
    fake.use({"reply": {"text": "fine"}})
    message = claude.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": [
            {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}]}],
        metadata={"user_id": "u1"}, thinking={"type": "enabled", "budget_tokens": 1024},
        service_tier="auto", tools=[WEATHER_TOOL, {"type": "web_search_20250305",
                                                   "name": "web_search"}],
        tool_choice={"type": "auto"}, extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 5})
    assert message.content[0].text == "fine"


def test_system_as_string_and_as_blocks_counts_the_same(fake, claude):
    bare = claude.messages.create(model=MODEL, max_tokens=5, messages=USER)
    as_str = claude.messages.create(model=MODEL, max_tokens=5, messages=USER,
                                    system="Be brief.")
    as_blocks = claude.messages.create(
        model=MODEL, max_tokens=5, messages=USER,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}])
    assert as_str.usage.input_tokens == bare.usage.input_tokens + count_tokens("Be brief.") + 3
    assert as_blocks.usage.input_tokens == as_str.usage.input_tokens


def test_tool_results_count_and_keep_the_user_question_matchable(fake, claude):
    fake.use({"rules": [{"match": {"contains": "weather"}, "reply": {"text": "matched"}}]})
    history = [
        {"role": "user", "content": "What's the weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01x",
                                           "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01x",
                                      "content": [{"type": "text", "text": "Sunny, 21C"}]}]},
    ]
    message = claude.messages.create(model=MODEL, max_tokens=50, messages=history,
                                     tools=[WEATHER_TOOL])
    assert message.content[0].text == "matched"
    texts = ["What's the weather?", 'get_weather{"city":"Paris"}', "Sunny, 21C"]
    assert message.usage.input_tokens == sum(count_tokens(t) + 3 for t in texts) + 3


def test_both_auth_styles(fake):
    fake.use({"auth": {"keys": ["sk-ant-good"]}, "reply": {"text": "ok"}})
    with anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-good", max_retries=0) as good:
        assert good.messages.create(model=MODEL, max_tokens=5, messages=USER).content[0].text \
            == "ok"
    assert fake.journal[0].headers["authorization"].startswith("Bearer ")
    body = {"model": MODEL, "max_tokens": 5, "messages": USER}
    old_style = {"x-api-key": "sk-ant-good", "anthropic-version": "2023-06-01"}
    assert httpx.post(f"{fake.url}/v1/messages", headers=old_style, json=body).status_code == 200
    missing = httpx.post(f"{fake.url}/v1/messages", json=body)
    assert missing.status_code == 401
    assert missing.json()["error"] == {"type": "authentication_error",
                                       "message": "x-api-key header is required"}
    with anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-bad", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError) as info:
            bad.messages.create(model=MODEL, max_tokens=5, messages=USER)
    assert info.value.body["error"]["message"] == "invalid x-api-key"


ERRORS = [
    ("bad_request", anthropic.BadRequestError, 400, "invalid_request_error"),
    ("context_length", anthropic.BadRequestError, 400, "invalid_request_error"),
    ("auth", anthropic.AuthenticationError, 401, "authentication_error"),
    ("permission", anthropic.PermissionDeniedError, 403, "permission_error"),
    ("not_found", anthropic.NotFoundError, 404, "not_found_error"),
    ("conflict", anthropic.ConflictError, 409, "conflict_error"),
    ("request_too_large", anthropic.ContentTooLargeError, 413, "request_too_large"),
    ("rate_limit", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("quota", anthropic.BadRequestError, 400, "invalid_request_error"),
    ("server_error", anthropic.InternalServerError, 500, "api_error"),
    ("bad_gateway", anthropic.InternalServerError, 502, "api_error"),
    ("unavailable", anthropic.ServiceUnavailableError, 503, "api_error"),
    ("timeout", anthropic.GatewayTimeoutError, 504, "timeout_error"),
    ("overloaded", anthropic.OverloadedError, 529, "overloaded_error"),
]


@pytest.mark.parametrize(("name", "exc", "status", "etype"), ERRORS, ids=[e[0] for e in ERRORS])
def test_every_error_name_maps_to_the_sdk_exception(fake, claude, name, exc, status, etype):
    fake.use({"rules": [{"error": name}]})
    with pytest.raises(exc) as info:
        claude.messages.create(model=MODEL, max_tokens=5, messages=USER)
    assert info.value.status_code == status
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == etype
    assert info.value.type == etype
    assert info.value.request_id == info.value.body["request_id"]
    assert info.value.request_id.startswith("req_")


def test_error_messages_status_override_and_retry_headers(fake, claude):
    fake.use({"rules": [{"script": [
        {"error": "not_found"},
        {"error": "quota"},
        {"error": "rate_limit", "retry_after": "1.5s", "message": "slow down"},
        {"error": "overloaded", "status": 503},
    ]}]})
    with pytest.raises(anthropic.NotFoundError) as nf:
        claude.messages.create(model="claude-nope", max_tokens=5, messages=USER)
    assert nf.value.body["error"]["message"] == "model: claude-nope"
    with pytest.raises(anthropic.BadRequestError) as quota:
        claude.messages.create(model=MODEL, max_tokens=5, messages=USER)
    assert "credit balance is too low" in quota.value.body["error"]["message"]
    with pytest.raises(anthropic.RateLimitError) as rl:
        claude.messages.create(model=MODEL, max_tokens=5, messages=USER)
    assert rl.value.body["error"]["message"] == "slow down"
    assert rl.value.response.headers["retry-after"] == "2"
    assert rl.value.response.headers["retry-after-ms"] == "1500"
    with pytest.raises(anthropic.ServiceUnavailableError) as over:
        claude.messages.create(model=MODEL, max_tokens=5, messages=USER)
    assert over.value.body["error"]["type"] == "overloaded_error"


def test_sdk_retries_overloaded_then_succeeds(fake):
    fake.use({"rules": [{"script": [
        llmfake.error("overloaded", retry_after="10ms"),
        llmfake.error("overloaded", retry_after="10ms"),
        llmfake.reply("third time lucky"),
    ]}]})
    with anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=2,
                             _strict_response_validation=True) as client:
        message = client.messages.create(model=MODEL, max_tokens=20, messages=USER)
    assert message.content[0].text == "third time lucky"
    assert [e.retry_count for e in fake.journal] == [0, 1, 2]
    assert [e.status for e in fake.journal] == [529, 529, 200]
    assert fake.journal.honoured_retry_after()


def test_sdk_gives_up_on_overloaded_after_its_retries(fake):
    fake.use({"rules": [{"script": [llmfake.error("overloaded", retry_after="0.2s")] * 2
                         + [llmfake.reply("too late")]}]})
    with anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=1) as client, \
            pytest.raises(anthropic.OverloadedError):
        client.messages.create(model=MODEL, max_tokens=20, messages=USER)
    assert fake.journal.attempts() == [2]
    assert fake.journal.backoff_intervals()[0] >= 0.2


def test_error_event_mid_stream_raises_api_status_error(fake, claude):
    fake.use({"rules": [{"fault": "error_event", "after_chunks": 4, "error": "overloaded",
                         "reply": {"text": "a b c d e f"}}]})
    received = []
    with pytest.raises(anthropic.APIStatusError) as info:
        with claude.messages.stream(model=MODEL, max_tokens=50, messages=USER) as stream:
            received.extend(stream.text_stream)
    assert received == ["a", " b"]  # message_start, block start, then two deltas went out
    assert info.value.status_code == 200
    assert info.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert len(fake.journal) == 1  # a stream that already started is not retried


def test_count_tokens_matches_the_messages_usage(fake, claude):
    history = [{"role": "user", "content": "Count these words please"}]
    counted = claude.messages.count_tokens(model=MODEL, messages=history, system="sys")
    message = claude.messages.create(model=MODEL, max_tokens=5, messages=history, system="sys")
    assert counted.input_tokens == message.usage.input_tokens
    assert counted.input_tokens == count_tokens("Count these words please") + 3 + \
        count_tokens("sys") + 3 + 3
    assert fake.journal[0].endpoint == "count_tokens"


def test_models_list_and_retrieve_beside_openai(fake, claude):
    models = claude.models.list()
    ids = [m.id for m in models.data]
    assert len(ids) > 2
    assert all(i.startswith("claude-") for i in ids)
    assert models.has_more is False
    assert models.first_id == ids[0]
    assert [m.id for m in claude.models.list(limit=2)] == ids  # auto-paging with after_id
    one = claude.models.retrieve("claude-3-5-haiku-20241022")
    assert one.display_name == "Claude 3.5 Haiku"
    assert one.created_at == datetime(2024, 10, 22, tzinfo=timezone.utc)
    with openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0) as oai:
        assert any(m.id.startswith("gpt") for m in oai.models.list().data)
    assert fake.journal[-1].provider == "openai"
    fake.use({"models": ["claude-a", "claude-b"]})
    assert [m.id for m in claude.models.list()] == ["claude-a", "claude-b"]
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.models.retrieve("claude-c")
    assert info.value.body["error"]["message"] == "model: claude-c"


def test_structured_output_parse(fake, claude):
    class Weather(pydantic.BaseModel):
        city: str
        days: int

    parsed = claude.messages.parse(model=MODEL, max_tokens=200, messages=USER,
                                   output_format=Weather)
    assert isinstance(parsed.parsed_output, Weather)
    assert fake.journal[0].body["output_config"]["format"]["type"] == "json_schema"


def test_scenario_limits_count_down_in_anthropic_headers(fake, claude):
    fake.use({"limits": {"requests_per_minute": 2, "tokens_per_minute": 100_000},
              "reply": "ok"})
    before = datetime.now(timezone.utc).replace(microsecond=0)
    heads = [claude.messages.with_raw_response.create(model=MODEL, max_tokens=10,
                                                      messages=USER).headers for _ in range(2)]
    assert [h["anthropic-ratelimit-requests-remaining"] for h in heads] == ["1", "0"]
    assert heads[0]["anthropic-ratelimit-requests-limit"] == "2"
    assert heads[0]["anthropic-ratelimit-input-tokens-limit"] == "100000"
    assert int(heads[1]["anthropic-ratelimit-tokens-remaining"]) < 100_000
    reset = datetime.fromisoformat(heads[1]["anthropic-ratelimit-requests-reset"]
                                   .replace("Z", "+00:00"))
    assert before < reset <= before + timedelta(seconds=62)
    with pytest.raises(anthropic.RateLimitError) as info:
        claude.messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert "of 2 requests per minute" in info.value.body["error"]["message"]
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert info.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_scenario_quota_is_the_credit_balance_400(fake, claude):
    fake.use({"limits": {"quota_requests": 1}, "reply": "ok"})
    claude.messages.create(model=MODEL, max_tokens=10, messages=USER)
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert "credit balance is too low" in info.value.body["error"]["message"]


def test_rate_limit_headers_are_rfc3339_times():
    plan = Plan(call=Call("anthropic", "chat", MODEL), ordinal=0, uid="u" * 29,
                request_id="req_1", created=0,
                rate_limit=RateLimit(requests_limit=50, requests_remaining=49,
                                     requests_reset=1.2, tokens_limit=1000,
                                     tokens_remaining=900, tokens_reset=30.0,
                                     now=1_755_780_000.0))
    headers = rate_limit_headers(plan)
    assert headers["anthropic-ratelimit-requests-limit"] == "50"
    assert headers["anthropic-ratelimit-requests-remaining"] == "49"
    assert headers["anthropic-ratelimit-requests-reset"] == "2025-08-21T12:40:02Z"
    assert headers["anthropic-ratelimit-tokens-reset"] == "2025-08-21T12:40:30Z"
    assert headers["anthropic-ratelimit-input-tokens-remaining"] == "900"
    assert headers["anthropic-ratelimit-output-tokens-limit"] == "1000"
    assert rate_limit_headers(dataclasses.replace(plan, rate_limit=None)) == {}
    only_requests = dataclasses.replace(plan, rate_limit=RateLimit(requests_limit=5))
    assert not any("tokens" in k for k in rate_limit_headers(only_requests))


async def test_async_client_create_and_stream(fake, aclaude):
    fake.use({"reply": {"text": "async hello"}})
    message = await aclaude.messages.create(model=MODEL, max_tokens=20, messages=USER)
    assert message.content[0].text == "async hello"
    async with aclaude.messages.stream(model=MODEL, max_tokens=20, messages=USER) as stream:
        pieces = [p async for p in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == "async hello"
    assert final.usage.output_tokens == len(pieces)
    assert fake.journal[1].headers["x-stainless-async"].startswith("async")

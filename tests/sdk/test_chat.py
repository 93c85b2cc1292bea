"""Chat completions through the official openai SDK, strict response validation on."""

from __future__ import annotations

import contextlib
import json
from typing import Literal

import openai
import pydantic
import pytest

import llmfake
from llmfake.engine._text import count_tokens, tokenize

USER = [{"role": "user", "content": "Hello there"}]


def test_fixed_text_reply_and_headers(fake, client):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from llmfake."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o"
    assert raw.headers["x-request-id"].startswith("req_")
    assert completion._request_id == raw.headers["x-request-id"]
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == count_tokens("Hello from llmfake.")
    assert usage.prompt_tokens == count_tokens("Hello there") + 3 + 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_default_reply_is_seeded_generated_text(fake, client):
    first = client.chat.completions.create(model="m", messages=USER).choices[0].message.content
    fake.use({})  # same default scenario again: state reset, same seed
    again = client.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert first
    assert first == again
    fake.use({"seed": 99})
    other = client.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert other != first


def test_stream_chunks_follow_the_wire_order(fake, client):
    text = "One two three, four five."
    fake.use({"reply": {"text": text}})
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}))
    assert len({c.id for c in chunks}) == 1
    assert len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    content = [c.choices[0].delta.content for c in chunks[1:] if c.choices
               and c.choices[0].delta.content]
    assert content == list(tokenize(text))
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1
    assert finish[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(content)
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_has_no_usage_chunk(fake, client):
    fake.use({"reply": {"text": "short answer"}})
    chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_n_choices(fake, client):
    completion = client.chat.completions.create(model="m", messages=USER, n=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    texts = {c.message.content for c in completion.choices}
    assert len(texts) == 3  # generated text differs per choice
    fake.use({"reply": {"text": "same"}})
    streamed = client.chat.completions.create(model="m", messages=USER, n=2, stream=True)
    got: dict[int, str] = {0: "", 1: ""}
    for chunk in streamed:
        for choice in chunk.choices:
            got[choice.index] += choice.delta.content or ""
    assert got == {0: "same", 1: "same"}


def test_stop_sequence_cuts_the_text(fake, client):
    fake.use({"reply": {"text": "alpha beta STOP gamma"}})
    completion = client.chat.completions.create(model="m", messages=USER, stop=["STOP", "x"])
    assert completion.choices[0].message.content == "alpha beta "
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_cuts_with_finish_length(fake, client, field):
    fake.use({"reply": {"text": "one two three four five six"}})
    completion = client.chat.completions.create(model="m", messages=USER, **{field: 3})
    assert completion.choices[0].message.content == "one two three"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3


def test_max_tokens_zero_is_accepted(fake, client):
    fake.use({"reply": {"text": "anything"}})
    completion = client.chat.completions.create(model="m", messages=USER, max_tokens=0)
    assert completion.choices[0].message.content == ""
    assert completion.choices[0].finish_reason == "length"


def test_scripted_tool_call(fake, client):
    fake.use({"rules": [{"match": {"contains": "weather"},
                         "reply": {"tool_calls": [{"name": "get_weather",
                                                   "arguments": {"city": "Paris"}}]}}]})
    tools = [{"type": "function", "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "What's the weather?"}],
        tools=tools)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_")


def test_streamed_tool_call_rebuilt_by_the_stream_helper(fake, client):
    args = {"city": "Paris", "days": 3, "units": "metric", "detail": "a longer argument"}
    fake.use({"reply": {"tool_calls": [{"name": "get_weather", "arguments": args}]}})
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    fragments = 0
    with client.chat.completions.stream(model="gpt-4o", messages=USER, tools=tools) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                fragments += 1
        final = stream.get_final_completion()
    assert fragments > 1  # arguments arrive split over several chunks
    call = final.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == args
    assert final.choices[0].finish_reason == "tool_calls"


def test_forced_tool_choice_generates_arguments_from_the_schema(fake, client):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"id": {"type": "integer", "minimum": 5},
                                         "tag": {"enum": ["a", "b"]}},
        "required": ["id", "tag"], "additionalProperties": False}}}]
    completion = client.chat.completions.create(
        model="m", messages=USER, tools=tools,
        tool_choice={"type": "function", "function": {"name": "lookup"}})
    call = completion.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    assert call.function.name == "lookup"
    assert args["id"] >= 5
    assert args["tag"] in ("a", "b")


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: float
    conditions: Literal["sunny", "cloudy", "rain"]
    hourly: list[int]


def test_parse_with_a_pydantic_model(fake, client):
    completion = client.chat.completions.parse(model="gpt-4o", messages=USER,
                                               response_format=Weather)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Weather)
    assert parsed.conditions in ("sunny", "cloudy", "rain")


def test_json_object_mode_answers_json(fake, client):
    fake.use({"reply": {"text": "not json at all"}})
    completion = client.chat.completions.create(
        model="m", messages=USER, response_format={"type": "json_object"})
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_scripted_json_reply(fake, client):
    fake.use({"reply": {"json": {"answer": 42}}})
    completion = client.chat.completions.create(model="m", messages=USER)
    assert json.loads(completion.choices[0].message.content or "") == {"answer": 42}


def test_echo_reply(fake, client):
    fake.use({"reply": {"echo": True}})
    messages = [{"role": "system", "content": "be terse"},
                {"role": "user", "content": [{"type": "text", "text": "echo me"}]}]
    completion = client.chat.completions.create(model="m", messages=messages)
    assert completion.choices[0].message.content == "echo me"


def test_documented_optional_parameters_are_accepted(fake, client):
    fake.use({"reply": {"text": "ok"}})
    messages = [
        {"role": "developer", "content": "You are terse."},
        {"role": "system", "content": [{"type": "text", "text": "sys"}]},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "result"},
        {"role": "user", "content": "go on", "name": "alice"},
    ]
    completion = client.chat.completions.create(
        model="gpt-4o-audio-preview", messages=messages, temperature=0.2, top_p=0.9, seed=1,
        presence_penalty=0.1, frequency_penalty=0.1, logit_bias={"50256": -100}, user="u1",
        metadata={"k": "v"}, store=True, service_tier="auto", parallel_tool_calls=False,
        modalities=["text"], audio={"voice": "alloy", "format": "wav"},
        prediction={"type": "content", "content": "ok"}, reasoning_effort="low",
        safety_identifier="s1", prompt_cache_key="p1", verbosity="low",
        stream_options=None, web_search_options={},
        extra_body={"functions": [{"name": "legacy"}], "function_call": "auto"},
    )
    assert completion.choices[0].message.content == "ok"


def test_rules_match_model_glob_header_and_stream(fake, client):
    fake.use({"rules": [
        {"match": {"model": "gpt-4o*", "stream": False}, "reply": "four-oh"},
        {"match": {"header": {"x-team": "blue*"}}, "reply": "blue team"},
        {"match": {"endpoint": "chat", "provider": "openai"}, "reply": "fallback rule"},
    ]})
    assert client.chat.completions.create(
        model="gpt-4o-mini", messages=USER).choices[0].message.content == "four-oh"
    assert client.chat.completions.create(
        model="o3", messages=USER, extra_headers={"X-Team": "blue-2"},
    ).choices[0].message.content == "blue team"
    assert client.chat.completions.create(
        model="o3", messages=USER).choices[0].message.content == "fallback rule"


def test_script_fails_twice_then_succeeds_and_the_sdk_retries(fake):
    fake.use({"rules": [{"script": [
        llmfake.error("server_error"),
        llmfake.error("rate_limit", retry_after="0.05s"),
        llmfake.reply("finally"),
    ]}]})
    with fake.client(max_retries=2) as client:
        completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "finally"
    assert [e.status for e in fake.journal] == [500, 429, 200]
    assert [e.retry_count for e in fake.journal] == [0, 1, 2]
    assert [e.source for e in fake.journal] == ["rule 0 step 0", "rule 0 step 1",
                                                "rule 0 step 2"]


@pytest.mark.parametrize(("then", "statuses"), [
    ("last", [429, 200, 200, 200]),
    ("cycle", [429, 200, 429, 200]),
])
def test_script_then(fake, client, then, statuses):
    fake.use({"reply": "default", "rules": [
        {"script": [{"error": "rate_limit"}, {"reply": "scripted"}], "then": then}]})
    for _ in statuses:
        with contextlib.suppress(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=USER)
    assert [e.status for e in fake.journal] == statuses


def test_script_then_default_falls_back_to_the_scenario_reply(fake, client):
    fake.use({"reply": "default", "rules": [{"script": [{"reply": "once"}], "then": "default"}]})
    texts = [client.chat.completions.create(model="m", messages=USER).choices[0].message.content
             for _ in range(2)]
    assert texts == ["once", "default"]


@pytest.mark.parametrize(("name", "exc", "status"), [
    ("bad_request", openai.BadRequestError, 400),
    ("context_length", openai.BadRequestError, 400),
    ("auth", openai.AuthenticationError, 401),
    ("permission", openai.PermissionDeniedError, 403),
    ("not_found", openai.NotFoundError, 404),
    ("rate_limit", openai.RateLimitError, 429),
    ("quota", openai.RateLimitError, 429),
    ("server_error", openai.InternalServerError, 500),
    ("unavailable", openai.InternalServerError, 503),
    ("overloaded", openai.InternalServerError, 503),
    ("timeout", openai.InternalServerError, 504),
    (418, openai.APIStatusError, 418),
])
def test_errors_by_name_and_status(fake, client, name, exc, status):
    fake.use({"rules": [{"error": name, "message": "scripted failure"}]})
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == status
    assert "scripted failure" in str(info.value)
    assert info.value.request_id is not None
    assert info.value.request_id.startswith("req_")
    body = info.value.body
    assert isinstance(body, dict)
    assert set(body) == {"message", "type", "param", "code"}


def test_quota_and_context_length_codes(fake, client):
    fake.use({"rules": [{"script": [{"error": "quota"}, {"error": "context_length"}]}]})
    with pytest.raises(openai.RateLimitError) as quota:
        client.chat.completions.create(model="m", messages=USER)
    assert quota.value.code == "insufficient_quota"
    with pytest.raises(openai.BadRequestError) as ctx:
        client.chat.completions.create(model="m", messages=USER)
    assert ctx.value.code == "context_length_exceeded"


def test_retry_after_headers_and_custom_headers(fake, client):
    fake.use({"rules": [{"error": "rate_limit", "retry_after": "1.5s",
                         "headers": {"x-should-retry": "false"}}]})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=USER)
    headers = info.value.response.headers
    assert headers["retry-after"] == "2"
    assert headers["retry-after-ms"] == "1500"
    assert headers["x-should-retry"] == "false"


def test_stream_error_event_raises_api_error(fake, client):
    fake.use({"rules": [{"fault": "error_event", "after_chunks": 2,
                         "reply": {"text": "a b c d e f"}}]})
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    deltas = [c.choices[0].delta.content for c in received if c.choices[0].delta.content]
    assert deltas == ["a", " b"]  # after_chunks counts content chunks, not the role delta
    assert "server had an error" in str(info.value)


async def test_async_client_plain_and_stream(fake, aclient):
    fake.use({"reply": {"text": "async hello"}})
    completion = await aclient.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "async hello"
    stream = await aclient.chat.completions.create(model="m", messages=USER, stream=True)
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "async hello"


async def test_async_in_process_server():
    async with llmfake.serve({"reply": "in loop"}) as server:
        async with openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k",
                                      _strict_response_validation=True) as client:
            completion = await client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "in loop"


def test_forced_tool_answers_with_the_call_alone(fake, client):
    fake.use({"reply": {"text": "I would rather talk."}})
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    completion = client.chat.completions.create(model="m", messages=USER, tools=tools,
                                                tool_choice="required")
    message = completion.choices[0].message
    assert message.content is None
    assert message.tool_calls[0].function.name == "f"
    assert completion.choices[0].finish_reason == "tool_calls"


def test_logprobs_when_asked(fake, client):
    fake.use({"reply": {"text": "Hello big world"}})
    completion = client.chat.completions.create(model="m", messages=USER, logprobs=True,
                                                top_logprobs=3)
    content = completion.choices[0].logprobs.content
    assert [t.token for t in content] == ["Hello", " big", " world"]
    for item in content:
        assert item.logprob <= 0
        assert bytes(item.bytes) == item.token.encode()
        assert len(item.top_logprobs) == 3
        assert item.top_logprobs[0].token == item.token
        assert [a.logprob for a in item.top_logprobs] == sorted(
            (a.logprob for a in item.top_logprobs), reverse=True)
    streamed = [c.choices[0].logprobs for c in client.chat.completions.create(
        model="m", messages=USER, logprobs=True, stream=True) if c.choices]
    tokens = [lp.content[0].token for lp in streamed if lp is not None and lp.content]
    assert tokens == ["Hello", " big", " world"]
    plain = client.chat.completions.create(model="m", messages=USER)
    assert plain.choices[0].logprobs is None


def test_should_retry_false_stops_the_sdk_retrying(fake):
    fake.use({"rules": [{"script": [llmfake.error(500, should_retry=False),
                                    llmfake.reply("never reached")]}]})
    with fake.client(max_retries=2) as client, pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(fake.journal) == 1


def test_should_retry_true_makes_the_sdk_retry_a_400(fake):
    fake.use({"rules": [{"script": [llmfake.error("bad_request", should_retry=True),
                                    llmfake.reply("second time")]}]})
    with fake.client(max_retries=1) as client:
        completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "second time"
    assert [e.status for e in fake.journal] == [400, 200]

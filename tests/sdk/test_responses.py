"""The responses API, judged by the official openai SDK with strict response validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import ResponseFailedEvent, ResponseStreamEvent

import llmfake
from llmfake.engine._engine import Engine
from llmfake.providers._base import Incoming
from llmfake.providers._openai_responses import parse, render, stream_error
from llmfake.scenario._model import ErrorSpec

TEXT = "Hello there, traveller. The weather is fine today."
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True,
}
SCENARIO: dict[str, Any] = {
    "seed": 1,
    "reply": {"text": TEXT},
    "rules": [
        {"match": {"endpoint": "responses", "contains": "weather"},
         "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
        {"match": {"endpoint": "responses", "contains": "both"},
         "reply": {"text": "Let me check.",
                   "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                                  {"name": "get_weather", "arguments": {"city": "Rome"}}]}},
        {"match": {"endpoint": "responses", "contains": "echo"}, "reply": {"echo": True}},
    ],
}

TEXT_EVENTS = [
    "response.created", "response.in_progress", "response.output_item.added",
    "response.content_part.added",
    # one delta per token, checked separately
    "response.output_text.done", "response.content_part.done", "response.output_item.done",
    "response.completed",
]


@pytest.fixture(scope="module")
def server() -> Iterator[llmfake.Server]:
    with llmfake.serve(SCENARIO) as srv:
        yield srv


@pytest.fixture
def client(server: llmfake.Server) -> Iterator[openai.OpenAI]:
    server.use(SCENARIO)
    with openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test",
                       _strict_response_validation=True, max_retries=0) as c:
        yield c


def _raw_events(server: llmfake.Server, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (event line, data) pairs of a streamed response, read off the wire."""
    resp = httpx.post(f"{server.openai_base_url}/responses", json={**body, "stream": True},
                      headers={"authorization": "Bearer sk-test"}, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    out = []
    for block in resp.text.split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ")
        assert data_line.startswith("data: ")
        out.append((event_line[7:], json.loads(data_line[6:])))
    return out


# --- non-streaming ---------------------------------------------------------------------------

def test_create_returns_scripted_text(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4o", input="Say hello")
    assert r.output_text == TEXT
    assert r.status == "completed"
    assert r.object == "response"
    assert r.id.startswith("resp_")
    assert r.model == "gpt-4o"
    assert r.completed_at is not None
    assert r.incomplete_details is None
    assert r._request_id is not None
    assert r._request_id.startswith("req_")
    [item] = r.output
    assert item.type == "message"
    assert item.id.startswith("msg_")
    assert item.status == "completed"
    assert r.usage is not None
    assert r.usage.output_tokens > 5
    assert r.usage.input_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.text is not None
    assert r.text.format is not None
    assert r.text.format.type == "text"
    assert r.tool_choice == "auto"
    assert r.tools == []


def test_function_call(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4o", input="What's the weather in Paris?",
                                tools=[WEATHER_TOOL])
    [call] = r.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id.startswith("call_")
    assert call.id is not None
    assert call.id.startswith("fc_")
    assert call.status == "completed"
    assert r.output_text == ""
    [tool] = r.tools
    assert tool.type == "function"
    assert tool.name == "get_weather"
    assert r.usage is not None
    assert r.usage.output_tokens > 0


def test_text_and_several_calls(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4o", input="both please", tools=[WEATHER_TOOL])
    assert [o.type for o in r.output] == ["message", "function_call", "function_call"]
    assert r.output_text == "Let me check."
    calls = [o for o in r.output if o.type == "function_call"]
    assert [json.loads(c.arguments)["city"] for c in calls] == ["Oslo", "Rome"]
    assert len({c.id for c in calls}) == 2
    assert len({c.call_id for c in calls}) == 2


def test_forced_tool_generates_arguments_from_schema(client: openai.OpenAI,
                                                    server: llmfake.Server) -> None:
    server.use({"seed": 1})  # no scripted text: a forced call comes alone
    r = client.responses.create(model="gpt-4o", input="Say hello", tools=[WEATHER_TOOL],
                                tool_choice={"type": "function", "name": "get_weather"})
    [call] = r.output
    assert call.type == "function_call"
    assert isinstance(json.loads(call.arguments)["city"], str)
    assert r.tool_choice.type == "function"  # type: ignore[union-attr]


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: float
    conditions: Literal["sunny", "cloudy", "rain"]


def test_parse_with_text_format(client: openai.OpenAI) -> None:
    r = client.responses.parse(model="gpt-4o", input="Report as JSON",
                               text_format=Weather)
    assert isinstance(r.output_parsed, Weather)
    assert r.output_parsed.conditions in ("sunny", "cloudy", "rain")
    assert r.text is not None
    assert r.text.format is not None
    assert r.text.format.type == "json_schema"


def test_json_object_format(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4o", input="JSON please",
                                text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(r.output_text), dict)
    assert r.text is not None
    assert r.text.format is not None
    assert r.text.format.type == "json_object"


def test_max_output_tokens_gives_incomplete(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4o", input="Say hello", max_output_tokens=3)
    assert r.status == "incomplete"
    assert r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.completed_at is None
    assert r.max_output_tokens == 3
    assert r.usage is not None
    assert r.usage.output_tokens == 3
    assert TEXT.startswith(r.output_text)
    assert r.output_text != TEXT
    [message] = r.output
    assert message.type == "message"
    assert message.status == "incomplete"


def test_input_items_and_instructions(client: openai.OpenAI) -> None:
    items: Any = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "an answer",
                                           "annotations": []}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "please echo this back"}]},
        {"type": "item_reference", "id": "msg_unknown"},
    ]
    r = client.responses.create(model="gpt-4o", input=items, instructions="Be brief.")
    assert r.output_text == "please echo this back"
    assert r.instructions == "Be brief."
    bare = client.responses.create(model="gpt-4o", input=items)
    assert bare.instructions is None
    assert r.usage is not None
    assert bare.usage is not None
    # The instructions are part of the prompt the usage counts.
    assert r.usage.input_tokens > bare.usage.input_tokens
    # So is a tool's output.
    items[3] = {**items[3], "output": "forty two " * 20}
    longer = client.responses.create(model="gpt-4o", input=items)
    assert longer.usage is not None
    assert longer.usage.input_tokens >= bare.usage.input_tokens + 40


def test_optional_parameters_accepted_and_echoed(client: openai.OpenAI) -> None:
    r = client.responses.create(
        model="gpt-5", input="Say hello", reasoning={"effort": "low", "summary": "auto"},
        store=False, metadata={"run": "42"}, previous_response_id="resp_previous",
        include=["message.output_text.logprobs"], truncation="auto", background=False,
        temperature=0.25, top_p=0.5, parallel_tool_calls=False, service_tier="flex",
        user="user-1", prompt_cache_key="cache-1", safety_identifier="safe-1",
        max_tool_calls=2, top_logprobs=3, text={"format": {"type": "text"}, "verbosity": "low"},
    )
    assert r.output_text == TEXT
    assert r.to_dict()["store"] is False  # sent by the API, not modelled by the SDK
    assert r.metadata == {"run": "42"}
    assert r.previous_response_id == "resp_previous"
    assert r.truncation == "auto"
    assert r.temperature == 0.25
    assert r.top_p == 0.5
    assert r.parallel_tool_calls is False
    assert r.reasoning is not None
    assert r.reasoning.effort == "low"
    assert r.service_tier == "flex"
    assert r.user == "user-1"
    assert r.max_tool_calls == 2
    assert r.top_logprobs == 3
    assert r.text is not None
    assert r.text.verbosity == "low"
    conv = client.responses.create(model="gpt-4o", input="Say hello", conversation="conv_123",
                                   stream_options={"include_obfuscation": False},
                                   tools=[{"type": "web_search"}])
    assert conv.output_text == TEXT
    assert conv.conversation is not None
    assert conv.conversation.id == "conv_123"
    assert conv.tools[0].type == "web_search"


def test_a_model_of_the_wrong_type_is_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(input="Say hello", extra_body={"model": 4})
    assert "model" in info.value.message
    assert info.value.status_code == 400


def test_invalid_json_is_bad_request(server: llmfake.Server) -> None:
    resp = httpx.post(f"{server.openai_base_url}/responses", content=b"{not json",
                      headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_invalid_input_type_is_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-4o", input=42)  # type: ignore[call-overload]
    assert info.value.param == "input"


# --- streaming -------------------------------------------------------------------------------

def test_stream_event_sequence(client: openai.OpenAI) -> None:
    with client.responses.create(model="gpt-4o", input="Say hello", stream=True) as stream:
        events = list(stream)
    types = [e.type for e in events]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 5
    assert [t for t in types if t != "response.output_text.delta"] == TEXT_EVENTS
    assert types[4:4 + len(deltas)] == ["response.output_text.delta"] * len(deltas)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(d.delta for d in deltas) == TEXT
    created, done = events[0], events[-1]
    assert created.type == "response.created"
    assert created.response.status == "in_progress"
    assert created.response.output == []
    assert created.response.usage is None
    assert done.type == "response.completed"
    assert done.response.output_text == TEXT
    assert done.response.id == created.response.id
    assert done.response.usage is not None
    assert done.response.usage.output_tokens == len(deltas)
    text_done = events[-4]
    assert text_done.type == "response.output_text.done"
    assert text_done.text == TEXT


def test_stream_wire_format(server: llmfake.Server) -> None:
    server.use(SCENARIO)
    events = _raw_events(server, {"model": "gpt-4o", "input": "Say hello"})
    for name, data in events:
        assert name == data["type"]
    assert events[-1][0] == "response.completed"
    # The stream just ends: no [DONE] sentinel on the responses API.
    assert all("[DONE]" not in json.dumps(d) for _, d in events)


def test_stream_helper_final_response(client: openai.OpenAI) -> None:
    snapshots = []
    with client.responses.stream(model="gpt-4o", input="Say hello") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                snapshots.append(event.snapshot)
        final = stream.get_final_response()
    assert final.output_text == TEXT
    assert snapshots[-1] == TEXT
    assert final.status == "completed"


def test_stream_helper_parses_text_format(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o", input="report",
                                 text_format=Weather) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Weather)


def test_function_call_streaming(client: openai.OpenAI) -> None:
    with client.responses.create(model="gpt-4o", input="weather in Paris?",
                                 tools=[WEATHER_TOOL], stream=True) as stream:
        events = list(stream)
    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.in_progress",
                         "response.output_item.added"]
    assert types[-4:] == ["response.function_call_arguments.delta",
                          "response.function_call_arguments.done",
                          "response.output_item.done", "response.completed"]
    assert "response.output_text.delta" not in types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added = events[2]
    assert added.type == "response.output_item.added"
    assert added.item.type == "function_call"
    assert added.item.arguments == ""
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert json.loads("".join(deltas)) == {"city": "Paris"}
    done = events[-3]
    assert done.type == "response.function_call_arguments.done"
    assert json.loads(done.arguments) == {"city": "Paris"}
    assert done.item_id == added.item.id
    final = events[-1]
    assert final.type == "response.completed"
    [call] = final.response.output
    assert call.type == "function_call"
    assert json.loads(call.arguments) == {"city": "Paris"}


def test_function_call_stream_helper(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o", input="both", tools=[WEATHER_TOOL]) as stream:
        snapshots = [e.snapshot for e in stream
                     if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert final.output_text == "Let me check."
    calls = [o for o in final.output if o.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Oslo"}, {"city": "Rome"}]
    # strict function tools are parsed by the helper
    assert [c.parsed_arguments for c in calls] == [{"city": "Oslo"}, {"city": "Rome"}]
    assert json.loads(snapshots[-1]) == {"city": "Rome"}


def test_stream_incomplete(client: openai.OpenAI, server: llmfake.Server) -> None:
    events = _raw_events(server, {"model": "gpt-4o", "input": "Say hello",
                                  "max_output_tokens": 2})
    name, last = events[-1]
    assert name == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["status"] == "incomplete"
    deltas = [d["delta"] for n, d in events if n == "response.output_text.delta"]
    assert len(deltas) == 2
    # The SDK's helper only accepts response.completed as an end, as with the real API.
    with client.responses.stream(model="gpt-4o", input="Say hello",
                                 max_output_tokens=2) as stream, \
            pytest.raises(RuntimeError, match=r"response\.completed"):
        stream.get_final_response()


# --- determinism -----------------------------------------------------------------------------

def test_identical_requests_give_identical_bytes(client: openai.OpenAI,
                                                 server: llmfake.Server) -> None:
    frozen = {**SCENARIO, "freeze_time": True, "reply": {"generate": {"sentences": 2}}}
    bodies = []
    streams = []
    for _ in range(2):
        server.use(frozen)
        raw = client.responses.with_raw_response.create(model="gpt-4o", input="Say hello",
                                                        tools=[WEATHER_TOOL])
        bodies.append(raw.http_response.content)
        streams.append(_raw_events(server, {"model": "gpt-4o", "input": "weather?",
                                            "tools": [WEATHER_TOOL]}))
    assert bodies[0] == bodies[1]
    assert streams[0] == streams[1]
    assert json.loads(bodies[0])["created_at"] == 1_700_000_000


# --- async -----------------------------------------------------------------------------------

async def test_async_client() -> None:
    async with llmfake.serve(SCENARIO) as server:
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-test",
                                    _strict_response_validation=True, max_retries=0)
        async with client:
            r = await client.responses.create(model="gpt-4o", input="Say hello")
            assert r.output_text == TEXT
            stream = await client.responses.create(model="gpt-4o", input="weather?",
                                                   tools=[WEATHER_TOOL], stream=True)
            events = [e async for e in stream]
            assert events[-1].type == "response.completed"
            [call] = events[-1].response.output
            assert call.type == "function_call"
            assert json.loads(call.arguments) == {"city": "Paris"}
            async with client.responses.stream(model="gpt-4o", input="Say hello") as helper:
                final = await helper.get_final_response()
            assert final.output_text == TEXT


# --- in-stream error -------------------------------------------------------------------------

def _plan(scenario: dict[str, Any], body: dict[str, Any]) -> Any:
    call = parse(Incoming("POST", "/v1/responses", {}, {}, {}, body))
    return Engine(llmfake.load_scenario(scenario)).decide(call)


@pytest.mark.parametrize(("after", "expected"), [(3, 3), (None, None)])
def test_stream_error_event(after: int | None, expected: int | None) -> None:
    rule: dict[str, Any] = {"match": {}, "fault": "error_event", "error": "rate_limit"}
    if after is not None:
        rule["after_chunks"] = after
    plan = _plan({"seed": 1, "reply": {"text": TEXT}, "rules": [rule]},
                 {"model": "gpt-4o", "input": "hi", "stream": True})
    raw = stream_error(ErrorSpec("rate_limit"), plan)
    head, data_line, tail = raw.split(b"\n", 2)
    assert head == b"event: response.failed"
    assert tail == b"\n"
    data = json.loads(data_line.removeprefix(b"data: "))
    event = pydantic.TypeAdapter(ResponseStreamEvent).validate_python(data)
    assert isinstance(event, ResponseFailedEvent)
    assert event.response.status == "failed"
    assert event.response.error is not None
    assert event.response.error.code == "rate_limit_exceeded"
    assert "Rate limit" in event.response.error.message
    events = render(plan).events
    assert events is not None
    # The sequence continues where the stream was cut: after the opening events (created,
    # in_progress, output_item.added, content_part.added) and `after` text deltas.
    deltas = sum(1 for e in events if e.chunk)
    want = 4 + (after if after is not None else deltas // 2)
    assert event.sequence_number == want
    assert expected is None or expected == after


def test_stream_error_server_error_code() -> None:
    plan = _plan({"seed": 1}, {"model": "gpt-4o", "input": "hi", "stream": True})
    data = json.loads(stream_error(ErrorSpec("server_error"), plan).split(b"\n")[1][6:])
    assert data["type"] == "response.failed"
    assert data["response"]["error"]["code"] == "server_error"


def test_error_event_fault_in_a_responses_stream(fake) -> None:
    fake.use({"reply": {"text": TEXT}, "rules": [{"fault": "error_event", "after_chunks": 3}]})
    with fake.client() as client:
        events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    types = [e.type for e in events]
    assert types == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", *["response.output_text.delta"] * 3,
                     "response.failed"]
    assert events[-1].sequence_number == 7
    with fake.client() as client, pytest.raises(RuntimeError, match=r"response\.completed"), \
            client.responses.stream(model="gpt-4o", input="hi") as stream:
        stream.get_final_response()


def test_model_is_optional_as_the_contract_says(fake):
    """A stored prompt carries the model, so ``responses.create()`` needs none (openai-python's
    own resource tests call it with no arguments at all)."""
    fake.use({"reply": "From the stored prompt."})
    client = fake.client()
    bare = client.responses.create()
    assert bare.model == "gpt-4o" and bare.output_text == "From the stored prompt."
    prompted = client.responses.create(prompt={"id": "pmpt_123", "variables": {"x": "y"}},
                                       input="hi")
    assert prompted.status == "completed"
    assert [e.model for e in fake.journal] == ["gpt-4o", "gpt-4o"]

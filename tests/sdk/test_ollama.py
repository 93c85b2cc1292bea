"""Ollama's native API through the official ollama client (and raw HTTP where the wire matters)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import ollama
import pydantic
import pytest
import pytest_asyncio

import llmfake
from llmfake.engine._text import count_tokens, tokenize

MODEL = "llama3.2"
USER = [{"role": "user", "content": "Hello there"}]
PROMPT_TOKENS = count_tokens("Hello there") + 3 + 3
TEXT = "Hello from llmfake."
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z\Z")
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.fixture
def client(fake) -> Iterator[ollama.Client]:
    """An ollama client on the test's tenant."""
    with ollama.Client(host=fake.url) as c:
        yield c


@pytest_asyncio.fixture
async def aclient(fake) -> AsyncIterator[ollama.AsyncClient]:
    """The async client, likewise."""
    async with ollama.AsyncClient(host=fake.url) as c:
        yield c


def test_chat_whole_reply_with_counts(fake, client):
    fake.use({"reply": {"text": TEXT}, "latency": {"ttft": "20ms", "per_token": "1ms"}})
    response = client.chat(model=MODEL, messages=USER)
    assert response.message.role == "assistant"
    assert response.message.content == TEXT
    assert response.done is True
    assert response.done_reason == "stop"
    assert response.model == MODEL
    assert response.eval_count == count_tokens(TEXT)
    assert response.prompt_eval_count == PROMPT_TOKENS
    # nanoseconds, from the scenario's latency: 20ms to the first token, 1ms a token after it
    assert response.prompt_eval_duration == 20_000_000
    assert response.total_duration == 20_000_000 + count_tokens(TEXT) * 1_000_000
    assert response.eval_duration == response.total_duration - response.prompt_eval_duration
    assert RFC3339.match(response.created_at or "")


def test_chat_stream_one_token_a_line_then_done(fake, client):
    fake.use({"reply": {"text": TEXT}})
    parts = list(client.chat(model=MODEL, messages=USER, stream=True))
    *tokens, last = parts
    assert [p.message.content for p in tokens] == list(tokenize(TEXT))
    assert all(p.done is False for p in tokens)
    assert last.done is True and last.done_reason == "stop"
    assert last.message.content == ""
    assert last.eval_count == len(tokens)
    assert last.prompt_eval_count == PROMPT_TOKENS


def test_streaming_is_the_default_on_the_wire(fake):
    fake.use({"reply": {"text": "a < b & c"}, "freeze_time": True})
    body = {"model": MODEL, "messages": USER}
    streamed = httpx.post(f"{fake.url}/api/chat", json=body)
    assert streamed.headers["content-type"] == "application/x-ndjson"
    lines = streamed.text.splitlines()
    assert len(lines) == len(tokenize("a < b & c")) + 1
    assert '"content":" \\u003c"' in lines[1]  # Go escapes <, > and & in JSON
    assert json.loads(lines[0])["created_at"] == "2023-11-14T22:13:20Z"
    final = json.loads(lines[-1])
    assert list(final)[:5] == ["model", "created_at", "message", "done_reason", "done"]
    whole = httpx.post(f"{fake.url}/api/chat", json={**body, "stream": False})
    assert whole.headers["content-type"].startswith("application/json")
    assert json.loads(whole.text)["message"]["content"] == "a < b & c"


def test_frozen_time_gives_identical_bodies(fake):
    fake.use({"seed": 3, "freeze_time": "2025-01-02T03:04:05Z",
              "latency": {"ttft": "5ms", "per_token": "1ms"}})
    body = {"model": MODEL, "messages": USER}
    first = httpx.post(f"{fake.url}/api/chat", json=body).content
    fake.use({"seed": 3, "freeze_time": "2025-01-02T03:04:05Z",
              "latency": {"ttft": "5ms", "per_token": "1ms"}})
    assert httpx.post(f"{fake.url}/api/chat", json=body).content == first
    stamps = [json.loads(line)["created_at"] for line in first.splitlines()]
    assert stamps[0] == "2025-01-02T03:04:05.005Z" and stamps[1] == "2025-01-02T03:04:05.006Z"


def test_generate_both_ways(fake, client):
    fake.use({"reply": {"text": TEXT}})
    whole = client.generate(model=MODEL, prompt="Hello there", system="Be brief.")
    assert whole.response == TEXT
    assert whole.done_reason == "stop"
    assert whole.context and all(isinstance(t, int) for t in whole.context)
    assert len(whole.context) == count_tokens("Be brief.Hello there" + TEXT)
    parts = list(client.generate(model=MODEL, prompt="Hello there", system="Be brief.",
                                 stream=True))
    assert "".join(p.response or "" for p in parts) == TEXT
    assert parts[-1].done and parts[-1].context == whole.context


def test_empty_prompt_or_messages_only_load_the_model(fake, client):
    loaded = client.generate(model=MODEL, prompt="", stream=True)
    assert [(p.done, p.done_reason, p.response) for p in loaded] == [(True, "load", "")]
    chat = client.chat(model=MODEL, messages=[])
    assert (chat.done_reason, chat.message.content) == ("load", "")
    unload = httpx.post(f"{fake.url}/api/chat", json={"model": MODEL, "keep_alive": 0})
    assert unload.json()["done_reason"] == "unload"


def test_tool_calls_carry_object_arguments(fake, client):
    fake.use({"rules": [{"match": {"contains": "weather"},
                         "reply": {"tool_calls": [{"name": "get_weather",
                                                   "arguments": {"city": "Paris"}}]}}]})
    asked = [{"role": "user", "content": "weather in Paris?"}]
    response = client.chat(model=MODEL, messages=asked, tools=[WEATHER_TOOL])
    (call,) = response.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"city": "Paris"}
    assert response.done_reason == "stop"
    parts = list(client.chat(model=MODEL, messages=asked, tools=[WEATHER_TOOL], stream=True))
    with_calls = [p for p in parts if p.message.tool_calls]
    assert len(with_calls) == 1 and with_calls[0].done is False
    assert with_calls[0].message.content == ""
    assert parts[-1].done


def test_tool_arguments_generated_from_a_python_function(fake, client):
    def add(a: int, b: int) -> int:
        """Add two numbers.

        Args:
          a: The first number.
          b: The second number.
        """
        return a + b

    fake.use({"reply": {"tool_calls": [{"name": "add"}]}})
    response = client.chat(model=MODEL, messages=USER, tools=[add])
    (call,) = response.message.tool_calls or []
    assert call.function.name == "add"
    args = call.function.arguments  # generated from the schema the client built from ``add``
    assert set(args) == {"a", "b"}
    assert isinstance(add(**args), int)


class Weather(pydantic.BaseModel):
    city: str
    temperature: float
    sunny: bool


def test_format_schema_gives_valid_json(client):
    response = client.chat(model=MODEL, messages=USER, format=Weather.model_json_schema())
    assert Weather.model_validate_json(response.message.content or "")
    plain = client.generate(model=MODEL, prompt="json please", format="json")
    assert isinstance(json.loads(plain.response or ""), dict)


def test_num_predict_cuts_the_reply_with_length(fake, client):
    fake.use({"reply": {"text": "one two three four five six"}})
    response = client.chat(model=MODEL, messages=USER, options={"num_predict": 3})
    assert response.done_reason == "length"
    assert response.message.content == "one two three"
    assert response.eval_count == 3
    stopped = client.generate(model=MODEL, prompt="x", options={"stop": [" four"]})
    assert (stopped.response, stopped.done_reason) == ("one two three", "stop")


def test_embed_dimensions_and_determinism(client):
    first = client.embed(model="nomic-embed-text", input=["alpha", "beta"], dimensions=64)
    assert [len(v) for v in first.embeddings] == [64, 64]
    assert first.embeddings[0] != first.embeddings[1]
    again = client.embed(model="nomic-embed-text", input="alpha", dimensions=64)
    assert again.embeddings == [first.embeddings[0]]
    assert first.prompt_eval_count == 2
    legacy = client.embeddings(model="nomic-embed-text", prompt="alpha")
    assert len(legacy.embedding) == 1536
    assert list(legacy.embedding[:64]) != list(first.embeddings[0])  # 64 dims is its own vector


def test_list_show_ps_and_version(fake, client):
    default = [m.model for m in client.list().models]
    assert default == ["llama3.2:latest", "qwen3:8b", "nomic-embed-text:latest"]
    fake.use({"models": ["phi4:latest", "mxbai-embed-large:latest"]})
    listed = client.list().models
    assert [m.model for m in listed] == ["phi4:latest", "mxbai-embed-large:latest"]
    assert listed[0].details is not None and listed[0].details.format == "gguf"
    assert listed[0].size and listed[0].digest and len(listed[0].digest) == 64
    shown = client.show("mxbai-embed-large:latest")
    assert shown.capabilities == ["embedding"]
    with pytest.raises(ollama.ResponseError) as err:
        client.show("llama3.2")
    assert err.value.status_code == 404
    assert [m.name for m in client.ps().models] == ["phi4:latest", "mxbai-embed-large:latest"]
    assert httpx.get(f"{fake.url}/api/version").json()["version"].count(".") == 2


@pytest.mark.parametrize(("step", "status", "message"), [
    (llmfake.error("not_found"), 404, 'model "llama3.2" not found, try pulling it first'),
    (llmfake.error("rate_limit"), 429, "too many requests, please try again later"),
    (llmfake.error("overloaded"), 503,
     "server busy, please try again.  maximum pending requests exceeded"),
    (llmfake.error("server_error"), 500, "an error was encountered while running the model"),
    (llmfake.error("bad_request"), 400, "invalid request"),
    (llmfake.error("rate_limit", status=418, message="I'm a teapot"), 418, "I'm a teapot"),
])
def test_errors_raise_response_error(fake, client, step, status, message):
    fake.use({"rules": [{"match": {"provider": "ollama"}, **step}]})
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model=MODEL, messages=USER)
    assert err.value.status_code == status
    assert err.value.error == message
    with pytest.raises(ollama.ResponseError) as streamed:  # before the stream starts
        list(client.chat(model=MODEL, messages=USER, stream=True))
    assert streamed.value.status_code == status


def test_retry_after_is_sent_when_the_scenario_asks(fake):
    fake.use({"rules": [{"match": {}, "error": "rate_limit", "retry_after": "2s"}]})
    response = httpx.post(f"{fake.url}/api/generate", json={"model": MODEL, "prompt": "x"})
    assert (response.status_code, response.headers["retry-after"]) == (429, "2")
    assert response.json() == {"error": "too many requests, please try again later"}


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"messages": USER}, 400, "model is required"),
    (None, 400, "missing request body"),
    ({"model": MODEL, "stream": "yes"}, 400,
     "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool"),
    ({"model": MODEL, "messages": USER, "options": {"num_predict": "x"}}, 500,
     'option "num_predict" must be of type integer'),
])
def test_invalid_requests(fake, body, status, message):
    response = httpx.post(f"{fake.url}/api/chat", json=body)
    assert response.status_code == status
    assert response.json() == {"error": message}


def test_error_line_mid_stream(fake, client):
    fake.use({"reply": {"text": TEXT},
              "rules": [{"match": {}, "fault": "error_event", "after_chunks": 2,
                         "error": "overloaded"}]})
    seen = []
    with pytest.raises(ollama.ResponseError) as err:
        for part in client.chat(model=MODEL, messages=USER, stream=True):
            seen.append(part.message.content)
    assert seen == list(tokenize(TEXT))[:2]
    assert err.value.error == "server busy, please try again.  maximum pending requests exceeded"
    raw = httpx.post(f"{fake.url}/api/chat", json={"model": MODEL, "messages": USER})
    assert raw.status_code == 200  # the status was sent before the error
    assert json.loads(raw.text.splitlines()[-1]) == {"error": err.value.error}


def test_done_line_is_framing_not_a_chunk(fake, client):
    tokens = list(tokenize(TEXT))
    fake.use({"reply": {"text": TEXT},
              "rules": [{"match": {}, "fault": "error_event", "after_chunks": len(tokens)}]})
    seen = []
    with pytest.raises(ollama.ResponseError):
        for part in client.chat(model=MODEL, messages=USER, stream=True):
            seen.append(part)
    # every token went out, then the error took the place of the done line
    assert [p.message.content for p in seen] == tokens
    assert not any(p.done for p in seen)


async def test_async_client_streams(fake, aclient):
    fake.use({"reply": {"text": TEXT}})
    stream = await aclient.chat(model=MODEL, messages=USER, stream=True)
    text = "".join([part.message.content or "" async for part in stream])
    assert text == TEXT
    generated = await aclient.generate(model=MODEL, prompt="hi")
    assert generated.response == TEXT


def test_journal_and_rules_see_ollama(fake, client):
    fake.use({"rules": [{"match": {"provider": "openai"}, "reply": "wrong provider"},
                        {"match": {"provider": "ollama", "model": "llama*",
                                   "endpoint": "completions"}, "reply": "from the rule"}]})
    assert client.generate(model=MODEL, prompt="hi").response == "from the rule"
    list(client.chat(model="qwen3:8b", messages=USER, stream=True))
    first, last = fake.journal[-2], fake.journal[-1]
    assert (first.provider, first.endpoint, first.model) == ("ollama", "completions", MODEL)
    assert (last.provider, last.endpoint, last.model, last.stream) == (
        "ollama", "chat", "qwen3:8b", True)
    assert last.response_text

"""The Gemini API through the official google-genai SDK (and raw HTTP where the SDK cannot go)."""

from __future__ import annotations

import json
import re

import httpx
import pydantic
import pytest
from google import genai
from google.genai import errors, types

from llmfake.engine._text import prompt_tokens
from llmfake.scenario._model import ERROR_STATUS

MODEL = "gemini-2.5-flash"


def make_client(fake, version: str | None = None, **options) -> genai.Client:
    http = types.HttpOptions(base_url=fake.url, api_version=version, **options)
    return genai.Client(api_key="test-key", http_options=http)


@pytest.fixture
def gclient(fake):
    with make_client(fake) as client:
        yield client


def weather_tool(**extra) -> types.Tool:
    return types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="The weather in a city.",
        parameters=types.Schema(
            type="OBJECT",
            properties={"city": types.Schema(type="STRING", enum=["Paris", "Oslo"]),
                        "days": types.Schema(type="INTEGER", minimum=1, maximum=7)},
            required=["city", "days"]),
        **extra)])


# --- generateContent -------------------------------------------------------------------------

def test_generate_content_text_and_usage(fake, gclient):
    fake.use({"reply": "Hello from Gemini."})
    response = gclient.models.generate_content(model=MODEL, contents="Say hello")
    assert response.text == "Hello from Gemini."
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.STOP
    assert candidate.content.role == "model"
    usage = response.usage_metadata
    assert usage.prompt_token_count == prompt_tokens(["Say hello"])
    assert usage.candidates_token_count == 4  # "Hello", " from", " Gemini", "."
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert response.model_version == MODEL
    assert response.response_id
    exchange = fake.journal[0]
    assert exchange.path == f"/v1/models/{MODEL}:generateContent"
    assert (exchange.provider, exchange.endpoint, exchange.model) == ("gemini", "chat", MODEL)
    assert exchange.headers["x-goog-api-key"] != "test-key"  # masked in the journal


def test_stream_chunks_join_to_the_text(fake, gclient):
    fake.use({"reply": "One two three four."})
    chunks = list(gclient.models.generate_content_stream(model=MODEL, contents="Count"))
    assert "".join(c.text for c in chunks) == "One two three four."
    assert len(chunks) == 5  # one token a chunk
    assert [c.candidates[0].finish_reason for c in chunks[-2:]] == [None, types.FinishReason.STOP]
    assert chunks[0].usage_metadata.candidates_token_count is None
    assert chunks[-1].usage_metadata.candidates_token_count == 5
    assert fake.journal[0].path.endswith(":streamGenerateContent?alt=sse")
    assert fake.journal[0].stream is True


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_both_api_versions(fake, version):
    fake.use({"reply": "versioned"})
    client = make_client(fake, version)
    assert client.models.generate_content(model=MODEL, contents="hi").text == "versioned"
    streamed = client.models.generate_content_stream(model=MODEL, contents="hi")
    assert "".join(c.text for c in streamed) == "versioned"
    assert [e.path.split("/")[1] for e in fake.journal] == [version, version]


def test_system_instruction_and_model_turns(fake, gclient):
    fake.use({"reply": {"echo": True}})
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    contents = [types.Content(role="user", parts=[types.Part(text="ping")]),
                types.Content(role="model", parts=[types.Part(text="pong")])]
    response = gclient.models.generate_content(model=MODEL, contents=contents, config=config)
    # The last *user* turn is echoed: the model turn counts as the assistant's.
    assert response.text == "ping"
    assert response.usage_metadata.prompt_token_count == prompt_tokens(
        ["Be brief.", "ping", "pong"])


def test_scripted_function_call(fake, gclient):
    fake.use({"rules": [{"match": {"contains": "weather"}, "reply": {"tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]}}]})
    response = gclient.models.generate_content(
        model=MODEL, contents="What is the weather in Paris?",
        config=types.GenerateContentConfig(tools=[weather_tool()]))
    call = response.function_calls[0]
    assert (call.name, call.args) == ("get_weather", {"city": "Paris", "days": 2})
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def test_a_function_response_counts_as_a_tool_result(fake, gclient):
    # The library's tool-calling scenario: a call first, then text once the result is back.
    fake.use("tool-calling")
    config = types.GenerateContentConfig(tools=[weather_tool()])
    question = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    first = gclient.models.generate_content(model=MODEL, contents=[question], config=config)
    call = first.function_calls[0]
    assert call.name == "get_weather"
    answer = gclient.models.generate_content(model=MODEL, config=config, contents=[
        question, first.candidates[0].content,
        types.Content(role="user", parts=[types.Part.from_function_response(
            name="get_weather", response={"temperature_c": 18})])])
    assert answer.text and not answer.function_calls
    assert fake.journal[1].source != fake.journal[0].source


def test_forced_function_call_generates_args_from_the_schema(fake, gclient):
    config = types.GenerateContentConfig(
        tools=[weather_tool()],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode="ANY")))
    response = gclient.models.generate_content(model=MODEL, contents="hi", config=config)
    args = response.function_calls[0].args
    assert args["city"] in ("Paris", "Oslo")
    assert isinstance(args["days"], int)
    assert 1 <= args["days"] <= 7
    assert response.text is None


def test_forced_call_honours_allowed_names_and_json_schema_parameters(fake, gclient):
    def get_time(zone: str) -> str:
        """The time in a zone."""
        return "noon"

    config = types.GenerateContentConfig(
        tools=[weather_tool(), get_time],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode="ANY", allowed_function_names=["get_time"])))
    response = gclient.models.generate_content(model=MODEL, contents="hi", config=config)
    call = response.function_calls[0]
    assert call.name == "get_time"
    assert isinstance(call.args["zone"], str)
    # The SDK merges a Python function into the first tool and sends its schema as
    # parameters_json_schema, in snake_case.
    decls = fake.journal[0].body["tools"][0]["functionDeclarations"]
    assert "parameters_json_schema" in decls[-1]


class Recipe(pydantic.BaseModel):
    name: str
    steps: list[str]
    minutes: int | None = None


def test_response_schema_gives_parsed_pydantic(fake, gclient):
    response = gclient.models.generate_content(
        model=MODEL, contents="A recipe",
        config=types.GenerateContentConfig(response_mime_type="application/json",
                                           response_schema=Recipe))
    assert isinstance(response.parsed, Recipe)
    assert response.parsed.steps == json.loads(response.text)["steps"]
    assert fake.journal[0].body["generationConfig"]["responseSchema"]["type"] == "OBJECT"


def test_response_json_schema(fake, gclient):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    response = gclient.models.generate_content(
        model=MODEL, contents="json",
        config=types.GenerateContentConfig(response_mime_type="application/json",
                                           response_json_schema=schema))
    assert isinstance(json.loads(response.text)["ok"], bool)


def test_max_output_tokens_gives_max_tokens(fake, gclient):
    fake.use({"reply": "one two three four five six"})
    response = gclient.models.generate_content(
        model=MODEL, contents="hi", config=types.GenerateContentConfig(max_output_tokens=3))
    assert response.text == "one two three"
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.usage_metadata.candidates_token_count == 3


def test_stop_sequences_cut_the_text(fake, gclient):
    fake.use({"reply": "alpha beta STOP gamma"})
    response = gclient.models.generate_content(
        model=MODEL, contents="hi", config=types.GenerateContentConfig(stop_sequences=["STOP"]))
    assert response.text == "alpha beta "
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def test_candidate_count(fake, gclient):
    config = types.GenerateContentConfig(candidate_count=2)
    response = gclient.models.generate_content(model=MODEL, contents="hi", config=config)
    assert [c.index for c in response.candidates] == [0, 1]
    texts = [c.content.parts[0].text for c in response.candidates]
    assert texts[0] != texts[1]
    chunks = list(gclient.models.generate_content_stream(model=MODEL, contents="hi",
                                                          config=config))
    finished = {c.index for chunk in chunks for c in chunk.candidates if c.finish_reason}
    assert finished == {0, 1}


# --- other endpoints -------------------------------------------------------------------------

def test_count_tokens_matches_the_prompt_count(fake, gclient):
    counted = gclient.models.count_tokens(model=MODEL, contents="How many tokens is this?")
    response = gclient.models.generate_content(model=MODEL, contents="How many tokens is this?")
    assert counted.total_tokens == response.usage_metadata.prompt_token_count
    assert counted.total_tokens == prompt_tokens(["How many tokens is this?"])
    assert fake.journal[0].endpoint == "count_tokens"


def test_embed_content(fake, gclient):
    model = "gemini-embedding-001"
    small = gclient.models.embed_content(
        model=model, contents=["alpha", "beta"],
        config=types.EmbedContentConfig(output_dimensionality=8))
    assert [len(e.values) for e in small.embeddings] == [8, 8]
    assert small.embeddings[0].values != small.embeddings[1].values
    again = gclient.models.embed_content(
        model=model, contents=["beta"], config=types.EmbedContentConfig(output_dimensionality=8))
    assert again.embeddings[0].values == small.embeddings[1].values
    full = gclient.models.embed_content(model=model, contents="alpha")
    assert len(full.embeddings[0].values) == 3072  # the model's default size
    assert fake.journal[0].path.endswith(":batchEmbedContents")


def test_single_embed_content_over_http(fake):
    response = httpx.post(f"{fake.url}/v1beta/models/text-embedding-004:embedContent",
                          headers={"x-goog-api-key": "k"},
                          json={"content": {"parts": [{"text": "alpha"}]}})
    assert response.status_code == 200
    assert len(response.json()["embedding"]["values"]) == 768


def test_models_list_and_get(fake, gclient):
    names = [m.name for m in gclient.models.list()]
    assert "models/gemini-2.5-flash" in names
    assert all(n.startswith("models/gemini") for n in names)
    fake.use({"models": ["gemini-a", "gemini-b", "gemini-c"]})
    paged = gclient.models.list(config=types.ListModelsConfig(page_size=2))
    assert [m.name for m in paged] == ["models/gemini-a", "models/gemini-b", "models/gemini-c"]
    model = gclient.models.get(model="gemini-b")
    assert model.name == "models/gemini-b"
    assert "generateContent" in model.supported_actions
    with pytest.raises(errors.ClientError) as info:
        gclient.models.get(model="gemini-zzz")
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")


def test_openai_keeps_get_v1_models(fake):
    # The route is shared: without Google's headers it stays OpenAI's.
    assert "data" in httpx.get(f"{fake.url}/v1/models").json()
    gemini = httpx.get(f"{fake.url}/v1/models", headers={"x-goog-api-key": "k"}).json()
    assert "models" in gemini


# --- keys and raw HTTP -----------------------------------------------------------------------

def test_key_by_header_and_by_query(fake):
    fake.use({"auth": {"keys": ["good-key"]}, "reply": "ok"})
    url = f"{fake.url}/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    assert httpx.post(url, headers={"x-goog-api-key": "good-key"}, json=body).status_code == 200
    assert httpx.post(url, params={"key": "good-key"}, json=body).status_code == 200
    bad = httpx.post(url, params={"key": "bad-key"}, json=body)
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "API_KEY_INVALID"
    missing = httpx.post(url, json=body)
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert "key=***" in fake.journal[1].path  # the key is masked in the journal
    genai_client = genai.Client(api_key="bad-key",
                                http_options=types.HttpOptions(base_url=fake.url))
    with pytest.raises(errors.ClientError) as info:
        genai_client.models.generate_content(model=MODEL, contents="hi")
    assert info.value.message == "API key not valid. Please pass a valid API key."


def test_snake_case_request(fake):
    fake.use({"reply": "one two three four"})
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "system_instruction": {"parts": [{"text": "sys"}]},
            "generation_config": {"max_output_tokens": "2", "stop_sequences": ["four"]}}
    response = httpx.post(f"{fake.url}/v1beta/models/{MODEL}:generateContent",
                          params={"key": "k"}, json=body).json()
    assert response["candidates"][0]["content"]["parts"] == [{"text": "one two"}]
    assert response["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert response["usageMetadata"]["promptTokenCount"] == prompt_tokens(["sys", "hi"])


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "Invalid JSON payload received"),
    (b'{"generationConfig": {}}', "contents is not specified"),
    (b'{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": "a"}}',
     "generation_config.candidate_count"),
])
def test_invalid_requests_get_gemini_400(fake, body, message):
    response = httpx.post(f"{fake.url}/v1beta/models/{MODEL}:generateContent",
                          params={"key": "k"}, content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert message in error["message"]


def test_stream_without_alt_sse_is_a_json_array(fake):
    fake.use({"reply": "a b c"})
    response = httpx.post(f"{fake.url}/v1beta/models/{MODEL}:streamGenerateContent",
                          params={"key": "k"}, json={"contents": [{"parts": [{"text": "x"}]}]})
    assert response.headers["content-type"].startswith("application/json")
    chunks = response.json()
    assert isinstance(chunks, list)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "a b c"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("after", [0, 2])
def test_error_event_in_a_json_array_stream_keeps_the_array_whole(fake, after):
    fake.use({"rules": [{"fault": "error_event", "after_chunks": after, "error": "unavailable",
                         "reply": "a b c"}]})
    response = httpx.post(f"{fake.url}/v1beta/models/{MODEL}:streamGenerateContent",
                          params={"key": "k"}, json={"contents": [{"parts": [{"text": "x"}]}]})
    elements = response.json()
    assert len(elements) == after + 1
    assert elements[-1]["error"]["status"] == "UNAVAILABLE"


# --- errors ----------------------------------------------------------------------------------

EXPECTED = {
    "bad_request": (400, "INVALID_ARGUMENT"),
    "context_length": (400, "INVALID_ARGUMENT"),
    "auth": (400, "INVALID_ARGUMENT"),
    "permission": (403, "PERMISSION_DENIED"),
    "not_found": (404, "NOT_FOUND"),
    "conflict": (409, "ABORTED"),
    "request_too_large": (413, "INVALID_ARGUMENT"),
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "quota": (429, "RESOURCE_EXHAUSTED"),
    "server_error": (500, "INTERNAL"),
    "bad_gateway": (502, "UNAVAILABLE"),
    "unavailable": (503, "UNAVAILABLE"),
    "overloaded": (503, "UNAVAILABLE"),
    "timeout": (504, "DEADLINE_EXCEEDED"),
}


@pytest.mark.parametrize("name", sorted(ERROR_STATUS))
def test_every_error_name(fake, gclient, name):
    fake.use({"rules": [{"error": name}]})
    code, status = EXPECTED.get(name, (ERROR_STATUS[name], None))
    with pytest.raises(errors.APIError) as info:
        gclient.models.generate_content(model=MODEL, contents="hi")
    assert type(info.value) is (errors.ServerError if code >= 500 else errors.ClientError)
    assert info.value.code == code
    if status is not None:
        assert info.value.status == status
    assert info.value.message
    assert info.value.details["error"]["code"] == code


def test_overloaded_message_and_status_override(fake, gclient):
    fake.use({"rules": [{"script": [{"error": "overloaded"},
                                    {"error": "rate_limit", "status": 503}]}]})
    with pytest.raises(errors.ServerError) as info:
        gclient.models.generate_content(model=MODEL, contents="hi")
    assert info.value.message == "The model is overloaded. Please try again later."
    with pytest.raises(errors.ServerError) as info:
        gclient.models.generate_content(model=MODEL, contents="hi")
    assert (info.value.code, info.value.status) == (503, "UNAVAILABLE")


def test_rate_limit_carries_retry_info(fake, gclient):
    fake.use({"rules": [{"script": [{"error": "rate_limit", "retry_after": "2s"},
                                    {"error": "quota", "retry_after": "500ms"}]}]})
    with pytest.raises(errors.ClientError) as info:
        gclient.models.generate_content(model=MODEL, contents="hi")
    details = info.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"} in details
    assert info.value.response.headers["retry-after"] == "2"
    with pytest.raises(errors.ClientError) as info:
        gclient.models.generate_content(model=MODEL, contents="hi")
    types_ = [d["@type"].rsplit(".", 1)[-1] for d in info.value.details["error"]["details"]]
    assert types_ == ["QuotaFailure", "RetryInfo"]
    assert info.value.details["error"]["details"][1]["retryDelay"] == "0.500s"


def test_scenario_limits_answer_resource_exhausted(fake, gclient):
    fake.use({"limits": {"requests_per_minute": 1}})
    gclient.models.generate_content(model=MODEL, contents="hi")
    with pytest.raises(errors.ClientError) as info:
        gclient.models.generate_content(model=MODEL, contents="hi")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")
    retry = info.value.details["error"]["details"][-1]
    assert retry["@type"].endswith("RetryInfo")
    assert re.fullmatch(r"\d+s", retry["retryDelay"])


def test_no_retries_by_default_but_retry_options_retry(fake):
    script = {"rules": [{"script": [{"error": "unavailable"}, {"reply": "recovered"}]}]}
    fake.use(script)
    # Keep the client referenced: a genai.Client closes its HTTP client when collected, even in
    # the middle of a call made through it.
    once = make_client(fake)
    with pytest.raises(errors.ServerError):
        once.models.generate_content(model=MODEL, contents="hi")
    assert len(fake.journal) == 1  # google-genai makes one attempt unless told otherwise
    fake.use(script)
    retrying = make_client(fake, retry_options=types.HttpRetryOptions(
        attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0))
    assert retrying.models.generate_content(model=MODEL, contents="hi").text == "recovered"
    assert [e.status for e in fake.journal] == [503, 200]


def test_error_event_mid_stream_raises(fake, gclient):
    fake.use({"rules": [{"fault": "error_event", "after_chunks": 2, "error": "overloaded",
                         "reply": "This sentence will not be finished"}]})
    received = []
    with pytest.raises(errors.ServerError) as info:
        for chunk in gclient.models.generate_content_stream(model=MODEL, contents="hi"):
            received.append(chunk.text)
    assert received == ["This", " sentence"]
    assert (info.value.code, info.value.status) == (503, "UNAVAILABLE")


# --- async -----------------------------------------------------------------------------------

# google-genai's async client runs on aiohttp when it is installed (llmfake needs it), and
# subclasses aiohttp.ClientSession, which aiohttp deprecates.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_async_client(fake):
    fake.use({"reply": "async hello"})
    sync = make_client(fake)  # referenced: collecting a genai.Client closes its transports
    async with sync.aio as client:
        response = await client.models.generate_content(model=MODEL, contents="hi")
        assert response.text == "async hello"
        stream = await client.models.generate_content_stream(model=MODEL, contents="hi")
        assert "".join([chunk.text async for chunk in stream]) == "async hello"
        fake.use({"rules": [{"error": "rate_limit"}]})
        with pytest.raises(errors.ClientError) as info:
            await client.models.generate_content(model=MODEL, contents="hi")
        assert info.value.code == 429

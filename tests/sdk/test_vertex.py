"""Vertex AI through google-genai (``vertexai=True``) and anthropic.AnthropicVertex, over real
sockets, with offline credentials (a dummy OAuth token, or an express-mode key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types

CLAUDE = "claude-sonnet-4-6@20250514"
GEMINI = "gemini-2.5-flash"
LOCATED = "/projects/proj/locations/us-central1/publishers/google/models/"


def _genai(fake, version: str | None = None, **kw: Any) -> genai.Client:
    if not kw:
        kw = {"project": "proj", "location": "us-central1",
              "credentials": google.oauth2.credentials.Credentials("dummy-token")}
    http = types.HttpOptions(base_url=fake.url, api_version=version,
                             retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(vertexai=True, http_options=http, **kw)


@pytest.fixture
def claude(fake) -> Iterator[anthropic.AnthropicVertex]:
    with anthropic.AnthropicVertex(base_url=fake.url + "/v1", region="us-east5",
                                   project_id="proj", access_token="dummy-token",
                                   max_retries=0, _strict_response_validation=True) as c:
        yield c


@pytest.mark.parametrize("version", [None, "v1", "v1beta1"])
def test_genai_vertex_generate_on_project_paths(fake, version):
    fake.use({"rules": [{"match": {"provider": "vertex", "model": GEMINI},
                         "reply": "Hello from Vertex."}]})
    client = _genai(fake, version)
    out = client.models.generate_content(model=GEMINI, contents="Hello there")
    assert out.text == "Hello from Vertex."
    assert out.usage_metadata is not None and out.usage_metadata.candidates_token_count == 4
    [exchange] = fake.journal
    assert exchange.path == f"/{version or 'v1beta1'}{LOCATED}{GEMINI}:generateContent"
    assert (exchange.provider, exchange.endpoint) == ("vertex", "chat")


def test_genai_vertex_stream_and_count_tokens(fake):
    fake.use({"reply": "Hello from Vertex."})
    client = _genai(fake)
    chunks = list(client.models.generate_content_stream(model=GEMINI, contents="Hello there"))
    assert "".join(c.text or "" for c in chunks) == "Hello from Vertex."
    assert client.models.count_tokens(model=GEMINI, contents="Hello there").total_tokens
    assert fake.journal[0].path.endswith(":streamGenerateContent?alt=sse")


def test_genai_express_mode_key_is_the_call_key(fake):
    fake.use({"auth": {"keys": ["express-key"]}, "reply": "ok"})
    good, bad = _genai(fake, api_key="express-key"), _genai(fake, api_key="wrong")
    ok = good.models.generate_content(model=GEMINI, contents="x")
    assert ok.text == "ok"
    assert fake.journal[0].path == f"/v1beta1/publishers/google/models/{GEMINI}:generateContent"
    with pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model=GEMINI, contents="x")
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"


def test_genai_vertex_429_is_resource_exhausted(fake):
    fake.use({"rules": [{"error": "rate_limit", "retry_after": 3}]})
    client = _genai(fake)
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=GEMINI, contents="x")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    assert "error-code-429" in (info.value.message or "")
    assert info.value.details["error"]["details"][0]["retryDelay"] == "3s"


def test_anthropic_vertex_raw_predict_and_stream(fake, claude):
    fake.use({"reply": "Hello from Claude on Vertex."})
    message = claude.messages.create(model=CLAUDE, max_tokens=100,
                                     messages=[{"role": "user", "content": "Hello there"}])
    assert message.content[0].text == "Hello from Claude on Vertex."  # type: ignore[union-attr]
    assert message.model == CLAUDE and message.stop_reason == "end_turn"
    with claude.messages.stream(model=CLAUDE, max_tokens=100,
                                messages=[{"role": "user", "content": "Hello there"}]) as s:
        assert "".join(s.text_stream) == "Hello from Claude on Vertex."
    base = "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/" + CLAUDE
    assert [e.path for e in fake.journal] == [base + ":rawPredict", base + ":streamRawPredict"]
    sent = fake.journal[0].body
    assert "anthropic_version" in sent and "model" not in sent
    assert fake.journal[0].provider == "vertex" and fake.journal[0].model == CLAUDE


def test_anthropic_vertex_errors(fake, claude):
    fake.use({"rules": [{"script": [{"error": "rate_limit"}, {"error": "overloaded"}]}]})
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude.messages.create(model=CLAUDE, max_tokens=10,
                               messages=[{"role": "user", "content": "x"}])
    assert limited.value.body["error"]["status"] == "RESOURCE_EXHAUSTED"  # type: ignore[index]
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        claude.messages.create(model=CLAUDE, max_tokens=10,
                               messages=[{"role": "user", "content": "x"}])
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_anthropic_vertex_error_event_mid_stream(fake, claude):
    fake.use({"rules": [{"fault": "error_event", "after_chunks": 1, "error": "overloaded"}],
              "reply": "one two three"})
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"), \
            claude.messages.stream(model=CLAUDE, max_tokens=10,
                                   messages=[{"role": "user", "content": "x"}]) as s:
        "".join(s.text_stream)


def test_anthropic_vertex_count_tokens(fake, claude):
    fake.use({"reply": "x"})
    counted = claude.messages.count_tokens(model=CLAUDE,
                                           messages=[{"role": "user", "content": "Hello there"}])
    assert counted.input_tokens > 0
    [exchange] = fake.journal
    assert exchange.path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert (exchange.endpoint, exchange.model) == ("count_tokens", CLAUDE)

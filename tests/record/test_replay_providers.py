"""Record, then replay, one session per provider, each through its official SDK.

Each session is recorded through the recording proxy from a stand-in upstream (an llmfake server
with a fixed reply), then replayed offline by a server whose scenario names the cassette (strict:
a request the cassette does not hold gets a 500). The replayed answers must equal the recorded
ones and every request must have been answered from the recording.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import boto3
import google.oauth2.credentials
import httpx
import ollama
import openai
import pytest
from google import genai
from google.genai import types

import llmfake
from llmfake.record import load, record

TEXT = "one two three four five"
UPSTREAM = {"reply": {"text": TEXT}}
HI = [{"role": "user", "content": "hi"}]
KEY = "sk-live-SECRET-0123456789abcdef"

Session = Callable[[Any], list[Any]]
"""Runs a provider's calls against a server or proxy (anything with the base URLs) and
returns what each call gave, in a form that compares by value."""


def _openai(target: Any) -> list[Any]:
    client = openai.OpenAI(base_url=target.openai_base_url, api_key=KEY, max_retries=0)
    whole = client.chat.completions.create(model="gpt-4o", messages=HI)  # type: ignore[arg-type]
    stream = client.chat.completions.create(model="gpt-4o", messages=HI,  # type: ignore[arg-type]
                                            stream=True)
    return [whole.model_dump(), [c.model_dump() for c in stream]]


def _azure(target: Any) -> list[Any]:
    client = openai.AzureOpenAI(azure_endpoint=target.azure_endpoint, api_key=KEY,
                                api_version="2024-10-21", max_retries=0)
    whole = client.chat.completions.create(model="my-deploy", messages=HI)  # type: ignore[arg-type]
    stream = client.chat.completions.create(model="my-deploy", messages=HI,  # type: ignore[arg-type]
                                            stream=True)
    # Azure's deployment routes take a body without "model" (the URL names the deployment).
    raw = httpx.post(f"{target.azure_endpoint}/openai/deployments/my-deploy/chat/completions",
                     params={"api-version": "2024-10-21"}, headers={"api-key": KEY},
                     json={"messages": [{"role": "user", "content": "no model"}]})
    return [whole.model_dump(), [c.model_dump() for c in stream],
            (raw.status_code, raw.json())]


def _anthropic(target: Any) -> list[Any]:
    client = anthropic.Anthropic(base_url=target.anthropic_base_url, api_key=KEY,
                                 max_retries=0)
    whole = client.messages.create(model="claude-sonnet-4-6", max_tokens=50,
                                   messages=HI)  # type: ignore[arg-type]
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=50,
                                messages=HI) as stream:  # type: ignore[arg-type]
        events = [event.model_dump() for event in stream]
    return [whole.model_dump(), events]


def _gemini(target: Any) -> list[Any]:
    http = types.HttpOptions(base_url=target.gemini_base_url,
                             retry_options=types.HttpRetryOptions(attempts=1))
    with genai.Client(api_key=KEY, http_options=http) as client:
        whole = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash",
                                                            contents="hi"))
    # sdk_http_response holds the transport's headers (date, server), which replay rewrites.
    return [whole.model_dump(exclude={"sdk_http_response"}),
            [c.model_dump(exclude={"sdk_http_response"}) for c in chunks]]


def _ollama(target: Any) -> list[Any]:
    with ollama.Client(host=target.ollama_host) as client:
        whole = client.chat(model="llama3.2", messages=HI)
        stream = list(client.chat(model="llama3.2", messages=HI, stream=True))
    return [whole.model_dump(), [c.model_dump() for c in stream]]


def _vertex(target: Any) -> list[Any]:
    http = types.HttpOptions(base_url=target.url, retry_options=types.HttpRetryOptions(attempts=1))
    credentials = google.oauth2.credentials.Credentials(KEY)
    with genai.Client(vertexai=True, project="p", location="us-central1", credentials=credentials,
                      http_options=http) as client:
        whole = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash",
                                                            contents="hi"))
    claude = anthropic.AnthropicVertex(base_url=target.url + "/v1", region="us-east5",
                                       project_id="p", access_token=KEY, max_retries=0)
    message = claude.messages.create(model="claude-sonnet-4-6@20250514", max_tokens=50,
                                     messages=HI)  # type: ignore[arg-type]
    with claude.messages.stream(model="claude-sonnet-4-6@20250514", max_tokens=50,
                                messages=HI) as stream:  # type: ignore[arg-type]
        events = [event.model_dump() for event in stream]
    return [whole.model_dump(exclude={"sdk_http_response"}),
            [c.model_dump(exclude={"sdk_http_response"}) for c in chunks],
            message.model_dump(), events]


def _boto3(target: Any) -> Any:
    return boto3.client("bedrock-runtime", endpoint_url=target.url, region_name="us-east-1",
                        aws_access_key_id="AKIDLLMFAKE", aws_secret_access_key=KEY)


BEDROCK_MODEL = "anthropic.claude-sonnet-4-6-v1:0"
BEDROCK_HI = [{"role": "user", "content": [{"text": "hi"}]}]


def _bedrock(target: Any) -> list[Any]:
    client, model = _boto3(target), BEDROCK_MODEL
    whole = client.converse(modelId=model, messages=BEDROCK_HI)
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                       "messages": HI})
    invoked = json.loads(client.invoke_model(modelId=model, body=body)["body"].read())
    # Event streams are binary: botocore's parser reads the replayed frames.
    events = list(client.converse_stream(modelId=model, messages=BEDROCK_HI)["stream"])
    chunks = [json.loads(e["chunk"]["bytes"]) for e in client.invoke_model_with_response_stream(
        modelId=model, body=body)["body"]]
    return [whole["output"], whole["usage"], whole["stopReason"], invoked, events, chunks]


SESSIONS: dict[str, Session] = {"openai": _openai, "azure": _azure, "anthropic": _anthropic,
                                "gemini": _gemini, "ollama": _ollama, "vertex": _vertex,
                                "bedrock": _bedrock}


@pytest.mark.parametrize("provider", list(SESSIONS))
def test_a_recorded_session_replays_identically(provider: str, tmp_path: Path) -> None:
    session = SESSIONS[provider]
    cassette = tmp_path / f"{provider}.yaml"
    with llmfake.serve(UPSTREAM) as upstream, record(upstream.url, cassette) as proxy:
        recorded = session(proxy)
    interactions = load(cassette).interactions
    assert interactions and all(it.response.status == 200 for it in interactions)
    assert KEY not in cassette.read_text()
    # The stand-in's words reached the client, so the recording holds a real session.
    assert all(word in repr(recorded) for word in TEXT.split())

    with llmfake.serve({"cassette": str(cassette)}) as server:
        replayed = session(server)
        journal = server.journal()

    assert [e.outcome for e in journal] == ["replay"] * len(interactions), [
        (e.path, e.outcome, e.status) for e in journal]
    assert {e.provider for e in journal} == {provider}
    assert replayed == recorded


# --- a fault strikes a replayed stream after N content chunks, whatever the provider's framing


def _openai_pieces(target: Any) -> list[str]:
    client = openai.OpenAI(base_url=target.openai_base_url, api_key=KEY, max_retries=0)
    return _collect(c.choices[0].delta.content or "" if c.choices else ""
                    for c in client.chat.completions.create(
                        model="gpt-4o", messages=HI, stream=True))  # type: ignore[arg-type]


def _azure_pieces(target: Any) -> list[str]:
    client = openai.AzureOpenAI(azure_endpoint=target.azure_endpoint, api_key=KEY,
                                api_version="2024-10-21", max_retries=0)
    return _collect(c.choices[0].delta.content or "" if c.choices else ""
                    for c in client.chat.completions.create(
                        model="my-deploy", messages=HI, stream=True))  # type: ignore[arg-type]


def _anthropic_pieces(target: Any) -> list[str]:
    client = anthropic.Anthropic(base_url=target.anthropic_base_url, api_key=KEY,
                                 max_retries=0)

    def texts() -> Iterator[str]:
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=50,
                                    messages=HI) as stream:  # type: ignore[arg-type]
            yield from stream.text_stream

    return _collect(texts())


def _gemini_pieces(target: Any) -> list[str]:
    http = types.HttpOptions(base_url=target.gemini_base_url,
                             retry_options=types.HttpRetryOptions(attempts=1))
    with genai.Client(api_key=KEY, http_options=http) as client:
        return _collect(c.text or "" for c in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"))


def _ollama_pieces(target: Any) -> list[str]:
    with ollama.Client(host=target.ollama_host) as client:
        return _collect(c.message.content or ""
                        for c in client.chat(model="llama3.2", messages=HI, stream=True))


def _bedrock_pieces(target: Any) -> list[str]:
    stream = _boto3(target).converse_stream(modelId=BEDROCK_MODEL, messages=BEDROCK_HI)
    return _collect(e["contentBlockDelta"]["delta"].get("text", "") if "contentBlockDelta" in e
                    else "" for e in stream["stream"])


def _collect(pieces: Iterable[str]) -> list[str]:
    """The non-empty pieces a stream gave before it broke off."""
    out: list[str] = []
    with contextlib.suppress(Exception):  # each SDK has its own error for a dropped stream
        for piece in pieces:
            if piece:
                out.append(piece)
    return out


STREAMS: dict[str, Callable[[Any], list[str]]] = {
    "openai": _openai_pieces, "azure": _azure_pieces, "anthropic": _anthropic_pieces,
    "gemini": _gemini_pieces, "ollama": _ollama_pieces, "bedrock": _bedrock_pieces}


@pytest.mark.parametrize("provider", list(STREAMS))
def test_a_fault_strikes_a_replayed_stream_after_content_chunks(provider: str,
                                                                tmp_path: Path) -> None:
    stream = STREAMS[provider]
    cassette = tmp_path / f"{provider}.yaml"
    with llmfake.serve(UPSTREAM) as upstream, record(upstream.url, cassette) as proxy:
        assert "".join(stream(proxy)) == TEXT
    scenario = {"cassette": str(cassette), "rules": [{"fault": "disconnect", "after_chunks": 2}]}
    with llmfake.serve(scenario) as server:
        pieces = stream(server)
        journal = server.journal()
    # Two chunks that carried text, then the drop: framing (role deltas, message_start, pings,
    # Ollama's closing line) never counts.
    assert "".join(pieces) == "one two", pieces
    assert [e.outcome for e in journal] == ["fault disconnect"]

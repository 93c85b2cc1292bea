"""Recording through the proxy from an upstream llmfake with the official SDKs."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

import llmfake
from llmfake.record import Redactor, load, record

SECRET = "sk-live-SECRET-0123456789abcdef"
ANT_SECRET = "sk-ant-live-SECRET-abcdef0123456789"
TEXT = "one two three four five six seven eight"
SLOW = {"reply": {"text": TEXT}, "latency": {"ttft": "50ms", "per_token": "10ms"}}


def _no_secrets(path: Path) -> None:
    text = path.read_text()
    assert "SECRET" not in text
    assert SECRET not in text and ANT_SECRET not in text


def test_openai_non_streaming_identical_and_redacted(tmp_path):
    cas = tmp_path / "chat.yaml"
    with llmfake.serve({"reply": {"text": TEXT}}) as upstream:
        up_url = upstream.url
        direct = openai.OpenAI(base_url=upstream.openai_base_url, api_key=SECRET,
                               max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        with record(upstream.url, cas) as proxy:
            client = openai.OpenAI(base_url=proxy.openai_base_url, api_key=SECRET,
                                   organization="org-SECRETorg123", max_retries=0)
            via = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert cas.exists()  # written after the interaction, before close
    assert via.choices[0].message.content == direct.choices[0].message.content == TEXT
    _no_secrets(cas)
    cassette = load(cas)
    assert len(cassette) == 1
    it = cassette.interactions[0]
    assert it.request.method == "POST"
    assert it.request.path == "/v1/chat/completions"
    assert it.request.uri.startswith(up_url)
    assert it.request.json["messages"] == [{"role": "user", "content": "hi"}]
    hdrs = {k.lower(): v for k, v in it.request.headers.items()}
    assert hdrs["authorization"] == ["REDACTED"]
    assert hdrs["openai-organization"] == ["REDACTED"]
    assert not it.response.is_stream
    assert it.response.status == 200
    assert it.response.json["choices"][0]["message"]["content"] == TEXT
    assert "llmfake:" in cas.read_text()


def _stream_openai(base_url: str) -> tuple[list[str], list[float]]:
    client = openai.OpenAI(base_url=base_url, api_key=SECRET, max_retries=0)
    pieces: list[str] = []
    times: list[float] = []
    t0 = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    for chunk in stream:
        times.append(time.monotonic() - t0)
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    return pieces, times


def test_openai_streaming_chunks_with_offsets(tmp_path):
    cas = tmp_path / "stream.yaml"
    with llmfake.serve(SLOW) as upstream:
        direct, _ = _stream_openai(upstream.openai_base_url)
        with record(upstream.url, cas) as proxy:
            via, client_times = _stream_openai(proxy.openai_base_url)
    assert via == direct
    assert "".join(via) == TEXT
    _no_secrets(cas)
    it = load(cas).interactions[0]
    chunks = it.response.chunks
    assert chunks is not None
    # one chunk per SSE event, every one a complete event
    assert all(c.data.startswith("data: ") and c.data.endswith("\n\n") for c in chunks)
    assert chunks[-1].data == "data: [DONE]\n\n"
    events = [c for c in chunks if c.data != "data: [DONE]\n\n"]
    assert len(events) == len(client_times)  # the SDK saw one chunk per recorded event
    assert "".join(c.data for c in chunks) == it.response.body
    offsets = [c.offset for c in chunks]
    assert offsets == sorted(offsets)
    # the schedule: first byte after ttft (50 ms), then 10 ms per token
    assert 0.045 <= offsets[0] <= 0.08
    content = [c for c in chunks if '"content":"' in c.data and '"content":""' not in c.data]
    assert len(content) >= 4
    gaps = [b.offset - a.offset for a, b in itertools.pairwise(content)]
    for g in gaps:
        assert 0.0 < g <= 0.03, gaps
    span = content[-1].offset - content[0].offset
    assert abs(span - 0.010 * (len(content) - 1)) <= 0.010 + 0.003 * len(content), offsets


def test_anthropic_streaming(tmp_path):
    cas = tmp_path / "claude.yaml"

    def run(base: str) -> tuple[str, list[str]]:
        client = anthropic.Anthropic(base_url=base, api_key=ANT_SECRET, max_retries=0)
        types: list[str] = []
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100,
                                    messages=[{"role": "user", "content": "hi"}]) as s:
            for ev in s:
                types.append(ev.type)
            return s.get_final_text(), types

    with llmfake.serve(SLOW) as upstream:
        direct = run(upstream.anthropic_base_url)
        with record(upstream.url, cas) as proxy:
            via = run(proxy.anthropic_base_url)
    assert via[0] == direct[0] == TEXT
    _no_secrets(cas)
    it = load(cas).interactions[0]
    hdrs = {k.lower(): v for k, v in it.request.headers.items()}
    creds = [hdrs[h] for h in ("x-api-key", "authorization") if h in hdrs]
    assert creds and all(v == ["REDACTED"] for v in creds)
    chunks = it.response.chunks
    assert chunks is not None
    names = [c.data.split("\n", 1)[0] for c in chunks]
    assert names[0] == "event: message_start"
    assert names[-1] == "event: message_stop"
    assert all(c.data.endswith("\n\n") for c in chunks)
    assert [c.offset for c in chunks] == sorted(c.offset for c in chunks)
    assert chunks[0].offset >= 0.045


def test_gemini_key_query_redacted_and_error_recorded(tmp_path):
    cas = tmp_path / "g.yaml"
    redactor = Redactor.create(extra_headers=["x-custom-token"])
    with llmfake.serve({"reply": {"text": "hey"}}) as upstream, \
            record(upstream.url, cas, redactor=redactor) as proxy:
        r = httpx.post(f"{proxy.url}/v1beta/models/gemini-2.0-flash:generateContent",
                       params={"key": SECRET},
                       json={"contents": [{"parts": [{"text": "hi"}]}]},
                       headers={"x-goog-api-key": SECRET, "Cookie": f"session={SECRET}",
                                "x-api-key": ANT_SECRET, "X-Custom-Token": "tok-SECRET-1"})
        assert r.status_code == 200
        r2 = httpx.get(f"{proxy.url}/no/such/endpoint")
        assert r2.status_code == 404
    _no_secrets(cas)
    c = load(cas)
    assert len(c) == 2
    assert "key=REDACTED" in c.interactions[0].request.uri
    hdrs = {k.lower(): v for k, v in c.interactions[0].request.headers.items()}
    for h in ("x-goog-api-key", "cookie", "x-api-key", "x-custom-token"):
        assert hdrs[h] == ["REDACTED"], h
    assert c.interactions[1].response.status == 404


def test_append_keeps_previous(tmp_path):
    cas = tmp_path / "a.yaml"
    with llmfake.serve({"reply": {"text": "x"}}) as upstream:
        for append in (False, True):
            with record(upstream.url, cas, append=append) as proxy:
                httpx.post(f"{proxy.openai_base_url}/chat/completions",
                           json={"model": "m", "messages": []})
    assert len(load(cas)) == 2


def test_vcrpy_replays_non_streaming(tmp_path):
    vcr = pytest.importorskip("vcr")
    cas = tmp_path / "vcr.yaml"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    with llmfake.serve({"reply": {"text": TEXT}}) as upstream:
        url = f"{upstream.openai_base_url}/chat/completions"
        with record(upstream.url, cas) as proxy:
            r = httpx.post(f"{proxy.openai_base_url}/chat/completions", json=body,
                           headers={"Authorization": f"Bearer {SECRET}"})
            assert r.status_code == 200
    # the upstream is gone: only vcrpy can answer now
    my_vcr = vcr.VCR(record_mode="none", match_on=["method", "uri"])
    with my_vcr.use_cassette(str(cas)) as c:
        replayed = httpx.post(url, json=body)
        assert c.play_count == 1
    assert replayed.status_code == 200
    assert replayed.json()["choices"][0]["message"]["content"] == TEXT

"""Replaying cassettes through the server (`scenario: {cassette: ...}`), judged by the SDKs.

Sessions are recorded through the proxy from an upstream llmfake with a known pace, then
replayed offline by a second server whose scenario names the cassette.
"""

from __future__ import annotations

import itertools
import textwrap
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

import llmfake
from llmfake.errors import ScenarioError
from llmfake.record import load, record

SECRET = "sk-live-SECRET-0123456789abcdef"
TEXT = "one two three four five six seven eight"
PACED = {"reply": {"text": TEXT}, "latency": {"ttft": "60ms", "per_token": "15ms"}}
HI = [{"role": "user", "content": "hi"}]


def _oa(base_url: str, **kw: object) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=base_url, api_key=SECRET, **kw)  # type: ignore[arg-type]


def _stream(client: openai.OpenAI, content: str = "hi") -> tuple[list[str], list[float]]:
    """Every chunk's content and its arrival, in seconds from the request."""
    pieces: list[str] = []
    times: list[float] = []
    t0 = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}], stream=True)
    for chunk in stream:
        times.append(time.monotonic() - t0)
        pieces.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    return pieces, times


@pytest.fixture
def stream_cassette(tmp_path: Path) -> tuple[Path, list[str], list[float]]:
    cas = tmp_path / "stream.yaml"
    with llmfake.serve(PACED) as upstream, record(upstream.url, cas) as proxy:
        pieces, times = _stream(_oa(proxy.openai_base_url))
    return cas, pieces, times


def test_stream_replays_same_chunks_at_recorded_pace(stream_cassette):
    cas, recorded, recorded_times = stream_cassette
    with llmfake.serve({"cassette": str(cas)}) as server:
        replayed, times = _stream(_oa(server.openai_base_url))
        journal = server.journal()
    assert replayed == recorded
    assert "".join(replayed) == TEXT
    assert len(times) == len(recorded_times)
    # First byte and every gap within 10 ms of the recording. The recording's own schedule is
    # its offsets (what the upstream did); the recording client's clock also held the SDK's
    # first-call start-up, which is not the upstream's doing.
    offsets = [c.offset for c in load(cas).interactions[0].response.chunks or []]
    assert 0 <= times[0] - offsets[0] <= 0.010, (times, offsets)
    for (a, b), (ra, rb) in zip(itertools.pairwise(times), itertools.pairwise(offsets),
                                strict=False):
        assert abs((b - a) - (rb - ra)) <= 0.010, (times, offsets)
    assert times[0] >= 0.055  # the upstream's ttft was kept, not collapsed
    assert [e.outcome for e in journal] == ["replay"]
    assert journal[0].source == "cassette"


def test_replay_speed_scales_and_zero_removes_delays(stream_cassette):
    cas, recorded, recorded_times = stream_cassette
    with llmfake.serve({"cassette": {"path": str(cas), "replay_speed": 0}}) as server:
        fast, times = _stream(_oa(server.openai_base_url))
    assert fast == recorded
    assert times[-1] < recorded_times[-1] / 2
    with llmfake.serve({"cassette": {"path": str(cas), "replay_speed": 2}}) as server:
        _, half = _stream(_oa(server.openai_base_url))
    first = (load(cas).interactions[0].response.chunks or [])[0].offset
    # twice as fast: never early, and well short of the recorded pace (fidelity is the
    # previous test's business; this one only checks the scaling)
    assert first / 2 <= half[0] < first * 0.8, (half, first)


def test_non_streaming_openai_and_anthropic_replay_identically(tmp_path):
    cas = tmp_path / "mixed.yaml"
    with llmfake.serve(PACED) as upstream, record(upstream.url, cas) as proxy:
        chat = _oa(proxy.openai_base_url).chat.completions.create(model="gpt-4o", messages=HI)
        claude = anthropic.Anthropic(base_url=proxy.anthropic_base_url, api_key=SECRET,
                                     max_retries=0)
        msg = claude.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=HI)
        with claude.messages.stream(model="claude-sonnet-4-6", max_tokens=50,
                                    messages=HI) as s:
            types = [ev.type for ev in s]
            final = s.get_final_text()
    assert SECRET not in cas.read_text()
    with llmfake.serve({"cassette": str(cas)}) as server:
        chat2 = _oa(server.openai_base_url).chat.completions.create(model="gpt-4o", messages=HI)
        claude2 = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="offline",
                                      max_retries=0)
        msg2 = claude2.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=HI)
        with claude2.messages.stream(model="claude-sonnet-4-6", max_tokens=50,
                                     messages=HI) as s:
            types2 = [ev.type for ev in s]
            final2 = s.get_final_text()
    assert chat2.model_dump() == chat.model_dump()
    assert msg2.model_dump() == msg.model_dump()
    assert (types2, final2) == (types, final)
    assert final2 == TEXT


def test_a_scripted_429_overlays_the_replay(tmp_path):
    """Replay the real session, but make the 2nd call a 429: the SDK retries and the retry
    gets the 2nd recorded answer."""
    cas = tmp_path / "two.yaml"
    with llmfake.serve({"reply": {"echo": True}}) as upstream, \
            record(upstream.url, cas) as proxy:
        for word in ("first", "second"):
            _oa(proxy.openai_base_url).chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": word}])
    scenario = {"cassette": str(cas), "time_scale": 0.01, "rules": [{"script": [
        {}, {"error": "rate_limit", "retry_after": "1s"}], "then": "default"}]}
    with llmfake.serve(scenario) as server:
        client = _oa(server.openai_base_url, max_retries=2)
        answers = [client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": word}]
        ).choices[0].message.content for word in ("first", "second")]
        journal = server.journal()
    assert answers == ["first", "second"]
    assert [e.outcome for e in journal] == ["replay", "error rate_limit", "replay"]
    assert journal[1].retry_after == pytest.approx(0.01)


def test_a_fault_strikes_the_recorded_stream_after_content_chunks(stream_cassette):
    cas, _, _ = stream_cassette
    scenario = {"cassette": str(cas),
                "rules": [{"fault": "disconnect", "after_chunks": 3}]}
    with llmfake.serve(scenario) as server:
        client = _oa(server.openai_base_url)
        seen: list[str] = []
        with pytest.raises((openai.APIConnectionError, httpx.HTTPError)):
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI,
                                                        stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    seen.append(chunk.choices[0].delta.content)
        journal = server.journal()
    assert "".join(seen) == "one two three"  # three content chunks, the role delta not counted
    assert journal[0].outcome == "fault disconnect"


def test_strict_unmatched_request_names_the_nearest_recording(stream_cassette):
    cas, _, _ = stream_cassette
    with llmfake.serve({"cassette": str(cas)}) as server:
        client = _oa(server.openai_base_url, max_retries=2)
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "something else"}],
                stream=True)
        journal = server.journal()
    message = str(info.value)
    assert "no recorded interaction for POST /v1/chat/completions" in message
    assert "interactions[0]" in message
    assert "something else" in message  # the body diff
    assert len(journal) == 1  # x-should-retry: false, so the SDK did not retry


def test_unmatched_falls_back_to_the_scenario_reply_when_not_strict(stream_cassette):
    cas, _, _ = stream_cassette
    scenario = {"cassette": {"path": str(cas), "strict": False}, "reply": "generated"}
    with llmfake.serve(scenario) as server:
        out = _oa(server.openai_base_url).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "unrecorded"}])
    assert out.choices[0].message.content == "generated"


PYTEST_RECORDING_SSE = textwrap.dedent('''\
    interactions:
    - request:
        body: '{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o","stream":true}'
        headers:
          authorization:
          - DUMMY
        method: POST
        uri: https://api.openai.com/v1/chat/completions
      response:
        body:
          string: 'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}


            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"He"},"finish_reason":null}]}


            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":null}]}


            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}


            data: [DONE]


            '
        headers:
          Content-Type:
          - text/event-stream; charset=utf-8
          Content-Length:
          - '9999'
        status:
          code: 200
          message: OK
    version: 1
''')  # noqa: E501


def test_a_pytest_recording_sse_cassette_replays_as_a_real_stream(tmp_path):
    cas = tmp_path / "test_chat.yaml"
    cas.write_text(PYTEST_RECORDING_SSE)
    scenario = {"cassette": str(cas), "rules": [{"fault": "disconnect", "after_chunks": 1}]}
    with llmfake.serve({"cassette": str(cas)}) as server:
        pieces, _ = _stream(_oa(server.openai_base_url))
        assert pieces == ["", "He", "llo", ""]  # four chunks, not one buffered body
        server.use(scenario)
        seen = []
        with pytest.raises((openai.APIConnectionError, httpx.HTTPError)):
            for chunk in _oa(server.openai_base_url).chat.completions.create(
                    model="gpt-4o", messages=HI, stream=True):
                seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "He"]


def test_a_missing_or_broken_cassette_is_a_scenario_error_naming_the_field(tmp_path):
    with pytest.raises(ScenarioError) as info:
        llmfake.load_scenario({"cassette": str(tmp_path / "nope.yaml")})
    assert info.value.path == "cassette.path"
    assert "nope.yaml" in str(info.value) and "llmfake record" in str(info.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ninteractions:\n- request: {method: POST}\n")
    with pytest.raises(ScenarioError) as info:
        llmfake.load_scenario({"cassette": {"path": str(bad)}})
    assert "interactions[0]" in str(info.value) and "bad.yaml" in str(info.value)


def test_a_relative_cassette_path_is_found_beside_the_scenario_file(stream_cassette, tmp_path):
    cas, _, _ = stream_cassette
    sub = tmp_path / "scenarios"
    sub.mkdir()
    (sub / "replay.yaml").write_text("cassette: ../stream.yaml\n")
    sc = llmfake.load_scenario(str(sub / "replay.yaml"))
    assert sc.cassette is not None
    assert len(sc.cassette.cassette) == len(load(cas))

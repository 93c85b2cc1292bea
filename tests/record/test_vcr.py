"""llmfake.vcr: vcrpy and pytest-recording recording real clients over loopback sockets.

An llmfake server stands in for the real provider. vcrpy records real httpx, requests and SDK
calls to it, the server stops, and vcrpy replays them offline.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import requests
import vcr
import yaml
from vcr.errors import CannotOverwriteExistingCassetteException

import llmfake
import llmfake.vcr
from llmfake.record import Redactor, load, record, split_stream

pytest_plugins = ["pytester"]

SECRET = "sk-live-SECRET-0123456789abcdef"
COOKIE = "cookie-SECRET-4242"
HEADERS = {"Authorization": f"Bearer {SECRET}"}
# The provider answers with the last user message, and sets a cookie.
ECHO = {"rules": [{"match": {}, "reply": {"echo": True},
                   "headers": {"set-cookie": f"session={COOKIE}; Path=/"}}]}
PLAIN_ECHO = {"rules": [{"match": {}, "reply": {"echo": True}}]}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "vcr.md"


def _no_secrets(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    assert "SECRET" not in text, "a secret reached the cassette"
    return text


def _chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], **extra}


def _events(text: str) -> list[Any]:
    """The JSON events of an SSE body."""
    return [json.loads(data) for piece in split_stream(text, "text/event-stream")
            if (data := piece.removeprefix("data: ").strip()) and data != "[DONE]"]


def _content(text: str, stream: bool) -> Any:
    """What the client was told: the events of a stream, the JSON body otherwise."""
    return _events(text) if stream else json.loads(text)


def _post_httpx(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    with httpx.Client() as client, client.stream("POST", url, json=body, headers=headers) as r:
        return r.status_code, "".join(r.iter_text())


def _post_requests(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    with requests.post(url, json=body, headers=headers, stream=True, timeout=10) as r:
        return r.status_code, r.content.decode("utf-8")


POST: dict[str, Callable[[str, dict[str, Any], dict[str, str]], tuple[int, str]]] = {
    "httpx": _post_httpx, "requests": _post_requests}


# --- record with real clients, replay offline ----------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("lib", sorted(POST))
def test_record_then_replay_offline(tmp_path, lib, stream):
    post = POST[lib]
    cas = tmp_path / "chat.yaml"
    body = _chat("tell me about vcr", stream=stream)
    with llmfake.serve(ECHO) as provider:
        url = f"{provider.openai_base_url}/chat/completions"
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas) as c:
            status, live = post(url, body, HEADERS)
            assert (len(c), c.play_count) == (1, 0)  # recorded, not played
    assert status == 200
    with pytest.raises((httpx.ConnectError, requests.ConnectionError)):
        post(url, body, {})  # the provider is gone

    text = _no_secrets(cas)
    [item] = yaml.safe_load(text)["interactions"]
    assert item["request"]["headers"]["authorization"] == ["REDACTED"]
    assert item["response"]["headers"]["set-cookie"] == ["REDACTED"]
    extra = item["llmfake"]
    assert extra["request"]["json"] == body  # the request body, structured
    if stream:
        assert "json" not in extra["response"]
        chunks = extra["response"]["chunks"]
        recorded = item["response"]["body"]["string"]
        # one entry per SSE event, each whole, the same events the client got, no timing
        assert [ch["data"] for ch in chunks] == split_stream(recorded, "text/event-stream")
        assert len(chunks) == len(split_stream(live, "text/event-stream")) >= 4
        assert all(ch["data"].startswith("data: ") and ch["data"].endswith("\n\n")
                   for ch in chunks)
        assert {ch["offset"] for ch in chunks} == {0.0}
        assert "data: {" in text.split("llmfake:")[0]  # the body is a readable block, too
    else:
        assert "chunks" not in extra["response"]
        assert extra["response"]["json"]["choices"][0]["message"]["content"] == \
            "tell me about vcr"

    # llmfake reads the cassette: the same chunks, split the same way
    it = load(cas).interactions[0]
    assert it.request.json == body
    assert it.response.is_stream is stream
    if stream:
        assert it.response.chunks is not None
        assert [ch.data for ch in it.response.chunks] == [ch["data"] for ch in chunks]

    with llmfake.vcr.make_vcr().use_cassette(cas) as c:
        status2, replayed = post(url, body, {"Authorization": "Bearer other-key-123456"})
        assert c.play_count == 1
    assert status2 == 200
    assert _content(replayed, stream) == _content(live, stream)
    if stream:
        text = "".join(e["choices"][0]["delta"].get("content") or ""
                       for e in _events(replayed) if e["choices"])
        assert text == "tell me about vcr"


def _openai_calls(base_url: str) -> tuple[str, list[str]]:
    client = openai.OpenAI(base_url=base_url, api_key=SECRET, max_retries=0)
    reply = client.chat.completions.create(**_chat("plain answer"))
    stream = client.chat.completions.create(**_chat("streamed answer please"), stream=True,
                                            stream_options={"include_usage": True})
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    client.close()
    return reply.choices[0].message.content or "", pieces


def test_openai_sdk_through_httpx2(tmp_path):
    assert "httpx2" in openai._base_client.__dict__  # the SDK does send through httpx2
    cas = tmp_path / "sdk.yaml"
    with llmfake.serve(ECHO) as provider:
        base = provider.openai_base_url
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas) as c:
            live = _openai_calls(base)
            assert len(c) == 2
    _no_secrets(cas)
    with llmfake.vcr.make_vcr().use_cassette(cas) as c:
        replayed = _openai_calls(base)
        assert c.play_count == 2
    assert replayed == live
    assert live[0] == "plain answer" and "".join(live[1]) == "streamed answer please"
    stream = load(cas).interactions[1].response.chunks
    assert stream is not None
    # every SSE event the SDK turned into a chunk is one cassette entry (+ usage, + [DONE])
    assert len(stream) == len(live[1]) + 2


def test_an_in_process_recording_replays_through_llmfake_as_a_stream(tmp_path):
    cas = tmp_path / "sse.yaml"
    with llmfake.serve(ECHO) as provider:
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas):
            _, live = _openai_calls(provider.openai_base_url)
    # the fake server, its scenario naming the cassette, streams the recorded events
    with llmfake.serve({"cassette": str(cas)}) as server:
        _, replayed = _openai_calls(server.openai_base_url)
        assert len(server.journal()) == 2
    assert replayed == live and len(live) >= 4


async def test_async_openai_streaming(tmp_path):
    cas = tmp_path / "async.yaml"

    async def run(base: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=base, api_key=SECRET, max_retries=0) as client:
            stream = await client.chat.completions.create(**_chat("async words here"),
                                                          stream=True)
            return [c.choices[0].delta.content or "" async for c in stream if c.choices]

    with llmfake.serve(ECHO) as provider:
        base = provider.openai_base_url
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas) as c:
            live = await run(base)
            assert len(c) == 1
    _no_secrets(cas)
    with llmfake.vcr.make_vcr().use_cassette(cas) as c:
        assert await run(base) == live
        assert c.play_count == 1
    assert "".join(live) == "async words here"


def test_anthropic_sdk_streaming(tmp_path):
    cas = tmp_path / "claude.yaml"

    def run(base: str) -> tuple[str, list[str]]:
        with anthropic.Anthropic(base_url=base, api_key=SECRET, max_retries=0) as client, \
                client.messages.stream(model="claude-sonnet-4-6", max_tokens=100,
                                       messages=[{"role": "user", "content": "claude talks"}]
                                       ) as s:
            types = [ev.type for ev in s]
            return s.get_final_text(), types

    with llmfake.serve(ECHO) as provider:
        base = provider.anthropic_base_url
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas):
            live = run(base)
    text = _no_secrets(cas)
    headers = yaml.safe_load(text)["interactions"][0]["request"]["headers"]
    creds = [v for k, v in headers.items() if k.lower() in ("x-api-key", "authorization")]
    assert creds and all(v == ["REDACTED"] for v in creds)  # anthropic 2.x sends a bearer
    with llmfake.vcr.make_vcr().use_cassette(cas) as c:
        assert run(base) == live
        assert c.play_count == 1
    assert live[0] == "claude talks"
    chunks = load(cas).interactions[0].response.chunks
    assert chunks is not None
    names = [ch.data.split("\n", 1)[0] for ch in chunks]
    assert names[0] == "event: message_start" and names[-1] == "event: message_stop"


# --- redaction ------------------------------------------------------------------------------


def test_echoed_secrets_are_scrubbed_everywhere(tmp_path):
    cas = tmp_path / "echo.yaml"
    gemini_key = "AIza-SECRET-gemini-987654"
    with llmfake.serve(ECHO) as provider, \
            llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas):
        r = httpx.post(f"{provider.openai_base_url}/chat/completions",
                       params={"key": gemini_key, "api-version": "2024-10-21"},
                       json=_chat(f"my key is {SECRET} and {gemini_key}"),
                       headers={**HEADERS, "x-api-key": "x-SECRET-anthropic",
                                "Cookie": f"session={COOKIE}"})
        assert SECRET in r.text  # the provider echoed it to the client: that is not ours
    text = _no_secrets(cas)
    [item] = yaml.safe_load(text)["interactions"]
    rq = item["request"]
    assert "key=REDACTED" in rq["uri"] and "api-version=2024-10-21" in rq["uri"]
    for name in ("authorization", "x-api-key", "cookie"):
        assert rq["headers"][name] == ["REDACTED"], name
    assert json.loads(rq["body"])["messages"][0]["content"] == \
        "my key is REDACTED and REDACTED"
    answer = item["llmfake"]["response"]["json"]["choices"][0]["message"]["content"]
    assert answer == "my key is REDACTED and REDACTED"


def test_extra_redaction_and_a_user_hook_cannot_turn_it_off(tmp_path):
    cas = tmp_path / "extra.yaml"

    def leak(response: dict[str, Any]) -> dict[str, Any]:
        response["headers"]["x-debug"] = [f"seen {SECRET}"]
        return response

    redactor = Redactor.create(extra_headers=["X-Team-Token"], body_patterns=[r"acct_\w+"])
    with llmfake.serve(ECHO) as provider, llmfake.vcr.make_vcr(
            record_mode="once", redactor=redactor, before_record_response=leak,
            filter_headers=[]).use_cassette(cas):
        httpx.post(f"{provider.openai_base_url}/chat/completions",
                   json=_chat("bill acct_12345 please"),
                   headers={**HEADERS, "X-Team-Token": "team-SECRET-77"})
    text = _no_secrets(cas)
    [item] = yaml.safe_load(text)["interactions"]
    assert item["request"]["headers"]["x-team-token"] == ["REDACTED"]
    assert item["request"]["headers"]["authorization"] == ["REDACTED"]  # filter_headers=[]
    assert item["response"]["headers"]["x-debug"] == ["seen REDACTED"]  # the hook's leak
    assert "acct_12345" not in text and "bill REDACTED please" in text


# --- matching -------------------------------------------------------------------------------


def test_body_matching_tells_requests_apart_and_ignores_volatile_fields(tmp_path):
    cas = tmp_path / "two.yaml"
    with llmfake.serve(ECHO) as provider:
        url = f"{provider.openai_base_url}/chat/completions"
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas) as c:
            for word in ("alpha", "beta"):
                httpx.post(url, json=_chat(word), headers=HEADERS)
            assert len(c) == 2

    def answer(r: httpx.Response) -> str:
        return str(r.json()["choices"][0]["message"]["content"])

    # Two POSTs to the same path: the body decides, whatever the order. `user` and `seed`
    # differ from the recording, and the keys come in another order.
    with llmfake.vcr.make_vcr().use_cassette(cas):
        beta = {"seed": 7, "user": "u-1", "messages": [{"content": "beta", "role": "user"}],
                "model": "gpt-4o"}
        assert answer(httpx.post(url, json=beta)) == "beta"
        assert answer(httpx.post(url, json=_chat("alpha", user="someone"))) == "alpha"
        with pytest.raises(CannotOverwriteExistingCassetteException) as info:
            httpx.post(url, json=_chat("gamma"))
    message = str(info.value)
    assert "llm_body" in message and '-      "content": "alpha"' in message
    assert '+      "content": "gamma"' in message

    # what vcrpy does without it: the first recording answers whichever comes first
    with vcr.VCR(record_mode="none", match_on=["method", "path"]).use_cassette(cas):
        assert answer(httpx.post(url, json=_chat("beta"))) == "alpha"


def test_a_file_upload_replays_though_its_boundary_differs(tmp_path):
    cas = tmp_path / "upload.yaml"

    def upload(base: str, data: bytes) -> str:
        client = openai.OpenAI(base_url=base, api_key=SECRET, max_retries=0)
        return client.files.create(file=("q.jsonl", data), purpose="batch").id

    with llmfake.serve({}) as provider:
        base = provider.openai_base_url
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas):
            live = upload(base, b'{"a": 1}')
    with llmfake.vcr.make_vcr().use_cassette(cas) as c:
        assert upload(base, b'{"a": 1}') == live  # the SDK drew another boundary
        assert c.play_count == 1
        with pytest.raises(CannotOverwriteExistingCassetteException) as info:
            upload(base, b'{"a": 2}')
    assert '+    "content": "{\\"a\\": 2}"' in str(info.value)  # a diff of the file contents
    extras = yaml.safe_load(cas.read_text())["interactions"][0]["llmfake"]
    assert extras["request"]["form"]["file"]["content"] == '{"a": 1}'  # readable


def test_body_matcher_ignore_is_configurable():
    def req(body: dict[str, Any]) -> Any:
        return vcr.request.Request("POST", "http://h/v1/chat/completions",
                                   json.dumps(body), {})

    default = llmfake.vcr.body_matcher()
    default(req({"a": 1, "user": "x", "metadata": {"k": 1}}), req({"a": 1}))
    with pytest.raises(AssertionError, match=r"ignoring metadata, seed, stream_options, user"):
        default(req({"a": 1, "temperature": 0.1}), req({"a": 1, "temperature": 0.9}))
    custom = llmfake.vcr.body_matcher(ignore={"temperature"})
    custom(req({"a": 1, "temperature": 0.1}), req({"a": 1, "temperature": 0.9}))
    with pytest.raises(AssertionError):
        custom(req({"a": 1, "user": "x"}), req({"a": 1}))
    default(vcr.request.Request("POST", "http://h/", b"not json", {}),
            vcr.request.Request("POST", "http://h/", "not json", {}))


# --- the format, with and without llmfake ---------------------------------------------------


def test_plain_vcrpy_replays_an_llmfake_cassette(tmp_path):
    cas = tmp_path / "plain.yaml"
    with llmfake.serve(ECHO) as provider:
        url = f"{provider.openai_base_url}/chat/completions"
        with llmfake.vcr.make_vcr(record_mode="once").use_cassette(cas):
            live = httpx.post(url, json=_chat("for vcrpy"), headers=HEADERS).json()
    assert "llmfake:" in cas.read_text()
    with vcr.VCR(record_mode="none", match_on=["method", "uri"]).use_cassette(cas) as c:
        replayed = httpx.post(url, json=_chat("for vcrpy")).json()
        assert c.play_count == 1
    assert replayed["id"] == live["id"]
    assert replayed["choices"][0]["message"]["content"] == "for vcrpy"


def test_reads_vcrpy_cassettes_and_keeps_proxy_timing_when_rewriting(tmp_path):
    cas = tmp_path / "mixed.yaml"
    slow = {"reply": {"text": "one two three four"},
            "latency": {"ttft": "40ms", "per_token": "5ms"}}
    with llmfake.serve(slow) as provider:
        url = f"{provider.openai_base_url}/chat/completions"
        with record(provider.url, cas) as proxy:  # llmfake's proxy measures every chunk
            httpx.post(f"{proxy.openai_base_url}/chat/completions",
                       json=_chat("timed", stream=True), headers=HEADERS)
        timed = load(cas).interactions[0].response.chunks
        assert timed is not None and timed[0].offset >= 0.035
        # vcrpy appends a new interaction and rewrites the whole file
        my_vcr = llmfake.vcr.make_vcr(record_mode="new_episodes", match_on=["method", "path",
                                                                           "llm_body"])
        with my_vcr.use_cassette(cas) as c:
            assert len(c) == 1
            httpx.post(url, json=_chat("untimed", stream=True), headers=HEADERS)
            assert len(c) == 2
    both = load(cas)
    assert [it.request.json["messages"][0]["content"] for it in both.interactions] == \
        ["timed", "untimed"]
    first, second = (it.response.chunks for it in both.interactions)
    assert first is not None and second is not None
    assert [(ch.offset, ch.data) for ch in first] == [(ch.offset, ch.data) for ch in timed]
    assert {ch.offset for ch in second} == {0.0}


def test_reads_a_cassette_vcrpy_wrote(tmp_path):
    cas = tmp_path / "old.yaml"
    with llmfake.serve(PLAIN_ECHO) as provider:  # plain vcrpy does not redact set-cookie
        url = f"{provider.openai_base_url}/chat/completions"
        with vcr.VCR(record_mode="once", filter_headers=["authorization"]).use_cassette(cas):
            live = httpx.post(url, json=_chat("old", stream=True), headers=HEADERS).text
    assert "llmfake:" not in cas.read_text()
    with llmfake.vcr.make_vcr().use_cassette(cas) as c:
        assert httpx.post(url, json=_chat("old", stream=True)).text == live
        assert c.play_count == 1


def test_serializer_round_trip_keeps_binary_bodies():
    data = {"version": 1, "interactions": [{
        "request": {"method": "POST", "uri": "http://h/v1/audio/speech",
                    "body": '{"input": "hi"}', "headers": {}},
        "response": {"status": {"code": 200, "message": "OK"},
                     "headers": {"content-type": ["audio/mpeg"]},
                     "body": {"string": b"\xff\xfb\x90\x00binary"}}}]}
    text = llmfake.vcr.serializer.serialize(data)
    back = llmfake.vcr.serializer.deserialize(text)
    assert back["interactions"][0]["response"]["body"]["string"] == b"\xff\xfb\x90\x00binary"
    assert "llmfake" not in back["interactions"][0]
    assert yaml.safe_load(text)["interactions"][0]["llmfake"]["request"]["json"] == \
        {"input": "hi"}


# --- configuration, imports ------------------------------------------------------------------


def test_vcr_config_leaves_record_mode_to_pytest_recording():
    config = llmfake.vcr.vcr_config()
    assert "record_mode" not in config
    assert config["match_on"] == list(llmfake.vcr.MATCH_ON)
    assert config["decode_compressed_response"] is True
    assert {name for name, _ in config["filter_headers"]} >= {
        "authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization",
        "openai-project", "cookie", "set-cookie"}
    assert [name for name, _ in config["filter_query_parameters"]] == ["key"]
    assert llmfake.vcr.vcr_config(record_mode="once")["record_mode"] == "once"
    assert llmfake.vcr.make_vcr().record_mode == "none"
    with pytest.raises(KeyError, match="llm_body"):  # the matcher needs register()
        with vcr.VCR(**config).use_cassette("unused.yaml"):
            pass


def test_public_names_sorted_and_documented():
    assert list(llmfake.vcr.__all__) == sorted(llmfake.vcr.__all__)
    for name in llmfake.vcr.__all__:
        value = getattr(llmfake.vcr, name)
        if callable(value):
            assert inspect.getdoc(value), name


def test_register_warns_when_vcrpy_cannot_patch_httpx2(monkeypatch):
    monkeypatch.delattr(vcr.patch.CassettePatcherBuilder, "_httpx2")
    with pytest.warns(RuntimeWarning, match=r'vcrpy>=8\.2'):
        llmfake.vcr.register(vcr.VCR())


def test_import_llmfake_does_not_import_vcrpy():
    code = "import sys, llmfake, llmfake.record; print('vcr' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_import_without_vcrpy_says_how_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "llmfake.vcr")
    monkeypatch.setitem(sys.modules, "vcr", None)  # as if vcrpy were not installed
    with pytest.raises(ImportError, match="pip install vcrpy"):
        importlib.import_module("llmfake.vcr")


# --- pytest-recording, with the conftest snippet of docs/vcr.md -------------------------------


def _docs_blocks() -> list[str]:
    return re.findall(r"^```py\n(.*?)^```", DOCS.read_text(encoding="utf-8"),
                      re.MULTILINE | re.DOTALL)


def test_pytest_recording_with_the_documented_conftest(pytester, monkeypatch):
    pytest.importorskip("pytest_recording")
    conftest, tests = _docs_blocks()
    assert "def pytest_recording_configure(config, vcr):" in conftest
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_docs_vcr=tests)
    pytester.makeini(textwrap.dedent("""\
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """))
    args = ("-p", "no:cacheprovider", "-p", "no:llmfake")
    with llmfake.serve(PLAIN_ECHO) as provider:
        monkeypatch.setenv("OPENAI_BASE_URL", provider.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        first = pytester.runpytest_subprocess(*args, "--record-mode=once", timeout=120)
        first.assert_outcomes(passed=2)
    cassettes = sorted((pytester.path / "cassettes" / "test_docs_vcr").glob("*.yaml"))
    assert [p.name for p in cassettes] == ["test_a_short_answer.yaml",
                                           "test_a_streamed_answer.yaml"]
    for p in cassettes:
        _no_secrets(p)
    streamed = load(cassettes[1]).interactions[0]
    assert streamed.request.json["messages"][0]["content"] == "Count to three"
    chunks = streamed.response.chunks
    assert chunks is not None and len(chunks) >= 4 and chunks[-1].data == "data: [DONE]\n\n"
    assert "llmfake:" in cassettes[0].read_text(encoding="utf-8")

    # the provider is gone and so is the key; network blocked: the cassettes answer
    monkeypatch.delenv("OPENAI_API_KEY")
    second = pytester.runpytest_subprocess(*args, "--block-network", timeout=120)
    second.assert_outcomes(passed=2)

    # a request the cassette does not hold fails in replay, with the body diff
    pytester.makepyfile(test_docs_vcr=tests.replace('"Say hello"', '"Say goodbye"'))
    third = pytester.runpytest_subprocess(*args, "--block-network", timeout=120)
    third.assert_outcomes(passed=1, failed=1)
    third.stdout.fnmatch_lines(["*llm_body*"])

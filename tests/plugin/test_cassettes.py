"""``@pytest.mark.llmfake(cassette=...)`` and ``--llmfake-record=MODE``: record a test's calls
once from a "real" provider (here an upstream llmfake), then run it offline with no key."""

from __future__ import annotations

import gc
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmfake
from llmfake.record import load
from llmfake.server import Server

SECRET = "sk-live-SECRET-0123456789abcdef"

CHAT_TEST = """
import openai
import pytest

@pytest.mark.llmfake(cassette=True)
def test_chat(llmfake):
    client = openai.OpenAI(max_retries=0)
    out = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "recorded words here"
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "stream"}], stream=True)
        if c.choices]
    assert "".join(pieces) == "recorded words here"
    print("RECORDING" if llmfake.recording else "REPLAYING",
          [e.outcome for e in llmfake.journal])
    client.close()
"""


@pytest.fixture
def upstream() -> Iterator[Server]:
    """The stand-in for the real provider, with a reply the tests recognise; it takes only
    the real key, so a recording that did not pass the session's key on fails."""
    with llmfake.serve({"reply": "recorded words here", "auth": {"keys": [SECRET]},
                        "latency": {"ttft": "20ms", "per_token": "5ms"}}) as server:
        yield server


def _run(inner: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner run, after collecting the clients earlier runs' tests left open (the docs'
    examples leave theirs to the collector), so their ResourceWarning cannot land in it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    return inner.run(*args)


def _cassette(inner: pytest.Pytester, test: str = "test_chat") -> Path:
    return inner.path / "cassettes" / "test_chat_module" / f"{test}.yaml"


def test_record_once_then_replay_offline_with_no_key(inner, upstream, monkeypatch):
    inner.makepyfile(test_chat_module=CHAT_TEST)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    result = _run(inner, "-s", "--llmfake-record=once", f"--llmfake-upstream=openai={upstream.url}")
    result.assert_outcomes(passed=1)
    # The recording proxy journals what went through it: the test's journal sees it.
    assert "RECORDING ['reply', 'reply']" in result.stdout.str()
    assert [e.path for e in upstream.journal()] == ["/v1/chat/completions"] * 2
    cas = _cassette(inner)
    text = cas.read_text()
    assert "SECRET" not in text
    assert len(load(cas)) == 2
    assert load(cas).interactions[1].response.is_stream

    upstream.journal().clear()
    monkeypatch.delenv("OPENAI_API_KEY")
    result = _run(inner, "-s")  # --llmfake-record=none: replay only
    result.assert_outcomes(passed=1)
    assert "REPLAYING ['replay', 'replay']" in result.stdout.str()
    assert len(upstream.journal()) == 0  # offline: nothing reached the "real" provider


def test_once_replays_an_existing_cassette(inner, upstream, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    inner.makepyfile(test_chat_module=CHAT_TEST)
    _run(inner, f"--llmfake-upstream=openai={upstream.url}", "--llmfake-record=once"
              ).assert_outcomes(passed=1)
    upstream.journal().clear()
    result = _run(inner, "-s", "--llmfake-record=once", f"--llmfake-upstream=openai={upstream.url}")
    result.assert_outcomes(passed=1)
    assert "REPLAYING" in result.stdout.str()
    assert len(upstream.journal()) == 0


def test_a_missing_cassette_fails_with_how_to_record_it(inner):
    inner.makepyfile(test_chat_module=CHAT_TEST)
    result = _run(inner, )
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "test_chat.yaml does not exist" in out
    assert "--llmfake-record=once" in out


def test_new_episodes_records_only_what_is_missing(inner, upstream, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    inner.makepyfile(test_chat_module=CHAT_TEST)
    flags = (f"--llmfake-upstream=openai={upstream.url}",)
    _run(inner, *flags, "--llmfake-record=once").assert_outcomes(passed=1)
    cas = _cassette(inner)
    first = load(cas)
    inner.makepyfile(test_chat_module=CHAT_TEST.replace(
        'print("RECORDING"', 'client.embeddings.create(model="text-embedding-3-small", '
        'input="new", encoding_format="float")\n    print("RECORDING"'))
    upstream.journal().clear()
    _run(inner, *flags, "--llmfake-record=new_episodes").assert_outcomes(passed=1)
    assert [e.endpoint for e in upstream.journal()] == ["embeddings"]  # the rest from the file
    again = load(cas)
    assert len(again) == len(first) + 1
    assert again.interactions[-1].request.path == "/v1/embeddings"

    _run(inner, *flags, "--llmfake-record=all").assert_outcomes(passed=1)
    assert len(load(cas)) == 2 * len(again)  # all: recorded again, appended
    _run(inner, *flags, "--llmfake-record=rewrite").assert_outcomes(passed=1)
    assert len(load(cas)) == len(again)  # rewrite: from scratch


def test_unmatched_request_fails_the_test_with_the_nearest_and_diff(inner, upstream,
                                                                    monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    inner.makepyfile(test_chat_module=CHAT_TEST)
    _run(inner, f"--llmfake-upstream=openai={upstream.url}", "--llmfake-record=once"
              ).assert_outcomes(passed=1)
    inner.makepyfile(test_chat_module=CHAT_TEST.replace('"content": "hi"', '"content": "bye"'))
    result = _run(inner, )
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "no recorded interaction for POST /v1/chat/completions" in out
    assert '-      "content": "hi"' in out and '+      "content": "bye"' in out


def test_scenario_faults_overlay_the_replay(inner, upstream, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    inner.makepyfile(test_chat_module=CHAT_TEST)
    _run(inner, f"--llmfake-upstream=openai={upstream.url}", "--llmfake-record=once"
              ).assert_outcomes(passed=1)
    inner.makepyfile(test_overlay="""
        import openai
        import pytest

        @pytest.mark.llmfake(cassette="cassettes/test_chat_module/test_chat.yaml",
                             scenario={"time_scale": 0.01})
        def test_retry_then_recorded(llmfake):
            llmfake.script(llmfake.error("rate_limit", retry_after="1s"), llmfake.reply())
            client = openai.OpenAI(max_retries=1)
            out = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert out.choices[0].message.content == "recorded words here"
            assert [e.outcome for e in llmfake.journal] == ["error rate_limit", "replay"]
            llmfake.journal.assert_honoured_retry_after()
    """)
    monkeypatch.delenv("OPENAI_API_KEY")
    _run(inner, ).assert_outcomes(passed=2)


@pytest.mark.parametrize(("args", "needle"), [
    (("--llmfake-record=sometimes",), "--llmfake-record: unknown mode 'sometimes'"),
    (("--llmfake-record=new-episodes",), "did you mean 'new_episodes'"),
    (("--llmfake-upstream=openai",), "expected NAME=URL"),
    (("--llmfake-upstream=nobody=http://x",), "expected NAME=URL"),
])
def test_bad_record_options_are_usage_errors(inner, args, needle):
    inner.makepyfile(test_chat_module=CHAT_TEST)
    result = _run(inner, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert needle in result.stderr.str()


def test_a_bad_cassette_marker_value_is_a_usage_error(inner):
    inner.makepyfile("""
        import pytest

        @pytest.mark.llmfake(cassette={"path": "x.yaml", "speed": 2})
        def test_x(llmfake):
            pass
    """)
    result = _run(inner, )
    result.assert_outcomes(errors=1)
    assert "unknown key(s) ['speed']" in result.stdout.str()


def test_the_record_guide_example_records_once_then_replays(inner, upstream, monkeypatch):
    page = (Path(__file__).resolve().parents[2] / "docs" / "record.md").read_text()
    found = re.search(r'^```py title="tests/test_summary.py"\n(.*?)^```', page,
                      re.MULTILINE | re.DOTALL)
    assert found, "docs/record.md lost its pytest example"
    inner.makepyfile(test_summary=found.group(1))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    _run(inner, "--llmfake-record=once", f"--llmfake-upstream=openai={upstream.url}"
              ).assert_outcomes(passed=1)
    assert (inner.path / "cassettes" / "test_summary" / "test_summary.yaml").is_file()
    monkeypatch.delenv("OPENAI_API_KEY")
    upstream.journal().clear()
    _run(inner, ).assert_outcomes(passed=1)
    assert len(upstream.journal()) == 0


def test_intercept_replays_but_refuses_to_record(inner, upstream, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    inner.makepyfile(test_chat_module=CHAT_TEST)
    _run(inner, f"--llmfake-upstream=openai={upstream.url}", "--llmfake-record=once"
              ).assert_outcomes(passed=1)
    inner.makepyfile(test_hardcoded="""
        import httpx
        import pytest

        @pytest.mark.llmfake(intercept=True,
                             cassette="cassettes/test_chat_module/test_chat.yaml")
        def test_hard_coded_url(llmfake):
            r = httpx.post("https://api.openai.com/v1/chat/completions",
                           json={"model": "gpt-4o",
                                 "messages": [{"role": "user", "content": "hi"}]},
                           headers={"authorization": "Bearer x"})
            assert r.json()["choices"][0]["message"]["content"] == "recorded words here"
    """)
    _run(inner, "test_hardcoded.py").assert_outcomes(passed=1)
    result = _run(inner, "test_hardcoded.py", "--llmfake-record=all")
    result.assert_outcomes(errors=1)
    assert "cannot record them" in result.stdout.str()


BATCH_TEST = """
import io
import time

import openai
import pytest

@pytest.mark.llmfake(cassette=True)
def test_chat(llmfake):
    client = openai.OpenAI(max_retries=0)
    upload = client.files.create(file=("q.jsonl", io.BytesIO(LINE)), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    statuses = [batch.status]
    while batch.status != "completed":
        time.sleep(0.01)
        batch = client.batches.retrieve(batch.id)
        statuses.append(batch.status)
    output = client.files.content(batch.output_file_id).text
    assert "recorded words here" in output
    print("RECORDING" if llmfake.recording else "REPLAYING", batch.id, statuses)
    client.close()
"""


def test_a_batch_records_once_then_replays_offline(inner, monkeypatch):
    line = (b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
            b'"body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}}')
    inner.makepyfile(test_chat_module=f"LINE = {line!r}\n" + BATCH_TEST)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with llmfake.serve({"reply": "recorded words here", "auth": {"keys": [SECRET]},
                        "time_scale": 0.1}) as upstream:
        result = _run(inner, "-s", "--llmfake-record=once",
                      f"--llmfake-upstream=openai={upstream.url}")
        result.assert_outcomes(passed=1)
        recorded = re.search(r"RECORDING (batch_\w+ \[.*\])", result.stdout.str())
        assert recorded is not None and "['validating', " in recorded.group(1)
        assert "SECRET" not in _cassette(inner).read_text()
        upstream.journal().clear()
        monkeypatch.delenv("OPENAI_API_KEY")
        result = _run(inner, "-s")  # replay only, offline
        result.assert_outcomes(passed=1)
        assert f"REPLAYING {recorded.group(1)}" in result.stdout.str()
        assert len(upstream.journal()) == 0

"""The command line says what happened, in words that do not mislead: the request log carries
the model, the stream, chunks, the retry and the Retry-After; ``llmfake record`` prints each
interaction; an unmatched replay, an unnamed scenario and a short Retry-After read as what they
are. Each runs the real ``llmfake`` in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

import llmfake
from llmfake.record import record

CLI = [sys.executable, "-m", "llmfake"]
USER = [{"role": "user", "content": "hi"}]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def started():
    """Start ``llmfake ARGS``; yield (process, the banner's URL)."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, url_from: str = "stdout") -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        stream = proc.stdout if url_from == "stdout" else proc.stderr
        assert stream is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = stream.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if found:
                if url_from == "stdout":
                    while stream.readline() != "\n":  # the banner ends with a blank line
                        pass
                return proc, found.group(1)
            assert line, "llmfake exited: " + (proc.stderr.read() if proc.stderr else "")
        raise AssertionError("no URL printed")

    yield start
    for proc in procs:
        proc.kill()
        proc.communicate(timeout=10)


def test_help_names_every_provider():
    out = run("--help").stdout
    assert "OpenAI wire format" not in out
    for name in ("OpenAI", "Anthropic", "Gemini", "Azure OpenAI", "Ollama"):
        assert name in out


def test_validate_counts_rules_in_words_and_an_unnamed_scenario_is_unnamed(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text("rules:\n  - reply: ok\n")
    two = tmp_path / "two.yaml"
    two.write_text("name: pair\nrules:\n  - reply: a\n  - reply: b\n")
    # An unnamed scenario is "unnamed", not "default" (the name of a built-in).
    assert run("validate", str(one)).stdout == f"{one}: ok (unnamed, 1 rule)\n"
    assert run("validate", str(two)).stdout == f"{two}: ok (pair, 2 rules)\n"


def test_the_request_log_says_model_stream_chunks_retry_and_retry_after(started, tmp_path):
    scenario = tmp_path / "retry.yaml"
    scenario.write_text("rules:\n  - script:\n      - {error: rate_limit, retry_after: 50ms}\n"
                        "      - {reply: one two three}\n")
    proc, url = started("serve", "--port", "0", "--scenario", str(scenario))
    with openai.OpenAI(base_url=url + "/v1", api_key="sk-x", max_retries=1) as client:
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True) if c.choices)
    assert text == "one two three"
    assert proc.stdout is not None
    failed, retried = proc.stdout.readline(), proc.stdout.readline()
    assert re.search(r"POST /v1/chat/completions 429 error rate_limit \[rule 0 step 0\] \d+ms "
                     r"model=gpt-4o-mini stream chunks=0 retry-after=50ms$", failed), failed
    assert re.search(r"POST /v1/chat/completions 200 reply \[rule 0 step 1\] \d+ms "
                     r"model=gpt-4o-mini stream chunks=\d+ retry=1$", retried), retried


def test_no_exchange_lasts_less_than_nothing(started):
    # uvloop's loop.time() is the arrival stamp's clock cut to whole milliseconds at the start of
    # the loop's turn: a duration measured on it from the stamp came out "-0ms" now and then.
    _, url = started("serve", "--port", "0", "--loop", "uvloop", "--quiet")
    with httpx.Client(base_url=url) as http:
        for _ in range(200):
            http.post("/v1/chat/completions", json={"model": "m", "messages": USER})
        journal = http.get("/_llmfake/journal").json()
    assert len(journal) == 200
    assert min(e["duration"] for e in journal) >= 0


def test_a_429_body_names_the_wait_it_was_given():
    with llmfake.serve({"rules": [{"error": "rate_limit", "retry_after": "50ms"}]}) as server:
        body = httpx.post(server.openai_base_url + "/chat/completions",
                          json={"model": "gpt-4o", "messages": USER}).json()
    assert "Please try again in 50ms." in body["error"]["message"]


def test_an_unmatched_replay_logs_as_such(started, tmp_path):
    cassette = tmp_path / "c.yaml"
    with llmfake.serve({"reply": "recorded"}) as upstream, \
            record(upstream.url, cassette) as proxy:
        httpx.post(proxy.url + "/v1/chat/completions",
                   json={"model": "gpt-4o", "messages": USER})
    proc, url = started("replay", str(cassette), "--port", "0")
    other = [{"role": "user", "content": "something not recorded"}]
    response = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": other})
    assert response.status_code == 500
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert " 500 no recording matched [cassette unmatched] " in line, line
    assert "server_error" not in line


def test_record_prints_each_interaction(started, tmp_path):
    cassette = tmp_path / "c.yaml"
    with llmfake.serve({"rules": [{"error": "rate_limit", "retry_after": "2s"}]}) as upstream:
        proc, url = started("record", "--upstream", upstream.url, "--cassette", str(cassette),
                            url_from="stderr")
        with openai.OpenAI(base_url=url + "/v1", api_key="sk-x", max_retries=0) as client, \
                pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        assert proc.stdout is not None
        line = proc.stdout.readline()
    assert re.search(r"POST /v1/chat/completions 429 error 429 \[recorded\] \d+ms model=gpt-4o "
                     r"retry-after=2s -> .*c\.yaml #1$", line), line
    assert Path(cassette).exists()

"""The pytest plugin's ``--llmfake-state``: the session's server keeps its state in Redis."""

from __future__ import annotations

import pytest

INNER = """
import re

import httpx
import openai


def test_state_in_redis(llmfake, llmfake_server):
    assert llmfake_server.state == {url!r}
    # Unique beyond this process: other processes share the Redis.
    assert re.fullmatch(r"t-test_state_in_redis-0-[0-9a-f]{{6}}", llmfake.tenant)
    llmfake.script(llmfake.error("server_error"), llmfake.reply("ok"))
    client = openai.OpenAI(max_retries=1)
    reply = client.chat.completions.create(model="m", messages=[{{"role": "user",
                                                                    "content": "hi"}}])
    assert reply.choices[0].message.content == "ok"
    assert llmfake.journal.attempts() == [2]
    # The shared journal (the control API) holds the same two exchanges.
    shared = httpx.get(llmfake.url + "/_llmfake/journal").json()
    assert [e["status"] for e in shared] == [500, 200]
"""


def test_the_session_server_keeps_its_state_in_redis(pytester: pytest.Pytester,
                                                     redis_url: str) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "filterwarnings =\n    error\n")
    pytester.makepyfile(INNER.format(url=redis_url))
    result = pytester.runpytest_subprocess("-p", "llmfake", "-p", "no:cacheprovider",
                                           "--llmfake-state", redis_url, timeout=120)
    result.assert_outcomes(passed=1)


def test_a_bad_state_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "llmfake", "--llmfake-state", "mongodb://x",
                                           timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmfake-state*redis://127.0.0.1:6379/0*"])

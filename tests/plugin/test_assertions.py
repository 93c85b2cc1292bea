"""The resilience assertions on hand-made journals: each passes when it should and fails with a
message that shows the timeline and says what to do."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from llmfake._assertions import TIMELINE_ROWS, describe_step
from llmfake.journal import Exchange, Journal
from llmfake.scenario import scenario_from_dict

TIMELINE_HEAD = re.compile(r"#\s+time\s+req\s+attempt\s+response\s+retry-after\s+gap\s+request")


def journal(*rows: tuple[float, int, int], key: str = "k", retry_after: float | None = None,
            outcome: str | None = None) -> Journal:
    """A journal of exchanges (start, status, attempt), 10 ms each, all with body ``key``."""
    j = Journal()
    for seq, (start, status, attempt) in enumerate(rows):
        j.add(Exchange(seq=seq, tenant="t", method="POST", path="/v1/chat/completions",
                       model="gpt-4o", status=status, completed=status != 0,
                       started=start, ended=start + 0.01, attempt=attempt,
                       retry_after=retry_after if status >= 400 else None,
                       outcome=outcome or ("reply" if status == 200 else "error rate_limit"),
                       body_key=key))
    return j


def failure(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(AssertionError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    message = str(info.value)
    assert TIMELINE_HEAD.search(message), message
    assert "to fix: " in message
    return message


FAIL_TWICE = ((0.0, 429, 0), (0.51, 429, 1), (1.52, 200, 2))


def test_assert_attempts_passes_and_fails_both_ways():
    j = journal(*FAIL_TWICE)
    j.assert_attempts(3)
    j.assert_attempts([3])
    less = failure(j.assert_attempts, 4)
    assert "expected one request in 4 attempts, got one request in 3 attempts" in less
    assert "retried less than expected" in less and "max_retries" in less
    more = failure(j.assert_attempts, 2)
    assert "retried more than expected" in more
    several = failure(j.assert_attempts, [3, 1])
    assert "expected attempts [3, 1]" in several and "pass a list" in several
    with pytest.raises(AssertionError) as info:
        Journal().assert_attempts(1)
    nothing = str(info.value)
    assert "got no requests" in nothing and "OPENAI_BASE_URL" in nothing
    assert "requests:\n(no requests)" in nothing


def test_assert_attempts_with_filters_and_several_requests():
    j = journal(*FAIL_TWICE)
    for e in journal((2.0, 200, 0), key="other"):
        e.seq, e.model = 3, "gpt-4o-mini"
        j.add(e)
    j.assert_attempts([3, 1])
    j.assert_attempts(1, model="gpt-4o-mini")
    message = failure(j.assert_attempts, 3)
    assert "got 2 requests with attempts [3, 1]" in message
    scoped = failure(j.assert_attempts, 2, model="gpt-4o-mini")
    assert "requests (model='gpt-4o-mini'):" in scoped


def test_the_timeline_shows_time_attempt_status_retry_after_and_gap():
    j = journal((0.0, 429, 0), (1.2, 200, 1), retry_after=1.0)
    lines = j.timeline().splitlines()
    assert TIMELINE_HEAD.search(lines[0])
    assert re.search(r"^\s+0\s+\+0\.000s\s+1\s+0\s+429 error rate_limit\s+1\.000s\s+-\s+"
                     r"POST /v1/chat/completions gpt-4o$", lines[1]), lines[1]
    assert re.search(r"^\s+1\s+\+1\.200s\s+1\s+1\s+200 reply\s+-\s+1\.190s", lines[2]), lines[2]


def test_the_timeline_shows_faults_and_elides_long_journals():
    j = journal((0.0, 0, 0), outcome="fault reset")
    assert "--- fault reset" in j.timeline()
    streamed = journal((0.0, 200, 0), outcome="fault disconnect")
    streamed[0].stream, streamed[0].chunks = True, 3
    assert "200 fault disconnect after 3 chunks" in streamed.timeline()
    long = journal(*((i * 1.0, 200, 0) for i in range(TIMELINE_ROWS + 10)))
    text = long.timeline()
    assert "... 10 more ..." in text
    assert len(text.splitlines()) == TIMELINE_ROWS + 2


def test_assert_gave_up_after():
    j = journal((0.0, 429, 0), (0.5, 429, 1), (1.5, 429, 2))
    j.assert_gave_up_after(3)
    fewer = failure(j.assert_gave_up_after, 4)
    assert "give up after 4 attempts, it gave up after 3" in fewer
    assert "max_retries + 1" in fewer
    succeeded = failure(journal(*FAIL_TWICE).assert_gave_up_after, 3)
    assert "attempt 3 succeeded" in succeeded and "then='last'" in succeeded
    two = failure(journal((0.0, 500, 0), (1.0, 500, 0)).assert_gave_up_after, 1,
                  attempts_by="header")
    assert "got 2 requests" in two and "filter with keywords" in two


def test_assert_honoured_retry_after():
    journal((0.0, 429, 0), (1.02, 200, 1), retry_after=1.0).assert_honoured_retry_after()
    # Within the tolerance: 5 ms early is allowed with tolerance=0.01.
    journal((0.0, 429, 0), (1.005, 200, 1), retry_after=1.0).assert_honoured_retry_after()
    early = journal((0.0, 429, 0), (0.31, 200, 1), retry_after=1.0)
    message = failure(early.assert_honoured_retry_after)
    assert "attempt 1 (#1) came 0.300s after #0 said Retry-After 1.000s: 0.700s too early" \
        in message
    assert "retry-after-ms" in message
    early.assert_honoured_retry_after(tolerance=0.8)
    nothing = failure(journal(*FAIL_TWICE).assert_honoured_retry_after)
    assert "no retry followed a response with a Retry-After" in nothing
    assert "retry_after='1s'" in nothing


def test_assert_backoff():
    journal((0.0, 500, 0), (0.51, 500, 1), (1.52, 500, 2), (3.53, 200, 3)).assert_backoff()
    flat = journal((0.0, 500, 0), (0.51, 500, 1), (1.02, 200, 2))
    message = failure(flat.assert_backoff)
    assert "backoff did not grow by x1.2 per retry" in message
    assert "attempt 2 (#2) waited 0.500s after 0.500s: x1.00" in message
    flat.assert_backoff(min_factor=0.9)
    failure(journal((0.0, 500, 0), (0.51, 500, 1), (1.52, 200, 2)).assert_backoff,
            min_factor=2.5)
    # Waits after a Retry-After are the server's choice: left out, leaving nothing to check.
    told = journal((0.0, 429, 0), (1.01, 429, 1), (2.02, 200, 2), retry_after=1.0)
    nothing = failure(told.assert_backoff)
    assert "no request had two backoff waits in a row" in nothing


def test_assert_no_retry_storm():
    calm = journal(*((i * 0.5, 500, i) for i in range(6)))
    calm.assert_no_retry_storm()
    storm = journal(*((100 + i * 0.01, 500, i) for i in range(12)))  # times as the server's
    message = failure(storm.assert_no_retry_storm)
    assert "retry storm: 11 retries within 1s from +0.010s" in message
    assert "max_rate=5/s" in message and "backoff" in message
    storm.assert_no_retry_storm(max_rate=20)
    failure(calm.assert_no_retry_storm, max_rate=1, window=2.0)


def test_assert_all_consumed_needs_the_tenant_state():
    scenario = scenario_from_dict({"rules": [
        {"name": "retry", "script": [{"error": "rate_limit", "retry_after": "1s"},
                                     {"fault": "reset"}, {"reply": "ok"}]},
        {"match": {"model": "x"}, "reply": "plain"}]})
    j = journal((0.0, 429, 0))
    with pytest.raises(AssertionError, match=r"journal.attach\(server.tenant\(name\)\)"):
        j.assert_all_consumed()
    state = SimpleNamespace(scenario=scenario, script_pos={0: 1})
    j.attach(state)
    message = failure(j.assert_all_consumed)
    assert ("rule 0 (retry) used 1 of 3 steps; never used: step 1: fault reset, "
            "step 2: reply 'ok'") in message
    assert "raise its max_retries, or shorten the script" in message
    state.script_pos[0] = 5  # then: last repeats the last step
    j.assert_all_consumed()


def test_describe_step():
    sc = scenario_from_dict({"rules": [{"script": [
        {"error": "rate_limit", "retry_after": "2s"}, {"error": 500}, {"reply": "x" * 40},
        {"reply": {"echo": True}}]}]})
    assert [describe_step(s) for s in sc.rules[0].script] == [
        "error rate_limit (retry_after 2s)", "error server_error",
        "reply 'xxxxxxxxxxxxxxxxxxxxxxxxxxx...'", "reply"]


def test_the_assertions_against_the_official_sdk(inner):
    inner.makepyfile("""
        import httpx
        import openai
        import pytest

        USER = [{"role": "user", "content": "hi"}]

        def test_gave_up_and_honoured_retry_after(llmfake):
            llmfake.script(llmfake.error("rate_limit", retry_after="20ms"))  # then: last
            with openai.OpenAI(max_retries=2) as client, pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model="gpt-4o", messages=USER)
            llmfake.journal.assert_gave_up_after(3)
            llmfake.journal.assert_attempts(3)
            llmfake.journal.assert_honoured_retry_after()
            llmfake.journal.assert_no_retry_storm()
            llmfake.journal.assert_all_consumed()
            # The journal is a sequence of exchanges, for custom checks.
            assert [e.attempt for e in llmfake.journal] == [0, 1, 2]
            assert llmfake.journal[0].body["messages"] == USER
            assert llmfake.journal[-1].headers["x-stainless-retry-count"] == "2"

        def test_the_sdk_backs_off_exponentially(llmfake):
            llmfake.script(llmfake.error(500), llmfake.error(500), llmfake.reply("ok"))
            with openai.OpenAI(max_retries=2) as client:
                client.chat.completions.create(model="gpt-4o", messages=USER)
            llmfake.journal.assert_backoff(min_factor=1.2)

        def test_a_naive_retry_loop_is_caught(llmfake):
            llmfake.script(llmfake.error("rate_limit", retry_after="1s"), then="last")
            body = {"model": "gpt-4o", "messages": USER}
            with httpx.Client() as http:
                for _ in range(8):
                    if http.post(llmfake.openai_base_url + "/chat/completions",
                                 json=body).status_code != 429:
                        break
            with pytest.raises(AssertionError, match="retry storm: 7 retries within 1s"):
                llmfake.journal.assert_no_retry_storm()
            with pytest.raises(AssertionError, match="too early"):
                llmfake.journal.assert_honoured_retry_after()
    """)
    inner.run().assert_outcomes(passed=3)


def test_a_subprocess_with_client_env_talks_to_its_own_tests_tenant(inner):
    child = ("import openai; c = openai.OpenAI(); print(c.chat.completions.create("
             "model='gpt-4o', messages=[{'role': 'user', 'content': 'hi'}])"
             ".choices[0].message.content)")
    inner.makepyfile(f"""
        import os
        import subprocess
        import sys

        import pytest

        CHILD = {child!r}

        @pytest.mark.parametrize("n", [1, 2])
        def test_child(llmfake, n):
            llmfake.script(llmfake.reply(f"for test {{n}}"))
            env = {{k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}}
            out = subprocess.run([sys.executable, "-c", CHILD],
                                 env={{**env, **llmfake.client_env}},
                                 capture_output=True, text=True, check=True).stdout
            assert out.strip() == f"for test {{n}}"
            (exchange,) = llmfake.journal
            assert exchange.tenant == llmfake.tenant
            assert exchange.headers["user-agent"].startswith("OpenAI/Python")
    """)
    inner.run().assert_outcomes(passed=2)

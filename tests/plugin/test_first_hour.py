"""What cost a new user time in their first hour, each fixed and kept fixed: the same test
body recording and replaying, failing tests that say what the fake saw, unmatched requests
that fail the test, and an app's own retries counted as attempts."""

from __future__ import annotations

import gc
import warnings

import pytest

import llmfake

RECORDED_TEST = """
import openai
import pytest

@pytest.mark.llmfake(cassette=True)
def test_summary(llmfake):
    llmfake.script(llmfake.error("rate_limit", retry_after="10ms"), llmfake.reply("ok"))
    with openai.OpenAI(max_retries=2) as client:
        reply = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "ok"
    assert llmfake.journal[-1].status == 200
    assert llmfake.journal[-1].model == "gpt-4o"
    llmfake.journal.assert_all_consumed()
    print("STATUSES", llmfake.recording, [e.status for e in llmfake.journal])
"""


def _run(inner: pytest.Pytester, *args: str) -> pytest.RunResult:
    with warnings.catch_warnings():  # clients earlier inner runs left to the collector
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    return inner.run(*args)


def test_one_test_body_records_and_replays(inner, monkeypatch):
    inner.makepyfile(test_recorded=RECORDED_TEST)
    with llmfake.serve({"reply": "ok"}) as upstream:
        recording = _run(inner, "-s", "--llmfake-record=once",
                         f"--llmfake-upstream=openai={upstream.url}")
        # The real API answered through the proxy: the journal holds that exchange, the
        # script stood down and the unused-steps check with it.
        recording.assert_outcomes(passed=1)
        assert "STATUSES True [200]" in recording.stdout.str()
        assert len(upstream.journal()) == 1
        upstream.journal().clear()
        replaying = _run(inner, "-s")
        replaying.assert_outcomes(passed=1)
        assert "STATUSES False [429, 200]" in replaying.stdout.str()  # the script applies
        assert len(upstream.journal()) == 0


def test_a_failing_test_shows_what_the_fake_saw(inner):
    inner.makepyfile("""
        import openai

        def summarise():
            with openai.OpenAI() as client:
                return client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Summarise"}]
                ).choices[0].message.content

        def test_wrong_model(llmfake):
            llmfake.use({"rules": [
                {"match": {"model": "gpt-4o"}, "reply": "A short summary."},
                {"match": {"model": "o1"}, "script": [{"reply": "a"}, {"reply": "b"}]}]})
            llmfake.script("first", "second", match={"model": "o3", "contains": "weather"})
            assert summarise() == "A short summary."

        def test_passes_with_nothing_to_say(llmfake):
            assert True
    """)
    result = _run(inner)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*- llmfake: what the fake saw -*",
        "tenant t-test_wrong_model-*: 1 request(s)",
        "*0*+0.000s*1*0*200 reply*POST /v1/chat/completions gpt-4o-mini",
        "(attempts: an identical request within 60s of a failure is a retry*",
        "answered by the scenario's defaults, no rule matched:",
        "  #0 POST /v1/chat/completions model=gpt-4o-mini 'Summarise'",
        "      nearest: rule 1: model 'gpt-4o-mini' does not match 'gpt-4o'",
        "scripted steps never used (the client made fewer requests):",
        "  rule 0 (llmfake.script()) used 0 of 2 steps; never used: step 0: reply 'first', "
        "step 1: reply 'second'",
        "  rule 2 used 0 of 2 steps; never used: step 0: reply 'a', step 1: reply 'b'",
    ])
    assert result.stdout.str().count("what the fake saw") == 1  # the failed test's alone


def test_a_request_no_rule_matched_fails_the_test_with_the_nearest_rule(inner):
    inner.makepyfile("""
        import httpx
        import pytest

        RULES = [{"match": {"model": "gpt-4o", "endpoint": "chat"}, "reply": "summary"},
                 {"match": {"contains": "weather"}, "reply": "sunny"}]

        def ask(fake, model):
            body = {"model": model, "messages": [{"role": "user", "content": "Summarise"}]}
            return httpx.post(fake.openai_base_url + "/chat/completions", json=body).json()

        def test_misspelt_model(llmfake):
            llmfake.use({"rules": RULES})
            ask(llmfake, "gpt-4o-mini")

        @pytest.mark.llmfake(strict=False)
        def test_opted_out(llmfake):
            llmfake.use({"rules": RULES})
            ask(llmfake, "gpt-4o-mini")

        def test_the_scenario_means_its_defaults(llmfake):
            llmfake.use({"reply": "anything else", "rules": RULES})
            ask(llmfake, "gpt-4o-mini")

        def test_no_rules_of_its_own(llmfake):
            ask(llmfake, "gpt-4o-mini")
    """)
    result = _run(inner)
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_misspelt_model*",
        "llmfake (tenant t-test_misspelt_model-*): the test's rules match only some requests, "
        "and 1 request(s) matched no rule or script (the defaults answered):",
        "  #0 POST /v1/chat/completions model=gpt-4o-mini 'Summarise'",
        "      nearest: rule 0: model 'gpt-4o-mini' does not match 'gpt-4o'",
        "*allow them with @pytest.mark.llmfake(strict=False)",
    ])


def test_an_apps_own_restart_is_an_attempt(inner):
    inner.makepyfile("""
        import openai
        import pytest

        TEXT = "one two three four five six"

        def read(client):
            for _ in range(3):
                try:
                    return "".join(c.choices[0].delta.content or "" for c in
                                   client.chat.completions.create(
                                       model="gpt-4o", stream=True,
                                       messages=[{"role": "user", "content": "count"}])
                                   if c.choices)
                except openai.APIConnectionError:
                    continue

        def test_restart(llmfake):
            llmfake.script(llmfake.fault("disconnect", after_chunks=3, reply=TEXT), TEXT)
            with openai.OpenAI(max_retries=0) as client:
                assert read(client) == TEXT
            llmfake.journal.assert_attempts(2)
            assert llmfake.journal.attempts(attempts_by="header") == [1, 1]
            llmfake.journal.assert_attempts([1, 1], attempts_by="header")
            with pytest.raises(AssertionError) as info:
                llmfake.journal.assert_attempts(3)
            assert "attempts: an identical request within 60s of a failure" in str(info.value)
            with pytest.raises(ValueError, match="attempts_by='sdk': expected one of"):
                llmfake.journal.attempts(attempts_by="sdk")
    """)
    result = _run(inner, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 test(s): 2 requests, 1 faults injected, 1 retries, *"])

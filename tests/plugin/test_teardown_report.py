"""Teardown checks (strict scenarios, unused script steps) and the terminal summary."""

from __future__ import annotations

import re

import pytest

ASK = """
import httpx
import pytest

def ask(fake, model="gpt-4o", text="hello"):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return httpx.post(fake.openai_base_url + "/chat/completions", json=body).status_code
"""

STRICT = {"strict": True, "rules": [{"match": {"model": "gpt-4o"}, "reply": "expected"}]}


def test_a_strict_scenario_fails_the_test_on_requests_no_rule_expected(inner):
    inner.makepyfile(ASK + f"""
        STRICT = {STRICT!r}

        @pytest.mark.llmfake(scenario=STRICT)
        def test_unexpected(llmfake):
            ask(llmfake)
            ask(llmfake, model="other")

        @pytest.mark.llmfake(scenario=STRICT)
        def test_all_expected(llmfake):
            ask(llmfake)

        @pytest.mark.llmfake(scenario=STRICT, strict=False)
        def test_opted_out(llmfake):
            ask(llmfake, model="other")

        @pytest.mark.llmfake(strict=True)
        def test_forced_on_a_lenient_scenario(llmfake):
            ask(llmfake)

        @pytest.mark.llmfake(scenario=STRICT)
        def test_a_failing_test_is_not_piled_on(llmfake):
            ask(llmfake, model="other")
            assert False, "the test's own failure"
    """.replace("\n        ", "\n"))
    result = inner.run()
    result.assert_outcomes(passed=4, failed=1, errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_unexpected*",
        "llmfake (tenant t-test_unexpected-*): the scenario is strict, and 1 request(s) "
        "matched no rule or script (the defaults answered):",
        "  #1 POST /v1/chat/completions model=other 'hello'",
        "to fix: add a rule that matches them (match: {endpoint: ..., model: ..., contains: "
        "...}), or allow them with @pytest.mark.llmfake(strict=False)",
        "requests:",
        "*#*time*req*attempt*response*retry-after*gap*request",
        "*0*+0.000s*1*0*200 reply*POST /v1/chat/completions gpt-4o",
        "*ERROR at teardown of test_forced_on_a_lenient_scenario*",
    ])
    assert "ERROR at teardown of test_a_failing_test" not in result.stdout.str()


def test_scripted_steps_never_used_fail_the_test(inner):
    inner.makefile(".yaml", session="rules:\n  - script: [{error: rate_limit}, {reply: ok}]\n")
    inner.makepyfile(ASK + """
        SCRIPTED = {"rules": [{"name": "retry", "script": [{"error": 500}, {"reply": "ok"}]}]}

        def test_script_longer_than_the_retries(llmfake):
            llmfake.script(llmfake.error("rate_limit"), llmfake.error("rate_limit"),
                           llmfake.reply("ok"))
            ask(llmfake)
            ask(llmfake)

        @pytest.mark.llmfake(check_unused=False)
        def test_opted_out(llmfake):
            llmfake.script("a", "b")
            ask(llmfake)

        @pytest.mark.llmfake(scenario=SCRIPTED)
        def test_a_marker_scenario_is_checked(llmfake):
            ask(llmfake)

        def test_the_session_scenario_is_not_the_tests_to_consume(llmfake):
            ask(llmfake)

        def test_all_used(llmfake):
            llmfake.use({"rules": [{"script": [{"reply": "a"}, {"reply": "b"}]}]})
            ask(llmfake)
            ask(llmfake)
            llmfake.journal.assert_all_consumed()

        @pytest.mark.llmfake(scenario={"rules": [{"script": [{"reply": "a"}, {"reply": "b"}],
                                                  "then": "cycle"}]})
        def test_a_cycling_script_never_runs_out(llmfake):
            ask(llmfake)
    """.replace("\n        ", "\n"))
    result = inner.run("--llmfake-scenario", "session.yaml")
    result.assert_outcomes(passed=6, errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_script_longer_than_the_retries*",
        "llmfake (tenant t-test_script_longer_than_the_retries-*): scripted steps were never "
        "used:",
        "  rule 0 (llmfake.script()) used 2 of 3 steps; never used: step 2: reply 'ok'",
        "to fix: the client made fewer requests than the script expects: raise its "
        "max_retries or shorten the script; or silence this check with "
        "@pytest.mark.llmfake(check_unused=False)",
        "*ERROR at teardown of test_a_marker_scenario_is_checked*",
        "  rule 0 (retry) used 1 of 2 steps; never used: step 1: reply 'ok'",
    ])


SUMMARY_TESTS = ASK + """
def test_ignores_retry_after(llmfake):
    llmfake.script(llmfake.error("rate_limit", retry_after="1s"), llmfake.reply("ok"))
    assert [ask(llmfake), ask(llmfake)] == [429, 200]

def test_quiet(llmfake):
    pass

def test_without_the_fixture():
    pass
"""

SECTION = re.compile(r"^=+ llmfake =+$", re.MULTILINE)


def test_no_summary_by_default(inner):
    inner.makepyfile(SUMMARY_TESTS)
    result = inner.run()
    result.assert_outcomes(passed=3)
    assert not SECTION.search(result.stdout.str())


@pytest.mark.parametrize("how", ["-v", "--llmfake-report", "ini"])
def test_the_summary_per_test(inner, how):
    inner.makepyfile(SUMMARY_TESTS)
    if how == "ini":
        inner.ini("llmfake_report = true\n")
    result = inner.run(*([how] if how != "ini" else []))
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([
        "*= llmfake =*",
        "server: http://127.0.0.1:*",
        "test * requests  faults injected   retries  Retry-After violations",
        "*::test_ignores_retry_after *2 *1 *1 *1",
        "*::test_quiet *0 *0 *0 *0",
        "2 test(s): 2 requests, 1 faults injected, 1 retries, 1 Retry-After violations",
    ])
    section = result.stdout.str()[SECTION.search(result.stdout.str()).end():]
    assert "test_without_the_fixture" not in section


def test_the_summary_when_no_test_used_the_fixture(inner):
    inner.makepyfile("def test_x():\n    pass\n")
    result = inner.run("--llmfake-report")
    result.stdout.fnmatch_lines(["llmfake: not started; no test used the llmfake fixture"])


def test_xdist_workers_each_run_a_server_and_report_to_the_controller(inner):
    inner.makepyfile(ASK + """
        import os

        @pytest.mark.parametrize("n", range(6))
        def test_worker(llmfake, llmfake_server, n):
            llmfake.script(llmfake.reply(f"reply {n}"))
            assert ask(llmfake) == 200
            assert len(llmfake.journal) == 1
            worker = os.environ["PYTEST_XDIST_WORKER"]
            with open(f"{worker}-{n}.url", "w") as f:
                f.write(llmfake_server.url)
    """.replace("\n        ", "\n"))
    result = inner.run_subprocess("-n", "2", "--llmfake-report")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([
        "server: one server per xdist worker",
        "6 test(s): 6 requests, 0 faults injected, 0 retries, 0 Retry-After violations"])
    urls: dict[str, set[str]] = {}
    for path in inner.path.glob("gw*.url"):
        urls.setdefault(path.name.split("-")[0], set()).add(path.read_text())
    assert all(len(u) == 1 for u in urls.values())  # one server per worker...
    if len(urls) == 2:
        assert len(set.union(*urls.values())) == 2   # ...and each its own


def test_request_lines_quote_the_last_message_when_there_is_one():
    from llmfake._plugin._report import _request_line
    from llmfake.journal import Exchange

    def line(body: object, model: str | None = "m") -> str:
        return _request_line(Exchange(seq=4, tenant="t", method="POST", path="/p", model=model,
                                      body=body))

    assert line({"messages": [{"role": "user", "content": "x" * 50}]}) == \
        f"#4 POST /p model=m {'x' * 37 + '...'!r}"
    assert line({"messages": [{"role": "user", "content": [{"type": "text"}]}]}) == \
        "#4 POST /p model=m"
    assert line({"contents": ["not a dict"]}) == "#4 POST /p model=m"
    assert line("not json", model=None) == "#4 POST /p"

"""The ``llmfake`` marker, the command line and ini options, the report header."""

from __future__ import annotations

import pytest

MARKERS = """
import pytest

pytestmark = pytest.mark.llmfake(scenario={"name": "module"}, seed=1)

def test_module_level(llmfake):
    assert (llmfake.scenario.name, llmfake.scenario.seed) == ("module", 1)

@pytest.mark.llmfake(seed=2)
class TestClass:
    def test_class_seed(self, llmfake):
        assert (llmfake.scenario.name, llmfake.scenario.seed) == ("module", 2)

    @pytest.mark.llmfake(scenario={"name": "function", "seed": 40})
    def test_closest_wins_key_by_key(self, llmfake):
        # The function's scenario, the class's seed (over the scenario's own 40).
        assert (llmfake.scenario.name, llmfake.scenario.seed) == ("function", 2)
        assert llmfake.owns_scenario
"""


def test_markers_merge_key_by_key_the_closest_winning(inner):
    inner.makepyfile(MARKERS)
    inner.run().assert_outcomes(passed=3)


def test_a_marked_test_gets_the_fixture_without_asking(inner):
    inner.makepyfile("""
        import os
        import pytest

        @pytest.mark.llmfake()
        def test_marked():
            assert "/t/t-test_marked-" in os.environ["OPENAI_BASE_URL"]

        def test_unmarked():
            assert "/t/t-" not in os.environ.get("OPENAI_BASE_URL", "")
    """)
    inner.run().assert_outcomes(passed=2)


BAD_MARKERS = {
    "scenaro={}": "got an unknown option 'scenaro' (did you mean 'scenario'?); allowed: "
                  "scenario, seed, strict, check_unused, intercept, block_network, cassette",
    "nonsense=1": "got an unknown option 'nonsense'; allowed: scenario, seed, *",
    "'default'": "takes keyword arguments only (scenario, seed, *), got positional ('default',)",
    "seed='1'": "(seed=...): expected a whole number >= 0, got '1'",
    "seed=True": "(seed=...): expected a whole number >= 0, got True",
    "seed=-3": "(seed=...): expected a whole number >= 0, got -3",
    "strict='yes'": "(strict=...): expected True or False or None, got 'yes'",
    "check_unused=None": "(check_unused=...): expected True or False, got None",
    "intercept=1": "(intercept=...): expected True or False, got 1",
    "block_network=True": "(block_network=True) only applies with intercept=True: add *",
    "cassette=3": "(cassette=...): expected True (the default path), a path, or a dict *",
    "scenario='no-such-scenario'": "(scenario=...): no-such-scenario: no such file (*), and no "
                                   "built-in scenario of that name*",
    "scenario={'rules': 3}": "(scenario=...): <dict>: rules: expected a list*",
    "scenario=42": "(scenario=...): *expected a Scenario, a dict, a path or a built-in name*",
}


def test_bad_markers_are_usage_errors_naming_the_key_and_what_is_allowed(inner):
    tests = "\n".join(f"@pytest.mark.llmfake({args})\ndef test_{i}():\n    pass\n"
                      for i, args in enumerate(BAD_MARKERS))
    inner.makepyfile(test_m="import pytest\n\n" + tests)
    result = inner.run()
    result.assert_outcomes(errors=len(BAD_MARKERS))
    result.stdout.fnmatch_lines([f"*::test_{i}: @pytest.mark.llmfake*{m}"
                                 for i, m in enumerate(BAD_MARKERS.values())])
    assert "_options.py" not in result.stdout.str()   # the message alone, no traceback
    result.stdout.fnmatch_lines(["ERROR test_m.py::test_0 - pytest.UsageError: *"])


def test_the_marker_is_registered(inner):
    inner.makepyfile(MARKERS)
    inner.run("--strict-markers").assert_outcomes(passed=3)
    inner.run("--markers").stdout.fnmatch_lines([
        "@pytest.mark.llmfake(scenario=None, seed=None, strict=None, check_unused=True, "
        "intercept=False, block_network=False, cassette=None): options of the llmfake "
        "fixture*"])


SEEDS = """
import pytest

def test_session_seed(llmfake, llmfake_server):
    assert llmfake.scenario.seed == {session}
    assert llmfake_server.scenario.seed == {session}

@pytest.mark.llmfake(seed=9)
def test_marker_seed_beats_the_session(llmfake):
    assert llmfake.scenario.seed == 9

@pytest.mark.llmfake(scenario={{"seed": 3}})
def test_session_seed_beats_the_scenario(llmfake):
    assert llmfake.scenario.seed == {session}
    llmfake.use({{"seed": 3}})   # used as given
    assert llmfake.scenario.seed == 3
"""


def test_seed_from_the_command_line_and_the_ini_file(inner):
    inner.makepyfile(SEEDS.format(session=5))
    inner.run("--llmfake-seed", "5").assert_outcomes(passed=3)
    inner.ini("llmfake_seed = 7\n")
    inner.makepyfile(SEEDS.format(session=7))
    inner.run().assert_outcomes(passed=3)
    inner.makepyfile(SEEDS.format(session=5))
    inner.run("--llmfake-seed=5").assert_outcomes(passed=3)  # the command line beats the ini


def test_the_seed_drives_generated_text(inner):
    inner.makepyfile("""
        import httpx
        import pytest

        TEXTS = {}

        def ask(fake):
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            r = httpx.post(fake.openai_base_url + "/chat/completions", json=body)
            return r.json()["choices"][0]["message"]["content"]

        @pytest.mark.parametrize("seed", [1, 2, 1])
        def test_ask(llmfake, seed, request):
            llmfake.use({"seed": seed})
            TEXTS.setdefault(seed, set()).add(ask(llmfake))

        def test_compare():
            assert len(TEXTS[1]) == 1 and TEXTS[1] != TEXTS[2]
    """)
    inner.run().assert_outcomes(passed=4)


def test_bad_session_seeds_stop_the_run(inner):
    inner.makepyfile("def test_x():\n    pass\n")
    result = inner.run("--llmfake-seed", "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --llmfake-seed: expected a whole number >= 0, got -1"])
    inner.ini("llmfake_seed = abc\n")
    result = inner.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: llmfake_seed (ini): expected a whole number >= 0, got 'abc'"])


SCENARIO_CHECK = """
def test_scenario(llmfake, llmfake_server):
    assert llmfake.scenario.name == {name!r}
    assert llmfake_server.scenario.name == {name!r}
"""


def test_scenario_from_the_command_line(inner):
    inner.makefile(".yaml", canned="name: canned\nseed: 4\n")
    inner.makepyfile(SCENARIO_CHECK.format(name="canned"))
    result = inner.run("--llmfake-scenario", "canned.yaml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "llmfake: http://127.0.0.1:* (started on first use), scenario canned.yaml "
        "(--llmfake-scenario), seed 4 (the scenario's)"])
    inner.makepyfile(SCENARIO_CHECK.format(name="default"))
    inner.run("--llmfake-scenario=default").assert_outcomes(passed=1)
    bad = inner.run("--llmfake-scenario", "nope.yaml")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --llmfake-scenario: nope.yaml: no such file (*), *"])


def test_scenario_from_the_ini_file_is_relative_to_it(inner, monkeypatch):
    inner.mkdir("conf")
    (inner.path / "conf" / "ini.yaml").write_text("name: from-ini\n")
    inner.makefile(".yaml", other="name: from-cli\n")
    inner.ini("llmfake_scenario = conf/ini.yaml\nllmfake_seed = 11\n")
    sub = inner.mkdir("tests")
    (sub / "test_s.py").write_text(SCENARIO_CHECK.format(name="from-ini"))
    monkeypatch.chdir(sub)  # a path relative to where pytest runs would not be found
    result = inner.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["llmfake: *, scenario */conf/ini.yaml (llmfake_scenario "
                                 "(ini)), seed 11"])
    (sub / "test_s.py").write_text(SCENARIO_CHECK.format(name="from-cli"))
    inner.run("--llmfake-scenario", "../other.yaml").assert_outcomes(passed=1)  # CLI beats ini


def test_the_header_under_xdist_says_each_worker_has_a_server(inner):
    inner.makepyfile("def test_x(llmfake):\n    pass\n")
    result = inner.run_subprocess("-n", "2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["llmfake: one server per xdist worker, scenario default "
                                 "(built-in), seed 0 (the scenario's)"])


STUB = """
import contextlib
import sys
import types

CALLS = []
stub = types.ModuleType("llmfake.intercept")

@contextlib.contextmanager
def intercept(server_or_url, *, tenant=None, block_network=False):
    CALLS.append(["enter", server_or_url, tenant, block_network])
    yield
    CALLS.append(["exit"])

stub.intercept = intercept
stub.CALLS = CALLS
sys.modules["llmfake.intercept"] = stub
"""


def test_intercept_calls_llmfake_intercept_for_the_tests_tenant(inner):
    inner.makeconftest(STUB)
    inner.makepyfile("""
        import sys
        import pytest

        CALLS = sys.modules["llmfake.intercept"].CALLS

        @pytest.mark.llmfake(intercept=True, block_network=True)
        def test_intercepted(llmfake, llmfake_server):
            assert CALLS == [["enter", llmfake_server, llmfake.tenant, True]]

        @pytest.mark.llmfake(intercept=True)
        def test_without_the_fixture_argument():
            assert CALLS[1] == ["exit"] and CALLS[2][0] == "enter" and CALLS[2][3] is False

        def test_after():
            assert CALLS[-1] == ["exit"] and len(CALLS) == 4
    """)
    inner.run().assert_outcomes(passed=3)


def test_a_broken_llmfake_intercept_is_not_mistaken_for_a_missing_one(inner):
    inner.makeconftest("""
        import importlib.abc
        import importlib.util
        import sys

        class Broken(importlib.abc.MetaPathFinder, importlib.abc.Loader):
            def find_spec(self, name, path=None, target=None):
                if name == "llmfake.intercept":
                    return importlib.util.spec_from_loader(name, self)
                return None

            def create_module(self, spec):
                return None

            def exec_module(self, module):
                raise ModuleNotFoundError("No module named 'nosuchdep'", name="nosuchdep")

        sys.modules.pop("llmfake.intercept", None)
        sys.meta_path.insert(0, Broken())
    """)
    inner.makepyfile("""
        import pytest

        @pytest.mark.llmfake(intercept=True)
        def test_x():
            pass
    """)
    result = inner.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ModuleNotFoundError: No module named 'nosuchdep'"])


def test_intercept_routes_hard_coded_urls_into_the_fake(inner):
    pytest.importorskip("llmfake.intercept", reason="llmfake.intercept is not built yet")
    inner.makepyfile("""
        import pytest
        import requests

        def summarise(text):   # code under test, with the provider's URL hard-coded
            r = requests.post("https://api.openai.com/v1/chat/completions",
                              headers={"Authorization": "Bearer sk-real-key"},
                              json={"model": "gpt-4o",
                                    "messages": [{"role": "user", "content": text}]})
            return r.json()["choices"][0]["message"]["content"]

        @pytest.mark.llmfake(intercept=True)
        def test_summarise(llmfake):
            llmfake.script(llmfake.reply("short"))
            assert summarise("a long text") == "short"
            assert [e.path for e in llmfake.journal] == ["/v1/chat/completions"]

        @pytest.mark.llmfake(intercept=True, block_network=True)
        def test_blocked(llmfake):
            from llmfake.intercept import NetworkBlockedError

            with pytest.raises(NetworkBlockedError):
                requests.get("https://example.com/")
    """)
    inner.run().assert_outcomes(passed=2)

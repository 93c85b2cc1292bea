"""The pytest plugin (entry point ``llmfake``): fixtures, the ``llmfake`` marker, options, the
report header and the terminal summary.

Kept thin: hooks and fixtures only. The machinery lives in ``llmfake._plugin`` and the server
(aiohttp) is imported when a test first asks for it, so a session that never uses llmfake pays
for nothing but an idle socket. The reference is docs/pytest-plugin.md.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmfake._plugin._fixture import LLMFake
    from llmfake._plugin._options import SessionSettings
    from llmfake._plugin._session import SessionServer
    from llmfake.server import Server

__all__ = ["LLMFake"]
pytest_plugins = ["llmfake._plugin._watch"]  # --llmfake-report=html:PATH, --llmfake-ui

_SETTINGS: pytest.StashKey[SessionSettings] = pytest.StashKey()
_SLOT: pytest.StashKey[SessionServer] = pytest.StashKey()
_CALL_FAILED: pytest.StashKey[bool] = pytest.StashKey()
_FIGURES: pytest.StashKey[dict[str, Any]] = pytest.StashKey()
_FAKE: pytest.StashKey[LLMFake | None] = pytest.StashKey()


def __getattr__(name: str) -> Any:
    # ``from llmfake.pytest_plugin import LLMFake`` for type hints, without loading it eagerly.
    if name == "LLMFake":
        from llmfake._plugin._fixture import LLMFake

        return LLMFake
    raise AttributeError(f"module 'llmfake.pytest_plugin' has no attribute {name!r}")


# --- options, marker, header ---------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmfake", "llmfake: a fake LLM API server")
    group.addoption("--llmfake-scenario", dest="llmfake_scenario", metavar="NAME|PATH",
                    help="the scenario every test's tenant starts with (a YAML/JSON file or a "
                         "built-in name); default: the built-in 'default'")
    group.addoption("--llmfake-seed", dest="llmfake_seed", metavar="N",
                    help="the seed of every random draw, overriding the scenario's")
    group.addoption("--llmfake-report", dest="llmfake_report", nargs="?", const="terminal",
                    metavar="html:PATH",
                    help="print per test: requests, faults injected, retries, Retry-After "
                         "violations (also shown with -v); =html:PATH also writes them with "
                         "each test's timeline to one self-contained HTML file")
    group.addoption("--llmfake-record", dest="llmfake_record", metavar="MODE",
                    help="what tests with @pytest.mark.llmfake(cassette=...) do: none (replay "
                         "only; the default), once (record missing cassettes), new_episodes "
                         "(record requests the cassette lacks), all (record again, appending), "
                         "rewrite (record from scratch). Recording talks to the real APIs.")
    group.addoption("--llmfake-upstream", dest="llmfake_upstream", action="append",
                    default=[], metavar="NAME=URL",
                    help="while recording, send provider NAME's requests (openai, anthropic, "
                         "gemini, azure, ollama, default) to URL instead of its real API")
    group.addoption("--llmfake-state", dest="llmfake_state", metavar="memory|URL",
                    help="where the fake keeps its state: memory (the default) or a Redis URL "
                         "(redis://HOST:PORT/DB) shared by every xdist worker and every "
                         "llmfake serve using it; default: $LLMFAKE_STATE, else memory")
    parser.addini("llmfake_record", "the default of --llmfake-record", default="")
    parser.addini("llmfake_upstream", "the default of --llmfake-upstream (NAME=URL lines)",
                  type="linelist", default=[])
    parser.addini("llmfake_scenario", "the default of --llmfake-scenario (a path relative to "
                  "this file, or a built-in name)", default="")
    parser.addini("llmfake_seed", "the default of --llmfake-seed", default="")
    parser.addini("llmfake_report", "the default of --llmfake-report", type="bool",
                  default=False)


def pytest_configure(config: pytest.Config) -> None:
    from llmfake._plugin._options import MARKER_DOC, session_settings
    from llmfake._plugin._session import SessionServer

    config.addinivalue_line("markers", MARKER_DOC)
    settings = session_settings(config)
    if settings.scenario:
        settings.load(settings.scenario, settings.origin)  # a bad one stops the run here
    config.stash[_SETTINGS] = settings
    config.stash[_SLOT] = SessionServer(settings)
    config.pluginmanager.register(_Summary(config), "llmfake-summary")


def pytest_unconfigure(config: pytest.Config) -> None:
    slot = config.stash.get(_SLOT, None)
    if slot is not None:
        slot.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    from llmfake._plugin._report import header_lines

    # Under xdist the controller runs no test: each worker starts its own server.
    controller = getattr(config.option, "dist", "no") != "no" and not hasattr(
        config, "workerinput")
    return header_lines(config.stash[_SETTINGS], None if controller else config.stash[_SLOT])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    excinfo = call.excinfo
    if report.when == "setup" and excinfo is not None and _ours(excinfo):
        # A bad marker or scenario: the message says it all; a traceback through the plugin
        # would only bury it.
        report.longrepr = excinfo.getrepr(style="value")
    elif report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
        fake = item.stash.get(_FAKE, None)
        if report.failed and fake is not None:
            # The teardown checks stand down once the test failed: say what the fake saw
            # here instead, in a section of the failure report (as captured output is).
            from llmfake._plugin._report import failure_section

            report.sections.append(("llmfake: what the fake saw", failure_section(fake)))
    elif report.when == "teardown" and _FIGURES in item.stash:
        # An attribute of the report travels with it from an xdist worker to the controller.
        report.llmfake = item.stash[_FIGURES]  # type: ignore[attr-defined]
    return report


def _ours(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """Whether ``excinfo`` is a ``UsageError`` raised by ``llmfake._plugin``."""
    return excinfo.errisinstance(pytest.UsageError) and Path(
        excinfo.traceback[-1].path).parts[-3:-1] == ("llmfake", "_plugin")


class _Summary:
    """Collects the figures of each test and prints the summary (with -v or --llmfake-report)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        figures = getattr(report, "llmfake", None)
        if report.when == "teardown" and isinstance(figures, dict):
            self.rows.append((report.nodeid, figures))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        settings = self.config.stash[_SETTINGS]
        if not (settings.report or self.config.get_verbosity() >= 1):
            return
        from llmfake._plugin._report import summary_lines

        served = self.config.stash[_SLOT].served
        where = served or ("one server per xdist worker" if self.rows else "not started")
        terminalreporter.write_sep("=", "llmfake")
        for line in summary_lines(self.rows, where):
            terminalreporter.write_line(line)


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def llmfake_server(pytestconfig: pytest.Config) -> Iterator[Server]:
    """The fake LLM server of this session (of each xdist worker), on a free port of
    127.0.0.1, started in a thread on first use and stopped when the session ends. It runs the
    session's scenario (--llmfake-scenario or the built-in default); tests share it through
    tenants, so prefer the ``llmfake`` fixture, which gives each test its own."""
    slot = pytestconfig.stash[_SLOT]
    yield slot.start()
    slot.close()


@pytest.fixture
def llmfake_scenario() -> Any:
    """The scenario each test's tenant starts with when no ``llmfake`` marker names one.
    Returns None: the session's scenario (--llmfake-scenario, else the llmfake_scenario ini
    option, else the built-in default). Override it in a conftest.py to give a directory of
    tests its own scenario: return a dict, a path, a built-in name or a Scenario."""
    return None


@pytest.fixture
def llmfake(request: pytest.FixtureRequest, llmfake_server: Server, llmfake_scenario: Any
            ) -> Generator[LLMFake, None, None]:
    """A fresh tenant of the fake LLM server for this test: its own scenario state, limits and
    journal. While the test runs, OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GOOGLE_GEMINI_BASE_URL,
    OLLAMA_HOST, AZURE_OPENAI_ENDPOINT and dummy API keys point at it, so ``openai.OpenAI()``
    talks to the fake. Script it with ``llmfake.script(llmfake.error("rate_limit"),
    llmfake.reply("ok"))`` or ``llmfake.use(scenario)``; check the client with
    ``llmfake.journal.assert_attempts(2)``. Works in sync and async tests alike. At teardown
    it fails the test on requests none of the test's rules matched and on scripted steps
    never used (@pytest.mark.llmfake(strict=False, check_unused=False) to opt out); a test
    that fails shows what the fake saw in an "llmfake" section of its report."""
    from llmfake._plugin._lifecycle import run

    item = request.node

    def keep_figures(figures: dict[str, Any]) -> None:  # for the summary, via the report
        item.stash[_FIGURES] = figures

    def keep_fake(fake: LLMFake | None) -> None:  # for the failure report; None lets it go
        item.stash[_FAKE] = fake

    yield from run(item, llmfake_server, request.config.stash[_SETTINGS], llmfake_scenario,
                   keep_figures=keep_figures, keep_fake=keep_fake,
                   call_failed=lambda: item.stash.get(_CALL_FAILED, False))


@pytest.fixture(autouse=True)
def _llmfake_marked(request: pytest.FixtureRequest) -> None:
    """Give a test marked ``@pytest.mark.llmfake`` the ``llmfake`` fixture even when it does
    not ask for it (``intercept=True`` on code with hard-coded URLs needs no argument)."""
    if request.node.get_closest_marker("llmfake") is not None:
        request.getfixturevalue("llmfake")

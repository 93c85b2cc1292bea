"""Watching a test run: ``--llmfake-report=html:PATH`` and ``--llmfake-ui``.

Registered by ``llmfake.pytest_plugin`` (``pytest_plugins``), so these hooks load with it; the
HTML is written by ``_html`` at the end of the session.

- ``--llmfake-report=html:PATH`` writes one self-contained HTML file: every test that used the
  ``llmfake`` fixture with its exchanges and their timeline, failed tests first. Each test's
  exchanges are read from its tenant when its call phase ends (the tenant is dropped at
  teardown) and travel on the call's report, so under xdist the controller writes the file.
- A test attaches a file to its entry (screenshots: PNG, JPEG, SVG) by adding the user property
  ``llmfake_attachment`` (``ATTACHMENT``) with the file's path; a test that fails has them
  embedded in its entry (a test that did not use the fixture gets an entry for them).
- ``--llmfake-ui`` starts the session's server before the first test and prints the URL of its
  dashboard, which shows every test's tenant as the run goes.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

ATTACHMENT = "llmfake_attachment"
"""The user property (``request.node.user_properties``) whose value is the path of a file to
embed in the HTML report's entry of the test, when it fails."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("llmfake").addoption(
        "--llmfake-ui", dest="llmfake_ui", action="store_true",
        help="start the session's fake server at once and print the URL of its live "
             "dashboard (/_llmfake/ui/), to watch the tests' requests as they run")


def report_target(config: pytest.Config) -> Path | None:
    """The HTML report's path from ``--llmfake-report=html:PATH`` (None: no HTML report)."""
    value = config.getoption("llmfake_report", None)
    if value in (None, False, True, "terminal"):
        return None
    if isinstance(value, str) and value.startswith("html:") and len(value) > 5:
        return Path(value[5:])
    raise pytest.UsageError(
        f"--llmfake-report: {value!r} is not a report; use --llmfake-report (the terminal "
        "summary) or --llmfake-report=html:PATH (a self-contained HTML file). A test path "
        "given right after --llmfake-report is read as its value: put paths first")


def pytest_configure(config: pytest.Config) -> None:
    target = report_target(config)  # a bad value stops the run before any test
    if target is not None:
        config.pluginmanager.register(_Runs(config, target), "llmfake-html-report")


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not config.getoption("llmfake_ui", False) or hasattr(config, "workerinput"):
        return
    from llmfake.pytest_plugin import _SLOT

    url = config.stash[_SLOT].start().url + "/_llmfake/ui/"
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = f"llmfake dashboard: {url}"
    if getattr(config.option, "dist", "no") != "no":
        line += " (under xdist each worker serves its own: this one is idle)"
    if reporter is not None:
        reporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    fake = getattr(item, "funcargs", {}).get("llmfake")
    if report.when == "call" and fake is not None and report_target(item.config):
        from llmfake._plugin._html import exchanges_of

        report.llmfake_exchanges = exchanges_of(fake)  # type: ignore[attr-defined]
    return report


class _Runs:
    """The tests' exchanges as their reports come in; the HTML report at the end."""

    def __init__(self, config: pytest.Config, target: Path) -> None:
        self.config = config
        self.target = target
        self.runs: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        exchanges = getattr(report, "llmfake_exchanges", None)
        if report.when == "call" and exchanges is not None:
            self.runs[report.nodeid] = {
                "outcome": report.outcome, "exchanges": exchanges,
                "failure": report.longreprtext if report.failed else "",
                "duration": report.duration}
        elif report.failed and report.nodeid in self.runs:  # an error at teardown fails it
            run = self.runs[report.nodeid]
            run["outcome"] = "failed"
            run["failure"] = (run["failure"] + "\n\n" + report.longreprtext).strip()
        attached = [str(v) for k, v in report.user_properties if k == ATTACHMENT]
        if report.failed and attached:
            run = self.runs.setdefault(report.nodeid, {
                "outcome": "failed", "exchanges": [], "failure": report.longreprtext,
                "duration": report.duration})
            known = run.setdefault("attachments", [])
            known += [a for a in attached if a not in known]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # under xdist the controller writes it, from the reports it receives
        from llmfake._plugin._html import write_report

        write_report(self.target, self.runs)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"llmfake report: {self.target.resolve()}")

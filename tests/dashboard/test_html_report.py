"""``pytest --llmfake-report=html:PATH`` and ``--llmfake-ui``, run as child pytest sessions;
the report is opened from disk in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = '''
import openai
import pytest

USER = [{"role": "user", "content": "hi"}]


def client(llmfake, retries):
    return openai.OpenAI(base_url=llmfake.openai_base_url, api_key="sk-x", max_retries=retries)


def test_passes(llmfake):
    assert client(llmfake, 0).chat.completions.create(model="gpt-4o", messages=USER)


def test_retries_once(llmfake):
    llmfake.script(llmfake.error("rate_limit", retry_after=0.3), llmfake.reply("late"))
    client(llmfake, 2).chat.completions.create(model="gpt-4o", messages=USER)
    llmfake.journal.assert_attempts(1)  # fails: the SDK retried


def test_streams(llmfake):
    llmfake.use({"latency": {"ttft": "10ms", "per_token": "10ms"}, "reply": "a b c d"})
    for _ in client(llmfake, 0).chat.completions.create(model="gpt-4o", messages=USER,
                                                         stream=True):
        pass


def test_without_the_fake():
    pass
'''


def run_pytest(tmp_path, *args):
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "llmfake", "-p", "no:cacheprovider", "-q",
         *args, "test_inner.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    result = run_pytest(tmp, "--llmfake-report=html:out/report.html")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 3 passed" in result.stdout
    path = tmp / "out" / "report.html"
    assert f"llmfake report: {path}" in result.stdout
    return path


def test_the_report_lists_failed_tests_first_with_their_timeline(report):
    text = report.read_text()
    sections = re.findall(r"<section class='(\w+)' data-nodeid='([^']+)'", text)
    assert sections == [("failed", "test_inner.py::test_retries_once"),
                        ("passed", "test_inner.py::test_passes"),
                        ("passed", "test_inner.py::test_streams")]
    failed = text.split("<section")[1]
    # The timeline opens the failed test, before the failure and the table.
    assert failed.index("<svg class='timeline'") < failed.index("<pre class='failure'>")
    assert failed.count("<rect class='bar") == 2
    assert "class='bar s4'" in failed and "class='bar s2'" in failed
    assert "<line class='ra'" in failed  # where the 0.3 s Retry-After ended
    assert "assert_attempts(1)" in failed
    streams = text.split("<section")[3]
    assert streams.count("<line class='tick'") > 1  # each write of the stream
    assert "<script" not in text and "http" not in text.split("<body>")[0]


def test_the_report_opened_from_disk_shows_the_failing_tests_timeline(report, chromium,
                                                                       screenshot):
    chromium.get(report.as_uri())
    first = chromium.find_element("css selector", "section")
    assert first.get_attribute("data-nodeid") == "test_inner.py::test_retries_once"
    bars = first.find_elements("css selector", "svg.timeline rect.bar")
    assert len(bars) == 2 and all(b.is_displayed() for b in bars)
    later = chromium.find_elements("css selector", "section.passed svg.timeline")
    assert later and not any(svg.is_displayed() for svg in later)  # folded
    screenshot("html-report")


def test_a_bad_report_value_is_a_usage_error(tmp_path):
    result = run_pytest(tmp_path, "--llmfake-report=pdf:x")
    assert result.returncode == 4
    assert "--llmfake-report: 'pdf:x' is not a report" in result.stderr
    assert "--llmfake-report=html:PATH" in result.stderr


def test_llmfake_ui_prints_the_dashboard_url(tmp_path):
    result = run_pytest(tmp_path, "--llmfake-ui", "-k", "passes")
    match = re.search(r"llmfake dashboard: (http://127\.0\.0\.1:\d+/_llmfake/ui/)",
                      result.stdout)
    assert match, result.stdout
    assert result.returncode == 0


BROWSER_TEST = '''
def test_the_page_says_hello(chromium, screenshot):
    chromium.get("data:text/html,<h1>hello</h1>")
    screenshot("page")
    assert chromium.find_element("tag name", "h1").text == "goodbye"
'''


def test_a_failing_browser_tests_screenshots_are_in_its_report_entry(tmp_path, chromium):
    """The browser tests' own conftest, in a child session: the screenshot the test took and
    the page as it was when it failed are embedded in the test's entry, and show from disk."""
    here = Path(__file__).parent
    for name in ("conftest.py", "dashboard_pages.py"):
        shutil.copyfile(here / name, tmp_path / name)
    (tmp_path / "test_browser.py").write_text(BROWSER_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "LLMFAKE_DOCS_SCREENSHOTS"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "llmfake", "-p", "no:cacheprovider", "-q",
         f"--basetemp={tmp_path / 'tmp'}", "--llmfake-report=html:report.html",
         "test_browser.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert "1 failed" in result.stdout, result.stdout + result.stderr
    shots = sorted(p.name for p in (tmp_path / "tmp").rglob("*.png"))
    assert shots == ["failed.png", "page.png"]
    report = tmp_path / "report.html"
    text = report.read_text()
    assert text.count("<img src='data:image/png;base64,") == 2
    assert "<script" not in text
    chromium.get(report.as_uri())
    section = chromium.find_element("css selector", "section.failed")
    assert section.get_attribute("data-nodeid") == "test_browser.py::test_the_page_says_hello"
    images = section.find_elements("css selector", "figure.attachment img")
    assert [chromium.execute_script("return arguments[0].naturalWidth", i) for i in images] == [
        1400, 1400]  # the browser's window width: whole screenshots, decoded

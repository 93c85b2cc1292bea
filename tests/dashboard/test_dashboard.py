"""The dashboard in a real browser (headless Chromium), fed by the official openai SDK."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import openai
import pytest
from dashboard_pages import row, row_text, wait

import llmfake

USER = [{"role": "user", "content": "hi"}]
KEY = "sk-test-key-0123456789"
SCENARIO = {"name": "paced", "latency": {"ttft": "20ms", "per_token": "15ms"},
            "reply": "one two three four five six seven eight"}


@pytest.fixture(scope="module")
def server():
    with llmfake.serve(SCENARIO) as s:
        yield s


def run_exported(tmp_path, source):
    """Run an exported test module in a child pytest with the plugin; its result."""
    (tmp_path / "test_exported.py").write_text(source)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "llmfake", "-q",
                             "-p", "no:cacheprovider", "test_exported.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    return result


def test_a_request_appears_within_a_second_and_its_detail_shows_the_chunks(
        page, server, screenshot):
    server.use(SCENARIO, tenant="live")
    client = openai.OpenAI(base_url=server.tenant_url("live") + "/v1", api_key=KEY,
                           max_retries=0)
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True) if c.choices)
    assert text == SCENARIO["reply"]
    sent = time.monotonic()
    text, _ = wait(page, lambda d: (row_text(d, "live", 0) or ("",))[0].count("reply") == 1
                   and row_text(d, "live", 0), timeout=1.0)
    assert time.monotonic() - sent < 1.0
    assert "/v1/chat/completions (stream)" in text
    assert "200" in text
    tr = row(page, "live", 0)
    screenshot("dashboard-journal")

    exchange = server.journal("live")[0]
    assert len(exchange.sent) > 3  # the schedule spread the chunks over several writes
    tr.click()
    writes = wait(page, lambda d: d.find_elements("css selector", "#chunks tr")[1:])
    assert len(writes) == len(exchange.sent)
    assert sum(int(w.find_elements("tag name", "td")[2].get_attribute("textContent"))
               for w in writes) == exchange.chunks
    bars = page.find_elements("css selector", "#timeline rect.chunk")
    assert len(bars) == len(exchange.sent)
    assert "Exchange live #0" in page.find_element("id", "detail").text
    screenshot("dashboard-detail")


def test_a_long_stream_shows_while_in_flight_then_as_it_ended(page, server):
    server.use({"latency": {"ttft": "0ms", "per_token": "250ms"}, "reply": "a b c d e f"},
               tenant="slow")
    client = openai.OpenAI(base_url=server.tenant_url("slow") + "/v1", api_key=KEY,
                           max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    with stream:
        next(iter(stream))
        text, _ = wait(page, lambda d: row_text(d, "slow", 0), timeout=1.0)
        assert "in flight" in text
        for _ in stream:
            pass
    text, _ = wait(page, lambda d: (row_text(d, "slow", 0) or ("in flight",))[0]
                   .count("in flight") == 0 and row_text(d, "slow", 0))
    assert "200" in text and "reply" in text
    assert len(page.execute_script(
        "return window.llmfake.all.filter(e => e.tenant === 'slow')")) == 1


def test_an_invalid_scenario_edit_shows_the_error_at_its_field_and_changes_nothing(
        page, server, screenshot):
    server.use(SCENARIO)
    box = page.find_element("id", "scenario-text")
    wait(page, lambda d: "name: paced" in box.get_attribute("value"))
    bad = "name: broken\nrules:\n  - script:\n      - error: nope\n"
    page.execute_script("arguments[0].value = arguments[1]", box, bad)
    page.find_element("id", "save-scenario").click()
    error = wait(page, lambda d: d.find_elements(
        "css selector", '.field-error[data-path="rules[0].script[0].error"]'))[0]
    assert error.get_attribute("data-line") == "4"
    assert "unknown error 'nope'" in error.text
    assert page.find_elements("css selector", "#gutter .mark")
    assert "unchanged" in page.find_element("id", "scenario-result").text
    page.execute_script("document.getElementById('scenario').scrollIntoView()")
    screenshot("dashboard-scenario-error")
    # The scenario in force is still the old one: a request gets its reply.
    assert server.tenant().scenario.name == "paced"
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert reply.choices[0].message.content == SCENARIO["reply"]


def test_next_request_gets_rate_limit_and_the_chain_shows_both_attempts(
        page, server, screenshot, tmp_path):
    server.use(SCENARIO, tenant="chain")
    form = page.find_element("id", "inject-form")
    tenant = form.find_element("name", "tenant")
    tenant.clear()
    tenant.send_keys("chain")
    form.find_element("css selector", 'option[value="error:rate_limit"]').click()
    form.find_element("css selector", "button").click()
    wait(page, lambda d: "get error rate_limit" in d.find_element("id", "inject-result").text)

    client = openai.OpenAI(base_url=server.tenant_url("chain") + "/v1", api_key=KEY,
                           max_retries=2)
    reply = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert reply.choices[0].message.content == SCENARIO["reply"]
    assert [(e.status, e.attempt) for e in server.journal("chain")] == [(429, 0), (200, 1)]

    retry, kind = wait(page, lambda d: row_text(d, "chain", 1))
    head, _ = wait(page, lambda d: row_text(d, "chain", 0))
    assert "2 attempts" in head and "429" in head
    assert "retry 1 after" in retry and "retry-after 200 ms" in retry
    assert "chain-member" in kind
    screenshot("dashboard-retry-chain")

    # The chain exports as a pytest test that replays both attempts against the same outcomes.
    # The live feed may redraw the row between finding and clicking it: retried by wait().
    wait(page, lambda d: d.find_element(
        "css selector", '#journal tr[data-tenant="chain"][data-seq="1"]').click() or True)
    link = wait(page, lambda d: d.find_elements("id", "export-test"))[0]
    assert link.text == "export the chain as a pytest test"
    exported = httpx.get(link.get_attribute("href"))
    assert exported.headers["content-disposition"] == (
        'attachment; filename="test_exported_chain.py"')
    assert "{'error': 'rate_limit', 'retry_after': 0.2}" in exported.text
    assert run_exported(tmp_path, exported.text).returncode == 0
    # The injection is spent: the scenario's own rules (none here) answer again.
    assert not server.tenant("chain").scenario.rules
    assert httpx.get(server.tenant_url("chain") + "/_llmfake/ui/api/scenario").json()[
        "name"] == "paced"

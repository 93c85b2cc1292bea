"""The dashboard in headless Chromium: exporting a cassette, limit counters and the limit chart,
the timeline of a stream a fault cut, and retry chains grouped as the journal groups them."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from dashboard_pages import click, row_text, wait

import llmfake

USER = [{"role": "user", "content": "hi"}]
KEY = "sk-test-key-0123456789"
STREAM = {"latency": {"ttft": "10ms", "per_token": "10ms"},
          "reply": "one two three four five six seven eight"}


@pytest.fixture(scope="module")
def server():
    with llmfake.serve(STREAM) as s:
        yield s


def client(server, tenant, retries=0, **kw):
    return openai.OpenAI(base_url=server.tenant_url(tenant) + "/v1", api_key=KEY,
                         max_retries=retries, **kw)


def streamed(c):
    return "".join(x.choices[0].delta.content or "" for x in c.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True) if x.choices)


def open_detail(page, tenant, seq):
    click(page, tenant, seq)
    return wait(page, lambda d: f"Exchange {tenant} #{seq}" in d.find_element("id", "detail").text)


def test_the_selected_exchanges_download_as_a_cassette_that_replays_the_same_replies(
        page, server, tmp_path):
    server.use({**STREAM, "rules": [{"script": [{"error": "rate_limit", "retry_after": 0.05}],
                                     "then": "default"}]}, tenant="cas")
    chat = client(server, "cas", retries=2).chat.completions.create(model="gpt-4o",
                                                                     messages=USER)
    assert chat.choices[0].message.content == STREAM["reply"]
    assert streamed(client(server, "cas")) == STREAM["reply"]
    assert [e.status for e in server.journal("cas")] == [429, 200, 200]

    page.execute_cdp_cmd("Browser.setDownloadBehavior",
                         {"behavior": "allow", "downloadPath": str(tmp_path)})
    for seq in (0, 1, 2):
        click(page, "cas", seq, "input.pick")
    assert page.find_element("css selector", "#export-bar .muted").text == "3 selected:"
    page.find_element("id", "export-selected-cassette").click()
    path = tmp_path / "cassette_cas.yaml"
    wait(page, lambda d: path.exists() and path.stat().st_size > 0)
    text = path.read_text()
    assert KEY not in text and "authorization:\n      - REDACTED" in text

    # A server replaying the download gives the SDK the same answers: the 429 (which it
    # retries), the reply, then the stream, chunk by chunk.
    with llmfake.serve({"cassette": {"path": str(path), "replay_speed": 0}}) as replay:
        c = openai.OpenAI(base_url=replay.url + "/v1", api_key="sk-other", max_retries=2)
        again = c.chat.completions.create(model="gpt-4o", messages=USER)
        assert again.choices[0].message.content == STREAM["reply"]
        assert again.id == chat.id
        c = openai.OpenAI(base_url=replay.url + "/v1", api_key="sk-other", max_retries=0)
        assert streamed(c) == STREAM["reply"]
        assert [(e.status, e.outcome) for e in replay.journal()] == [
            (429, "replay"), (200, "replay"), (200, "replay")]


def test_an_exchange_shows_its_limit_counters_and_the_chart_the_window_filling(
        page, server, screenshot):
    # A window of 60 s * 0.05 = 3 s: two requests fill it, the third is refused (a request
    # refills every 1.5 s: wide enough that a busy machine's slow requests do not refill it).
    server.use({"time_scale": 0.05, "limits": {"requests_per_minute": 2}}, tenant="lim")
    c = client(server, "lim")
    for _ in range(2):
        c.chat.completions.create(model="gpt-4o", messages=USER)
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="gpt-4o", messages=USER)
    time.sleep(1.7)
    c.chat.completions.create(model="gpt-4o", messages=USER)  # half the window refilled
    statuses = [(e.status, e.source) for e in server.journal("lim")]
    assert statuses[2] == (429, "limit requests") and statuses[3][0] == 200

    open_detail(page, "lim", 1)
    facts = page.find_element("css selector", "#detail table.facts").text
    assert "requests limit after it 0 of 2 left, full again in" in facts
    wait(page, lambda d: d.execute_script(
        "return window.llmfake.all.filter(e => e.tenant === 'lim' && e.ended != null).length")
        == 4)
    series = [s for s in page.execute_script("return window.llmfake.limits()")
              if s["label"] == "lim requests"]
    used = [round(v) for _, v in series[0]["points"]]
    assert used[0] == 50 and 100 in used  # each request fills half the window...
    assert any(0 < v < 100 and v != 50 for v in used), series  # ...which drains between them...
    assert used[-1] == 0  # ...and is empty once the last reset time passed
    wait(page, lambda d: "lim requests" in d.find_element("id", "chart-limits").text)
    page.execute_script("document.getElementById('charts').scrollIntoView()")
    screenshot("dashboard-limits")


def test_the_timeline_of_a_stream_a_fault_stalled_shows_where_it_was_cut(
        page, server, screenshot):
    server.use({**STREAM, "rules": [{"script": [
        {"fault": "stall", "after_chunks": 3, "duration": 0.2}]}]}, tenant="cut")
    with pytest.raises(openai.APIConnectionError):
        streamed(client(server, "cut"))
    wait(page, lambda d: "fault stall" in (row_text(d, "cut", 0) or ("",))[0])
    exchange = server.journal("cut")[0]
    assert exchange.chunks == 3 and sum(s[2] for s in exchange.sent) == 3

    open_detail(page, "cut", 0)
    assert "stall after 3 chunks for 0.2 s" in page.find_element("id", "detail").text
    timeline = page.find_element("id", "timeline")
    assert len(timeline.find_elements("css selector", "rect.chunk")) == len(exchange.sent)
    # The events never sent (from the fourth chunk on) are faded on the schedule; the stall
    # spans 0.2 s up to the red line where the connection was cut.
    schedule = httpx.get(server.url + "/_llmfake/ui/api/exchange?tenant=cut&seq=0").json()[
        "schedule"]
    fourth = [i for i, (_, chunk) in enumerate(schedule) if chunk][3]
    assert len(timeline.find_elements("css selector", "rect.planned.unsent")) == (
        len(schedule) - fourth)
    assert timeline.find_elements("css selector", "rect.stall")
    cut = timeline.find_element("css selector", "line.cut")
    assert "fault stall cut the stream" in cut.get_attribute("textContent")
    screenshot("dashboard-fault-timeline")


@pytest.mark.parametrize(("attempts_by", "chained"), [("identical", True), ("header", False)])
def test_the_apps_own_retry_is_chained_as_the_journal_groups_attempts(
        page, server, attempts_by, chained):
    tenant = f"app-{attempts_by}"
    server.use({"rules": [{"script": [{"error": "unavailable"}], "then": "default"}]},
               tenant=tenant)
    server.journal(tenant).attempts_by = attempts_by
    c = client(server, tenant)  # the SDK does not retry: the app does, sending retry count 0
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="gpt-4o", messages=USER)
    c.chat.completions.create(model="gpt-4o", messages=USER)
    assert server.journal(tenant).attempts() == ([2] if chained else [1, 1])
    wait(page, lambda d: row_text(d, tenant, 1))
    head, _ = row_text(page, tenant, 0)
    retry, kind = row_text(page, tenant, 1)
    assert ("2 attempts" in head) is chained
    assert ("chain-member" in kind) is chained
    assert ("retry 1 after" in retry) is chained

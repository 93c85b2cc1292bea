"""The dashboard's endpoints over real sockets, without a browser: the push channel, the
scenario editor's errors, built-ins and injection."""

from __future__ import annotations

import json
import threading
import time

import httpx
import openai
import pytest

import llmfake

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server():
    with llmfake.serve() as s:
        yield s


def chat(server, tenant=None, retries=0):
    root = server.tenant_url(tenant) if tenant else server.url
    client = openai.OpenAI(base_url=root + "/v1", api_key="sk-x", max_retries=retries)
    return client.chat.completions.create(model="gpt-4o", messages=USER)


def events(url, count, seen):
    """Read ``count`` SSE events from ``url`` into ``seen`` as (name, data, time)."""
    with httpx.stream("GET", url, timeout=10) as resp:
        assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
        name = None
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                seen.append((name, json.loads(line[6:]), time.monotonic()))
                if len(seen) == count:
                    return


def test_the_push_channel_sends_a_snapshot_then_each_exchange_as_it_ends(server):
    chat(server)
    seen: list = []
    reader = threading.Thread(target=events, args=(server.url + "/_llmfake/ui/events", 2, seen))
    reader.start()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen[0][0] == "snapshot"
    assert [e["seq"] for e in seen[0][1]["exchanges"]] == [0]
    sent = time.monotonic()
    chat(server, "other")
    reader.join(5)
    name, batch, at = seen[1]
    assert name == "exchanges"
    assert [(e["tenant"], e["seq"], e["status"]) for e in batch] == [("other", 0, 200)]
    assert at - sent < 1.0
    assert "body" not in batch[0] and "headers" not in batch[0]  # details are fetched apart


def test_a_tenants_page_hears_only_its_tenant(server):
    seen: list = []
    url = server.tenant_url("mine") + "/_llmfake/ui/events"
    reader = threading.Thread(target=events, args=(url, 2, seen))
    reader.start()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen[0][1] == {"exchanges": [], "dropped": 0, "tenant": "mine"}
    chat(server, "theirs")
    chat(server, "mine")
    reader.join(5)
    assert [e["tenant"] for e in seen[1][1]] == ["mine"]


def test_a_bad_scenario_gets_each_mistake_with_its_line_and_changes_nothing(server):
    before = server.tenant().scenario
    text = "name: x\nlatency:\n  ttft: soon\nrules:\n  - script:\n      - error: nope\n"
    resp = httpx.put(server.url + "/_llmfake/ui/api/scenario", content=text)
    assert resp.status_code == 400
    errors = resp.json()["errors"]
    assert [(e["path"], e["line"]) for e in errors] == [
        ("latency.ttft", 3), ("rules[0].script[0].error", 6)]
    assert server.tenant().scenario is before
    resp = httpx.put(server.url + "/_llmfake/ui/api/scenario", content="rules: [\n  {a: \n")
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["line"] == 3  # where YAML gave up


def test_a_built_in_is_put_in_force_and_an_unknown_one_refused(server):
    resp = httpx.post(server.url + "/t/b/_llmfake/ui/api/builtin", json={"name": "flaky-5xx"})
    assert resp.json() == {"status": "ok", "name": "flaky-5xx"}
    assert server.tenant("b").scenario.name == "flaky-5xx"
    resp = httpx.post(server.url + "/_llmfake/ui/api/builtin", json={"name": "nope"})
    assert resp.status_code == 400
    assert "nope" in resp.json()["error"]


@pytest.mark.parametrize(("doc", "message"), [
    ({"count": 0, "error": "rate_limit"}, "count must be a whole number from 1 to 1000"),
    ({"count": 1}, "give an 'error'"),
    ({"count": 1, "error": "nope"}, "unknown error 'nope'"),
])
def test_a_bad_injection_is_refused(server, doc, message):
    resp = httpx.post(server.url + "/_llmfake/ui/api/inject", json=doc)
    assert resp.status_code == 400
    assert message in resp.json()["error"]


def test_an_injection_goes_first_then_the_scenarios_own_script_resumes(server):
    server.use({"rules": [{"script": [{"reply": "one"}, {"reply": "two"}, {"reply": "three"}]}]},
               tenant="s")
    assert chat(server, "s").choices[0].message.content == "one"
    resp = httpx.post(server.tenant_url("s") + "/_llmfake/ui/api/inject",
                      json={"count": 2, "error": "unavailable"})
    assert resp.json()["count"] == 2
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            chat(server, "s")
    # The injection is spent and gone; the scenario's script goes on where it was.
    assert chat(server, "s").choices[0].message.content == "two"
    assert len(server.tenant("s").scenario.rules) == 1
    assert [e.source for e in server.journal("s")] == [
        "rule 0 step 0", "rule 0 step 0", "rule 0 step 1", "rule 0 step 1"]

"""``/metrics`` after a known mix of traffic from the official SDKs: exact counts, parsed with
``prometheus_client``'s own parser."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

import llmfake

USER = [{"role": "user", "content": "hi"}]
KEY = "sk-test-key-0123456789"


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of ``/metrics``: name -> sorted labels -> value."""
    resp = httpx.get(url + "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def labels(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


@pytest.fixture
def server():
    with llmfake.serve({"latency": {"ttft": "30ms", "per_token": "1ms"}}) as s:
        s.use({"rules": [{"match": {"endpoint": "chat"}, "script": [
            {"error": "rate_limit", "retry_after": 0.01}, {"fault": "disconnect"},
            {"reply": "fine"}], "then": "last"}]}, tenant="flaky")
        s.use({"limits": {"requests_per_minute": 10}}, tenant="limited")
        yield s


def test_a_known_mix_of_traffic_gives_exact_counts(server):
    oai = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
    for _ in range(3):
        oai.chat.completions.create(model="gpt-4o", messages=USER)
    for _ in oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True):
        pass
    claude = anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0)
    claude.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=USER)
    # Two retries through the SDK: a 429, a cut connection, then the reply.
    flaky = openai.OpenAI(base_url=server.tenant_url("flaky") + "/v1", api_key=KEY,
                          max_retries=2)
    assert flaky.chat.completions.create(model="gpt-4o", messages=USER)
    limited = openai.OpenAI(base_url=server.tenant_url("limited") + "/v1", api_key=KEY,
                            max_retries=0)
    for _ in range(3):
        limited.chat.completions.create(model="gpt-4o", messages=USER)
    assert httpx.post(server.url + "/v1/chat/nothing", json={}).status_code == 404
    assert httpx.get(server.url + "/v1/nowhere").status_code == 404

    m = scrape(server.url)
    requests = m["llmfake_requests_total"]
    assert requests == {
        labels(tenant="default", provider="openai", endpoint="chat", status="200",
               outcome="reply"): 4,
        labels(tenant="default", provider="anthropic", endpoint="chat", status="200",
               outcome="reply"): 1,
        labels(tenant="flaky", provider="openai", endpoint="chat", status="429",
               outcome="error rate_limit"): 1,
        labels(tenant="flaky", provider="openai", endpoint="chat", status="200",
               outcome="fault disconnect"): 1,
        labels(tenant="flaky", provider="openai", endpoint="chat", status="200",
               outcome="reply"): 1,
        labels(tenant="limited", provider="openai", endpoint="chat", status="200",
               outcome="reply"): 3,
        **{k: v for k, v in requests.items() if dict(k)["status"] == "404"},
    }
    assert sum(v for k, v in requests.items() if dict(k)["status"] == "404") == 2
    assert m["llmfake_faults_injected_total"] == {
        labels(tenant="flaky", provider="openai", kind="error", name="rate_limit"): 1,
        labels(tenant="flaky", provider="openai", kind="fault", name="disconnect"): 1,
    }
    duration = m["llmfake_request_duration_seconds_count"]
    assert duration[labels(tenant="default", provider="openai", endpoint="chat")] == 4
    assert duration[labels(tenant="flaky", provider="openai", endpoint="chat")] == 3
    # Every reply waits its 30 ms time to first token; nothing takes a second.
    ttfb = "llmfake_time_to_first_byte_seconds_bucket"
    chat = {"tenant": "default", "provider": "openai", "endpoint": "chat"}
    assert m[ttfb][labels(**chat, le="0.025")] == 0
    assert m[ttfb][labels(**chat, le="1.0")] == 4
    # The disconnect cut the body before a byte of it went out: no first byte to count.
    assert m["llmfake_time_to_first_byte_seconds_count"][
        labels(tenant="flaky", provider="openai", endpoint="chat")] == 2
    assert m["llmfake_open_streams"][labels(tenant="default")] == 0
    assert m["llmfake_limit_remaining"] == {
        labels(tenant="limited", key="tenant", unit="requests"): 7}


def test_an_open_stream_is_counted_while_it_runs(server):
    server.use({"latency": {"ttft": "0ms", "per_token": "200ms"}, "reply": "a b c d e f"},
               tenant="slow")
    oai = openai.OpenAI(base_url=server.tenant_url("slow") + "/v1", api_key=KEY,
                        max_retries=0)
    stream = oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    next(iter(stream))
    assert scrape(server.url)["llmfake_open_streams"][labels(tenant="slow")] == 1
    for _ in stream:
        pass
    assert scrape(server.url)["llmfake_open_streams"][labels(tenant="slow")] == 0


def test_metrics_answers_get_only(server):
    resp = httpx.post(server.url + "/metrics")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, HEAD"


def test_with_workers_any_workers_metrics_count_every_workers_requests(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmfake", "serve", "--port", "0", "--workers", "2", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", proc.stdout.readline()).group(1)
        close = {"connection": "close"}  # a new connection each time: the kernel spreads them
        for _ in range(30):
            r = httpx.post(f"{url}/v1/chat/completions", headers=close,
                           json={"model": "m", "messages": USER})
            assert r.status_code == 200
        journals, totals = set(), set()
        for _ in range(12):
            journals.add(len(httpx.get(f"{url}/_llmfake/journal", headers=close).json()))
            resp = httpx.get(f"{url}/metrics", headers=close)
            totals.add(sum(s.value for f in text_string_to_metric_families(resp.text)
                           for s in f.samples if s.name == "llmfake_requests_total"))
        assert all(n < 30 for n in journals)  # each worker answered some requests...
        assert totals == {30}  # ...and each one's /metrics counts them all
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_the_docs_metrics_reference_lists_every_metric_served(server):
    import importlib.util
    from pathlib import Path

    hooks_path = Path(__file__).parents[2] / "docs" / "_hooks.py"
    spec = importlib.util.spec_from_file_location("llmfake_docs_hooks", hooks_path)
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = hooks.expand("<!-- llmfake:generated metrics -->")
    openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0).chat.completions \
        .create(model="gpt-4o", messages=USER)
    served = {f.name for f in text_string_to_metric_families(httpx.get(
        server.url + "/metrics").text) if not f.name.endswith("_created")}
    assert len(served) == 6
    for name in served:
        assert re.search(rf"\| `{name}(_total)?` \|", page), name

"""Several llmfake servers on one Redis behave as one provider (the official SDK, real sockets,
a real redis-server)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

import llmfake
from llmfake._redis_server import RedisServer

USER = [{"role": "user", "content": "hi"}]


@contextlib.contextmanager
def instances(scenario: Any, url: str, count: int = 2) -> Iterator[list[llmfake.Server]]:
    """``count`` servers sharing the state at ``url``."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(llmfake.serve(scenario, state=url)) for _ in range(count)]


_clients: dict[str, openai.OpenAI] = {}


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    for client in _clients.values():
        client.close()
    _clients.clear()


def ask(server: llmfake.Server, **kwargs: Any) -> tuple[int, dict[str, str], str]:
    """One chat request: (status, headers, reply text)."""
    client = _clients.get(server.url)
    if client is None:
        client = _clients[server.url] = openai.OpenAI(base_url=server.url + "/v1",
                                                      api_key="sk-test", max_retries=0)
    try:
        raw = client.chat.completions.with_raw_response.create(model="m", messages=USER,
                                                               **kwargs)
        return raw.status_code, dict(raw.headers), raw.parse().choices[0].message.content or ""
    except openai.APIStatusError as exc:
        return exc.status_code, dict(exc.response.headers), ""


def journal(server: llmfake.Server, count: int, tenant: str | None = None) -> list[Any]:
    """The shared journal read from ``server``, once it holds ``count`` exchanges (each
    instance appends an exchange just after its response is sent)."""
    root = server.tenant_url(tenant) if tenant else server.url
    deadline = time.monotonic() + 5
    while True:
        items = httpx.get(root + "/_llmfake/journal").json()
        if len(items) >= count or time.monotonic() > deadline:
            return list(items)
        time.sleep(0.02)


def test_an_rpm_limit_is_shared_exactly(redis_url: str) -> None:
    # time_scale 1000: the minute lasts 1000 of them, so nothing refills during the test.
    scenario = {"limits": {"requests_per_minute": 60}, "time_scale": 1000}
    with instances(scenario, redis_url) as (a, b):
        results = [ask((a, b)[i % 2]) for i in range(70)]
    statuses = [status for status, _, _ in results]
    assert statuses == [200] * 60 + [429] * 10
    remaining = [int(h["x-ratelimit-remaining-requests"]) for _, h, _ in results[:60]]
    assert remaining == list(range(59, -1, -1))  # counting down across both instances
    assert all(float(h["retry-after"]) > 0 for _, h, _ in results[60:])


def test_fail_twice_then_succeed_fails_exactly_twice_across_instances(redis_url: str) -> None:
    scenario = {"rules": [{"script": [{"error": 500}, {"error": 500}], "then": "default"}],
                "reply": {"text": "ok"}}
    with instances(scenario, redis_url) as (a, b):
        statuses = [ask((a, b)[i % 2])[0] for i in range(6)]
        assert statuses == [500, 500, 200, 200, 200, 200]
        # The SDK's own retries, spread over the instances by a client that alternates.
        a.reset()
        client = openai.OpenAI(base_url=b.url + "/v1", api_key="sk-test", max_retries=2)
        reply = client.chat.completions.create(model="m", messages=USER)
        client.close()
        assert reply.choices[0].message.content == "ok"


def test_the_journal_of_either_instance_shows_all_traffic(redis_url: str) -> None:
    with instances({"reply": {"text": "ok"}}, redis_url) as (a, b):
        for i in range(6):
            ask((a, b)[i % 2])
        ask(a, stream=False, max_tokens=1)
        seen = [journal(s, 7) for s in (a, b)]
    assert seen[0] == seen[1]
    assert [e["seq"] for e in seen[0]] == list(range(7))
    assert {e["status"] for e in seen[0]} == {200}


def test_a_scenario_put_on_one_instance_governs_the_next_request_on_the_other(
        redis_url: str) -> None:
    with instances({"reply": {"text": "before"}}, redis_url) as (a, b):
        assert ask(b)[2] == "before"
        put = httpx.put(a.url + "/_llmfake/scenario", content="reply: {text: after}\n")
        assert put.status_code == 200
        assert ask(b)[2] == "after"
        got = httpx.get(b.url + "/_llmfake/scenario").json()
        assert got["scenario"] == {"reply": {"text": "after"}}
        # Through the Python API too, and per tenant.
        a.use({"rules": [{"script": [{"error": 429}]}]}, "other")
        assert httpx.post(b.tenant_url("other") + "/v1/chat/completions",
                          json={"model": "m", "messages": USER}).status_code == 429
        assert ask(b)[2] == "after"  # the default tenant is not touched
        # A reset on one instance starts the script over on the other.
        a.use({"rules": [{"script": [{"error": 500}], "then": "default"}]})
        assert [ask(b)[0], ask(b)[0]] == [500, 200]
        httpx.post(a.url + "/_llmfake/reset")
        assert ask(b)[0] == 500


CHAOS = {"seed": 7, "reply": {"generate": {"words": 4}},
         "chaos": [{"probability": 0.3, "error": 503}],
         "rules": [{"match": {}, "chaos": [{"probability": 0.2, "error": 500}],
                    "script": [{"reply": "one"}, {"error": "rate_limit"}, {"reply": "three"}],
                    "then": "cycle"}]}


def test_the_same_seed_gives_the_same_outcomes_on_one_instance_two_and_in_memory(
        redis_url: str) -> None:
    runs = []
    with instances(CHAOS, redis_url, count=3) as (a, b, c):
        for servers in ([a], [b, c]):
            servers[0].reset()
            runs.append([ask(servers[i % len(servers)]) for i in range(30)])
    with llmfake.serve(CHAOS) as memory:
        runs.append([ask(memory) for _ in range(30)])
    outcomes = [[(status, text, h.get("x-request-id")) for status, h, text in run]
                for run in runs]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    statuses = {status for status, _, _ in outcomes[0]}
    assert statuses == {200, 429, 500, 503}  # every path was drawn


def test_redis_down_is_a_503_naming_the_state_and_recovery_needs_no_restart() -> None:
    first = RedisServer()
    port = first.port
    try:
        with llmfake.serve({"reply": {"text": "ok"}}, state=first.url) as server:
            assert ask(server)[0] == 200
            first.stop()
            status, _, _ = ask(server)
            assert status == 503
            body = httpx.post(server.url + "/v1/chat/completions",
                              json={"model": "m", "messages": USER}).json()
            assert first.url in body["error"]["message"]
            with RedisServer(port=port):
                status, _, text = ask(server)
                assert (status, text) == (200, "ok")
    finally:
        first.stop()


def test_workers_share_limits_through_redis(redis_url: str, tmp_path: Any) -> None:
    scenario = tmp_path / "rpm.yaml"
    scenario.write_text("limits: {requests_per_minute: 10}\ntime_scale: 1000\n"
                        "reply: {text: ok}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmfake", "serve", "--port", "0", "--workers", "2",
         "--state", redis_url, "--scenario", str(scenario), "--quiet"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        url = ""
        banner = []
        for line in proc.stdout:
            banner.append(line)
            found = re.search(r"on (http://\S+)", line)
            if found:
                url = found.group(1)
            if line.startswith("export OLLAMA_HOST"):
                break
        assert "sharing the state" in "".join(banner)
        statuses = []
        for _ in range(12):  # a connection each: the kernel spreads them over the workers
            with httpx.Client() as client:
                statuses.append(client.post(url + "/v1/chat/completions",
                                            json={"model": "m", "messages": USER}).status_code)
        assert sorted(statuses) == [200] * 10 + [429] * 2
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_state_outlives_instances_unless_the_base_scenario_changes(redis_url: str) -> None:
    script = {"rules": [{"script": [{"error": 500}], "then": "default"}]}
    with llmfake.serve(script, state=redis_url) as first:
        assert ask(first)[0] == 500
    with llmfake.serve(script, state=redis_url) as again:  # a restart: the script is used up
        assert ask(again)[0] == 200
    with llmfake.serve(script, state=redis_url, seed=1) as other:  # another provider: afresh
        assert ask(other)[0] == 500


def test_dropping_a_tenant_deletes_its_keys(redis_url: str) -> None:
    import redis

    with llmfake.serve(state=redis_url) as server:
        server.use({"reply": {"text": "x"}}, "gone")
        assert httpx.post(server.tenant_url("gone") + "/v1/chat/completions",
                          json={"model": "m", "messages": USER}).status_code == 200
        journal(server, 1, "gone")
        client = redis.Redis.from_url(redis_url)
        try:
            assert client.keys("llmfake:*:T:gone:*")
            server.engine.drop("gone")  # what the pytest plugin does after each test
            deadline = time.monotonic() + 5
            while client.keys("llmfake:*:T:gone:*") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not client.keys("llmfake:*:T:gone:*")
        finally:
            client.close()

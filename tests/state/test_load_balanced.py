"""``llmfake serve`` processes on one Redis behind a round-robin load balancer are one provider:
the official SDKs' retries land on different instances and still see one script, one rate
limit and one journal; Redis killed mid-run gives 503s naming it, then recovery without a
restart, and nothing journaled is lost."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
import redis
from cluster import cluster, stop

from llmfake._redis_server import RedisServer, find_redis_server

HI = [{"role": "user", "content": "hi"}]
FAIL_TWICE = """
rules:
  - script: [{error: 500}, {error: 500}]
    then: default
reply: {text: ok}
"""


def no_keep_alive() -> httpx.Client:
    """A connection per request, so that the balancer spreads the attempts."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)


def no_keep_alive_anthropic() -> Any:
    """The same for Anthropic's SDK, which brings its own httpx."""
    return anthropic.DefaultHttpxClient(limits=httpx2.Limits(max_keepalive_connections=0),
                                        timeout=10)


def journal(url: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        items = httpx.get(url + "/_llmfake/journal").json()
        if len(items) >= count or time.monotonic() > deadline:
            return list(items)
        time.sleep(0.02)


def test_sdk_retries_across_three_instances_fail_exactly_twice(redis_url: str,
                                                                 tmp_path: Path) -> None:
    with cluster(FAIL_TWICE, redis_url, 3, tmp_path) as (lb, _, urls):
        with openai.OpenAI(base_url=lb.url + "/v1", api_key="sk-test", max_retries=2,
                           http_client=no_keep_alive()) as client:
            reply = client.chat.completions.create(model="m", messages=HI)
        assert reply.choices[0].message.content == "ok"
        assert lb.connections == [1, 1, 1]  # each attempt on another instance
        seen = journal(urls[0], 3)
        assert [e["status"] for e in seen] == [500, 500, 200]
        assert [e["retry_count"] for e in seen] == [0, 1, 2]  # the SDK's own retries
        # Anthropic's SDK too, in a tenant of its own (the script starts afresh there).
        with anthropic.Anthropic(base_url=lb.url + "/t/claude", api_key="k", max_retries=2,
                                 http_client=no_keep_alive_anthropic()) as claude:
            message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=5,
                                             messages=HI)
        assert message.content[0].text == "ok"  # type: ignore[union-attr]
        assert lb.connections == [2, 2, 2]
        assert [e["status"] for e in journal(urls[2] + "/t/claude", 3)] == [500, 500, 200]


def test_an_rpm_limit_is_counted_once_across_four_instances(redis_url: str,
                                                             tmp_path: Path) -> None:
    scenario = "limits: {requests_per_minute: 10}\ntime_scale: 1000\nreply: {text: ok}\n"
    with cluster(scenario, redis_url, 4, tmp_path) as (lb, _, urls), \
            openai.OpenAI(base_url=lb.url + "/v1", api_key="k", max_retries=0,
                          http_client=no_keep_alive()) as client:
        statuses = []
        remaining = []
        for _ in range(12):
            try:
                raw = client.chat.completions.with_raw_response.create(model="m", messages=HI)
                statuses.append(raw.status_code)
                remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
            except openai.RateLimitError as exc:
                statuses.append(exc.status_code)
        assert lb.connections == [3, 3, 3, 3]
        assert statuses == [200] * 10 + [429] * 2
        assert remaining == list(range(9, -1, -1))  # counting down across the instances
        assert len(journal(urls[3], 12)) == 12


def _redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A redis-server that writes every change to its append-only file before answering, as
    a Redis that must not lose a journal is run."""
    exe = find_redis_server()
    assert exe is not None
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "yes", "--appendfsync", "always",
                             "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


def test_redis_killed_mid_run_then_back_and_an_instance_killed(
        redis_server: RedisServer, tmp_path: Path) -> None:
    # redis_server (unused) skips the test where redis-server is not installed; this one
    # runs its own, persistent one, to kill and restart.
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    first = _redis(port, tmp_path)
    second = None
    try:
        with cluster("reply: {text: ok}\n", url, 2, tmp_path) as (lb, procs, urls), \
                openai.OpenAI(base_url=lb.url + "/v1", api_key="k", max_retries=0,
                              http_client=no_keep_alive()) as client:
            for _ in range(4):
                client.chat.completions.create(model="m", messages=HI)
            assert len(journal(urls[0], 4)) == 4
            first.send_signal(signal.SIGKILL)  # no goodbye: as a crash
            first.wait(5)
            for _ in range(2):  # each instance: a 503 in OpenAI's shape naming the state
                with pytest.raises(openai.InternalServerError) as info:
                    client.chat.completions.create(model="m", messages=HI)
                assert info.value.status_code == 503
                assert url in info.value.message
            with anthropic.Anthropic(base_url=lb.url, api_key="k", max_retries=0,
                                     http_client=no_keep_alive_anthropic()) as claude, \
                    pytest.raises(anthropic.InternalServerError) as refused:
                claude.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=HI)
            assert refused.value.status_code == 503
            assert url in refused.value.message
            second = _redis(port, tmp_path)  # back, with what it had written
            for _ in range(4):  # no instance restarted: both recover
                assert client.chat.completions.create(
                    model="m", messages=HI).choices[0].message.content == "ok"
            seen = journal(urls[1], 8)
            assert [e["status"] for e in seen] == [200] * 8
            assert [e["seq"] for e in seen[:4]] == [0, 1, 2, 3]  # nothing journaled lost
            # An instance killed outright: what it answered stays in the journal.
            stop(procs[0], signal.SIGKILL)
            seen = journal(urls[1], 8)
            assert len(seen) == 8
            assert httpx.post(urls[1] + "/v1/chat/completions",
                              json={"model": "m", "messages": HI}).status_code == 200
            assert len(journal(urls[1], 9)) == 9
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

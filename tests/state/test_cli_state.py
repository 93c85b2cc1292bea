"""``llmfake serve --state``: a private redis-server for the run, and what the banner says."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from cluster import serve

from llmfake._redis_server import RedisServer

USER = [{"role": "user", "content": "hi"}]


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    proc.wait(15)
    assert proc.stdout is not None
    rest = proc.stdout.read()
    proc.stdout.close()
    return rest


def test_state_redis_starts_a_private_redis_server_and_stops_it(
        redis_server: RedisServer) -> None:
    proc, url, banner = serve("--state", "redis", "--workers", "2")
    try:
        state = re.search(r"state:\s+(redis://127\.0\.0\.1:(\d+)/0)", banner)
        assert state, banner
        assert "sharing the state" in banner
        assert httpx.post(url + "/v1/chat/completions",
                          json={"model": "m", "messages": USER}).status_code == 200
        port = int(state.group(2))
        socket.create_connection(("127.0.0.1", port)).close()  # it runs
    finally:
        assert "stopped" in stop(proc)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()  # and no more


def test_workers_without_redis_say_that_state_is_per_worker() -> None:
    proc, _, banner = serve("--workers", "2")
    stop(proc)
    assert "state is PER WORKER" in banner
    assert "up to 120" in banner


def test_an_unreachable_state_stops_serve_with_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    url = f"redis://127.0.0.1:{port}/0"
    done = subprocess.run([sys.executable, "-m", "llmfake", "serve", "--port", "0", "--state",
                           url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert url in done.stderr and "--state memory" in done.stderr

"""``llmfake serve --workers/--journal-size`` and the per-request log, as real subprocesses."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

CLI = [sys.executable, "-m", "llmfake", "serve", "--port", "0"]
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line or line == "\n":
            break
        lines.append(line)
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", lines[0] if lines else "")
    assert match, lines
    return proc, match.group(1)


@pytest.fixture
def started():
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc, url = _start(*args)
        procs.append(proc)
        return proc, url

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=15)


def test_workers_share_one_port_each_with_its_own_state(started):
    proc, url = started("--workers", "2", "--quiet")
    with httpx.Client() as client:
        seqs = set()
        for _ in range(40):
            r = client.post(f"{url}/v1/chat/completions", json=CHAT,
                            headers={"connection": "close"})
            assert r.status_code == 200
        # Each worker has its own journal: together they hold every request, neither all.
        for _ in range(20):
            journal = httpx.get(f"{url}/_llmfake/journal",
                                headers={"connection": "close"}).json()
            seqs.add(len(journal))
    assert all(0 < n < 40 for n in seqs)  # all 40 to one worker: a 2**-39 chance
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_journal_size_bounds_the_journal(started):
    _, url = started("--journal-size", "3", "--quiet")
    for _ in range(5):
        assert httpx.post(f"{url}/v1/chat/completions", json=CHAT).status_code == 200
    assert len(httpx.get(f"{url}/_llmfake/journal").json()) == 3


def test_the_request_log_is_rate_limited(started):
    proc, url = started()
    with httpx.Client() as client:
        for _ in range(120):
            assert client.post(f"{url}/v1/chat/completions", json=CHAT).status_code == 200
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    logged = out.count("POST /v1/chat/completions 200 reply")
    skipped = sum(int(n) for n in re.findall(r"\.\.\. and (\d+) more requests", out))
    assert logged + skipped == 120
    assert "stopped" in out


def test_bad_worker_count_is_a_usage_error():
    result = subprocess.run([*CLI, "--workers", "0"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "--workers: expected a whole number >= 1, got 0" in result.stderr


@pytest.mark.parametrize(("flag", "value", "needle"), [
    ("--workers", "x", "--workers: expected a whole number >= 1, got 'x'"),
    ("--seed", "-1", "--seed: expected a whole number >= 0, got -1"),
])
def test_bad_numbers_say_what_is_expected(flag, value, needle):
    result = subprocess.run([*CLI, flag, value], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 2
    assert needle in result.stderr

"""What the pytest plugin adds to a test suite: session start-up, the ``llmfake`` fixture's cost
per test, and a suite of tests each making one SDK call, against in-process mocks.

Every figure comes from real ``pytest`` runs of generated test files (in a temporary
directory, each run a fresh ``python -m pytest -q`` process) or, for the start-up parts, from
fresh interpreters timing each step:

1. **Start-up**: in a fresh interpreter (pytest already imported, as under pytest), the time to
   import the plugin module, to import the server (aiohttp), to start the session's server and
   to stop it. And end to end: a one-test suite using ``llmfake`` against the same test without
   it (median wall time of whole ``pytest`` processes).
2. **Per test**: N tests ``def test_i(llmfake): pass`` against N tests ``def test_i(): pass``.
   Reported two ways: the median setup plus teardown time pytest measured per test (its phase
   durations, collected by a conftest; the first test, which starts the server, is shown
   apart), and the wall-time difference divided by N, start-up included, and divided by N - 1
   once the first test's setup (the server's start) is taken out.
3. **SDK suites**: 200 tests, each making one chat completion call with the ``openai`` SDK,
   (a) with the ``llmfake`` fixture (real sockets to the session's server) and (b) with the
   SDK's transport mocked in-process (``httpx2.MockTransport``: openai 3.x and anthropic use
   httpx2, which respx 0.23 cannot patch); each test building its client (``openai.OpenAI()``
   creates an SSL context, about 20 ms, which the mocked client skips), and again with one
   client per module (``-shared``: ``with_options(base_url=...)`` per test for llmfake). Then
   200 tests each making one raw ``httpx`` POST, (c) to the ``llmfake`` fixture and (d) mocked
   by ``respx``. Plus (e) 200 empty tests: pytest's own floor. Suites alternate,
   ``--rounds`` times; medians reported.

    python benchmarks/bench_plugin.py                # 500 per-test runs, 5 rounds
    python benchmarks/bench_plugin.py --quick --json

Loopback only; bounded by run counts; exits 0 when it could measure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import environment, ms, print_json, wait_for_idle

INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

# Records each test's setup and teardown durations (pytest's own phase timings).
DURATIONS_CONFTEST = """
import json
import os

PHASES = {}

def pytest_runtest_logreport(report):
    if report.when in ("setup", "teardown"):
        PHASES[report.nodeid] = PHASES.get(report.nodeid, 0.0) + report.duration

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as f:
        json.dump(PHASES, f)
"""

COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}

SUITES: dict[str, tuple[str, str]] = {
    # name: (module header, one test with {i})
    "llmfake-sdk": ("import openai\n", """
        def test_{i}(llmfake):
            llmfake.script(llmfake.reply("Hello!"))
            with openai.OpenAI() as client:
                reply = client.chat.completions.create(
                    model="gpt-4o", messages=[{{"role": "user", "content": "hi {i}"}}])
            assert reply.choices[0].message.content == "Hello!"
        """),
    "mock-sdk": (f"import httpx2\nimport openai\nCOMPLETION = {COMPLETION!r}\n", """
        def test_{i}():
            def handler(request):
                assert request.url.path == "/v1/chat/completions"
                return httpx2.Response(200, json=COMPLETION)
            http = httpx2.Client(transport=httpx2.MockTransport(handler))
            with openai.OpenAI(api_key="sk-test", http_client=http) as client:
                reply = client.chat.completions.create(
                    model="gpt-4o", messages=[{{"role": "user", "content": "hi {i}"}}])
            assert reply.choices[0].message.content == "Hello!"
        """),
    "llmfake-sdk-shared": ('import openai\nCLIENT = openai.OpenAI(api_key="sk-test", '
                           'base_url="http://127.0.0.1:9/v1")\n', """
        def test_{i}(llmfake):
            llmfake.script(llmfake.reply("Hello!"))
            client = CLIENT.with_options(base_url=llmfake.openai_base_url)
            reply = client.chat.completions.create(
                model="gpt-4o", messages=[{{"role": "user", "content": "hi {i}"}}])
            assert reply.choices[0].message.content == "Hello!"
        """),
    "mock-sdk-shared": (f"import httpx2\nimport openai\nCOMPLETION = {COMPLETION!r}\n"
                        "def handler(request):\n"
                        "    assert request.url.path == '/v1/chat/completions'\n"
                        "    return httpx2.Response(200, json=COMPLETION)\n"
                        "CLIENT = openai.OpenAI(api_key='sk-test', http_client=httpx2.Client("
                        "transport=httpx2.MockTransport(handler)))\n", """
        def test_{i}():
            reply = CLIENT.chat.completions.create(
                model="gpt-4o", messages=[{{"role": "user", "content": "hi {i}"}}])
            assert reply.choices[0].message.content == "Hello!"
        """),
    "llmfake-httpx": ("import os\nimport httpx\n", """
        def test_{i}(llmfake):
            llmfake.script(llmfake.reply("Hello!"))
            r = httpx.post(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
                           json={{"model": "gpt-4o",
                                 "messages": [{{"role": "user", "content": "hi {i}"}}]}})
            assert r.json()["choices"][0]["message"]["content"] == "Hello!"
        """),
    "respx-httpx": (f"import httpx\nCOMPLETION = {COMPLETION!r}\n", """
        def test_{i}(respx_mock):
            respx_mock.post("https://api.openai.com/v1/chat/completions").mock(
                return_value=httpx.Response(200, json=COMPLETION))
            r = httpx.post("https://api.openai.com/v1/chat/completions",
                           json={{"model": "gpt-4o",
                                 "messages": [{{"role": "user", "content": "hi {i}"}}]}})
            assert r.json()["choices"][0]["message"]["content"] == "Hello!"
        """),
    "empty": ("", """
        def test_{i}():
            pass
        """),
    "fixture-only": ("", """
        def test_{i}(llmfake):
            pass
        """),
}


SDK_SUITES = ("llmfake-sdk", "mock-sdk", "llmfake-sdk-shared", "mock-sdk-shared", "llmfake-httpx",
              "respx-httpx", "empty")


def write_suite(root: Path, name: str, n: int) -> Path:
    """A directory with an ini file, the durations conftest and ``n`` tests of ``name``."""
    folder = root / f"{name}-{n}"
    folder.mkdir()
    (folder / "pytest.ini").write_text(INI)
    (folder / "conftest.py").write_text(DURATIONS_CONFTEST)
    header, test = SUITES[name]
    body = "".join(textwrap.dedent(test).format(i=i) + "\n" for i in range(n))
    (folder / "test_suite.py").write_text(header + "\n" + body)
    return folder


def run_suite(folder: Path, n: int, cpu: int | None) -> dict[str, float]:
    """One ``pytest`` process on ``folder``: wall time, and pytest's setup+teardown time."""
    durations = folder / "durations.json"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    env = {**os.environ, "BENCH_DURATIONS": str(durations)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or f"{n} passed" not in proc.stdout:
        raise RuntimeError(f"{folder.name} did not pass:\n{proc.stdout[-3000:]}{proc.stderr}")
    # The first test that asks for llmfake starts the server: its setup carries the start-up,
    # which the median leaves out and "first" shows.
    phases = list(json.loads(durations.read_text()).values())
    return {"wall": wall, "setup_teardown": statistics.median(phases), "first": phases[0]}


STARTUP = """
import json, time
import pytest
t0 = time.perf_counter()
import llmfake.pytest_plugin
from llmfake._plugin._options import SessionSettings   # what pytest_configure imports
from llmfake._plugin._session import SessionServer
t1 = time.perf_counter()
slot = SessionServer(SessionSettings())
slot.url
t2 = time.perf_counter()
import llmfake.server
t3 = time.perf_counter()
slot.start()
t4 = time.perf_counter()
slot.close()
t5 = time.perf_counter()
print(json.dumps({"plugin_import": t1 - t0, "bind": t2 - t1, "server_import": t3 - t2,
                  "server_start": t4 - t3, "server_stop": t5 - t4}))
"""


def startup(runs: int, cpu: int | None) -> dict[str, float]:
    """Median of each start-up step over ``runs`` fresh interpreters."""
    cmd = [sys.executable, "-c", STARTUP]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    samples = [json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True,
                                         timeout=60).stdout) for _ in range(runs)]
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def median_runs(folder: Path, n: int, rounds: int, cpu: int | None) -> dict[str, Any]:
    runs = [run_suite(folder, n, cpu) for _ in range(rounds)]
    walls = sorted(r["wall"] for r in runs)
    return {"wall_s": round(statistics.median(walls), 3),
            "wall_range_s": [round(walls[0], 3), round(walls[-1], 3)],
            "setup_teardown_ms": ms(statistics.median(r["setup_teardown"] for r in runs)),
            "first_test_setup_teardown_ms": ms(statistics.median(r["first"] for r in runs))}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    cpu = args.cpu
    out: dict[str, Any] = {"environment": environment(), "settings": vars(args).copy()}
    if args.wait_idle:
        out["idle"] = wait_for_idle([cpu], args.wait_idle)
    with tempfile.TemporaryDirectory(prefix="llmfake-bench-plugin-") as tmp:
        root = Path(tmp)
        out["startup_ms"] = {k: ms(v) for k, v in startup(args.startup_runs, cpu).items()}
        one_with = write_suite(root, "fixture-only", 1)
        one_without = write_suite(root, "empty", 1)
        e2e = {name: median_runs(folder, 1, args.startup_runs, cpu)
               for name, folder in (("with", one_with), ("without", one_without))}
        out["session_e2e"] = {**e2e, "difference_ms": ms(e2e["with"]["wall_s"]
                                                         - e2e["without"]["wall_s"])}
        n = args.per_test
        folders = {"with": write_suite(root, "fixture-only", n),
                   "without": write_suite(root, "empty", n)}
        per: dict[str, Any] = {name: median_runs(folder, n, args.rounds, cpu)
                               for name, folder in folders.items()}
        per["fixture_setup_teardown_ms"] = round(per["with"]["setup_teardown_ms"]
                                                 - per["without"]["setup_teardown_ms"], 4)
        # Start-up included: what N tests cost in all, spread over them.
        per["wall_difference_per_test_ms"] = round(
            (per["with"]["wall_s"] - per["without"]["wall_s"]) * 1000 / n, 3)
        # Start-up apart: the server starts in the first test's setup (imports, most of it,
        # compiled from source where PYTHONDONTWRITEBYTECODE is set); the other N - 1 tests
        # share what is left of the difference.
        first = (per["with"]["first_test_setup_teardown_ms"]
                 - per["without"]["first_test_setup_teardown_ms"])
        per["wall_difference_per_test_after_first_ms"] = round(
            ((per["with"]["wall_s"] - per["without"]["wall_s"]) * 1000 - first) / max(n - 1, 1),
            3)
        out["per_test"] = {"tests": n, **per}
        if args.sdk_tests <= 0:  # python -m benchmarks only wants the per-test figures
            return out
        suites = {name: write_suite(root, name, args.sdk_tests)
                  for name in SDK_SUITES}
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in suites}
        for _ in range(args.rounds):  # alternate, so drift on the machine hits all alike
            for name, folder in suites.items():
                samples[name].append(run_suite(folder, args.sdk_tests, cpu))
        out["sdk_suites"] = {"tests": args.sdk_tests, **{
            name: {"wall_s": round(statistics.median(r["wall"] for r in runs), 3),
                   "wall_range_s": [round(min(r["wall"] for r in runs), 3),
                                    round(max(r["wall"] for r in runs), 3)]}
            for name, runs in samples.items()}}
    return out


def summary(r: dict[str, Any]) -> str:
    s, e, p = r["startup_ms"], r["session_e2e"], r["per_test"]
    k = r.get("sdk_suites", {"tests": 0})
    lines = [
        "start-up, fresh interpreter (median ms): "
        f"plugin import {s['plugin_import']}, socket bind {s['bind']}, server import "
        f"(aiohttp) {s['server_import']}, server start {s['server_start']}, "
        f"stop {s['server_stop']}",
        f"one-test session, wall: with llmfake {e['with']['wall_s']} s, without "
        f"{e['without']['wall_s']} s: +{e['difference_ms']} ms",
        f"per test ({p['tests']} tests): fixture setup+teardown "
        f"{p['fixture_setup_teardown_ms']} ms (median of pytest's phase timings; the first "
        f"test, which starts the server: {p['with']['first_test_setup_teardown_ms']} ms); "
        f"wall difference, start-up included, {p['wall_difference_per_test_ms']} ms per test, "
        f"{p['wall_difference_per_test_after_first_ms']} ms per test after the first",
        f"{k['tests']} tests, one call each (median wall s, range):",
    ]
    for name in SDK_SUITES if k["tests"] else ():
        lines.append(f"  {name:<18} {k[name]['wall_s']:>7} {k[name]['wall_range_s']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-test", type=int, default=500,
                   help="tests in the per-test suites (default 500)")
    p.add_argument("--sdk-tests", type=int, default=200,
                   help="tests in the SDK suites (default 200; 0 skips them)")
    p.add_argument("--rounds", type=int, default=5, help="runs of each suite (default 5)")
    p.add_argument("--startup-runs", type=int, default=10,
                   help="fresh interpreters for start-up (default 10)")
    p.add_argument("--cpu", type=int, default=None, help="pin the pytest processes to a CPU")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="wait up to this long for the CPU to be idle first")
    p.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.per_test, args.sdk_tests, args.rounds, args.startup_runs = 50, 20, 1, 2
    result = measure(args)
    if args.json:
        print_json(result)
    else:
        print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up: how long until a fresh llmfake answers its first request.

- **in-process**: a fresh interpreter imports llmfake and its server module (the engine, the
  providers and the scenario format's pydantic models), then
  ``with llmfake.serve(scenario)`` until its first chat completion is answered (``http.client``,
  same process); the imports and the serve-to-answer time are reported apart (target:
  answering < 50 ms after ``serve()``);
- **CLI**: ``python -m llmfake serve --port 0 --quiet`` as a user starts it, from the process's
  start until its first answered chat completion (interpreter and imports included).

Medians of ``--runs`` fresh processes, each pinned to ``--cpu`` (default 0).

    python benchmarks/bench_startup.py --json

The pytest plugin's per-test fixture cost is ``bench_plugin.py``'s (``python -m benchmarks``
runs both).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from _common import (
    CHAT_PATH,
    TEXT_50,
    chat_request,
    environment,
    llmfake_argv,
    ms,
    print_json,
    scenario_file,
    server_process,
    wait_for_idle,
)

SCENARIO: dict[str, Any] = {"name": "bench-startup", "reply": {"text": TEXT_50}}
IN_PROCESS = r"""
import http.client, json, sys, time
t0 = time.perf_counter()
import llmfake
ta = time.perf_counter()
import llmfake.server  # what serve() imports on first use
t1 = time.perf_counter()
with llmfake.serve(json.loads(sys.argv[1])) as server:
    t2 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("POST", "/v1/chat/completions", body=sys.argv[2],
                 headers={"content-type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    t3 = time.perf_counter()
    assert resp.status == 200, body
    conn.close()
print(json.dumps({"import_s": ta - t0, "import_server_s": t1 - ta,
                  "serve_to_listening_s": t2 - t1,
                  "serve_to_first_answer_s": t3 - t1}))
"""


def _pin(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


def in_process(runs: int, cpu: int | None) -> dict[str, Any]:
    cmd = _pin([sys.executable, "-c", IN_PROCESS, json.dumps(SCENARIO),
                chat_request(False).decode()], cpu)
    samples = [json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True,
                                         timeout=60).stdout) for _ in range(runs)]
    return {k.removesuffix("_s") + "_ms": ms(statistics.median(s[k] for s in samples))
            for k in samples[0]} | {"runs": runs}


def cli(runs: int, cpu: int | None) -> dict[str, Any]:
    times: list[float] = []
    with scenario_file(SCENARIO) as path:
        for _ in range(runs):
            t0 = time.perf_counter()
            with server_process("llmfake", llmfake_argv(path), cpu) as server:
                port = int(server.url.rsplit(":", 1)[1])
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", CHAT_PATH, body=chat_request(False),
                             headers={"content-type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                times.append(time.perf_counter() - t0)
                conn.close()
                if resp.status != 200:
                    raise RuntimeError(f"llmfake serve answered {resp.status}")
    return {"start_to_first_answer_ms": ms(statistics.median(times)),
            "range_ms": [ms(min(times)), ms(max(times))], "runs": runs}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.wait_idle > 0:
        wait_for_idle([args.cpu], args.wait_idle)
    return {"benchmark": "startup", "in_process": in_process(args.runs, args.cpu),
            "cli": cli(args.runs, args.cpu), "cpu": args.cpu, "environment": environment(),
            "command": " ".join(["python", *sys.argv])}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=10, help="fresh processes (default 10)")
    p.add_argument("--cpu", type=int, default=0, help="pin them to this CPU (default 0)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--quick", action="store_true", help="3 runs")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.runs = 3
    doc = run(args)
    if args.json:
        print_json(doc)
        return
    i, c = doc["in_process"], doc["cli"]
    print(f"in-process: import {i['import_ms']} ms + server {i['import_server_ms']} ms; "
          f"serve() to first answer "
          f"{i['serve_to_first_answer_ms']} ms (listening after {i['serve_to_listening_ms']} ms)")
    print(f"CLI: process start to first answer {c['start_to_first_answer_ms']} ms")


if __name__ == "__main__":
    main()

"""Throughput of llmfake on one core: chat completions per second at 32 concurrent connections.

The server runs as its own process (``python -m llmfake serve``), pinned to CPU 0; the load
generator (this process: an aiohttp client, one ``TCPConnector(limit=32)``, 32 worker coroutines,
keep-alive) is pinned to CPU 1. After a warm-up (default 1 s) it counts the requests that
complete within a fixed window (default 10 s) and reports requests/s, p50/p99 latency, errors,
and the CPU each side used. A minimal plain aiohttp server (``_baseline_server.py``, a fixed JSON
body of the same size) is measured the same way in the same run, and the ratio printed.

    python benchmarks/bench_throughput.py                 # non-streaming, 10 s
    python benchmarks/bench_throughput.py --stream        # streamed requests/s
    python benchmarks/bench_throughput.py --quick --json  # 1 s smoke run, JSON output

Loopback only; bounded by duration; exits 0 when it could measure (errors are reported).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import pstats
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    CHAT_PATH,
    HERE,
    TEXT_50,
    ServerProcess,
    chat_request,
    check_text_50,
    cpu_busy_seconds,
    environment,
    llmfake_argv,
    ms,
    percentile,
    pick_cpus,
    pin_self,
    print_json,
    scenario_file,
    self_cpu_seconds,
    server_process,
    wait_for_idle,
)

DONE = b"data: [DONE]\n\n"
#: The default scenario: a fixed 50-token reply, no latency, no limits, no faults.
SCENARIO: dict[str, Any] = {"name": "bench-throughput", "reply": {"text": TEXT_50},
                            "latency": {"ttft": "0ms", "per_token": "0ms"}}


@dataclass
class LoadResult:
    """What one load run measured."""

    server: str
    seconds: float
    requests: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    req_per_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu_pct: float = 0.0
    client_cpu_pct: float = 0.0
    others_on_server_cpu_pct: float = 0.0
    server_cpu_us_per_req: float = 0.0
    req_per_server_cpu_s: float = 0.0
    response_bytes: int = 0
    server_rss_mb_before: float = 0.0
    server_rss_mb_after: float = 0.0
    cpus_idle_before: bool | None = None


async def probe(url: str, stream: bool) -> bytes:
    """One request, to check the answer and learn its size."""
    async with aiohttp.ClientSession() as session, session.post(
        url + CHAT_PATH, data=chat_request(stream),
        headers={"content-type": "application/json", "authorization": "Bearer sk-bench"},
    ) as r:
        body = await r.read()
        if r.status != 200:
            raise RuntimeError(f"{url} answered {r.status}: {body[:500]!r}")
        if stream and not body.endswith(DONE):
            raise RuntimeError(f"{url}: the stream does not end with [DONE]: {body[-200:]!r}")
        return body


async def load(server: ServerProcess, *, stream: bool, concurrency: int, warmup: float,
               seconds: float) -> LoadResult:
    """Drive ``server`` with ``concurrency`` keep-alive workers; measure the window after the
    warm-up. A request counts when it completes inside the window."""
    payload = chat_request(stream)
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    url = server.url + CHAT_PATH
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    kinds: collections.Counter[str] = collections.Counter()
    sizes: list[int] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = loop.time() + warmup
        t1 = t0 + seconds

        async def worker() -> None:
            while True:
                begin = loop.time()
                if begin >= t1:
                    return
                kind = ""
                try:
                    async with session.post(url, data=payload, headers=headers) as r:
                        body = await r.read()
                        if r.status != 200:
                            kind = f"HTTP {r.status}"
                        elif stream and not body.endswith(DONE):
                            kind = "stream without [DONE]"
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    kind = type(exc).__name__
                    body = b""
                end = loop.time()
                if t0 <= end <= t1:
                    if kind:
                        kinds[kind] += 1
                    else:
                        latencies.append(end - begin)
                        if len(sizes) < 1:
                            sizes.append(len(body))

        cpu: dict[str, float] = {}

        async def sample() -> None:
            await asyncio.sleep(max(t0 - loop.time(), 0))
            cpu["server0"], cpu["client0"] = server.cpu_seconds(), self_cpu_seconds()
            cpu["busy0"] = cpu_busy_seconds(server.cpu)
            cpu["t0"] = loop.time()
            await asyncio.sleep(max(t1 - loop.time(), 0))
            cpu["server1"], cpu["client1"] = server.cpu_seconds(), self_cpu_seconds()
            cpu["busy1"] = cpu_busy_seconds(server.cpu)
            cpu["t1"] = loop.time()

        await asyncio.gather(sample(), *(worker() for _ in range(concurrency)))
    window = cpu["t1"] - cpu["t0"]
    res = LoadResult(server=server.name, seconds=round(window, 3))
    res.requests = len(latencies)
    res.errors = sum(kinds.values())
    res.error_kinds = dict(kinds)
    res.req_per_s = round(len(latencies) / seconds, 1)
    res.p50_ms = ms(percentile(latencies, 50))
    res.p90_ms = ms(percentile(latencies, 90))
    res.p99_ms = ms(percentile(latencies, 99))
    res.max_ms = ms(max(latencies, default=float("nan")))
    server_cpu_s = cpu["server1"] - cpu["server0"]
    res.server_cpu_pct = round(100 * server_cpu_s / window, 1)
    others = (cpu["busy1"] - cpu["busy0"] - server_cpu_s) / window
    res.others_on_server_cpu_pct = round(max(100 * others, 0.0), 1)
    if latencies and server_cpu_s > 0:
        res.server_cpu_us_per_req = round(1e6 * server_cpu_s / len(latencies), 1)
        res.req_per_server_cpu_s = round(len(latencies) / server_cpu_s, 1)
    res.client_cpu_pct = round(100 * (cpu["client1"] - cpu["client0"]) / window, 1)
    res.response_bytes = sizes[0] if sizes else 0
    return res


def measure(name: str, argv: list[str], cpu: int | None, args: argparse.Namespace
            ) -> tuple[LoadResult, int]:
    """Start a server, probe it, load it; return the result and the probed response size."""
    with server_process(name, argv, cpu) as server:
        size = len(asyncio.run(probe(server.url, args.stream)))
        idle = (wait_for_idle([cpu, args.client_cpu], args.wait_idle) if args.wait_idle > 0
                else None)
        rss_before = server.rss_mb()
        result = asyncio.run(load(server, stream=args.stream, concurrency=args.concurrency,
                                  warmup=args.warmup, seconds=args.seconds))
        result.server_rss_mb_before, result.server_rss_mb_after = rss_before, server.rss_mb()
        result.cpus_idle_before = idle
        if server.proc.poll() is not None:
            raise RuntimeError(f"{name} died: {''.join(server.output)[-2000:]}")
        return result, size


def median_result(rounds: list[LoadResult]) -> LoadResult:
    """The per-field median of several rounds against one server (errors: the total)."""
    if len(rounds) == 1:
        return rounds[0]
    out = LoadResult(server=rounds[0].server, seconds=sum(r.seconds for r in rounds))
    for name in ("req_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "server_cpu_pct",
                 "client_cpu_pct", "others_on_server_cpu_pct", "server_cpu_us_per_req",
                 "req_per_server_cpu_s", "server_rss_mb_before", "server_rss_mb_after"):
        setattr(out, name, round(statistics.median(getattr(r, name) for r in rounds), 3))
    out.requests = sum(r.requests for r in rounds)
    out.errors = sum(r.errors for r in rounds)
    kinds: collections.Counter[str] = collections.Counter()
    for r in rounds:
        kinds.update(r.error_kinds)
    out.error_kinds = dict(kinds)
    out.response_bytes = rounds[0].response_bytes
    idle = [r.cpus_idle_before for r in rounds]
    out.cpus_idle_before = None if None in idle else all(idle)
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description="Requests/s of llmfake on one core, against a plain aiohttp baseline.")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window (default 10)")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up before it (default 1)")
    p.add_argument("--concurrency", type=int, default=32,
                   help="connections and worker coroutines (default 32)")
    p.add_argument("--stream", action="store_true",
                   help="streamed requests (\"stream\": true, read to [DONE])")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate llmfake and the baseline this many times and report the "
                        "medians (default 1; more on a noisy machine)")
    p.add_argument("--scenario", type=Path, default=None,
                   help="llmfake scenario file (default: a fixed 50-token reply, no latency)")
    p.add_argument("--no-baseline", action="store_true", help="skip the aiohttp baseline")
    p.add_argument("--state", default=None, metavar="memory|redis|URL",
                   help="llmfake serve --state (redis: a private redis-server, not pinned)")
    p.add_argument("--profile", type=Path, default=None, metavar="FILE.prof",
                   help="run the llmfake server under cProfile, save the stats to FILE.prof "
                        "and print its hot spots (slows the server down: figures not comparable)")
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default 0)")
    p.add_argument("--client-cpu", type=int, default=1,
                   help="CPU for the load generator (default 1)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each measurement, wait up to SECONDS for both CPUs to be idle "
                        "(a shared machine; default 0: do not wait)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 s window, 0.5 s warm-up")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.rounds = 1.0, 0.5, 1
    args.rounds = max(args.rounds, 1)
    check_text_50()

    server_cpu, client_cpu, pin_note = pick_cpus(args.server_cpu, args.client_cpu)
    pin_self(client_cpu)
    rounds: dict[str, list[LoadResult]] = {"llmfake": [], "baseline aiohttp": []}
    with contextlib.ExitStack() as stack:
        path = args.scenario or stack.enter_context(scenario_file(SCENARIO))
        for i in range(args.rounds):
            argv = llmfake_argv(path)
            if args.state:
                argv += ["--state", args.state]
            if args.profile is not None and i == 0:
                argv[1:1] = ["-m", "cProfile", "-o", str(args.profile)]
            result, size = measure("llmfake", argv, server_cpu, args)
            rounds["llmfake"].append(result)
            if not args.no_baseline:
                size_opt = "--stream-bytes" if args.stream else "--body-bytes"
                argv = [sys.executable, str(HERE / "_baseline_server.py"), "--port", "0",
                        size_opt, str(size)]
                rounds["baseline aiohttp"].append(measure("baseline aiohttp", argv,
                                                          server_cpu, args)[0])
    results = [median_result(r) for r in rounds.values() if r]
    ratio = (round(results[0].req_per_s / results[1].req_per_s, 3)
             if len(results) > 1 and results[1].req_per_s else None)
    cpu_ratio = (round(results[1].server_cpu_us_per_req / results[0].server_cpu_us_per_req, 3)
                 if len(results) > 1 and results[0].server_cpu_us_per_req else None)

    doc = {
        "benchmark": "throughput",
        "mode": "stream" if args.stream else "non-stream",
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "pinning": pin_note or "server and load generator pinned to separate CPUs",
        "scenario": str(args.scenario) if args.scenario else SCENARIO,
        "results": [asdict(r) for r in results],
        "ratio_llmfake_over_baseline": ratio,
        "ratio_by_server_cpu_per_request": cpu_ratio,
        "all_rounds": {k: [asdict(r) for r in v] for k, v in rounds.items() if v},
        "environment": environment(),
        "command": " ".join(["python", *sys.argv]),
    }
    if args.profile is not None:
        doc["profile"] = str(args.profile)
    if args.json:
        print_json(doc)
        return
    mode = "streamed" if args.stream else "non-streamed"
    print(f"llmfake throughput: {mode} POST {CHAT_PATH}, {args.concurrency} connections, "
          f"{args.seconds:g} s window after {args.warmup:g} s warm-up"
          + (f", median of {args.rounds} alternating rounds" if args.rounds > 1 else ""))
    print(f"server on CPU {server_cpu}, load generator on CPU {client_cpu}"
          + (f" ({pin_note})" if pin_note else ""))
    print(f"{'server':17} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'srv CPU':>7} {'others':>6} {'cli CPU':>7} {'us CPU/req':>10} {'bytes':>6} "
          f"{'RSS MiB':>12}")
    for r in results:
        print(f"{r.server:17} {r.req_per_s:8.1f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} "
              f"{r.errors:6d} {r.server_cpu_pct:6.0f}% {r.others_on_server_cpu_pct:5.0f}% "
              f"{r.client_cpu_pct:6.0f}% {r.server_cpu_us_per_req:10.1f} "
              f"{r.response_bytes:6d} {r.server_rss_mb_before:5.0f}->{r.server_rss_mb_after:<5.0f}")
        if r.error_kinds:
            print(f"  errors: {r.error_kinds}")
    if ratio is not None:
        print(f"ratio llmfake/baseline (req/s): {ratio:.3f}; by server CPU per request: "
              f"{cpu_ratio:.3f}")
    for r in results:
        if r.server_cpu_pct < 90 and r.client_cpu_pct > 90:
            print(f"note: {r.server} used {r.server_cpu_pct:.0f}% of its CPU while the load "
                  "generator used all of its own: that figure is bounded by the client")
        if r.cpus_idle_before is False:
            print(f"note: the CPUs were still busy with other work when the {r.server} "
                  "run started (--wait-idle ran out)")
        if r.others_on_server_cpu_pct > 5:
            print(f"note: other processes took {r.others_on_server_cpu_pct:.0f}% of the "
                  f"server's CPU during the {r.server} run: req/s is understated; "
                  "'us CPU/req' is less affected")
    if args.profile is not None:
        print_profile(args.profile)


def print_profile(path: Path, top: int = 30) -> None:
    """The server's hot spots from the cProfile stats in ``path``."""
    if not path.exists():
        print(f"no profile written to {path} (the server did not exit cleanly)")
        return
    stats = pstats.Stats(str(path))
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


if __name__ == "__main__":
    main()

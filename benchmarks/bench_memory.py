"""Memory of ``llmfake serve``: with 1,000 open stalled streams, and over 100,000 requests.

1. **Open streams**: ``--streams`` (default 1,000) streamed chat completions held open at once:
   each gets its first token, then the scenario's ``stall`` fault keeps the socket open and
   silent. Once every stream has its first token, the server's RSS and peak RSS (VmHWM) are
   read from /proc, against the RSS of the idle server.
2. **Many requests**: ``--requests`` (default 100,000) non-streamed chat completions (wrk, 32
   connections, else an aiohttp client), the server's RSS read every ``--sample-every``
   requests. The journal is a ring (``llmfake serve --journal-size N``, default 10,000): once it
   is full, RSS must stay flat.

    python benchmarks/bench_memory.py --json
    python benchmarks/bench_memory.py --quick        # 100 streams, 10,000 requests

Loopback only; bounded by the request count; exits 0 when it could measure.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    CHAT_PATH,
    TEXT_50,
    ServerProcess,
    chat_request,
    environment,
    llmfake_argv,
    pick_cpus,
    pin_self,
    print_json,
    scenario_file,
    server_process,
    wait_for_idle,
)
from bench_load import have_wrk, run_aiohttp, run_wrk

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
SCENARIO: dict[str, Any] = {
    "name": "bench-memory", "reply": {"text": TEXT_50},
    "latency": {"ttft": "0ms", "per_token": "0ms"},
    # A stream gets its first token, then stays open and silent (for 10 minutes at most).
    "rules": [{"match": {"stream": True}, "fault": "stall", "after_chunks": 1,
               "duration": "600s"}],
}


def peak_mb(pid: int) -> float:
    """VmHWM (peak resident set) of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def open_streams(server: ServerProcess, n: int) -> dict[str, Any]:
    """Open ``n`` streams, wait until each has its first token; measure; close them."""
    url = server.url + CHAT_PATH
    payload = chat_request(True)
    got = 0
    all_in = asyncio.Event()
    release = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=n + 10, force_close=True)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def one() -> None:
            nonlocal got
            async with session.post(url, data=payload, headers=HEADERS) as r:
                await r.content.readuntil(b"\n\n")  # the role delta
                await r.content.readuntil(b"\n\n")  # the first token; then the stall
                got += 1
                if got == n:
                    all_in.set()
                await release.wait()

        t0 = time.monotonic()
        tasks = [asyncio.create_task(one()) for _ in range(n)]
        await asyncio.wait_for(all_in.wait(), 300)
        opened_s = time.monotonic() - t0
        await asyncio.sleep(1.0)  # let the server settle (its hold loops, the collector)
        out = {"streams": n, "open_s": round(opened_s, 2), "rss_mb": server.rss_mb(),
               "peak_rss_mb": peak_mb(server.pid)}
        release.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


def many_requests(server: ServerProcess, total: int, every: int, client_cpu: int | None
                  ) -> list[dict[str, Any]]:
    """``total`` requests in steps of about ``every``; the RSS after each step."""
    samples = [{"requests": 0, "rss_mb": server.rss_mb()}]
    done = 0
    rate = 2000.0  # req/s guess; refined by each step
    while done < total:
        want = min(every, total - done)
        seconds = max(1.0, want / rate)
        if have_wrk():
            res = run_wrk(server.url, False, 32, seconds, client_cpu)
        else:
            res = run_aiohttp(server.url, False, 32, seconds, client_cpu, 2)
        if res["errors"]:
            raise RuntimeError(f"errors while loading the server: {res}")
        done += res["requests"]
        rate = max(res["requests"] / max(res["seconds"], 0.1), 100.0)
        samples.append({"requests": done, "rss_mb": server.rss_mb(),
                        "peak_rss_mb": peak_mb(server.pid)})
    return samples


def run(args: argparse.Namespace) -> dict[str, Any]:
    server_cpu, client_cpu, note = pick_cpus(args.server_cpu, args.client_cpu)
    pin_self(client_cpu)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.streams * 2 + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    doc: dict[str, Any] = {"benchmark": "memory", "pinning": note or f"server CPU {server_cpu}, "
                           f"client CPU {client_cpu}", "journal_size": args.journal_size}
    extra = ["--journal-size", str(args.journal_size)] if args.journal_size else []
    with scenario_file(SCENARIO) as path:
        argv = [*llmfake_argv(path), *extra]
        with server_process("llmfake", argv, server_cpu) as server:
            time.sleep(0.5)
            doc["idle_rss_mb"] = server.rss_mb()
            if args.wait_idle > 0:
                wait_for_idle([server_cpu, client_cpu], args.wait_idle)
            doc["open_streams"] = asyncio.run(open_streams(server, args.streams))
        with server_process("llmfake", argv, server_cpu) as server:
            time.sleep(0.5)
            if args.wait_idle > 0:
                wait_for_idle([server_cpu, client_cpu], args.wait_idle)
            samples = many_requests(server, args.requests, args.sample_every, client_cpu)
    doc["requests"] = samples
    full = args.journal_size or 10_000
    after_full = [s for s in samples if s["requests"] >= full * 1.5]
    if len(after_full) >= 2:
        doc["growth_after_journal_full_mb"] = round(after_full[-1]["rss_mb"]
                                                    - after_full[0]["rss_mb"], 1)
        doc["growth_window"] = [after_full[0]["requests"], after_full[-1]["requests"]]
    doc["environment"] = environment()
    doc["command"] = " ".join(["python", *sys.argv])
    return doc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streams", type=int, default=1000, help="open streams (default 1000)")
    p.add_argument("--requests", type=int, default=100_000,
                   help="requests of the second part (default 100000)")
    p.add_argument("--sample-every", type=int, default=10_000,
                   help="read the RSS every this many requests (default 10000)")
    p.add_argument("--journal-size", type=int, default=0,
                   help="llmfake serve --journal-size (default: llmfake's default)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--quick", action="store_true", help="100 streams, 10,000 requests")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.streams, args.requests, args.sample_every = 100, 10_000, 2_500
    doc = run(args)
    if args.json:
        print_json(doc)
        return
    o = doc["open_streams"]
    print(f"idle server: {doc['idle_rss_mb']} MiB RSS")
    print(f"{o['streams']} open stalled streams: {o['rss_mb']} MiB RSS, peak {o['peak_rss_mb']} "
          f"MiB (opened in {o['open_s']} s)")
    for s in doc["requests"]:
        print(f"after {s['requests']:>7,} requests: {s['rss_mb']} MiB RSS")
    if "growth_after_journal_full_mb" in doc:
        print(f"growth once the journal is full: {doc['growth_after_journal_full_mb']} MiB")


if __name__ == "__main__":
    main()

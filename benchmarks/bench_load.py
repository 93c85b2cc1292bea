"""Throughput against references and peers, in one run: llmfake's figures as ratios to each.

Servers, each pinned to CPU 0 and driven in turn, round after round, by the same load generator
on CPU 1 (wrk ``-t1 -c32``, keep-alive, when it is installed, else ``--procs`` processes of
aiohttp clients sharing the connections):

- ``llmfake``: ``python -m llmfake serve`` as the README installs it (its default event loop,
  journal and per-request log on, the log read by the benchmark);
- ``reference``: ``_reference_server.py``, asyncio.Protocol + httptools + orjson answering canned
  bytes (*exactly* the bytes llmfake answered, read from it first): what Python does on a core;
- ``aiohttp``: ``_baseline_server.py``, a bare aiohttp handler answering the same bytes;
- ``aimock``: the Node peer (``_peers.py``, pinned npm version), one catch-all fixture with the
  same text, when node and npm are present;
- ``llmfake-redis`` (with ``--state redis``): llmfake again, its state in a private
  ``redis-server`` started for the run (not pinned: Redis's own CPU is not llmfake's), so the
  cost of shared state shows side by side with ``memory`` (``redis_vs_memory``).

Two modes:

- ``chat``: non-streamed ``POST /v1/chat/completions``: req/s, latency p50/p99, server CPU/req;
- ``stream``: the same, streamed, 50 tokens, zero latency: streams/s and chunks/s (SSE events
  per stream times streams/s; llmfake and the reference send the same events);
- ``single``: one request at a time on one warm keep-alive connection: the wall time of a chat
  completion and of a whole 50-token stream, raw client and the ``openai`` SDK's stream
  iterator (each server's own overhead per request, not its throughput).

    python benchmarks/bench_load.py --json                   # both modes, 3 rounds of 10 s
    python benchmarks/bench_load.py --mode chat --quick      # 1 round of 2 s
    python benchmarks/bench_load.py --scenario my.yaml --only llmfake --profile out.prof
    python benchmarks/bench_load.py --mode chat --only llmfake --state redis --quick

Loopback only; bounded by duration; exits 0 when it could measure.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    server_process,
    wait_for_idle,
)
from _peers import AIMOCK_VERSION, aimock, aimock_cli

SERVERS = ("llmfake", "reference", "aiohttp", "aimock")
SCENARIO: dict[str, Any] = {"name": "bench-load", "reply": {"text": TEXT_50},
                            "latency": {"ttft": "0ms", "per_token": "0ms"}}
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


# --- the reference's bytes ---------------------------------------------------------------------

def fetch(url: str, stream: bool) -> bytes:
    """One chat request to ``url``; the body (de-chunked)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", CHAT_PATH, body=chat_request(stream), headers=HEADERS)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url} answered {resp.status}: {body[:300]!r}")
        return body
    finally:
        conn.close()


# --- load generators ---------------------------------------------------------------------------

def have_wrk() -> bool:
    return shutil.which("wrk") is not None


_WRK_LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def run_wrk(url: str, stream: bool, connections: int, seconds: float, cpu: int | None
            ) -> dict[str, Any]:
    """wrk, one thread, ``connections`` keep-alive connections, for ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_LUA.format(body=json.dumps(chat_request(stream).decode())))
        script = f.name
    try:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
               "-s", script, url + CHAT_PATH]
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                             check=True).stdout
    finally:
        os.unlink(script)
    res: dict[str, Any] = {"tool": "wrk"}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    res["requests"] = int(m.group(1)) if m else 0
    res["seconds"] = _ms(m.group(2) + m.group(3)) / 1000 if m else seconds
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["req_per_s"] = float(m.group(1)) if m else 0.0
    for q in ("50", "90", "99"):
        m = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        res[f"p{q}_ms"] = round(_ms(m.group(1)), 3) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    res["errors"] = errors
    return res


def _client_proc(url: str, stream: bool, connections: int, warmup: float, seconds: float,
                 cpu: int | None, out: Any) -> None:
    import asyncio

    import aiohttp

    pin_self(cpu)

    async def go() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        payload = chat_request(stream)
        lat: list[float] = []
        errors = 0
        t0 = loop.time() + warmup
        t1 = t0 + seconds
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=connections)) as session:

            async def worker() -> None:
                nonlocal errors
                while (begin := loop.time()) < t1:
                    try:
                        async with session.post(url + CHAT_PATH, data=payload,
                                                headers=HEADERS) as r:
                            await r.read()
                            ok = r.status == 200
                    except aiohttp.ClientError:
                        ok = False
                    end = loop.time()
                    if t0 <= end < t1:
                        if ok:
                            lat.append(end - begin)
                        else:
                            errors += 1

            await asyncio.gather(*(worker() for _ in range(connections)))
        return {"latencies": lat, "errors": errors}

    out.put(asyncio.run(go()))


def run_aiohttp(url: str, stream: bool, connections: int, seconds: float, cpu: int | None,
                procs: int) -> dict[str, Any]:
    """``procs`` processes of aiohttp clients, ``connections`` split among them."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    share = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    workers = [ctx.Process(target=_client_proc, args=(url, stream, n, 1.0, seconds, cpu, q))
               for n in share if n]
    for w in workers:
        w.start()
    results = [q.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join(10)
    lat = [x for r in results for x in r["latencies"]]
    return {"tool": f"aiohttp x{len(workers)} processes", "requests": len(lat),
            "seconds": seconds, "req_per_s": round(len(lat) / seconds, 1),
            "p50_ms": ms(percentile(lat, 50)), "p90_ms": ms(percentile(lat, 90)),
            "p99_ms": ms(percentile(lat, 99)), "errors": sum(r["errors"] for r in results)}


def run_single(url: str, runs: int) -> dict[str, Any]:
    """``runs`` sequential requests of each kind on one keep-alive connection: ms p50/p95."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    out: dict[str, Any] = {"tool": "http.client, one connection", "runs": runs}
    try:
        for kind, stream in (("chat", False), ("stream", True)):
            times = []
            for _ in range(runs + 5):  # 5 warm-up requests
                t0 = time.perf_counter()
                conn.request("POST", CHAT_PATH, body=chat_request(stream), headers=HEADERS)
                conn.getresponse().read()
                times.append(time.perf_counter() - t0)
            out[f"{kind}_p50_ms"] = ms(percentile(times[5:], 50))
            out[f"{kind}_p95_ms"] = ms(percentile(times[5:], 95))
    finally:
        conn.close()
    try:
        import openai
    except ImportError:
        return out
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench", max_retries=0)
    times = []
    with client:
        for _ in range(runs + 5):
            t0 = time.perf_counter()
            for _chunk in client.chat.completions.create(
                    model="gpt-4o-mini", stream=True,
                    messages=[{"role": "user", "content": "Say hello"}]):
                pass
            times.append(time.perf_counter() - t0)
    out["sdk_stream_p50_ms"] = ms(percentile(times[5:], 50))
    out["sdk_stream_p95_ms"] = ms(percentile(times[5:], 95))
    return out


# --- one measurement ---------------------------------------------------------------------------

def measure(server: ServerProcess, stream: bool, args: argparse.Namespace,
            client_cpu: int | None) -> dict[str, Any]:
    if args.wait_idle > 0:
        wait_for_idle([server.cpu, client_cpu], args.wait_idle)
    busy0, cpu0 = cpu_busy_seconds(server.cpu), server.cpu_seconds()
    t0 = time.monotonic()
    if args.driver == "wrk":
        res = run_wrk(server.url, stream, args.connections, args.seconds, client_cpu)
    else:
        res = run_aiohttp(server.url, stream, args.connections, args.seconds, client_cpu,
                          args.procs)
    wall = time.monotonic() - t0
    used = server.cpu_seconds() - cpu0
    others = cpu_busy_seconds(server.cpu) - busy0 - used
    res["server_cpu_pct"] = round(100 * used / wall, 1)
    res["others_on_server_cpu_pct"] = (round(max(others, 0.0) * 100 / wall, 1)
                                       if others == others else None)
    res["server_us_per_req"] = (round(used / res["requests"] * 1e6, 1) if res["requests"]
                                else None)
    res["server_rss_mb"] = server.rss_mb()
    return res


@contextlib.contextmanager
def servers(cpu: int | None, extra: Sequence[str], args: argparse.Namespace
            ) -> Iterator[tuple[dict[str, ServerProcess], dict[str, Any]]]:
    """Every server to measure, by name; the reference and aiohttp answer llmfake's bytes."""
    scenario = json.loads(args.scenario.read_text()) if args.scenario and \
        args.scenario.suffix == ".json" else SCENARIO
    with contextlib.ExitStack() as stack:
        path = args.scenario or stack.enter_context(scenario_file(scenario))
        argv = [*llmfake_argv(path), *extra]
        if not args.log:
            argv.append("--quiet")
        if args.profile:
            i = argv.index("-m")
            argv[i:i] = ["-m", "cProfile", "-o", str(args.profile)]
        fake = stack.enter_context(server_process("llmfake", argv, cpu))
        if args.profile:
            stack.callback(_interrupt, fake)
        body, events = fetch(fake.url, False), fetch(fake.url, True)
        info = {"body_bytes": len(body), "stream_bytes": len(events),
                "stream_events": events.count(b"data: ")}
        found = {"llmfake": fake}
        if args.state == "redis":
            from llmfake._redis_server import RedisServer

            redis = stack.enter_context(RedisServer())
            shared = stack.enter_context(server_process(
                "llmfake-redis", [*argv, "--state", redis.url], cpu))
            fetch(shared.url, False)  # it answers (fetch raises on anything but a 200)
            found["llmfake-redis"] = shared
            info["redis"] = redis.url
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="llmfake-bench-")))
        body_file, stream_file = tmp / "body.json", tmp / "stream.sse"
        body_file.write_bytes(body)
        stream_file.write_bytes(events)
        files = ["--port", "0", "--body-file", str(body_file), "--stream-file", str(stream_file)]
        for name, script in (("reference", "_reference_server.py"),
                             ("aiohttp", "_baseline_server.py")):
            if name not in args.only:
                continue
            ref = stack.enter_context(server_process(
                name, [sys.executable, str(HERE / script), *files], cpu))
            if fetch(ref.url, False) != body or fetch(ref.url, True) != events:
                raise RuntimeError(f"{name} does not answer llmfake's bytes")
            found[name] = ref
        if "aimock" in args.only:
            # ~50 SSE content events for TEXT_50, as llmfake's one token per chunk sends
            peer = stack.enter_context(aimock(TEXT_50, cpu, max(len(TEXT_50) // 50, 1)))
            info["aimock"] = "measured" if peer is not None else aimock_cli()[1]
            if peer is not None:
                info["aimock_version"] = AIMOCK_VERSION
                info["aimock_stream_events"] = fetch(peer.url, True).count(b"data: ")
                found["aimock"] = peer
        yield {k: v for k, v in found.items() if k in args.only}, info


def _interrupt(server: ServerProcess) -> None:
    """Stop a profiled server with SIGINT, so cProfile writes its file."""
    server.proc.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(10)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"tool": runs[0]["tool"]}
    for k in ("req_per_s", "p50_ms", "p90_ms", "p99_ms", "server_cpu_pct",
              "server_us_per_req", "server_rss_mb"):
        vals = [r[k] for r in runs if isinstance(r.get(k), (int, float)) and r[k] == r[k]]
        out[k] = round(statistics.median(vals), 3) if vals else None
    out["req_per_s_range"] = [min(r["req_per_s"] for r in runs),
                              max(r["req_per_s"] for r in runs)]
    out["errors"] = sum(r["errors"] for r in runs)
    others = [r["others_on_server_cpu_pct"] for r in runs
              if r.get("others_on_server_cpu_pct") is not None]
    out["others_on_server_cpu_pct_max"] = max(others) if others else None
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    check_text_50()
    server_cpu, client_cpu, note = pick_cpus(args.server_cpu, args.client_cpu)
    pin_self(client_cpu)
    doc: dict[str, Any] = {"benchmark": "load", "driver": args.driver,
                           "connections": args.connections, "seconds": args.seconds,
                           "rounds": args.rounds, "pinning": note or "server CPU "
                           f"{server_cpu}, client CPU {client_cpu}", "modes": {}}
    extra = ["--loop", args.loop] if args.loop != "auto" else []
    with servers(server_cpu, extra, args) as (found, info):
        doc["sizes"] = info
        for mode in args.modes:
            if mode == "single":
                doc["modes"]["single"] = {k: run_single(v.url, args.single_runs)
                                          for k, v in found.items()}
                continue
            stream = mode == "stream"
            for s in found.values():  # warm each up
                if args.driver == "wrk":
                    run_wrk(s.url, stream, args.connections, 1, client_cpu)
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in found}
            for _ in range(args.rounds):
                for name, server in found.items():
                    runs[name].append(measure(server, stream, args, client_cpu))
            med = {k: _median(v) for k, v in runs.items()}
            result: dict[str, Any] = {**med, "runs": runs}
            mine = med.get("llmfake", {}).get("req_per_s")
            result["ratios"] = {k: round(mine / m["req_per_s"], 3)
                                for k, m in med.items() if k != "llmfake" and mine
                                and m["req_per_s"]}
            result["ratio"] = result["ratios"].get("reference")
            shared = med.get("llmfake-redis", {}).get("req_per_s")
            if shared and mine:
                result["redis_vs_memory"] = round(shared / mine, 3)
            if stream:
                for k in med:
                    n = info.get("aimock_stream_events" if k == "aimock" else "stream_events")
                    med[k]["chunks_per_s"] = round(med[k]["req_per_s"] * (n or 0), 1)
            doc["modes"][mode] = result
    doc["environment"] = environment()
    doc["command"] = " ".join(["python", *sys.argv])
    return doc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", dest="modes", action="append", choices=("chat", "stream", "single"),
                   help="chat (non-streamed), stream and/or single (default: chat and stream)")
    p.add_argument("--single-runs", type=int, default=200,
                   help="requests of each kind in the single mode (default 200)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per run (default 10)")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating llmfake/reference runs; medians reported (default 3)")
    p.add_argument("--connections", type=int, default=32, help="connections (default 32)")
    p.add_argument("--driver", choices=("wrk", "aiohttp"), default=None,
                   help="load generator (default: wrk when installed, else aiohttp)")
    p.add_argument("--procs", type=int, default=2,
                   help="client processes for the aiohttp driver (default 2)")
    p.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                   help="llmfake serve --loop (default: llmfake's own default, auto)")
    p.add_argument("--only", action="append", choices=SERVERS,
                   help="servers to measure (repeatable; default: all that can run here)")
    p.add_argument("--scenario", type=Path, default=None,
                   help="llmfake's scenario file (default: a fixed 50-token reply, no delay)")
    p.add_argument("--profile", type=Path, default=None, metavar="FILE.prof",
                   help="run llmfake under cProfile and write its profile to FILE.prof")
    p.add_argument("--no-log", dest="log", action="store_false",
                   help="llmfake serve --quiet (default: the per-request log on)")
    p.add_argument("--state", choices=("memory", "redis"), default="memory",
                   help="redis: measure llmfake with its state in a private redis-server too, "
                        "side by side with memory (needs redis-server on PATH)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each run, wait up to SECONDS for both CPUs to be idle")


def fix_arguments(args: argparse.Namespace) -> None:
    args.modes = args.modes or ["chat", "stream"]
    args.only = list(dict.fromkeys(["llmfake", *(args.only or SERVERS)]))
    if args.state == "redis":
        args.only.insert(1, "llmfake-redis")
    if args.driver is None:
        args.driver = "wrk" if have_wrk() else "aiohttp"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--quick", action="store_true", help="1 round of 2 s")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    fix_arguments(args)
    if args.quick:
        args.rounds, args.seconds, args.single_runs = 1, 2.0, 20
    doc = run(args)
    if args.json:
        print_json(doc)
        return
    for mode, r in doc["modes"].items():
        if mode == "single":
            for k, m in r.items():
                print(f"single {k:9} chat {m['chat_p50_ms']} ms  stream {m['stream_p50_ms']} ms"
                      f"  sdk stream {m.get('sdk_stream_p50_ms')} ms (p50)")
            continue
        for k in args.only:
            if k not in r:
                continue
            m = r[k]
            print(f"{mode:6} {k:13} {m['req_per_s']:>9,.0f} req/s  p50 {m['p50_ms']} ms  "
                  f"p99 {m['p99_ms']} ms  {m['server_us_per_req']} us CPU/req  "
                  f"errors {m['errors']}")
        for k, v in r["ratios"].items():
            print(f"{mode:6} ratio llmfake/{k} {v}")
        if "redis_vs_memory" in r:
            print(f"{mode:6} --state redis / memory {r['redis_vs_memory']}")


if __name__ == "__main__":
    main()

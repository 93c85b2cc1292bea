"""Stream pace and timing fidelity: one 50-token streamed chat completion, end to end.

The server runs as its own process (``python -m llmfake serve``), pinned to CPU 0; this process,
the client, is pinned to CPU 1. Requests are sent one at a time on a warm keep-alive connection.

1. Zero configured latency (a fixed reply of exactly 50 tokens, so 50 content chunks): the wall
   time from sending the request to ``data: [DONE]`` and to the first chunk, median and p95,
   with a raw aiohttp client (reading SSE lines) and with the official ``openai`` SDK's streaming
   iterator (sync client, until the iterator ends). This is llmfake's own overhead per stream.
2. ``latency: {ttft: 100ms, per_token: 10ms}``: the same measurements against the schedule the
   scenario promises (first chunk at 100 ms, content chunk k at 100 + 10k ms, the last at
   100 + 49*10 = 590 ms): the error of the first chunk, of ``[DONE]`` and of every chunk.

It also checks how many content chunks ``{"reply": {"generate": {"words": 50}}}`` gives (more
than 50: long words and punctuation are tokens of their own), which is why a fixed text is used.

    python benchmarks/bench_stream.py                 # 200 zero-latency runs, 50 timed runs
    python benchmarks/bench_stream.py --quick --json  # smoke run, JSON output

Loopback only; bounded by run counts; exits 0 when it could measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import openai
from _common import (
    CHAT_PATH,
    TEXT_50,
    TEXT_50_TOKENS,
    ServerProcess,
    chat_request,
    check_text_50,
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

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
TTFT_MS = 100.0
PER_TOKEN_MS = 10.0
ZERO: dict[str, Any] = {"name": "bench-stream-zero", "reply": {"text": TEXT_50},
                        "latency": {"ttft": "0ms", "per_token": "0ms"}}
TIMED: dict[str, Any] = {"name": "bench-stream-timed", "reply": {"text": TEXT_50},
                         "latency": {"ttft": f"{TTFT_MS:g}ms", "per_token": f"{PER_TOKEN_MS:g}ms"}}


@dataclass
class Run:
    """One streamed request: arrival times (seconds from sending) of its content chunks."""

    first: float
    """The first SSE event (the role chunk, due with the first token)."""
    done: float
    """``data: [DONE]`` (raw client) or the end of the SDK's iterator."""
    chunks: list[float] = field(default_factory=list)
    """Each content chunk's arrival."""


@dataclass
class Stats:
    """Summary of runs of one client against one scenario."""

    client: str
    scenario: str
    runs: int
    content_chunks: list[int]
    first_p50_ms: float
    first_p95_ms: float
    done_p50_ms: float
    done_p95_ms: float
    done_max_ms: float
    expected_first_ms: float | None = None
    expected_done_ms: float | None = None
    first_error_p50_ms: float | None = None
    first_error_p95_ms: float | None = None
    done_error_p50_ms: float | None = None
    done_error_p95_ms: float | None = None
    done_error_max_ms: float | None = None
    chunk_abs_error_p50_ms: float | None = None
    chunk_abs_error_p99_ms: float | None = None
    chunk_abs_error_max_ms: float | None = None


def summarize(client: str, scenario: str, runs: list[Run], timed: bool) -> Stats:
    first = [r.first for r in runs]
    done = [r.done for r in runs]
    st = Stats(client=client, scenario=scenario, runs=len(runs),
               content_chunks=sorted({len(r.chunks) for r in runs}),
               first_p50_ms=ms(percentile(first, 50)), first_p95_ms=ms(percentile(first, 95)),
               done_p50_ms=ms(percentile(done, 50)), done_p95_ms=ms(percentile(done, 95)),
               done_max_ms=ms(max(done)))
    if timed:
        exp_first = TTFT_MS / 1000
        exp_done = (TTFT_MS + (TEXT_50_TOKENS - 1) * PER_TOKEN_MS) / 1000
        st.expected_first_ms, st.expected_done_ms = ms(exp_first), ms(exp_done)
        st.first_error_p50_ms = ms(percentile([f - exp_first for f in first], 50))
        st.first_error_p95_ms = ms(percentile([f - exp_first for f in first], 95))
        errs = [d - exp_done for d in done]
        st.done_error_p50_ms = ms(percentile(errs, 50))
        st.done_error_p95_ms = ms(percentile(errs, 95))
        st.done_error_max_ms = ms(max(errs))
        chunk_errs = [abs(t - (TTFT_MS + k * PER_TOKEN_MS) / 1000)
                      for r in runs for k, t in enumerate(r.chunks)]
        st.chunk_abs_error_p50_ms = ms(percentile(chunk_errs, 50))
        st.chunk_abs_error_p99_ms = ms(percentile(chunk_errs, 99))
        st.chunk_abs_error_max_ms = ms(max(chunk_errs, default=float("nan")))
    return st


# --- raw aiohttp client ------------------------------------------------------------------------

async def raw_once(session: aiohttp.ClientSession, url: str, payload: bytes) -> Run:
    """One stream, timed by SSE line; content chunks recognised by position (role chunk first,
    then one per token, then the finish chunk), checked by ``raw_check``."""
    perf = time.perf_counter
    t0 = perf()
    arrivals: list[float] = []
    done = -1.0
    async with session.post(url, data=payload, headers=HEADERS) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {(await r.read())[:300]!r}")
        async for line in r.content:
            if line.startswith(b"data: "):
                now = perf() - t0
                if line.startswith(b"data: [DONE]"):
                    done = now
                else:
                    arrivals.append(now)
    if done < 0:
        raise RuntimeError("the stream ended without data: [DONE]")
    # arrivals: role chunk, the content chunks, the finish chunk
    return Run(first=arrivals[0], done=done, chunks=arrivals[1:-1])


async def raw_check(session: aiohttp.ClientSession, url: str, payload: bytes) -> int:
    """Parse one stream fully: the count of chunks with content, and that they spell TEXT_50."""
    async with session.post(url, data=payload, headers=HEADERS) as r:
        body = (await r.read()).decode()
    events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    if events[-1] != "[DONE]":
        raise RuntimeError("the stream does not end with [DONE]")
    deltas = [json.loads(e)["choices"][0]["delta"] for e in events[:-1]]
    if not (deltas[0].get("role") == "assistant" and not deltas[0].get("content")
            and not deltas[-1]):
        raise RuntimeError(f"unexpected stream layout: first {deltas[0]}, last {deltas[-1]}")
    content = [d["content"] for d in deltas if d.get("content")]
    if "".join(content) != TEXT_50 and "generate" not in url:
        raise RuntimeError("the streamed text is not the scenario's reply")
    return len(content)


async def raw_runs(server: ServerProcess, runs: int, warmup: int) -> tuple[list[Run], int]:
    url = server.url + CHAT_PATH
    payload = chat_request(stream=True)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        chunks = await raw_check(session, url, payload)
        for _ in range(warmup):
            await raw_once(session, url, payload)
        out = [await raw_once(session, url, payload) for _ in range(runs)]
    return out, chunks


async def generate_chunks(server: ServerProcess, samples: int) -> list[int]:
    """Content chunks of ``generate: {words: 50}`` streams (on a tenant of their own)."""
    tenant = server.url + "/t/generate50"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.put(tenant + "/_llmfake/scenario",
                               json={"reply": {"generate": {"words": 50}}}) as r:
            if r.status != 200:
                raise RuntimeError(f"cannot set the tenant's scenario: {await r.text()}")
        payload = chat_request(stream=True)
        return [await raw_check(session, tenant + CHAT_PATH, payload) for _ in range(samples)]


# --- the official openai SDK -------------------------------------------------------------------

def sdk_runs(server: ServerProcess, runs: int, warmup: int) -> list[Run]:
    """Streams through ``openai.OpenAI().chat.completions.create(stream=True)``."""
    perf = time.perf_counter
    out: list[Run] = []
    with openai.OpenAI(base_url=server.url + "/v1", api_key="sk-bench", max_retries=0,
                       timeout=30) as client:
        for i in range(warmup + runs):
            t0 = perf()
            first = -1.0
            chunks: list[float] = []
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Say something."}],
                stream=True)
            for chunk in stream:
                now = perf() - t0
                if first < 0:
                    first = now
                if chunk.choices and chunk.choices[0].delta.content:
                    chunks.append(now)
            done = perf() - t0
            if i >= warmup:
                out.append(Run(first=first, done=done, chunks=chunks))
    return out


# --- main --------------------------------------------------------------------------------------

def measure(scenario: dict[str, Any], cpus: tuple[int | None, int | None], runs: int,
            warmup: int, timed: bool, wait_idle: float, generate_samples: int = 0
            ) -> tuple[list[Stats], dict[str, Any]]:
    label = "ttft 100ms, per_token 10ms" if timed else "zero latency"
    extra: dict[str, Any] = {"cpus_idle_before": []}
    with scenario_file(scenario) as path, server_process("llmfake", llmfake_argv(path),
                                                         cpus[0]) as server:
        if wait_idle > 0:
            extra["cpus_idle_before"].append(wait_for_idle(cpus, wait_idle))
        raw, chunks = asyncio.run(raw_runs(server, runs, warmup))
        extra["checked_content_chunks"] = chunks
        if wait_idle > 0:
            extra["cpus_idle_before"].append(wait_for_idle(cpus, wait_idle))
        sdk = sdk_runs(server, runs, warmup)
        if generate_samples:
            extra["generate_words_50_content_chunks"] = asyncio.run(
                generate_chunks(server, generate_samples))
    stats = [summarize("raw aiohttp", label, raw, timed),
             summarize(f"openai SDK {openai.__version__}", label, sdk, timed)]
    return stats, extra


def _print_human(doc: dict[str, Any]) -> None:
    print(f"llmfake stream benchmark: one {TEXT_50_TOKENS}-token streamed chat completion at a "
          "time, warm keep-alive connection")
    print(f"server on CPU {doc['server_cpu']}, client on CPU {doc['client_cpu']}"
          + (f" ({doc['pinning']})" if doc["pinning_off"] else ""))
    print(f"content chunks per stream: {doc['checked_content_chunks']} (fixed 50-token text); "
          f"generate words=50 gives {doc['generate_words_50_content_chunks']}")
    print()
    print(f"{'scenario':27} {'client':20} {'runs':>4} {'first p50':>9} {'first p95':>9} "
          f"{'DONE p50':>9} {'DONE p95':>9} {'DONE max':>9}  (ms)")
    for s in doc["results"]:
        print(f"{s['scenario']:27} {s['client']:20} {s['runs']:4d} {s['first_p50_ms']:9.2f} "
              f"{s['first_p95_ms']:9.2f} {s['done_p50_ms']:9.2f} {s['done_p95_ms']:9.2f} "
              f"{s['done_max_ms']:9.2f}")
    print()
    print(f"timing fidelity (measured - expected; expected first chunk {TTFT_MS:g} ms, "
          f"[DONE] {TTFT_MS + (TEXT_50_TOKENS - 1) * PER_TOKEN_MS:g} ms):")
    print(f"{'client':20} {'first p50':>9} {'first p95':>9} {'DONE p50':>9} {'DONE p95':>9} "
          f"{'DONE max':>9} {'|chunk| p50':>11} {'|chunk| p99':>11}  (ms)")
    for s in doc["results"]:
        if s["expected_done_ms"] is None:
            continue
        print(f"{s['client']:20} {s['first_error_p50_ms']:+9.2f} {s['first_error_p95_ms']:+9.2f} "
              f"{s['done_error_p50_ms']:+9.2f} {s['done_error_p95_ms']:+9.2f} "
              f"{s['done_error_max_ms']:+9.2f} {s['chunk_abs_error_p50_ms']:11.2f} "
              f"{s['chunk_abs_error_p99_ms']:11.2f}")


def main() -> None:
    p = argparse.ArgumentParser(
        description="Wall time and timing fidelity of one 50-token streamed chat completion.")
    p.add_argument("--runs", type=int, default=200,
                   help="timed zero-latency runs per client (default 200)")
    p.add_argument("--latency-runs", type=int, default=50,
                   help="timed runs per client with ttft 100ms, per_token 10ms (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default 0)")
    p.add_argument("--client-cpu", type=int, default=1, help="CPU for the client (default 1)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each series, wait up to SECONDS for both CPUs to be idle "
                        "(a shared machine; default 0: do not wait)")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 and 5 runs, 2 warm-up")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    args = p.parse_args()
    if args.quick:
        args.runs, args.latency_runs, args.warmup = 20, 5, 2
    check_text_50()
    server_cpu, client_cpu, pin_note = pick_cpus(args.server_cpu, args.client_cpu)
    pin_self(client_cpu)

    cpus = (server_cpu, client_cpu)
    zero, extra = measure(ZERO, cpus, args.runs, args.warmup, timed=False,
                          wait_idle=args.wait_idle, generate_samples=5)
    timed, extra_timed = measure(TIMED, cpus, args.latency_runs, min(args.warmup, 3),
                                 timed=True, wait_idle=args.wait_idle)
    extra["cpus_idle_before"] += extra_timed["cpus_idle_before"]
    doc: dict[str, Any] = {
        "benchmark": "stream",
        "tokens": TEXT_50_TOKENS,
        "runs": args.runs,
        "latency_runs": args.latency_runs,
        "warmup": args.warmup,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "pinning": pin_note or "server and client pinned to separate CPUs",
        "pinning_off": bool(pin_note),
        **extra,
        "results": [asdict(s) for s in zero + timed],
        "environment": environment(),
        "command": " ".join(["python", *sys.argv]),
    }
    bad = [s.client for s in zero + timed if s.content_chunks != [TEXT_50_TOKENS]]
    doc["warnings"] = [f"{c}: content chunks per stream were not all {TEXT_50_TOKENS}"
                       for c in bad]
    if False in extra["cpus_idle_before"]:
        doc["warnings"].append("the CPUs were still busy with other work when a series started "
                               "(--wait-idle ran out): the figures may be skewed")
    if args.json:
        print_json(doc)
        return
    _print_human(doc)
    for w in doc["warnings"]:
        print(f"warning: {w}")


if __name__ == "__main__":
    main()

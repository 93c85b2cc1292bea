"""Replay fidelity: how closely a replayed cassette keeps the recorded stream's timing.

A 50-token stream (ttft 100 ms, 20 ms per token) is recorded through ``llmfake record`` from an
upstream llmfake, then replayed by a server whose scenario names the cassette
(``replay_speed: 1``). A raw HTTP client on loopback times every SSE event as it arrives and
compares it with the cassette's offsets: first byte (late by how much) and each gap (absolute
error). Medians and p99 over ``--runs`` replays, after one unmeasured replay.

    python benchmarks/bench_replay.py --json

The bar: the SDK sees first byte and gaps within 10 ms of the recording.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import environment, percentile, pin_self, print_json, wait_for_idle

import llmfake
from llmfake.record import load, record

SCENARIO = {"reply": {"generate": {"words": 50}},
            "latency": {"ttft": "100ms", "per_token": "20ms"}}
BODY = b'{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}'


def _stream(url: str) -> list[float]:
    """POST a streamed chat completion over a raw socket; each SSE event's arrival (s)."""
    host, port = url.removeprefix("http://").split(":")
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
               b"application/json\r\nAuthorization: Bearer sk-bench\r\nContent-Length: "
               + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + BODY)
    times: list[float] = []
    with socket.create_connection((host, int(port))) as sock:
        t0 = time.monotonic()
        sock.sendall(request)
        buffer = b""
        headers_done = False
        while True:
            data = sock.recv(65536)
            if not data:
                break
            now = time.monotonic() - t0
            buffer += data
            if not headers_done:
                if b"\r\n\r\n" not in buffer:
                    continue
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
                headers_done = True
            # An SSE event ends with a blank line; chunked framing only adds "\r\n" lines.
            complete = buffer.count(b"\n\n")
            times.extend([now] * complete)
            if complete:
                buffer = buffer[buffer.rfind(b"\n\n") + 2:]
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    pin_self(args.cpu)
    if args.wait_idle > 0:
        wait_for_idle([args.cpu], args.wait_idle)
    folder = Path(tempfile.mkdtemp(prefix="llmfake-bench-replay-"))
    cassette = folder / "stream.yaml"
    with llmfake.serve(SCENARIO) as upstream, record(upstream.url, cassette) as proxy:
        _stream(proxy.url)
    offsets = [c.offset for c in load(cassette).interactions[0].response.chunks or []]
    late: list[float] = []
    gaps: list[float] = []
    counts: set[int] = set()
    with llmfake.serve({"cassette": str(cassette)}) as server:
        _stream(server.url)  # warm-up
        for _ in range(args.runs):
            times = _stream(server.url)
            counts.add(len(times))
            late.append(times[0] - offsets[0])
            gaps += [abs((times[i + 1] - times[i]) - (offsets[i + 1] - offsets[i]))
                     for i in range(min(len(times), len(offsets)) - 1)]
    return {"benchmark": "replay", "runs": args.runs, "events_recorded": len(offsets),
            "events_seen": sorted(counts),
            "first_byte_late_ms": {"p50": 1000 * percentile(late, 50),
                                   "p99": 1000 * percentile(late, 99),
                                   "max": 1000 * max(late)},
            "gap_error_ms": {"p50": 1000 * percentile(gaps, 50),
                             "p99": 1000 * percentile(gaps, 99), "max": 1000 * max(gaps)},
            "environment": environment(), "command": " ".join(["python", *sys.argv])}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="measured replays (default 30)")
    p.add_argument("--cpu", type=int, default=0, help="pin to this CPU (default 0)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--quick", action="store_true", help="5 replays")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.runs = 5
    doc = run(args)
    if args.json:
        print_json(doc)
        return
    f, g = doc["first_byte_late_ms"], doc["gap_error_ms"]
    print(f"replay of a {doc['events_recorded']}-event stream, {doc['runs']} runs: first byte "
          f"late p50 {f['p50']:.2f} / p99 {f['p99']:.2f} ms; gap error p50 {g['p50']:.2f} / "
          f"p99 {g['p99']:.2f} ms (target: within 10 ms)")


if __name__ == "__main__":
    main()

"""Timing fidelity under load: many concurrent streams against the schedule a scenario promises.

The acceptance bar of the faults/timing work: at 100 concurrent streams of 50 tokens with
``latency: {ttft: 100ms, per_token: 20ms}``, p99 of the first-byte error under 5 ms and p99 of
the chunk-gap error under 2 ms.

The server runs as its own process (``python -m llmfake serve``), pinned to CPU 0; this process,
the client, is pinned to CPU 1. Each round:

1. a baseline: ``--baseline-runs`` single streams, one at a time, the same measurement with
   nothing else running, which is as close as this client gets to the server's schedule;
2. ``--streams`` streams started at once (``asyncio.gather``) on warm keep-alive connections.

Every stream is read with ``resp.content.readuntil(b"\\n\\n")`` and each SSE event is
timestamped (``time.monotonic``) as soon as it is read. The request is timestamped when aiohttp
hands its body to the socket (a ``TraceConfig`` hook). The server schedules content chunk k at
``arrival + ttft + k * per_token`` (the role delta goes with the first), so it reports:

- first byte: ``|t_first_content - t_sent - ttft|``, one sample per stream;
- chunk gap: ``|(t_k - t_k-1) - per_token|``, ``tokens - 1`` samples per stream;

p50, p99 and max over all rounds, plus the signed first-byte error, and how the first-byte error
grows with the order in which the requests were sent.

``--diagnose`` runs the server through this script (``--_traced-server``, which patches a few
functions of ``llmfake.server._http`` and ``_app`` to record timestamps, then
runs the same ``llmfake serve``), to split each error into its parts on the shared
``CLOCK_MONOTONIC``: the request's trip, its wait for the server to start its handler, the
server's timer lateness and the delivery to the client's reader.

    python benchmarks/bench_fidelity.py                   # 5 rounds of 100 streams x 50 tokens
    python benchmarks/bench_fidelity.py --diagnose        # the same, with the server's side
    python benchmarks/bench_fidelity.py --quick --json    # smoke run, JSON output

Loopback only; bounded by the round count; exits 0 when it could measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from _common import (
    CHAT_PATH,
    TEXT_50,
    TEXT_50_TOKENS,
    ServerProcess,
    chat_request,
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

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
STREAM_HEADER = "x-bench-stream"
FIRST_BYTE_TARGET_MS = 5.0
GAP_TARGET_MS = 2.0
DONE = b"data: [DONE]"
TRACE_FLAG = "--_traced-server"
#: A round is measured again (at most MAX_REDO times, with --wait-idle) when other processes
#: took more than this share of a CPU meanwhile.
BUSY_SHARE = 0.05
MAX_REDO = 5

clock = time.monotonic  # CLOCK_MONOTONIC: the clock of the server's loop.time() too


# --- the scenario ------------------------------------------------------------------------------

def reply_text(tokens: int) -> str:
    """A reply of exactly ``tokens`` tokens by llmfake's tokenizer (checked)."""
    from llmfake.engine._text import tokenize

    if tokens == TEXT_50_TOKENS:
        text = TEXT_50
    else:  # words of at most 10 letters, no punctuation: one token each
        words = [w for w in re.findall(r"[A-Za-z]+", TEXT_50) if len(w) <= 10]
        text = " ".join(words[i % len(words)] for i in range(tokens))
    n = len(tokenize(text))
    if n != tokens:
        raise RuntimeError(f"the reply is {n} tokens by llmfake's tokenizer, not {tokens}")
    return text


def make_scenario(text: str, ttft_ms: float, per_token_ms: float) -> dict[str, Any]:
    return {"name": "bench-fidelity", "seed": 1, "reply": {"text": text},
            "latency": {"ttft": f"{ttft_ms:g}ms", "per_token": f"{per_token_ms:g}ms"}}


# --- the client --------------------------------------------------------------------------------

@dataclass
class Stream:
    """One streamed request as the client saw it (times from ``clock()``, in seconds)."""

    index: int
    """Unique in the run; sent as the ``x-bench-stream`` header."""
    called: float
    """Before ``session.post``."""
    sent: float = float("nan")
    """When aiohttp handed the request body to the socket."""
    events: list[tuple[float, bytes]] = field(default_factory=list)
    """Every SSE event with the time it was read."""
    content: list[float] = field(default_factory=list)
    """Read times of the content chunks (filled by ``parse``)."""


async def _on_chunk_sent(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    # Called by aiohttp's StreamWriter.write just before transport.write of the body.
    rec = ctx.trace_request_ctx
    if isinstance(rec, Stream) and rec.sent != rec.sent:  # still nan
        rec.sent = clock()


def trace_config() -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()
    tc.on_request_chunk_sent.append(_on_chunk_sent)
    return tc


async def one_stream(session: aiohttp.ClientSession, url: str, payload: bytes,
                     index: int) -> Stream:
    """Send one streamed chat request and timestamp each SSE event as it is read."""
    st = Stream(index=index, called=clock())
    headers = {**HEADERS, STREAM_HEADER: str(index)}
    events = st.events
    async with session.post(url, data=payload, headers=headers, trace_request_ctx=st) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {(await r.read())[:300]!r}")
        read = r.content.readuntil
        while True:
            event = await read(b"\n\n")
            now = clock()
            if not event:
                break
            events.append((now, event))
            if event.startswith(DONE):
                break
    return st


def parse(st: Stream, text: str) -> None:
    """Pick the content chunks out of the stream's events; check they spell ``text``."""
    pieces: list[str] = []
    for t, event in st.events:
        if event.startswith(DONE) or not event.startswith(b"data: "):
            continue
        delta = json.loads(event[6:])["choices"][0]["delta"]
        if delta.get("content"):
            pieces.append(delta["content"])
            st.content.append(t)
    if not st.events or not st.events[-1][1].startswith(DONE):
        raise RuntimeError(f"stream {st.index} did not end with data: [DONE]")
    if "".join(pieces) != text:
        raise RuntimeError(f"stream {st.index}: the streamed text is not the scenario's reply "
                           f"({len(pieces)} content chunks)")


class _RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection read by hand: each SSE event is timestamped in
    ``data_received``, as its bytes arrive, with no stream reader or task in between."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._start(None)

    def _start(self, st: Stream | None) -> None:
        self.stream = st
        self.buf = b""
        self.body = b""
        self.head: bytes | None = None
        self.length: int | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("the server closed the connection"))
        if not self.lost.done():
            self.lost.set_result(None)

    def request(self, raw: bytes, st: Stream | None) -> asyncio.Future[None]:
        self._start(st)
        assert self.transport is not None
        self.transport.write(raw)
        if st is not None:
            st.sent = clock()
        return self.done

    def data_received(self, data: bytes) -> None:
        now = clock()
        self.buf += data
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head, self.buf = self.buf[:end].lower(), self.buf[end + 4:]
            if not self.head.startswith(b"http/1.1 200"):
                self.done.set_exception(RuntimeError(f"HTTP {self.head[:40]!r}"))
                return
            m = re.search(rb"content-length: *(\d+)", self.head)
            self.length = int(m.group(1)) if m else None
        if self.length is not None:  # a plain body (the warm-up's health check)
            if len(self.buf) >= self.length and not self.done.done():
                self.done.set_result(None)
            return
        while True:  # chunked: take every whole chunk, cut the body into SSE events
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                return
            size = int(self.buf[:eol].split(b";")[0], 16)
            if len(self.buf) < eol + 2 + size + 2:
                return
            chunk = self.buf[eol + 2:eol + 2 + size]
            self.buf = self.buf[eol + 4 + size:]
            if size == 0:
                if not self.done.done():
                    self.done.set_result(None)
                return
            self.body += chunk
            while (cut := self.body.find(b"\n\n")) >= 0:
                if self.stream is not None:
                    self.stream.events.append((now, self.body[:cut + 2]))
                self.body = self.body[cut + 2:]


class RawPool:
    """``--client raw``: keep-alive connections read by ``_RawConnection`` (a lighter client
    than aiohttp's: about 5 us of CPU per event instead of about 40, so 100 events due at
    the same tick are read within a fraction of a millisecond, in a steadier order)."""

    def __init__(self, url: str, payload: bytes) -> None:
        parts = url.split("//", 1)[1].split("/", 1)[0]
        self.host, port = parts.rsplit(":", 1)
        self.port = int(port)
        self.payload = payload
        self.conns: list[_RawConnection] = []

    async def ensure(self, n: int) -> None:
        loop = asyncio.get_running_loop()
        self.conns = [c for c in self.conns if not c.lost.done()]
        while len(self.conns) < n:
            _, proto = await loop.create_connection(_RawConnection, self.host, self.port)
            self.conns.append(proto)

    def post(self, index: int) -> bytes:
        return (f"POST {CHAT_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nAuthorization: Bearer sk-bench\r\n"
                f"{STREAM_HEADER}: {index}\r\nContent-Length: {len(self.payload)}\r\n\r\n"
                ).encode() + self.payload

    async def close(self) -> None:
        for c in self.conns:
            if c.transport is not None:
                c.transport.close()


async def batch(session: aiohttp.ClientSession | RawPool, url: str, payload: bytes, n: int,
                first_index: int, text: str) -> list[Stream]:
    """``n`` streams started at once; the garbage collector is off meanwhile (client noise)."""
    if isinstance(session, RawPool):
        await session.ensure(n)
    gc.collect()
    gc.disable()
    try:
        if isinstance(session, RawPool):
            streams = [Stream(index=first_index + i, called=clock()) for i in range(n)]
            waits = [conn.request(session.post(st.index), st)
                     for conn, st in zip(session.conns, streams, strict=False)]
            await asyncio.gather(*waits)
        else:
            streams = await asyncio.gather(*(one_stream(session, url, payload, first_index + i)
                                             for i in range(n)))
    finally:
        gc.enable()
    for st in streams:
        parse(st, text)
    return list(streams)


async def touch(session: aiohttp.ClientSession | RawPool, base: str, n: int) -> None:
    """``n`` concurrent cheap requests, so ``n`` keep-alive connections are open and warm."""
    if isinstance(session, RawPool):
        await session.ensure(n)
        get = (f"GET /_llmfake/health HTTP/1.1\r\nHost: {session.host}:{session.port}"
               "\r\n\r\n").encode()
        await asyncio.gather(*(c.request(get, None) for c in session.conns[:n]))
        return

    async def one() -> None:
        async with session.get(base + "/_llmfake/health") as r:
            await r.read()

    await asyncio.gather(*(one() for _ in range(n)))


# --- the traced server (--diagnose) ------------------------------------------------------------

def traced_server(trace_path: str, argv: list[str]) -> int:
    """Run ``llmfake`` with ``argv`` (``serve ...``), recording server-side timestamps.

    Records, on ``time.monotonic`` (the server's clock for arrivals and deadlines): when each
    connection last received bytes (``Connection.data_received``), each streamed request's
    ``start`` (the arrival time the deadlines count from) and when ``deliver`` was entered, and
    for each write of a stream its deadline, when the pacer woke for it, when the write started
    and returned, and every garbage collection (generation, start, duration). On SIGUSR1 the records
    so far are written to ``trace_path`` (JSON) and cleared.
    """
    from llmfake.cli import main as cli_main
    from llmfake.server import _app, _http

    now = time.monotonic
    arrivals: dict[int, float] = {}
    starts: list[tuple[str, float, float, float]] = []
    writes: list[tuple[str, float, float, float, float, int]] = []

    orig_received = _http.Connection.data_received

    def data_received(self: Any, data: bytes) -> None:
        arrivals[id(self)] = now()
        orig_received(self, data)

    _http.Connection.data_received = data_received  # type: ignore[method-assign]

    orig_deliver = _app.deliver
    paced: dict[int, tuple[str, Any, float]] = {}  # id(conn): stream id, exchange, start

    def deliver(conn: Any, plan: Any, rendered: Any, start: float, exchange: Any,
                *args: Any) -> Any:
        sid = exchange.headers.get(STREAM_HEADER)
        if sid is not None:
            starts.append((sid, arrivals.get(id(conn), float("nan")), start, now()))
            paced[id(conn)] = (sid, exchange, start)
        return orig_deliver(conn, plan, rendered, start, exchange, *args)

    _app.deliver = deliver  # type: ignore[assignment]

    orig_send = _http.Connection.send

    def send(self: Any, data: bytes, **kwargs: Any) -> None:
        # The pacer notes each write on the exchange (when it woke, what the schedule asked,
        # both after the arrival) just before it sends it.
        before = now()
        orig_send(self, data, **kwargs)
        after = now()
        stream = paced.get(id(self))
        if stream is not None and stream[1].sent:
            sid, exchange, start = stream
            woke, planned, _ = exchange.sent[-1]
            writes.append((sid, start + planned, start + woke, before, after, len(data)))

    _http.Connection.send = send  # type: ignore[method-assign]

    collections: list[tuple[int, float, float]] = []
    gc_start = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[0] = now()
        else:
            collections.append((info["generation"], gc_start[0], now() - gc_start[0]))

    gc.callbacks.append(on_gc)

    def dump(signum: int, frame: Any) -> None:
        doc = {"starts": list(starts), "writes": list(writes), "gc": list(collections)}
        starts.clear()
        writes.clear()
        collections.clear()
        tmp = trace_path + ".tmp"
        Path(tmp).write_text(json.dumps(doc))
        os.replace(tmp, trace_path)

    signal.signal(signal.SIGUSR1, dump)
    return cli_main(argv)


def fetch_trace(server: ServerProcess, path: Path, timeout: float = 10.0) -> dict[str, Any]:
    """Ask the traced server for its records (SIGUSR1) and read them."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.kill(server.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the traced server did not write its records")
        time.sleep(0.02)
    doc: dict[str, Any] = json.loads(path.read_text())
    path.unlink()
    return doc


# --- figures -----------------------------------------------------------------------------------

def dist(values: Sequence[float], scale: float = 1.0) -> dict[str, Any]:
    """n, p50, p99 and max of ``values`` (seconds) in ms."""
    v = [x * scale for x in values]
    return {"n": len(v), "p50_ms": ms(percentile(v, 50)), "p99_ms": ms(percentile(v, 99)),
            "max_ms": ms(max(v, default=float("nan")))}


@dataclass
class Errors:
    """Errors of a set of streams against the schedule (seconds)."""

    first: list[float] = field(default_factory=list)
    """Signed first-byte error: t_first_content - t_sent - ttft."""
    gaps: list[float] = field(default_factory=list)
    """Signed gap error: (t_k - t_k-1) - per_token."""
    send_order_first: list[tuple[float, float]] = field(default_factory=list)
    """(send time relative to the round's first send, first-byte error) per stream."""

    def add(self, streams: list[Stream], ttft: float, per_token: float) -> None:
        t_min = min(st.sent for st in streams)
        for st in streams:
            err = st.content[0] - st.sent - ttft
            self.first.append(err)
            self.send_order_first.append((st.sent - t_min, err))
            c = st.content
            self.gaps.extend(c[k] - c[k - 1] - per_token for k in range(1, len(c)))

    def summary(self) -> dict[str, Any]:
        first_abs = [abs(x) for x in self.first]
        gaps_abs = [abs(x) for x in self.gaps]
        out = {"first_byte_abs": dist(first_abs), "first_byte_signed": dist(self.first),
               "gap_abs": dist(gaps_abs)}
        if len(self.send_order_first) >= 10:
            ordered = [e for _, e in sorted(self.send_order_first)]
            tenth = max(len(ordered) // 10, 1)
            out["first_byte_by_send_order"] = {
                "first_tenth_p50_ms": ms(percentile(ordered[:tenth], 50)),
                "last_tenth_p50_ms": ms(percentile(ordered[-tenth:], 50)),
            }
        return out


def decompose(streams: list[Stream], trace: dict[str, Any], ttft: float,
              per_token: float) -> dict[str, list[float]]:
    """Split the client's errors into parts, from the traced server's records (seconds)."""
    starts = {sid: (arr, start, entered) for sid, arr, start, entered in trace["starts"]}
    writes: dict[str, list[tuple[float, float, float, float]]] = {}
    for sid, deadline, woke, before, after, _n in trace["writes"]:
        writes.setdefault(sid, []).append((deadline, woke, before, after))
    parts: dict[str, list[float]] = {k: [] for k in (
        "trip", "intake", "handler", "timer_first", "delivery_first", "timer", "write",
        "delivery", "server_gap", "client_gap")}
    for st in streams:
        sid = str(st.index)
        if sid not in starts or len(writes.get(sid, ())) != len(st.content):
            continue
        arr, start, entered = starts[sid]
        w = writes[sid]
        parts["trip"].append(arr - st.sent)
        parts["intake"].append(start - arr)
        parts["handler"].append(entered - start)
        parts["timer_first"].append(w[0][1] - (start + ttft))
        parts["delivery_first"].append(st.content[0] - w[0][3])
        for k, (deadline, woke, before, after) in enumerate(w):
            parts["timer"].append(woke - deadline)
            parts["write"].append(after - before)
            parts["delivery"].append(st.content[k] - after)
            if k:
                parts["server_gap"].append(abs(woke - w[k - 1][1] - per_token))
                parts["client_gap"].append(abs(st.content[k] - st.content[k - 1] - per_token))
    return parts


# --- running -----------------------------------------------------------------------------------

@contextlib.contextmanager
def llmfake_server(scenario: dict[str, Any], cpu: int | None, traced: bool
                   ) -> Iterator[tuple[ServerProcess, Path | None]]:
    with scenario_file(scenario) as path, tempfile.TemporaryDirectory(
            prefix="llmfake-fidelity-") as tmp:
        argv = llmfake_argv(path)
        trace_path: Path | None = None
        if traced:
            trace_path = Path(tmp) / "trace.json"
            argv = [sys.executable, str(Path(__file__).resolve()), TRACE_FLAG, str(trace_path),
                    *argv[argv.index("llmfake") + 1:]]
        with server_process("llmfake (traced)" if traced else "llmfake", argv, cpu) as server:
            yield server, trace_path


def others_share(cpus: tuple[int | None, int | None], busy0: float, busy1: float,
                 own_cpu_s: float, wall: float) -> float | None:
    """The share of one CPU other processes took on the two pinned CPUs during ``wall``."""
    if None in cpus or wall <= 0 or busy0 != busy0 or busy1 != busy1:
        return None
    return round(max((busy1 - busy0 - own_cpu_s) / wall, 0.0), 3)


def busy(cpus: tuple[int | None, int | None]) -> float:
    return sum(cpu_busy_seconds(c) for c in cpus) if None not in cpus else float("nan")


@dataclass
class Round:
    """One measured round: the single streams and the concurrent ones."""

    singles: list[Stream]
    streams: list[Stream]
    info: dict[str, Any]


async def one_round(session: aiohttp.ClientSession | RawPool, server: ServerProcess, url: str,
                    payload: bytes, args: argparse.Namespace, text: str,
                    cpus: tuple[int | None, int | None], first_index: int) -> Round:
    singles: list[Stream] = []
    b0, c0, s0, t0 = busy(cpus), self_cpu_seconds(), server.cpu_seconds(), clock()
    for i in range(args.baseline_runs):
        singles += await batch(session, url, payload, 1, first_index + i, text)
    wall_single = clock() - t0
    others_single = others_share(cpus, b0, busy(cpus), self_cpu_seconds() - c0
                                 + server.cpu_seconds() - s0, wall_single)
    await touch(session, server.url, args.streams)
    b0, c0, s0, t0 = busy(cpus), self_cpu_seconds(), server.cpu_seconds(), clock()
    streams = await batch(session, url, payload, args.streams,
                          first_index + args.baseline_runs, text)
    wall = clock() - t0
    client_s, server_s = self_cpu_seconds() - c0, server.cpu_seconds() - s0
    others = others_share(cpus, b0, busy(cpus), client_s + server_s, wall)
    sends = [st.sent for st in streams]
    return Round(singles, streams, {
        "wall_s": round(wall, 3),
        "client_cpu_share": round(client_s / wall, 3),
        "server_cpu_share": round(server_s / wall, 3),
        "server_cpu_ms_per_stream": ms(server_s / args.streams),
        "others_cpu_share": others,
        "others_cpu_share_baseline": others_single,
        "send_spread_ms": ms(max(sends) - min(sends)),
    })


async def run_rounds(server: ServerProcess, trace_path: Path | None, args: argparse.Namespace,
                     text: str, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    ttft, per_token = args.ttft_ms / 1000, args.per_token_ms / 1000
    url = server.url + CHAT_PATH
    payload = chat_request(stream=True)
    connector = aiohttp.TCPConnector(limit=args.streams, keepalive_timeout=600)
    conc, base = Errors(), Errors()
    rounds: list[dict[str, Any]] = []
    diag: dict[str, list[float]] = {}
    base_diag: dict[str, list[float]] = {}
    next_index = 0
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace_config()],
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        client: aiohttp.ClientSession | RawPool = (RawPool(url, payload) if args.client == "raw"
                                                   else session)
        for _ in range(args.warmup):
            await touch(client, server.url, args.streams)
            await batch(client, url, payload, args.streams, next_index, text)
            next_index += args.streams
        if trace_path is not None:
            await asyncio.to_thread(fetch_trace, server, trace_path)  # drop the warm-up's
        for rnd in range(args.rounds):
            discarded = 0
            while True:
                idle = (await asyncio.to_thread(wait_for_idle, cpus, args.wait_idle)
                        if args.wait_idle > 0 else None)
                r = await one_round(client, server, url, payload, args, text, cpus,
                                    next_index)
                next_index += args.baseline_runs + args.streams
                shares = [x for x in (r.info["others_cpu_share"],
                                      r.info["others_cpu_share_baseline"]) if x is not None]
                disturbed = any(x > BUSY_SHARE for x in shares)
                if not (disturbed and args.wait_idle > 0 and discarded < MAX_REDO):
                    break
                discarded += 1  # other work ran meanwhile: measure the round again
                if trace_path is not None:
                    await asyncio.to_thread(fetch_trace, server, trace_path)
            r_conc, r_base = Errors(), Errors()
            r_conc.add(r.streams, ttft, per_token)
            conc.add(r.streams, ttft, per_token)
            if r.singles:
                r_base.add(r.singles, ttft, per_token)
                base.add(r.singles, ttft, per_token)
            rounds.append({"round": rnd + 1, "cpus_idle_before": idle,
                           "discarded_disturbed": discarded, "disturbed": disturbed, **r.info,
                           "concurrent": r_conc.summary(),
                           "baseline": r_base.summary() if r.singles else None})
            if trace_path is not None:
                trace = await asyncio.to_thread(fetch_trace, server, trace_path)
                t_from = min(st.sent for st in r.streams)
                t_to = max(st.content[-1] for st in r.streams)
                pauses = [(g, d) for g, t, d in trace["gc"] if t_from <= t <= t_to]
                long_ones = [{"generation": g, "at_ms": ms(t - t_from), "ms": ms(d)}
                             for g, t, d in trace["gc"] if t_from <= t <= t_to and d > 0.001]
                rounds[-1]["server_gc"] = {
                    "over_1ms": long_ones,
                    "collections": len(pauses),
                    "by_generation": [sum(1 for g, _ in pauses if g == n) for n in range(3)],
                    "max_ms": ms(max((d for _, d in pauses), default=0.0)),
                    "total_ms": ms(sum(d for _, d in pauses)),
                }
                for k, v in decompose(r.streams, trace, ttft, per_token).items():
                    diag.setdefault(k, []).extend(v)
                for k, v in decompose(r.singles, trace, ttft, per_token).items():
                    base_diag.setdefault(k, []).extend(v)
        if isinstance(client, RawPool):
            await client.close()
    out: dict[str, Any] = {"concurrent": conc.summary(), "baseline": base.summary(),
                           "rounds": rounds}
    if trace_path is not None:
        out["diagnosis"] = {"concurrent": {k: dist(v) for k, v in diag.items()},
                            "baseline": {k: dist(v) for k, v in base_diag.items()}}
        timer = diag.get("timer", [])
        if timer:
            out["diagnosis"]["timer_late_within_1ms_share"] = round(
                sum(1 for x in timer if 0 <= x <= 0.001) / len(timer), 4)
    return out


# --- output ------------------------------------------------------------------------------------

def _row(label: str, s: dict[str, Any]) -> str:
    f, g, fs = s["first_byte_abs"], s["gap_abs"], s["first_byte_signed"]
    return (f"{label:22} {f['n']:6d} {f['p50_ms']:7.2f} {f['p99_ms']:7.2f} {f['max_ms']:7.2f} "
            f"{fs['p50_ms']:+8.2f}   {g['n']:7d} {g['p50_ms']:6.2f} {g['p99_ms']:6.2f} "
            f"{g['max_ms']:6.2f}")


def _print_human(doc: dict[str, Any]) -> None:
    res = doc["results"]
    print(f"llmfake timing fidelity: {doc['streams']} concurrent streams x {doc['tokens']} "
          f"tokens, ttft {doc['ttft_ms']:g} ms, per_token {doc['per_token_ms']:g} ms; "
          f"{doc['rounds']} rounds (+{doc['warmup']} warm-up), baseline "
          f"{doc['baseline_runs']} single stream(s) per round")
    print(f"server on CPU {doc['server_cpu']}, client on CPU {doc['client_cpu']}"
          + (f" ({doc['pinning']})" if doc["pinning_off"] else "")
          + ("; server traced (--diagnose)" if doc["diagnose"] else ""))
    print()
    print(f"{'':22} {'first byte |error| (ms)':>30} {'signed':>8}   "
          f"{'chunk gap |error| (ms)':>28}")
    print(f"{'':22} {'n':>6} {'p50':>7} {'p99':>7} {'max':>7} {'p50':>8}   {'n':>7} "
          f"{'p50':>6} {'p99':>6} {'max':>6}")
    print(_row(f"{doc['streams']} streams at once", res["concurrent"]))
    if res["baseline"]["first_byte_abs"]["n"]:
        print(_row("1 stream (baseline)", res["baseline"]))
    by = res["concurrent"].get("first_byte_by_send_order")
    print()
    for r in res["rounds"]:
        others = ("?" if r["others_cpu_share"] is None
                  else f"{r['others_cpu_share']:.0%}")
        print(f"round {r['round']}: sends spread over {r['send_spread_ms']:.1f} ms, CPU: client "
              f"{r['client_cpu_share']:.0%}, server {r['server_cpu_share']:.0%} "
              f"({r['server_cpu_ms_per_stream']:.2f} ms/stream), others "
              f"{others} over {r['wall_s']:.2f} s; first byte p99 "
              f"{r['concurrent']['first_byte_abs']['p99_ms']:.2f} ms, gap p99 "
              f"{r['concurrent']['gap_abs']['p99_ms']:.2f} ms")
        if "server_gc" in r:
            g = r["server_gc"]
            print(f"  server garbage collections meanwhile: {g['collections']} (by generation "
                  f"{g['by_generation']}), longest {g['max_ms']:.2f} ms, total "
                  f"{g['total_ms']:.2f} ms"
                  + "".join(f"; gen {x['generation']} {x['ms']:.1f} ms at +{x['at_ms']:.0f} ms"
                            for x in g["over_1ms"]))
    if by:
        print(f"first-byte error (signed p50) of the first tenth of the requests sent: "
              f"{by['first_tenth_p50_ms']:+.2f} ms; of the last tenth: "
              f"{by['last_tenth_p50_ms']:+.2f} ms")
    diag = res.get("diagnosis")
    if diag:
        print()
        print("where the error comes from (server-side timestamps, same clock; ms):")
        names = {
            "trip": "request sent -> server read it (data_received)",
            "intake": "server read it -> arrival stamp (its turn's first read)",
            "handler": "arrival stamp -> deliver (parse, decide, render)",
            "timer_first": "first write: stamp + ttft -> pacer woke for it",
            "delivery_first": "first write returned -> client read it",
            "timer": "every write: deadline -> pacer woke for it",
            "write": "every write: Connection.send (the send syscall)",
            "delivery": "every write returned -> client read it",
            "server_gap": "|gap error| of the server's writes",
            "client_gap": "|gap error| as the client read them",
        }
        print(f"{'':58} {str(doc['streams']) + ' at once: p50':>16} {'p99':>7} {'max':>7}   "
              f"{'1 stream: p50':>13} {'p99':>7}")
        for key, label in names.items():
            c, b = diag["concurrent"].get(key), diag["baseline"].get(key)
            if not c:
                continue
            line = f"{label:58} {c['p50_ms']:16.3f} {c['p99_ms']:7.3f} {c['max_ms']:7.3f}"
            if b and b["n"]:
                line += f"   {b['p50_ms']:13.3f} {b['p99_ms']:7.3f}"
            print(line)
        if "timer_late_within_1ms_share" in diag:
            print(f"share of writes the pacer woke for 0-1 ms after the deadline: "
                  f"{diag['timer_late_within_1ms_share']:.1%}")
    print()
    for name, held in doc["targets"].items():
        print(f"target {name}: {'held' if held['held'] else 'MISSED'} "
              f"(p99 {held['p99_ms']:.2f} ms, target < {held['target_ms']:g} ms)")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [TRACE_FLAG]:
        sys.exit(traced_server(argv[1], argv[2:]))
    p = argparse.ArgumentParser(
        description="Timing fidelity of many concurrent streamed chat completions.")
    p.add_argument("--streams", type=int, default=100,
                   help="streams started at once (default 100)")
    p.add_argument("--tokens", type=int, default=50, help="tokens per stream (default 50)")
    p.add_argument("--ttft-ms", type=float, default=100.0, help="scenario ttft (default 100)")
    p.add_argument("--per-token-ms", type=float, default=20.0,
                   help="scenario per_token (default 20)")
    p.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    p.add_argument("--baseline-runs", type=int, default=4,
                   help="single streams, one at a time, per round (default 4)")
    p.add_argument("--warmup", type=int, default=1,
                   help="unmeasured rounds of --streams streams first (default 1)")
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default 0)")
    p.add_argument("--client-cpu", type=int, default=1, help="CPU for the client (default 1)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each round, wait up to SECONDS for both CPUs to be idle "
                        "(a shared machine; default 0: do not wait)")
    p.add_argument("--diagnose", action="store_true",
                   help="run the server with timestamps recorded inside it, and split the "
                        "errors into their parts")
    p.add_argument("--client", choices=("aiohttp", "raw"), default="raw",
                   help="raw (default): keep-alive connections read by a bare asyncio "
                        "protocol that timestamps each SSE event as its bytes arrive; aiohttp: "
                        "aiohttp's client, readuntil() per event (about 40 us of client CPU per "
                        "event: with 100 events due at once it measures its own queue)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 round, 1 baseline stream, no warm-up")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.baseline_runs, args.warmup = 1, 1, 0
    if args.streams < 1 or args.tokens < 2 or args.rounds < 1:
        p.error("--streams must be at least 1, --tokens at least 2, --rounds at least 1")
    text = reply_text(args.tokens)
    server_cpu, client_cpu, pin_note = pick_cpus(args.server_cpu, args.client_cpu)
    pin_self(client_cpu)
    cpus = (server_cpu, client_cpu)

    scenario = make_scenario(text, args.ttft_ms, args.per_token_ms)
    with llmfake_server(scenario, server_cpu, args.diagnose) as (server, trace_path):
        results = asyncio.run(run_rounds(server, trace_path, args, text, cpus))
    conc = results["concurrent"]
    targets = {
        "first byte p99 < 5 ms": {"p99_ms": conc["first_byte_abs"]["p99_ms"],
                                  "target_ms": FIRST_BYTE_TARGET_MS},
        "chunk gap p99 < 2 ms": {"p99_ms": conc["gap_abs"]["p99_ms"],
                                 "target_ms": GAP_TARGET_MS},
    }
    for t in targets.values():
        t["held"] = t["p99_ms"] < t["target_ms"]
    doc: dict[str, Any] = {
        "benchmark": "fidelity",
        "streams": args.streams,
        "tokens": args.tokens,
        "ttft_ms": args.ttft_ms,
        "per_token_ms": args.per_token_ms,
        "rounds": args.rounds,
        "baseline_runs": args.baseline_runs,
        "warmup": args.warmup,
        "diagnose": args.diagnose,
        "client": args.client,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "pinning": pin_note or "server and client pinned to separate CPUs",
        "pinning_off": bool(pin_note),
        "scenario": scenario,
        "targets": targets,
        "results": results,
        "environment": environment(),
        "command": " ".join(["python", *sys.argv]),
    }
    doc["warnings"] = []
    if any(r["disturbed"] for r in results["rounds"]):
        doc["warnings"].append(f"other processes took more than {BUSY_SHARE:.0%} of a CPU "
                               "during some rounds (others_cpu_share): the figures may be "
                               "skewed; --wait-idle SECONDS measures such rounds again")
    if any(r["cpus_idle_before"] is False for r in results["rounds"]):
        doc["warnings"].append("the CPUs were still busy with other work when a round started "
                               "(--wait-idle ran out): the figures may be skewed")
    if args.json:
        print_json(doc)
        return
    _print_human(doc)
    for w in doc["warnings"]:
        print(f"warning: {w}")


if __name__ == "__main__":
    main()

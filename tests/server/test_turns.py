"""Work per turn of the event loop: a burst of requests is answered a slice at a time, so the
timers of streams already running still fire on time, and nothing of the burst is lost or
reordered.

The server answers requests for at most ``Limits.work_per_turn`` (0.5 ms) in one turn of its loop;
the rest wait for the next turn, after the timers that fell due, unless they have waited
``Limits.max_wait`` (the server is overloaded: the backlog is then answered without pause).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time

from rawhttp import Site, request

import llmfake
from llmfake.server import Limits

BURST = 3000
"""Pipelined requests in one burst."""
HEAVY = 400
"""Pipelined requests of a millisecond or more of work each."""


def _chat(model: str, *, stream: bool = False) -> bytes:
    return json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()


def _read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` content-length framed responses' bodies, in the order they came."""
    data = b""
    bodies: list[bytes] = []
    while len(bodies) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").lower()
            length = int(head.split("content-length: ", 1)[1].split("\r\n", 1)[0])
            if len(data) >= end + 4 + length:
                bodies.append(data[end + 4:end + 4 + length])
                data = data[end + 4 + length:]
                continue
        chunk = sock.recv(1 << 16)
        assert chunk, f"the server closed the connection after {len(bodies)} responses"
        data += chunk
    return bodies


def test_a_pipelined_burst_is_answered_whole_and_in_order(site: Site) -> None:
    site.use({"reply": "ok"})
    sock = socket.create_connection((site.server.host, site.server.port), timeout=30)
    try:
        # Each request names its own model, which its answer repeats: the order shows.
        sock.sendall(b"".join(request("POST", site.chat, _chat(f"m-{i}"))
                              for i in range(BURST)))
        bodies = _read_responses(sock, BURST)
    finally:
        sock.close()
    assert [json.loads(b)["model"] for b in bodies] == [f"m-{i}" for i in range(BURST)]


def _stream_during_burst(limits: Limits) -> tuple[float, float]:
    """The longest gap between a running stream's chunks while a client pipelines, in one
    write, many requests that each cost the server a millisecond or more (a long generated
    reply); and how long the burst took to answer. The stream's chunks are due every 20 ms."""
    with llmfake.serve({"rules": [{"match": {"stream": True}, "reply": " ".join(["w"] * 60),
                                   "latency": {"ttft": 0, "per_token": "20ms"}}],
                        "reply": {"generate": {"words": 3000}}}, limits=limits) as server:
        address = (server.host, server.port)
        stream = socket.create_connection(address, timeout=30)
        burst = socket.create_connection(address, timeout=30)
        try:
            stream.sendall(request("POST", "/v1/chat/completions", _chat("s", stream=True)))
            times: list[float] = []

            def read_stream() -> None:
                data = b""
                while b"data: [DONE]" not in data:
                    chunk = stream.recv(1 << 16)
                    if not chunk:
                        return
                    times.append(time.monotonic())
                    data += chunk

            reader = threading.Thread(target=read_stream)
            reader.start()
            time.sleep(0.2)  # the stream is running
            began = time.monotonic()
            burst.sendall(b"".join(request("POST", "/v1/chat/completions", _chat(f"b-{i}"))
                                   for i in range(HEAVY)))
            _read_responses(burst, HEAVY)
            burst_took = time.monotonic() - began
            reader.join(10)
        finally:
            stream.close()
            burst.close()
    during = [b - a for a, b in itertools.pairwise(times) if began <= b <= began + burst_took]
    assert during, "the stream ended before the burst: nothing was measured"
    assert burst_took > 0.2, f"the burst took {burst_took * 1000:.0f} ms: too short to tell"
    return max(during), burst_took


def test_a_burst_does_not_hold_back_a_running_stream() -> None:
    # max_wait long enough for the whole burst to be answered a turn at a time.
    gap, burst_took = _stream_during_burst(Limits(max_wait=10.0))
    # Answered all at once, the burst would hold the stream's next chunk for about its whole
    # length; a turn at a time, a chunk waits at most a turn or so past its 20 ms.
    assert gap < 0.02 + burst_took / 3, (
        f"a chunk came {gap * 1000:.0f} ms after the one before it while a burst of "
        f"{burst_took * 1000:.0f} ms was answered")


def test_an_overloaded_server_answers_the_backlog_without_pause() -> None:
    # Every request has waited max_wait at once: the server is taken as overloaded, and the
    # burst is answered in one go while the stream's chunks wait (then go out together).
    gap, burst_took = _stream_during_burst(Limits(max_wait=0.0))
    assert gap > burst_took / 2, (
        f"the longest gap, {gap * 1000:.0f} ms, is short for a burst of "
        f"{burst_took * 1000:.0f} ms answered without pause")


def test_a_client_that_half_closes_after_a_deferred_burst_gets_every_answer() -> None:
    # While a stream is paced, pipelined requests beyond a turn's work are answered in later
    # turns, each answer held for the end of its turn. The client's FIN can be read before
    # that end: the connection must then close after those answers, not drop them.
    with llmfake.serve({"rules": [{"match": {"stream": True}, "reply": " ".join(["w"] * 400),
                                   "latency": {"ttft": 0, "per_token": "5ms"}}],
                        "reply": {"generate": {"words": 300}}},
                       limits=Limits(work_per_turn=0.0, max_wait=10.0)) as server:
        address = (server.host, server.port)
        stream = socket.create_connection(address, timeout=30)
        try:
            stream.sendall(request("POST", "/v1/chat/completions", _chat("s", stream=True)))
            time.sleep(0.05)  # the stream is being paced
            for _ in range(20):
                burst = socket.create_connection(address, timeout=30)
                try:
                    burst.sendall(b"".join(request("POST", "/v1/chat/completions",
                                                   _chat(f"b-{i}")) for i in range(5)))
                    burst.shutdown(socket.SHUT_WR)
                    bodies = _read_responses(burst, 5)
                finally:
                    burst.close()
                assert [json.loads(b)["model"] for b in bodies] == [f"b-{i}" for i in range(5)]
        finally:
            stream.close()

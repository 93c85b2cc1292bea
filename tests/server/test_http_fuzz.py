"""Random and mutated request bytes against the HTTP core, while another connection streams.

Every answer must be one h11 (a strict HTTP/1.1 client) reads; a request h11 refuses as a
server gets a 4xx (400, or 413/414/431 where a limit was crossed), never a 2xx or a 5xx; the
server logs no error (a traceback would be one) and stays up; and a chat completion streamed on
another connection throughout comes out whole.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawhttp import Site, Wire, request, sse_data

import llmfake

REFUSALS = {400, 408, 413, 414, 431}
STREAMED = "a stream that must come out whole " * 8
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


# --- what the server must keep doing meanwhile -------------------------------------------------

class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Watch:
    """Streams chat completions on a connection of its own, one after another, and collects
    the errors the server and its event loop log."""

    __test__ = False

    def __init__(self, server: llmfake.Server) -> None:
        self.site = Site(server, "fuzz-stream")
        self.site.use({"reply": STREAMED, "latency": {"per_token": "2ms"}})
        self.streams = 0
        self.broken: list[str] = []
        self.errors = _Errors()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._stream, daemon=True)

    def _stream(self) -> None:
        body = json.dumps({"model": "gpt-4o", "stream": True,
                           "messages": [{"role": "user", "content": "go"}]}).encode()
        wire = self.site.connect(timeout=10.0)
        while not self._stop.is_set():
            try:
                wire.send(request("POST", self.site.chat, body))
                reply = wire.reply()
                data = [json.loads(d) for d in sse_data(reply.body) if d.startswith(b"{")]
                text = "".join(c["choices"][0]["delta"].get("content") or ""
                               for c in data if c["choices"])
                if reply.status != 200 or text != STREAMED \
                        or not reply.body.rstrip().endswith(b"data: [DONE]"):
                    self.broken.append(f"{reply.status}: {reply.body[-200:]!r}")
                self.streams += 1
            except Exception as exc:  # recorded, and the test fails on it
                self.broken.append(repr(exc))
                wire = self.site.connect(timeout=10.0)

    def __enter__(self) -> Watch:
        for name in ("llmfake", "asyncio"):
            logging.getLogger(name).addHandler(self.errors)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(15)
        for name in ("llmfake", "asyncio"):
            logging.getLogger(name).removeHandler(self.errors)
        self.site.close()

    def check(self) -> None:
        assert not self.broken, self.broken[:3]
        assert not self.errors.records, [r.getMessage() for r in self.errors.records[:3]]


@pytest.fixture(scope="module")
def watch(quick_server: llmfake.Server) -> Iterator[Watch]:
    with Watch(quick_server) as w:
        yield w
        # The module's tests may all be quick (under xdist a worker can get one of them): let
        # the watching connection finish one stream before judging it.
        deadline = time.monotonic() + 10
        while w.streams < 1 and not w.broken and time.monotonic() < deadline:
            time.sleep(0.01)
        w.check()
        assert w.streams >= 1


# --- one fuzzed exchange -----------------------------------------------------------------------

def h11_verdict(data: bytes) -> tuple[str, int]:
    """What a strict server makes of ``data``: "ok" (whole requests only), "incomplete" (the
    last one cut short) or "bad", and how many whole requests came before."""
    if not data:
        return "ok", 0
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    # Empty lines before a request line are to be ignored (RFC 9112, 2.2); h11 refuses them.
    conn.receive_data(re.sub(rb"(\A|\r\n\r\n)(?:\r\n)+", rb"\1", data))
    whole = 0
    try:
        for _ in range(10_000):
            event = conn.next_event()
            if event is h11.PAUSED:  # more after a request that closes the connection
                return "ok", whole
            if event is h11.NEED_DATA:
                return ("incomplete" if conn.their_state is not h11.IDLE or conn.trailing_data[0]
                        else "ok"), whole
            if isinstance(event, h11.EndOfMessage):
                whole += 1
                conn.send(h11.Response(status_code=204, headers=[]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return "ok", whole  # the connection closes after this one
                conn.start_next_cycle()
        raise AssertionError(f"h11 looped on {data[:300]!r}: {event!r}")
    except h11.RemoteProtocolError:
        return "bad", whole


def answers(server: llmfake.Server, data: bytes) -> list[int]:
    """Send ``data``, half-close, and read every response until the server closes; each one
    must satisfy h11. Returns their statuses."""
    wire = Wire(server, timeout=2.0)
    try:
        try:
            wire.send(data)
            wire.sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it all went out: what was answered is still read
        raw = bytearray()
        while True:
            try:
                chunk = wire.sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            raw += chunk
    finally:
        wire.close()
    statuses = []
    rest = bytes(raw)
    while rest:
        client = h11.Connection(h11.CLIENT)
        client.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        client.send(h11.EndOfMessage())
        client.receive_data(rest)
        client.receive_data(b"")
        while True:
            event = client.next_event()  # h11 refusing the bytes fails the test here
            if isinstance(event, h11.Response):
                statuses.append(event.status_code)
            if isinstance(event, h11.EndOfMessage):
                break
            assert event is not h11.NEED_DATA and not isinstance(event, h11.ConnectionClosed), (
                f"a response cut short: {rest[:300]!r}")
        rest, _ = client.trailing_data
    return statuses


def exchange(server: llmfake.Server, data: bytes, *, malformed: bool = False) -> list[int]:
    statuses = answers(server, data)
    assert all(s < 500 for s in statuses), (statuses, data[:300])
    verdict, whole = ("bad", 0) if malformed else h11_verdict(data)
    if verdict == "bad":
        # The last answer is the refusal (earlier ones answer whole pipelined requests).
        assert statuses and statuses[-1] in REFUSALS, (statuses, data[:300])
    elif whole:
        assert statuses, data[:300]
    return statuses


# --- requests ----------------------------------------------------------------------------------

TENANT = "fuzz"
PATHS = [f"/t/{TENANT}/v1/chat/completions", f"/t/{TENANT}/v1/messages", "/_llmfake/health",
         f"/t/{TENANT}/v1/models", "/v1/embeddings", "/nowhere", "/v1/chat/completions?x=1"]
tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.builds(lambda p, s: json.dumps({"model": "gpt-4o", "stream": s,
                                       "messages": [{"role": "user", "content": p}]}).encode(),
              st.text(max_size=40), st.booleans()),
)


@st.composite
def valid_requests(draw: st.DrawFn) -> bytes:
    """One well-formed request: a method, a path, a few headers, a body by length or chunked.
    Shrinks towards a GET of the first path with no body."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]))
    path = draw(st.sampled_from(PATHS))
    version = draw(st.sampled_from(["1.1", "1.0"]))
    body = draw(bodies)
    head = [f"{method} {path} HTTP/{version}", "host: localhost"]
    head += [f"x-{k}: {v}" for k, v in draw(st.dictionaries(tokens, tokens, max_size=4)).items()]
    if draw(st.booleans()):
        head.append("connection: " + draw(st.sampled_from(["close", "keep-alive"])))
    if body and version == "1.1" and draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        ends = [*cuts, len(body)]
        pieces = [body[a:b] for a, b in zip([0, *cuts], ends, strict=True) if b > a]
        framed = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        head.append("transfer-encoding: chunked")
    else:
        framed = body
        if body or method in ("POST", "PUT"):
            head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + framed


def _flip(data: bytes, at: int, value: int) -> bytes:
    i = at % len(data)
    return data[:i] + bytes([value]) + data[i + 1:]


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A valid request (or two, pipelined) with one mutation: a byte changed, a NUL put in,
    a cut, a line repeated, a header made huge."""
    data = draw(valid_requests())
    if draw(st.booleans()):
        data += draw(valid_requests())
    kind = draw(st.sampled_from(["flip", "nul", "truncate", "repeat", "huge", "insert"]))
    at = draw(st.integers(0, len(data)))
    if kind == "flip":
        return _flip(data, at, draw(st.integers(0, 255)))
    if kind == "nul":
        return data[:at] + b"\x00" + data[at:]
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=20)) + data[at:]
    lines = data.split(b"\r\n")
    i = at % len(lines)
    if kind == "repeat":
        return b"\r\n".join([*lines[:i + 1], lines[i], *lines[i + 1:]])
    return b"\r\n".join([*lines[:1], b"x-huge: " + b"h" * 70_000, *lines[1:]])


# Requests every strict server refuses, each a class of mistake a client or proxy makes.
CHAT = f"/t/{TENANT}/v1/chat/completions"
malformed_requests = st.one_of(
    st.builds(lambda size: (f"POST {CHAT} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked"
                            f"\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n").encode(),
              st.sampled_from(["zz", "-1", "3 3", "0x3", "fffffffffffffffffffff", ""])),
    st.builds(lambda m: f"{m} {CHAT} HTTP/1.1\r\nhost: x\r\n\r\n".encode(),
              st.sampled_from(["G ET", "GET\x00", "(POST)", "P\u00d8ST", "POST/"])),
    st.builds(lambda n: f"POST {CHAT} HTTP/1.1\r\nhost: x\r\ncontent-length: {n}\r\n\r\n{{}}"
              .encode(), st.sampled_from(["-1", "1e3", "abc", "99999999999999999999999",
                                          "2, 3", "0x10"])),
    st.builds(lambda name: f"GET {CHAT} HTTP/1.1\r\nhost: x\r\n{name}: v\r\n\r\n".encode(),
              st.sampled_from(["bad header", "x\x00y", "", "é"])),
    st.just(f"POST {CHAT} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n"
            "content-length: 5\r\n\r\n{}".encode()),
    st.just(f"GET {CHAT} HTTP/9.9\r\nhost: x\r\n\r\n".encode()),
    st.just(f"GET /{'a' * 9000} HTTP/1.1\r\nhost: x\r\n\r\n".encode()),
    st.just(f"GET {CHAT} HTTP/1.1\r\nhost: x\r\nx-a: {'b' * 70_000}\r\n\r\n".encode()),
)


# --- the tests ---------------------------------------------------------------------------------

@SETTINGS
@given(data=valid_requests())
def test_valid_requests_are_answered(quick_server: llmfake.Server, watch: Watch,
                                     data: bytes) -> None:
    statuses = exchange(quick_server, data)
    assert len(statuses) == 1, statuses
    watch.check()


@SETTINGS
@given(data=mutated_requests())
def test_mutated_requests_never_break_the_server(quick_server: llmfake.Server, watch: Watch,
                                                 data: bytes) -> None:
    exchange(quick_server, data)
    watch.check()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=malformed_requests)
def test_malformed_requests_get_a_4xx(quick_server: llmfake.Server, watch: Watch,
                                      data: bytes) -> None:
    exchange(quick_server, data, malformed=True)
    watch.check()


def test_the_server_is_still_up(quick_server: llmfake.Server, watch: Watch) -> None:
    assert exchange(quick_server, request("GET", "/_llmfake/health")) == [200]
    watch.check()

"""Raw-socket clients for the HTTP core's conformance and fuzz tests.

Requests go out as bytes written by hand; every response is read by h11, a strict HTTP/1.1
implementation, playing the client: it rejects a bad status line, bad header syntax, bad
framing (chunk sizes, a length that does not match) and keep-alive semantics a client could not
follow. A response h11 accepts is one a careful client can read.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import h11

import llmfake
from llmfake.server import Limits

QUICK = Limits(header_timeout=0.5, body_timeout=0.5, idle_timeout=0.5)
"""Short timeouts, so a test sees a 408 or an idle close in about a second (the core checks its
timeouts once a second)."""


@dataclass
class Reply:
    """One response as h11 read it."""

    status: int
    headers: dict[str, str]
    body: bytes
    version: bytes
    informational: list[int] = field(default_factory=list)
    """The 1xx responses before it."""
    keep_alive: bool = True
    """Whether h11 expects the connection to carry another request after this one."""


class Wire:
    """A client connection: raw bytes out, h11-checked responses in.

    h11 is told about each request (method, target, whether it closes or expects a 100; never
    the body) only so that it knows how to frame the response; the bytes on the wire are
    whatever the test sent.
    """

    __test__ = False

    def __init__(self, server: llmfake.Server, *, timeout: float = 5.0,
                 rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connecting, so the window offered is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((server.host, server.port))
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 20)
        self._informational: list[int] | None = None  # a response begun, not yet read

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def _begin(self, method: str, target: str, close: bool, expect_continue: bool) -> None:
        conn = self.h11
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        elif conn.our_state is not h11.IDLE:
            # h11 takes every HTTP/1.0 response as the connection's last; a test that keeps an
            # HTTP/1.0 connection alive reads its next response with a fresh parser.
            leftover, _ = conn.trailing_data
            conn = self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 20)
            if leftover:  # (h11 takes b"" for the end of the stream)
                conn.receive_data(leftover)
        headers = [("host", "localhost"), ("content-length", "0")]
        if close:
            headers.append(("connection", "close"))
        if expect_continue:
            headers.append(("expect", "100-continue"))
        conn.send(h11.Request(method=method, target=target, headers=headers))
        conn.send(h11.EndOfMessage())
        self._informational = []

    def _event(self) -> object:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.h11.receive_data(self.recv())

    def interim(self, method: str = "POST", target: str = "/") -> int:
        """Read a 1xx response to a request that expects a 100; ``reply`` reads the final
        response to the same request."""
        self._begin(method, target, False, True)
        event = self._event()
        assert isinstance(event, h11.InformationalResponse), event
        assert self._informational is not None
        self._informational.append(event.status_code)
        return event.status_code

    def reply(self, method: str = "POST", target: str = "/", *, close: bool = False,
              expect_continue: bool = False) -> Reply:
        """Read the next response (to a request sent as ``method`` ``target``) with h11."""
        if self._informational is None:
            self._begin(method, target, close, expect_continue)
        informational, self._informational = self._informational or [], None
        response: h11.Response | None = None
        body = bytearray()
        while True:
            event = self._event()
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError("the connection closed before a response")
        assert response is not None
        return Reply(response.status_code,
                     {k.decode(): v.decode("latin-1") for k, v in response.headers},
                     bytes(body), response.http_version, informational,
                     keep_alive=self.h11.their_state is h11.DONE)

    def closed_by_server(self, within: float = 3.0) -> bool:
        """Whether the server closes the connection (EOF or reset) within ``within`` seconds,
        sending nothing more."""
        self.sock.settimeout(within)
        try:
            data = self.sock.recv(1)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        assert data == b"", f"unexpected bytes after the response: {data!r}"
        return True

    def close(self) -> None:
        self.sock.close()


def request(method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
            version: str = "1.1") -> bytes:
    """A request's bytes, with a host and (for a body) a content-length."""
    lines = [f"{method} {target} HTTP/{version}", "host: localhost"]
    if body:
        lines.append(f"content-length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body



def sse_data(body: bytes) -> list[bytes]:
    """The ``data:`` payloads of a server-sent-event body."""
    return [line[6:] for line in body.split(b"\n") if line.startswith(b"data: ")]


class Site:
    """One tenant of a server, with the connections a test opened to it."""

    __test__ = False

    def __init__(self, server: llmfake.Server, tenant: str) -> None:
        self.server = server
        self.tenant = tenant
        self.chat = f"/t/{tenant}/v1/chat/completions"
        """The tenant's OpenAI chat path."""
        self.wires: list[Wire] = []

    def use(self, scenario: dict[str, object]) -> None:
        self.server.use(scenario, self.tenant)

    def connect(self, **kwargs: object) -> Wire:
        wire = Wire(self.server, **kwargs)  # type: ignore[arg-type]
        self.wires.append(wire)
        return wire

    def close(self) -> None:
        for wire in self.wires:
            wire.close()


def wait_for(predicate: object, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")

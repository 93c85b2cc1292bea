"""What the HTTP core reads and writes: the request, its limits, header blocks, the clock.

``_http`` holds the connection that parses requests into these and writes the answers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

from llmfake._header_block import head_block

__all__ = ["ClientGone", "Limits", "Request", "date_header", "head_block", "now", "sleep_until",
           "status_line"]

now = time.monotonic
"""The clock a request's arrival stamp is read on, and so every time measured from it (its
deadlines, its duration). uvloop's ``loop.time()`` is the same clock cut to whole milliseconds
at the start of the loop's iteration: mixed with this one it reads up to a millisecond early,
and a short exchange would last ``-0ms``."""


async def sleep_until(deadline: float) -> None:
    """Sleep until ``deadline`` on :data:`now`'s clock (at once if it has passed)."""
    delay = deadline - now()
    if delay > 0:
        await asyncio.sleep(delay)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost the server before it is refused."""

    max_target: int = 8192
    """Bytes of request target (path and query); longer gets 414."""
    max_header_bytes: int = 65536
    """Bytes of header names and values together; more gets 431."""
    max_body: int = 1 << 30
    """A ceiling over what handlers allow (``Handler.body_limit``)."""
    max_pipeline: int = 32
    """Complete requests waiting on one connection before it stops reading."""
    header_timeout: float = 10.0
    """Seconds from a request's first byte to the end of its headers."""
    body_timeout: float = 30.0
    """Seconds a body may go without a byte arriving."""
    idle_timeout: float = 75.0
    """Seconds a keep-alive connection may wait for its next request."""
    work_per_turn: float = 0.0005
    """Seconds of answering requests in one turn of the event loop: past it, the requests still
    to answer wait for the next turn, after the timers that fell due meanwhile (a burst of new
    requests must not hold back the chunks of the streams already running). Requests that
    arrive during a turn are read, and their deadlines start, only after it: 1 ms rather than
    2 took the first-byte p99 of 100 streams started at once from 6.7-6.8 ms to 4.6-4.7 (two
    alternated blocks of 8 rounds of ``benchmarks/bench_fidelity.py``); 0.5 ms rather than 1
    took it from 2.6-3.8 ms to 2.3-3.3 (p50 1.7-1.9 -> 1.3-1.5; four alternated blocks), and
    that of 1,000 streams from 9.9-12.3 ms to 7.7-10.3 (two blocks of 3 rounds)."""
    max_wait: float = 0.05
    """Seconds a request read may wait for its turn. Past it the server is overloaded, and the
    requests waiting are answered without pause: running streams then fall behind (their late
    chunks go out together) rather than new requests waiting ever longer."""


class ClientGone(ConnectionError):
    """The client closed the connection before the response was over."""


class Request:
    """One parsed request. Header names are lower-cased; repeated headers are joined by ', '."""

    __slots__ = ("_limit", "_parts", "_size", "_target", "arrived", "body", "continue_", "headers",
                 "keep_alive", "method", "path", "query", "too_large", "version")

    def __init__(self, arrived: float) -> None:
        self.arrived = arrived
        """Loop time at which the request's bytes were read (see ``HttpServer.stamp``)."""
        self.method = ""
        self.path = "/"
        self.query = ""
        """The raw query string, without '?'."""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.version = "1.1"
        self.keep_alive = True
        self.too_large = False
        """The body exceeded the handler's limit; ``body`` holds only its start."""
        self.continue_ = False
        """A ``100 Continue`` is owed: sent once the requests before it are answered."""
        self._size = 0
        self._limit = 0  # the body limit, worked out once the headers are in
        self._parts: list[bytes] = []
        self._target = b""


_date_second = 0
_date_header = b""


def date_header() -> bytes:
    """The ``date`` header line of this second (formatted once a second)."""
    global _date_second, _date_header
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_header = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    return _date_header


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode())


_STATUS_LINES = {s.value: _status_line(s.value) for s in HTTPStatus}


def status_line(status: int) -> bytes:
    """The status line of ``status`` (a known one's made once)."""
    return _STATUS_LINES.get(status) or _status_line(status)



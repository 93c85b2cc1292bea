"""HTTP/1.1 for the fake server: an ``asyncio.Protocol`` fed by httptools (llhttp, the parser
Node and uvicorn use), writing straight to the transport.

The server's work per request is a parse, a match, a render and one write, so the layer under it
must cost little: no per-request task (a handler that can answer at once answers inside
``data_received``; only one that must wait returns a coroutine, run as a task), no stream objects,
header blocks joined once. What it speaks:

- keep-alive (HTTP/1.1 by default, HTTP/1.0 when asked), ``Connection: close`` honoured;
- pipelining: requests queue on their connection and are answered in order; reading pauses while
  more than ``Limits.max_pipeline`` wait;
- bodies with a length or chunked; ``Expect: 100-continue`` answered when the body is welcome;
- flow control: ``pause_writing`` / ``resume_writing`` from the transport, ``drain()`` and
  ``when_drained()`` for writers;
- limits: a target longer than ``max_target`` gets 414, a header block over ``max_header_bytes``
  431, a body over what the handler allows is handed to it as ``too_large`` (it answers 413 in its
  provider's shape) and then discarded before the connection closes, so the client reads the 413
  instead of a reset;
- timeouts, checked by one sweep a second per server: a header block not finished in
  ``header_timeout`` (408), a body that stops arriving for ``body_timeout`` (408), an idle
  keep-alive connection after ``idle_timeout`` (closed);
- malformed HTTP: a generic 400 and the connection closes; one debug line, never a traceback.

HTTP/1.0 clients get streams delimited by the connection's end (no chunked encoding).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

import httptools

from llmfake.server._http_message import (
    ClientGone,
    Limits,
    Request,
    date_header,
    head_block,
    now,
    status_line,
)

_LOG = logging.getLogger("llmfake.server")

__all__ = ["Connection", "HttpServer"]

_HELD_PIECES = 4
"""Pieces of a stream held for the end of a loop iteration, at most (headers, events, end): past
them a stream writes through the transport, whose buffer bounds what waits in memory."""


Handler = Callable[[Request, "Connection"], Awaitable[None] | None]
"""Answers a request on its connection, at once (returns None) or in a coroutine."""
BodyLimit = Callable[[Request], int]
"""The largest body the handler takes for a request whose headers have arrived."""

_IDLE, _HEAD, _BODY, _BUSY, _LINGER = 0, 1, 2, 3, 4
_SPENT_PARSER = httptools.HttpRequestParser(object())
"""What a closed connection's parser is replaced with (it has no callbacks)."""


class Connection(asyncio.Protocol):
    """One client connection: parses its requests, runs the handler, writes the answers."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self.loop = server.loop
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._req: Request | None = None  # the one being parsed
        self._queue: deque[Request] = deque()
        self.current: Request | None = None
        """The request being answered."""
        self._headers_size = 0
        self._header_name = b""
        self._state = _IDLE
        self._since = 0.0
        self._reading_paused = False
        self._dispatching = False
        self._discarding = False
        self._stop_parsing = False
        self._chunked = False
        self._ended = False
        self._responded = False
        self._close_after = False
        self._refusal: tuple[int, str] | None = None
        self._write_paused = False
        self._held: list[bytes] | None = None
        self._deferred = False
        self._drain_waiters: list[Callable[[], None]] = []
        self.task: asyncio.Task[None] | None = None
        self.lost: asyncio.Future[None] = self.loop.create_future()
        """Done once the connection is closed, by either side."""
        self.client_eof = False
        """The client is done sending (it left, or half-closed): a request queued for a
        capacity slot gives its place up."""

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._since = self.loop.time()
        self._server.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        # The parser holds this connection's bound methods: let go of it, or each connection
        # would be a cycle left for the garbage collector to find.
        self._parser = _SPENT_PARSER
        self._held = None
        self._stop_parsing = True
        self._server.connections.discard(self)
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake_writers()
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        if self._stop_parsing:
            return
        if self._state == _IDLE:
            self._state, self._since = _HEAD, self.loop.time()
        elif self._state == _BODY:
            self._since = self.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # A protocol switch is not offered: answer what was asked, then close.
            self._stop_parsing = True
            self._close_after = True
        except _Refused as exc:
            self._refuse(exc.status, exc.reason)
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.status, refused.reason)
            else:
                _LOG.debug("malformed HTTP from %s: %s", self._peer(), exc)
                self._refuse(400, "Malformed HTTP request")
        self._dispatch()

    def eof_received(self) -> bool | None:
        # The client is done sending; answers still in progress may go out (half-close).
        self._stop_parsing = True
        self.client_eof = True
        if self.current is None and not self._queue:
            # Nothing left to say: close, after the answers held for the end of this turn (an
            # answer made in a deferred turn waits for the next one, and the FIN can come first).
            self._unhold()
            return False
        return True  # every request read is answered, then the connection closes (_last)

    def _last(self, req: Request | None) -> bool:
        """Whether the connection closes once ``req``'s response is over: it asked to, it was
        refused, or the client is done sending and no request read waits after it."""
        return (self._close_after or req is None or not req.keep_alive
                or (self.client_eof and not self._queue))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writers()

    # --- httptools callbacks --------------------------------------------------------------------

    # No on_message_begin: a message's first callback is on_url, which begins it (one call
    # from the parser fewer per request).

    def on_url(self, url: bytes) -> None:
        req = self._req
        if req is None:
            req = self._req = Request(self._server.stamp())
            self._headers_size = 0
            self._state, self._since = _HEAD, self.loop.time()
        req._target += url
        if len(req._target) > self._server.limits.max_target:
            raise _Refused(414, "Request-URI Too Long")

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self._req
        assert req is not None
        self._headers_size += len(name) + len(value)
        if self._headers_size > self._server.limits.max_header_bytes:
            raise _Refused(431, "Request Header Fields Too Large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = req.headers.get(key)
        if old is None:
            req.headers[key] = text
        elif key == "host":  # which host is meant? (RFC 9112, 3.2: 400)
            raise _Refused(400, "More than one Host header")
        else:
            req.headers[key] = f"{old}, {text}"

    def on_headers_complete(self) -> None:
        req = self._req
        assert req is not None
        parser = self._parser
        req.method = parser.get_method().decode("ascii", "replace")
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive()
        target = req._target
        if target[:1] == b"/" and b"#" not in target:  # origin form: split it here
            path, _, query = target.partition(b"?")
            req.path = path.decode("utf-8", "replace")
            req.query = query.decode("utf-8", "replace")
        else:
            try:
                url = httptools.parse_url(target)
            except httptools.HttpParserInvalidURLError:
                raise _Refused(400, "Malformed request target") from None
            req.path = url.path.decode("utf-8", "replace") if url.path else "/"
            req.query = url.query.decode("utf-8", "replace") if url.query else ""
        self._state, self._since = _BODY, self.loop.time()
        length = req.headers.get("content-length")
        limit = req._limit = min(self._server.body_limit(req), self._server.limits.max_body)
        expects = req.headers.get("expect", "").lower() == "100-continue" and req.version == "1.1"
        if length is not None and length.isdigit() and int(length) > limit:
            self._too_large(req, body_coming=not expects)
        elif expects:
            req.continue_ = True
            self._continue()

    def _continue(self) -> None:
        """Send the ``100 Continue`` the request being read is owed, once it is its turn."""
        req = self._req
        if req is not None and req.continue_ and self.current is None and not self._queue \
                and not self._stop_parsing and self.transport is not None:
            req.continue_ = False
            self._unhold()
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        req = self._req
        assert req is not None
        if req.too_large:
            return
        req._size += len(body)
        if req._size > req._limit:
            self._too_large(req)
            return
        req._parts.append(body)

    def on_message_complete(self) -> None:
        req, self._req = self._req, None
        assert req is not None
        self._state = _IDLE if self.current is None else _BUSY
        self._since = self.loop.time()
        if self._discarding:  # the rest of a body refused with 413: the connection closes
            self._discarding = False
            self._stop_parsing = True
            self._close_after = True
            if self.transport is not None and self.current is None and not self._queue:
                self._unhold()
                self.transport.close()
            return
        if req.too_large:
            return  # already handed over when it went over the limit
        parts = req._parts
        req.body = parts[0] if len(parts) == 1 else b"".join(parts)
        req._parts = []
        self._queue.append(req)
        if len(self._queue) > self._server.limits.max_pipeline and not self._reading_paused:
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()

    def _too_large(self, req: Request, *, body_coming: bool = True) -> None:
        """Hand ``req`` to the handler now (it answers 413) and discard the rest of its body
        (unless the client waits for a 100 Continue before sending it: then close)."""
        req.too_large = True
        req.keep_alive = False
        req.body = b"".join(req._parts)
        req._parts = []
        if body_coming:
            self._discarding = True
        else:
            self._stop_parsing = True
        self._queue.append(req)

    # --- dispatch ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._queue and self.current is None and not self.lost.done():
                if self._server.turn_spent(self._queue[0].arrived):
                    if not self._deferred:
                        self._deferred = True
                        self._server.defer(self)
                    return
                req = self._queue.popleft()
                self.current = req
                self._state = _BUSY
                try:
                    pending = self._server.handler(req, self)
                except Exception:  # a bug costs one request, never the server
                    _LOG.exception("llmfake failed on %s %s", req.method, req.path)
                    self._internal_error()
                    continue
                if pending is not None:
                    self.task = self.loop.create_task(self._run(pending))
            if self.current is None and not self._queue and not self.lost.done():
                if self._refusal is not None:
                    self._refuse(*self._refusal)
                elif self._req is not None:
                    self._continue()
            if self._reading_paused and len(self._queue) <= self._server.limits.max_pipeline // 2:
                self._reading_paused = False
                if self.transport is not None:
                    self.transport.resume_reading()
        finally:
            self._dispatching = False

    async def _run(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        except (ClientGone, ConnectionError):
            self.abort()
        except Exception:
            _LOG.exception("llmfake failed on %s", self.current.path if self.current else "?")
            self._internal_error()
        finally:
            self.task = None

    def _internal_error(self) -> None:
        if self.current is not None and not self._chunked and self.transport is not None \
                and not self.transport.is_closing():
            self.respond(500, {"content-type": "text/plain"}, b"llmfake internal error\n",
                         close=True)
        else:
            self.abort()

    def _refuse(self, status: int, reason: str) -> None:
        """Answer a request the parser refused, then close; nothing after it is read. The
        requests read before it are answered first."""
        self._stop_parsing = True
        if self.current is not None or self._queue:
            self._refusal = (status, reason)  # sent by _dispatch once they are answered
            return
        self._refusal = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        body = f"{status} {reason}\n".encode()
        self._unhold()
        transport.write(status_line(status) + date_header()
                        + b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                          b"connection: close\r\n\r\n%b" % (len(body), body))
        self._linger()

    def _linger(self) -> None:
        """Close after an answer to a request not read to its end: send FIN and drop what
        still arrives for a moment, since closing with unread bytes would send a RST that can
        destroy the answer before the client reads it."""
        transport = self.transport
        if transport is None:
            return
        self._unhold()
        if transport.can_write_eof():
            transport.write_eof()
            self._state, self._since = _LINGER, self.loop.time()
        else:
            transport.close()

    def _done(self) -> None:
        """The current response is over: close, or go on to the next request."""
        req, self.current = self.current, None
        self._chunked = self._ended = False
        self._responded = False
        transport = self.transport
        if transport is None:
            return
        if self._last(req):
            self._unhold()
            if not self._discarding:
                transport.close()
            else:  # the rest of a refused body: the sweep bounds how long it may take
                self._state, self._since = _BODY, self.loop.time()
            return
        self._state = _HEAD if self._req is not None else _IDLE
        self._since = self.loop.time()
        if not self._dispatching and (self._queue or self._refusal or self._req is not None):
            self._dispatch()

    # --- answering ------------------------------------------------------------------------------

    @property
    def responded(self) -> bool:
        """Whether the current response has begun (its status line went out)."""
        return self._responded

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing."""
        return self.transport is None or self.transport.is_closing()

    def _head(self, status: int, headers: Mapping[str, str] | bytes, framing: bytes) -> bytes:
        req = self.current
        block = headers if isinstance(headers, bytes) else head_block(headers)
        line = status_line(status)
        if req is not None and req.version == "1.0":
            line = b"HTTP/1.0" + line[8:]
            if not self._last(req):
                framing += b"connection: keep-alive\r\n"
        elif self._last(req):
            framing += b"connection: close\r\n"
        return line + date_header() + block + framing + b"\r\n"

    def head_for(self, status: int, headers: Mapping[str, str] | bytes, length: int) -> bytes:
        """The status line and headers of a response of ``length`` body bytes (for faults that
        write the body themselves)."""
        return self._head(status, headers, b"content-length: %d\r\n" % length)

    def respond(self, status: int, headers: Mapping[str, str] | bytes, body: bytes, *,
                close: bool = False) -> None:
        """Send a whole response in one write (``headers`` as a mapping or a header block)."""
        transport = self.transport
        if close:
            self._close_after = True
        if transport is None or transport.is_closing():
            self._done()
            return
        req = self.current
        self._responded = True
        data = self._head(status, headers, b"content-length: %d\r\n" % len(body))
        if req is None or req.method != "HEAD":
            data += body
        held = self._held
        if self._last(req):
            if held is not None:
                self._unhold()
            transport.write(data)
        elif held is not None:  # pipelined: after the ones before it
            held.append(data)
        else:
            # Written at the end of this loop iteration with the others answered in it: the
            # client, woken by the first, is still awake for the rest (what Node's http does
            # by corking the socket until the next tick).
            self._held = [data]
            self._server.hold(self)
        self._done()

    def start(self, status: int, headers: Mapping[str, str] | bytes) -> None:
        """Send the status and headers of a streamed response (chunked; HTTP/1.0: until the
        connection closes)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ClientGone("the client went away")
        req = self.current
        if req is not None and req.version == "1.0":
            self._close_after = True
            framing = b""
        else:
            self._chunked = True
            framing = b"transfer-encoding: chunked\r\n"
        self._responded = True
        head = self._head(status, headers, framing)
        held = self._held
        if held is not None:  # pipelined: after the answers before it
            held.append(head)
        elif self._chunked and not self._last(req):
            # Held to the end of this loop iteration like a whole answer (see respond): a
            # stream whose events are all due now goes out in one write, headers to the end.
            self._held = [head]
            self._server.hold(self)
        else:
            transport.write(head)

    def send(self, data: bytes, *, last: bool = False) -> None:
        """Send a piece of a streamed response (framed as a chunk); ``last``: the response's
        last piece, with the end of the chunked body in the same write (``finish`` then writes
        nothing more)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ClientGone("the client went away")
        if not data:
            return
        if self._chunked:
            if last:
                self._ended = True  # the end goes with it: finish() writes nothing more
                data = b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data)
            else:
                data = b"%x\r\n%b\r\n" % (len(data), data)
        held = self._held
        if held is None:
            transport.write(data)
        elif len(held) < _HELD_PIECES:
            held.append(data)
        else:  # the transport's own buffer, which asks a writer to pause past its limit
            self._unhold()
            transport.write(data)

    def finish(self) -> None:
        """End a streamed response."""
        transport = self.transport
        if transport is not None and not transport.is_closing() and self._chunked \
                and not self._ended:
            if self._held is not None:
                self._held.append(b"0\r\n\r\n")
            else:
                transport.write(b"0\r\n\r\n")
        self._done()

    def write_raw(self, data: bytes) -> None:
        """Write bytes as they are, outside any framing (for faults that break the framing)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ClientGone("the client went away")
        self._responded = True
        self._unhold()
        transport.write(data)

    @property
    def write_paused(self) -> bool:
        """Whether the transport asked writers to wait for the client to read."""
        return self._write_paused

    @property
    def write_backlog(self) -> int:
        """Bytes written but not yet taken by the client's socket."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the client has taken what was written (at once if it has), or
        once the connection is lost."""
        if not self._write_paused or self.lost.done():
            callback()
        else:
            self._drain_waiters.append(callback)

    async def drain(self) -> None:
        """Wait until the client has taken what was written; ``ClientGone`` if it left."""
        if self._write_paused and not self.lost.done():
            waiter: asyncio.Future[None] = self.loop.create_future()

            def wake() -> None:
                if not waiter.done():
                    waiter.set_result(None)

            self._drain_waiters.append(wake)
            await waiter
        if self.closed:
            raise ClientGone("the client went away")

    def _unhold(self) -> None:
        """Write the answers held for the end of this loop iteration now, before anything
        else goes out on this connection."""
        held, self._held = self._held, None
        if held is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def _wake_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for wake in waiters:
            wake()

    async def hold(self, seconds: float | None) -> None:
        """Wait ``seconds`` (None: until the client leaves), or less if the client leaves."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.lost), seconds)

    def close(self, *, drained: bool = True) -> None:
        """Close the connection: after what was written (FIN), or ``drained=False``: now."""
        self.current = None
        if self.transport is not None:
            self._unhold()
            if drained:
                self.transport.close()
            else:
                self.transport.abort()

    def half_close(self) -> None:
        """Stop sending (FIN) while still reading, if the transport can."""
        if self.transport is not None and self.transport.can_write_eof():
            self._unhold()
            self.transport.write_eof()

    def abort(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0), as a crashed proxy would."""
        transport = self.transport
        self.current = None
        if transport is None:
            return
        self._unhold()  # the answers before this one went out before it in any case
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    # --- timeouts ------------------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Enforce the timeouts (called about once a second)."""
        limits, state, since = self._server.limits, self._state, self._since
        if state == _IDLE and now - since > limits.idle_timeout:
            self.close()
        elif state == _HEAD and now - since > limits.header_timeout:
            self._refuse(408, "Request Timeout")
        elif state == _LINGER and now - since > 2.0:
            self.close()
        elif state == _BODY and now - since > (min(5.0, limits.body_timeout) if self._discarding
                                              else limits.body_timeout):
            self._refuse(408, "Request Timeout") if not self._discarding else self.close()

    def _peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class HttpServer:
    """What the connections of one listening socket share: handler, limits, clock."""

    def __init__(self, handler: Handler, body_limit: BodyLimit, limits: Limits | None = None,
                 paced: Callable[[], bool] | None = None) -> None:
        self.handler = handler
        self.body_limit = body_limit
        self.limits = limits or Limits()
        self.loop = asyncio.get_running_loop()
        self.connections: set[Connection] = set()
        self._stamp: float | None = None
        self._holding: list[Connection] = []
        self._turn_began: float | None = None
        self._turn_open = False
        self.turns = 0
        """Turns of the loop that read requests so far: what changes while requests come in."""
        self._paced = paced
        """Whether streams are being paced (None: take them to be): turns are limited only
        then, since a long turn makes nothing else late."""
        self._deferred: deque[Connection] = deque()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def stamp(self) -> float:
        """The loop time of this loop iteration's first read: every request read in one
        iteration arrived when the loop woke for them, however long reading the ones before it
        took (its deadlines count from there)."""
        stamp = self._stamp
        if stamp is None:
            stamp = self._stamp = now()
            self._open_turn()
        return stamp

    def _open_turn(self) -> None:
        """Have this turn's state (stamp, work done, answers held) ended in one callback, when
        the loop next runs its ready callbacks."""
        if not self._turn_open:
            self._turn_open = True
            self.loop.call_soon(self._end_turn)

    def _end_turn(self) -> None:
        self._turn_open = False
        self.turns += 1
        self._stamp = self._turn_began = None
        holding, self._holding = self._holding, []
        for conn in holding:
            conn._unhold()

    def turn_spent(self, arrived: float) -> bool:
        """Whether a request read at ``arrived`` must wait for the next turn: this turn of the
        loop has answered requests for ``work_per_turn``, and it has not waited ``max_wait``."""
        at = now()
        began = self._turn_began
        if began is None:
            self._turn_began = at
            self._open_turn()
            return False
        if at - began <= self.limits.work_per_turn or (self._paced is not None
                                                       and not self._paced()):
            return False
        return at - arrived <= self.limits.max_wait

    def defer(self, conn: Connection) -> None:
        """Have ``conn`` go on answering its requests in a later turn, in the order deferred."""
        if not self._deferred:
            self.loop.call_soon(self._resume)
        self._deferred.append(conn)

    def _resume(self) -> None:
        deferred = self._deferred
        while deferred:
            conn = deferred[0]
            if conn._queue and self.turn_spent(conn._queue[0].arrived):
                break
            deferred.popleft()
            conn._deferred = False
            conn._dispatch()
        if deferred:
            self.loop.call_soon(self._resume)

    def hold(self, conn: Connection) -> None:
        """Have ``conn``'s held answers written at the end of this loop iteration."""
        self._holding.append(conn)
        self._open_turn()

    async def serve(self, sock: socket.socket) -> None:
        """Accept connections on ``sock`` (bound and listening)."""
        self._server = await self.loop.create_server(lambda: Connection(self), sock=sock,
                                                     backlog=1024)
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections):
            conn.sweep(now)
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    async def close(self) -> None:
        """Stop accepting, drop every connection, cancel what is in flight."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = []
        for conn in list(self.connections):
            if conn.task is not None:
                conn.task.cancel()
                tasks.append(conn.task)
            if conn.transport is not None:
                conn.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


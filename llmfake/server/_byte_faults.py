"""Faults that break HTTP itself: the connection writes the response's bytes, wrong on purpose.

The other faults cut or stall a well-formed response; these send bytes no well-behaved server
sends, which only a server that owns its socket can do. Each is a few writes on the
``Connection``'s raw API (``head_for``, ``write_raw``, ``half_close``, ``hold``, ``abort``):

- ``length_short``: ``content-length`` announces ``after_bytes`` (default: half) but the whole
  body follows. A client reads the announced bytes, takes the response as complete and parses
  cut JSON; the rest is never read, because the connection closes after it.
- ``length_long``: ``content-length`` announces twice the body; the body comes, then after
  ``duration`` (default: at once) the connection closes cleanly (FIN) short of the promise.
- ``bad_chunking``: ``transfer-encoding: chunked``, then (after ``after_chunks`` good chunks
  on a stream) a chunk whose size line, ``xyz``, is not hexadecimal; then FIN.
- ``hang_after_headers``: the complete head, then nothing until ``duration`` has passed or the
  client leaves; then a reset.
- ``drip``: the whole response, head included, ``drip.bytes`` at a time ``drip.every`` apart.
  Every byte is right: only a client's total deadline can tell, never a per-read timeout.
- ``half_close``: the head and part of the response (``after_bytes`` of a body,
  ``after_chunks`` of a stream; default half), then FIN on the sending side while the server
  goes on reading: the client reads a clean end of stream in the middle of a response.
- ``garbage_status``: ``GARBAGE`` where the status line belongs (``_GARBAGE``), then the real
  headers and body; then FIN.
- ``reset_after_headers``: the complete head, then a TCP RST.

A streamed response keeps its chunked framing (each event one chunk, as the pacer sends it) and
its deadlines; a body goes out when it is due, as it would without the fault, head and body in
one write, so that a client reads them together (what some clients make of a broken response
depends on whether the break comes in the read that brought the head).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from llmfake.journal import Exchange
from llmfake.providers._base import Event, Rendered, strike_index
from llmfake.scenario._model import BYTE_FAULTS, Drip, FaultSpec
from llmfake.server._http import Connection
from llmfake.server._http_message import ClientGone, now, sleep_until

__all__ = ["BYTE_FAULTS", "strike_bytes"]

_GARBAGE = b"GARBAGE \x00\xff not HTTP\r\n"
"""What ``garbage_status`` sends instead of ``HTTP/1.1 200 OK``."""
_BAD_SIZE = b"xyz"
"""The chunk-size line of ``bad_chunking``: not hexadecimal."""
_LAST_CHUNK = b"0\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _head(conn: Connection, status: int, headers: Mapping[str, str], length: int | None
          ) -> bytes:
    """The head with ``content-length: length``, or chunked when ``length`` is None."""
    head = conn.head_for(status, headers, 0 if length is None else length)
    if length is None:  # head_for frames by length; the framing line is ours to swap
        head = head.replace(b"content-length: 0\r\n", b"transfer-encoding: chunked\r\n", 1)
    return head


async def strike_bytes(
    conn: Connection, fault: FaultSpec, rendered: Rendered, start: float,
    deadlines: tuple[float, ...], body_due: float, exchange: Exchange,
    finish: Callable[[], None],
) -> None:
    """Send ``rendered`` broken the way ``fault`` (one of ``BYTE_FAULTS``) says, then call
    ``finish``. Bodies go out at ``start + body_due``, stream events at their deadlines."""
    try:
        if rendered.events is None:
            await sleep_until(start + body_due)
            await _body(conn, fault, rendered, exchange)
        else:
            await _stream(conn, fault, rendered, rendered.events, start, deadlines, exchange)
    except (ClientGone, ConnectionError):
        exchange.client_disconnected = True
        conn.close()
    finally:
        finish()


async def _body(conn: Connection, fault: FaultSpec, rendered: Rendered,
                exchange: Exchange) -> None:
    name, body, status, headers = fault.name, rendered.body, rendered.status, rendered.headers
    if name == "drip":
        await _drip(conn, _head(conn, status, headers, len(body)) + body, fault.drip, exchange,
                    len(body))
        return
    exchange.outcome = exchange.outcome or "aborted"
    if name == "length_short":
        short = fault.after_bytes if fault.after_bytes is not None else len(body) // 2
        await _send(conn, exchange, _head(conn, status, headers, short), body)
        conn.close()
    elif name == "length_long":
        await _send(conn, exchange, _head(conn, status, headers, max(2 * len(body), 1)), body)
        await conn.hold(fault.duration or 0.0)
        conn.close()
    elif name == "bad_chunking":
        await _send(conn, exchange, _head(conn, status, headers, None) + _BAD_SIZE + b"\r\n",
                    body, b"\r\n")
        conn.close()
    elif name == "half_close":
        cut = fault.after_bytes if fault.after_bytes is not None else len(body) // 2
        await _send(conn, exchange, _head(conn, status, headers, len(body)), body[:cut])
        await _half_close(conn, fault)
    elif name == "garbage_status":
        exchange.status = 0  # nothing a client can read as a status
        head = _head(conn, status, headers, len(body))
        await _send(conn, exchange, _GARBAGE + head.split(b"\r\n", 1)[1], body)
        conn.close()
    else:  # hang_after_headers, reset_after_headers
        await _headers_only(conn, fault, _head(conn, status, headers, len(body)))


async def _stream(conn: Connection, fault: FaultSpec, rendered: Rendered,
                  events: Sequence[Event], start: float, deadlines: tuple[float, ...],
                  exchange: Exchange) -> None:
    name, status, headers = fault.name, rendered.status, rendered.headers

    def due(event: Event) -> float:
        return start + deadlines[min(event.due, len(deadlines) - 1)]

    if name == "drip":
        await sleep_until(start + deadlines[0])
        wire = b"".join(_chunk(e.data) for e in events)
        await _drip(conn, _head(conn, status, headers, None) + wire + _LAST_CHUNK, fault.drip,
                    exchange, len(wire))
        exchange.chunks = sum(1 for e in events if e.chunk)
        return
    exchange.outcome = exchange.outcome or "aborted"
    if name in ("hang_after_headers", "reset_after_headers"):
        await _headers_only(conn, fault, _head(conn, status, headers, None))
        return
    if name == "garbage_status":
        exchange.status = 0
        head = _head(conn, status, headers, None)
        wire = b"".join(_chunk(e.data) for e in events) + _LAST_CHUNK
        await _send(conn, exchange, _GARBAGE + head.split(b"\r\n", 1)[1], wire)
        conn.close()
        return
    if name in ("length_short", "length_long"):
        total = sum(len(e.data) for e in events)
        short = fault.after_bytes if fault.after_bytes is not None else total // 2
        conn.write_raw(_head(conn, status, headers,
                             short if name == "length_short" else max(2 * total, 1)))
        for event in events:
            await sleep_until(due(event))
            await _send(conn, exchange, b"", event.data)
            exchange.chunks += int(event.chunk)
        if name == "length_long":
            await conn.hold(fault.duration or 0.0)
        conn.close()
        return
    # bad_chunking, half_close: good chunks up to the strike, then the fault.
    conn.write_raw(_head(conn, status, headers, None))
    strike = strike_index(events, fault.after_chunks)
    struck = b""  # the event the broken chunk carries (none when the stream ran out)
    for index, event in enumerate(events):
        await sleep_until(due(event))
        if index == strike:
            struck = event.data
            break
        await _send(conn, exchange, b"%x\r\n" % len(event.data), event.data, b"\r\n")
        exchange.chunks += int(event.chunk)
    if name == "half_close":
        await _half_close(conn, fault)
        return
    data = struck
    await _send(conn, exchange, _BAD_SIZE + b"\r\n", data, b"\r\n")
    conn.close()


async def _send(conn: Connection, exchange: Exchange, before: bytes, data: bytes,
                after: bytes = b"") -> None:
    """Write framing around ``data`` (counted as body bytes sent) and wait for the client."""
    conn.write_raw(before + data + after)
    exchange.bytes_sent += len(data)
    await conn.drain()


async def _headers_only(conn: Connection, fault: FaultSpec, head: bytes) -> None:
    conn.write_raw(head)
    await conn.drain()
    if fault.name == "hang_after_headers":
        await conn.hold(fault.duration)
    conn.abort()


async def _half_close(conn: Connection, fault: FaultSpec) -> None:
    conn.half_close()
    await conn.hold(fault.duration)  # still reading: the client decides when it is over
    conn.close()


async def _drip(conn: Connection, wire: bytes, drip: Drip | None, exchange: Exchange,
                body_bytes: int) -> None:
    """Send ``wire`` a few bytes at a time; the response is complete, only slow."""
    drip = drip or Drip()
    due = now()
    for offset in range(0, len(wire), drip.bytes):
        await sleep_until(due)
        conn.write_raw(wire[offset:offset + drip.bytes])
        await conn.drain()
        due += drip.every
    exchange.bytes_sent = body_bytes
    exchange.completed = True
    conn.finish()

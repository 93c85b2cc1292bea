"""Executing a plan on the connection: deadlines, SSE writing and transport faults.

Deadlines are measured from the request's arrival (``start``), never accumulated from sleeps,
so a slow write does not push every later chunk back. What needs no waiting of its own runs
without a task: a body due now is written at once, one due later from a loop timer, a stream
by the loop's pacer. Faults, which hold, cut and reset connections, run as a coroutine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from llmfake.engine._plan import Plan
from llmfake.journal import Exchange
from llmfake.providers._base import Event, Rendered, strike_index
from llmfake.scenario._model import FaultSpec
from llmfake.server._byte_faults import BYTE_FAULTS, strike_bytes
from llmfake.server._http import Connection
from llmfake.server._http_message import ClientGone, now, sleep_until
from llmfake.server._pacer import pace
from llmfake.server._replay import Replay

Finish = Callable[[], None]
"""Called once when the exchange is over, however it ended."""


def deliver(
    conn: Connection,
    plan: Plan | None,
    rendered: Rendered,
    start: float,
    exchange: Exchange,
    finish: Finish,
    stream_error: Callable[[Plan], bytes] | None = None,
    replay: Replay | None = None,
) -> Coroutine[Any, Any, None] | None:
    """Send ``rendered`` on time, striking ``plan.fault`` if there is one. A ``replay`` brings
    its own schedule: the recorded offsets instead of the plan's latency. Returns a coroutine
    when the delivery must wait in ways a timer cannot (faults), else None."""
    fault = plan.fault if plan is not None else None
    if replay is not None:
        deadlines, body_due, headers_at = replay.deadlines, replay.headers_at, replay.headers_at
    else:
        body_due = plan.timing.total(rendered.tokens) if plan is not None else 0.0
        if fault is None and rendered.events is None:  # a body on time: no deadlines needed
            exchange.status = rendered.status
            body_at(conn, rendered, start + body_due, exchange, finish)
            return None
        deadlines = (plan.timing.deadlines(max(rendered.tokens, 1)) if plan is not None
                     else (0.0,))
        headers_at = 0.0
    exchange.status = rendered.status
    if fault is not None and fault.name in BYTE_FAULTS:
        return strike_bytes(conn, fault, rendered, start, deadlines, body_due, exchange, finish)
    if fault is not None or (headers_at > 0 and rendered.events is not None):
        return _deliver_slowly(conn, plan, fault, rendered, start, deadlines, body_due,
                               headers_at, exchange, finish, stream_error)
    if rendered.events is None:
        body_at(conn, rendered, start + body_due, exchange, finish)
        return None
    conn.start(rendered.status, rendered.headers)
    pace(conn, rendered.events, deadlines, start, exchange, _Ended(conn, exchange, finish))
    return None


class _Ended:
    """Ends a paced stream: the last chunk, or the cut that stopped it. A class, not a closure
    (fewer objects for the cyclic collector to walk while the stream lasts)."""

    __slots__ = ("conn", "exchange", "finish")

    def __init__(self, conn: Connection, exchange: Exchange, finish: Finish) -> None:
        self.conn, self.exchange, self.finish = conn, exchange, finish

    def __call__(self, exc: BaseException | None) -> None:
        if exc is None:
            self.conn.finish()
            self.exchange.completed = True
        else:
            self.exchange.client_disconnected = isinstance(exc, ClientGone)
            self.conn.close()
        self.finish()


def body_at(conn: Connection, rendered: Rendered, due: float, exchange: Exchange,
            finish: Finish) -> None:
    """Write a whole response at ``due`` (on ``now``'s clock), then end its exchange."""
    delay = due - now()
    if delay <= 0:
        write_body(conn, rendered, exchange, finish)
    else:
        conn.loop.call_later(delay, write_body, conn, rendered, exchange, finish)


def write_body(conn: Connection, rendered: Rendered, exchange: Exchange, finish: Finish) -> None:
    """Write a whole response now, then end its exchange."""
    if conn.closed:
        exchange.client_disconnected = True
    else:
        exchange.bytes_sent = len(rendered.body)
        exchange.completed = True
    conn.respond(rendered.status, rendered.head or rendered.headers, rendered.body)
    finish()


async def _deliver_slowly(
    conn: Connection, plan: Plan | None, fault: FaultSpec | None, rendered: Rendered,
    start: float, deadlines: tuple[float, ...], body_due: float, headers_at: float,
    exchange: Exchange, finish: Finish, stream_error: Callable[[Plan], bytes] | None,
) -> None:
    loop = conn.loop
    try:
        if fault is not None and fault.name in ("reset", "empty", "hang"):
            exchange.status = 0  # nothing will be answered
            await sleep_until(start + deadlines[0] if fault.name != "hang" else start)
            if fault.name == "hang":
                await conn.hold(fault.duration)
            exchange.outcome = exchange.outcome or "aborted"
            conn.abort() if fault.name in ("reset", "hang") else conn.close()
            return
        if fault is not None and fault.name == "slow_headers":
            await asyncio.sleep(fault.duration if fault.duration is not None else 10.0)
            fault = None
        if rendered.events is None:
            await sleep_until(start + body_due)
            await _body_fault(conn, rendered, fault, exchange)
            return
        if headers_at > 0:
            await sleep_until(start + headers_at)
        conn.start(rendered.status, rendered.headers)
        if fault is None:
            ended: asyncio.Future[BaseException | None] = loop.create_future()
            pace(conn, rendered.events, deadlines, start, exchange, ended.set_result)
            gone = await ended
            if gone is not None:
                raise gone
            conn.finish()
            exchange.completed = True
            return
        await _stream_fault(conn, plan, fault, rendered.events, start, deadlines, exchange,
                            stream_error)
    except (ClientGone, ConnectionError):
        exchange.client_disconnected = True
        exchange.outcome = exchange.outcome or "aborted"
        conn.close()
    finally:
        finish()


async def _stream_fault(conn: Connection, plan: Plan | None, fault: FaultSpec,
                        events: Any, start: float, deadlines: tuple[float, ...],
                        exchange: Exchange, stream_error: Callable[[Plan], bytes] | None
                        ) -> None:
    strike = strike_index(events, fault.after_chunks)
    pending: list[bytes] = []
    pending_deadline = start
    for index, event in enumerate(events):
        due = start + deadlines[min(event.due, len(deadlines) - 1)]
        if pending and due > pending_deadline:
            await _flush(conn, pending, pending_deadline, exchange, start)
        if index == strike:
            await _flush(conn, pending, pending_deadline, exchange, start)
            await sleep_until(due)
            await _strike(conn, fault, plan, event, stream_error, exchange)
            return
        pending.append(event.data)
        pending_deadline = due
        if event.chunk:
            exchange.chunks += 1
    await _flush(conn, pending, pending_deadline, exchange, start)
    await _strike(conn, fault, plan, None, stream_error, exchange)


async def _flush(conn: Connection, pending: list[bytes], deadline: float,
                 exchange: Exchange, start: float) -> None:
    if not pending:
        return
    await sleep_until(deadline)
    data = b"".join(pending)
    pending.clear()
    exchange.bytes_sent += len(data)
    conn.send(data)
    exchange.note_write(now() - start, deadline - start)
    await conn.drain()


async def _strike(conn: Connection, fault: FaultSpec, plan: Plan | None, event: Event | None,
                  stream_error: Callable[[Plan], bytes] | None, exchange: Exchange) -> None:
    name = fault.name
    exchange.outcome = exchange.outcome or "aborted"
    if name == "stall":
        await conn.hold(fault.duration)
        conn.abort()
    elif name == "error_event" and plan is not None and stream_error is not None:
        data = stream_error(plan)
        exchange.bytes_sent += len(data)
        conn.send(data)
        conn.finish()
    elif name == "malformed":
        data = event.data if event is not None else b"data: {"
        data = data[: max(len(data) // 2, 1)] + b"\n\n"
        exchange.bytes_sent += len(data)
        conn.send(data)
        conn.finish()
    elif name == "truncate":
        data = event.data if event is not None else b"data: {"
        data = data[: max(len(data) // 2, 1)]
        exchange.bytes_sent += len(data)
        conn.send(data)
        await conn.drain()
        conn.abort()
    else:  # disconnect
        conn.abort()


async def _body_fault(conn: Connection, rendered: Rendered, fault: FaultSpec | None,
                      exchange: Exchange) -> None:
    body = rendered.body
    if fault is None:
        exchange.completed = True
        exchange.bytes_sent = len(body)
        conn.respond(rendered.status, rendered.headers, body)
        return
    exchange.outcome = exchange.outcome or "aborted"
    if fault.name == "malformed":
        cut = body[: len(body) // 2] + b"}"
        exchange.bytes_sent = len(cut)
        conn.respond(rendered.status, rendered.headers, cut)
        return
    # The headers promise the whole body; part of it comes, then the connection is reset.
    cut_at = fault.after_bytes if fault.after_bytes is not None else len(body) // 2
    conn.write_raw(conn.head_for(rendered.status, rendered.headers, len(body)))
    if fault.name != "error_event":
        exchange.bytes_sent = len(body[:cut_at])
        conn.write_raw(body[:cut_at])
        await conn.drain()
    if fault.name == "stall":
        await conn.hold(fault.duration)
    conn.abort()

"""Executing a plan on the connection: deadlines, SSE writing and transport faults.

Deadlines are measured from the request's arrival (``start``), never accumulated from sleeps,
so a slow write does not push every later chunk back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from aiohttp import web

from llmfake.engine._plan import Plan
from llmfake.journal import Exchange
from llmfake.providers._base import Event, Rendered, strike_index
from llmfake.scenario._model import FaultSpec
from llmfake.server._pacer import paced
from llmfake.server._replay import Replay

_FOREVER = 3600.0 * 24
# aiohttp (3.9 on) no longer cancels a handler when its client goes away: a CancelledError is
# the server shutting down (or the caller's own cancellation), which must propagate.
_CLIENT_GONE = (ConnectionResetError, ConnectionError)


class Aborted(Exception):
    """The connection was dropped on purpose; the handler must not answer."""


def reset(request: web.Request) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), as a crashed proxy would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def close(request: web.Request) -> None:
    """Close the connection cleanly (FIN) without answering."""
    if request.transport is not None:
        request.transport.close()


async def _hold(request: web.Request, seconds: float | None) -> None:
    """Keep the connection silent for ``seconds`` (None: until the client gives up).

    Polls for the client going away, so a hang the client abandoned does not keep a task alive.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + (seconds if seconds is not None else _FOREVER)
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        left = end - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def send(
    request: web.Request,
    plan: Plan | None,
    rendered: Rendered,
    start: float,
    exchange: Exchange,
    stream_error: Callable[[Plan], bytes] | None = None,
    replay: Replay | None = None,
) -> web.StreamResponse:
    """Send ``rendered`` on time, striking ``plan.fault`` if there is one. A ``replay`` brings
    its own schedule: the recorded offsets instead of the plan's latency."""
    loop = asyncio.get_running_loop()
    fault = plan.fault if plan is not None else None
    if replay is not None:
        deadlines, body_due, headers_at = replay.deadlines, replay.headers_at, replay.headers_at
    else:
        deadlines = (plan.timing.deadlines(max(rendered.tokens, 1)) if plan is not None
                     else (0.0,))
        body_due = plan.timing.total(rendered.tokens) if plan is not None else 0.0
        headers_at = 0.0
    exchange.status = rendered.status

    if fault is not None and fault.name in ("reset", "empty", "hang"):
        exchange.status = 0  # nothing will be answered
        await _sleep_until(loop, start + deadlines[0] if fault.name != "hang" else start)
        if fault.name == "hang":
            await _hold(request, fault.duration)
        exchange.status = 0
        (reset if fault.name in ("reset", "hang") else close)(request)
        raise Aborted
    if fault is not None and fault.name == "slow_headers":
        await asyncio.sleep(fault.duration if fault.duration is not None else 10.0)

    if rendered.events is None:
        return await _send_body(request, rendered, start + body_due, fault, exchange)

    response = web.StreamResponse(status=rendered.status, headers=rendered.headers)
    if headers_at > 0:
        await _sleep_until(loop, start + headers_at)
    await response.prepare(request)
    events = rendered.events
    strike = (strike_index(events, fault.after_chunks)
              if fault is not None and fault.name != "slow_headers" else None)
    pending: list[bytes] = []
    pending_deadline = start
    try:
        if strike is None:  # nothing to strike: the loop's pacer writes it (see _pacer)
            await paced(response, events, deadlines, start, exchange, request.transport)
            await response.write_eof()
            exchange.completed = True
            return response
        for index, event in enumerate(events):
            due = start + deadlines[min(event.due, len(deadlines) - 1)]
            if pending and due > pending_deadline:
                await _flush(loop, response, pending, pending_deadline, exchange)
            if index == strike and fault is not None:
                await _flush(loop, response, pending, pending_deadline, exchange)
                await _sleep_until(loop, due)
                await _strike(request, response, fault, plan, event, stream_error, exchange)
                raise Aborted
            pending.append(event.data)
            pending_deadline = due
            if event.chunk:
                exchange.chunks += 1
        await _flush(loop, response, pending, pending_deadline, exchange)
        if strike == len(events) and fault is not None:
            await _strike(request, response, fault, plan, None, stream_error, exchange)
            raise Aborted
        await response.write_eof()
    except _CLIENT_GONE:
        exchange.client_disconnected = True
        raise Aborted from None
    exchange.completed = True
    return response


async def _write(response: web.StreamResponse, data: bytes, exchange: Exchange) -> None:
    exchange.bytes_sent += len(data)
    await response.write(data)


async def _flush(loop: asyncio.AbstractEventLoop, response: web.StreamResponse,
                 pending: list[bytes], deadline: float, exchange: Exchange) -> None:
    if not pending:
        return
    await _sleep_until(loop, deadline)
    data = b"".join(pending)
    pending.clear()
    await _write(response, data, exchange)


async def _strike(request: web.Request, response: web.StreamResponse, fault: FaultSpec,
                  plan: Plan | None, event: Event | None,
                  stream_error: Callable[[Plan], bytes] | None, exchange: Exchange) -> None:
    name = fault.name
    if name == "stall":
        await _hold(request, fault.duration)
        reset(request)
    elif name == "error_event" and plan is not None and stream_error is not None:
        await _write(response, stream_error(plan), exchange)
        await response.write_eof()
    elif name == "malformed":
        data = event.data if event is not None else b"data: {"
        await _write(response, data[: max(len(data) // 2, 1)] + b"\n\n", exchange)
        await response.write_eof()
    elif name == "truncate":
        data = event.data if event is not None else b"data: {"
        await _write(response, data[: max(len(data) // 2, 1)], exchange)
        reset(request)
    else:  # disconnect
        reset(request)


async def _send_body(request: web.Request, rendered: Rendered, deadline: float,
                     fault: FaultSpec | None, exchange: Exchange) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    await _sleep_until(loop, deadline)
    body = rendered.body
    if fault is None or fault.name == "slow_headers":
        exchange.completed = True
        exchange.bytes_sent = len(body)
        return web.Response(status=rendered.status, headers=rendered.headers, body=body)
    response = web.StreamResponse(status=rendered.status, headers=rendered.headers)
    response.content_length = len(body)
    try:
        if fault.name == "malformed":
            response.content_length = len(body) // 2 + 1
            await response.prepare(request)
            await _write(response, body[: len(body) // 2] + b"}", exchange)
            await response.write_eof()
            return response
        await response.prepare(request)
        cut_at = fault.after_bytes if fault.after_bytes is not None else len(body) // 2
        if fault.name == "stall":
            await _write(response, body[:cut_at], exchange)
            await _hold(request, fault.duration)
        elif fault.name != "error_event":
            await _write(response, body[:cut_at], exchange)
    except _CLIENT_GONE:
        exchange.client_disconnected = True
    reset(request)
    raise Aborted

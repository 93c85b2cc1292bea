"""A plan waits for a capacity slot before it goes on the wire, and frees it when the response
is over (the scenario's ``capacity``; see ``llmfake.engine._capacity`` for the model).

``through_capacity`` is the one call the request handler makes: a plan that needs no slot, or
gets one at once, goes straight to ``answer``; one that must wait comes back as a coroutine
that waits for its slot (or for its client to leave), then answers. The schedule of a request
that waited starts when it got its slot, so the wait counts in its time to first token.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from llmfake.engine._capacity import (
    MemorySlots,
    loaded,
    needs_slot,
    overloaded,
    queue_error,
)
from llmfake.engine._redis_capacity import RedisSlots
from llmfake.errors import StateError
from llmfake.server._http_message import now

if TYPE_CHECKING:
    from llmfake.engine._engine import Engine
    from llmfake.engine._plan import Plan
    from llmfake.journal import Exchange
    from llmfake.scenario._model import Capacity
    from llmfake.server._http import Connection
    from llmfake.server._wire import Finish

Pending = Coroutine[Any, Any, None] | None
Answer = Callable[["Plan", "Exchange", float, "list[Plan]", "Finish"], Pending]
"""Puts a plan on the wire: ``(plan, exchange, start, done, finish)``."""

_LOG = logging.getLogger("llmfake.server")
_SLOTS: weakref.WeakKeyDictionary[Engine, MemorySlots | RedisSlots] = (
    weakref.WeakKeyDictionary())
_LOOK = 0.1  # seconds between looks at whether a queued request's client left
_RELEASING: set[asyncio.Task[None]] = set()


def slots_of(engine: Engine) -> MemorySlots | RedisSlots:
    """The slots of ``engine``'s tenants: in this process, or in its shared state."""
    slots = _SLOTS.get(engine)
    if slots is None:
        slots = _SLOTS[engine] = (MemorySlots() if engine.shared is None
                                  else RedisSlots(engine.shared))
    return slots


def through_capacity(engine: Engine, conn: Connection, plan: Plan, exchange: Exchange,
                     start: float, done: list[Plan], finish: Finish, answer: Answer) -> Pending:
    """Answer ``plan`` through ``answer`` once it holds a slot of its tenant's capacity (at
    once when it needs none); a full queue answers the capacity's error instead."""
    sc = engine.tenant(plan.call.tenant).scenario
    cap = sc.capacity
    if cap is None or not needs_slot(plan):
        return answer(plan, exchange, start, done, finish)
    slots = slots_of(engine)
    if isinstance(slots, RedisSlots):
        return _shared(slots, cap, sc.time_scale, conn, plan, exchange, start, done, finish,
                       answer)
    tenant = plan.call.tenant
    got = slots.take(tenant, cap)
    if got is None:
        return answer(overloaded(plan, cap.error, sc.time_scale), exchange, start, done, finish)

    def release() -> None:
        slots.give_back(tenant, cap)

    if isinstance(got, int):
        return _go(loaded(plan, cap, got, sc.time_scale), exchange, start, done, finish,
                   answer, release)
    return _waited(slots, cap, sc.time_scale, got, conn, plan, exchange, start, done, finish,
                   answer, release)


def _go(plan: Plan, exchange: Exchange, start: float, done: list[Plan], finish: Finish,
        answer: Answer, release: Callable[[], None]) -> Pending:
    """``answer`` with the slot held until the exchange is over, however it ends."""
    freed = False

    def free() -> None:
        nonlocal freed
        if not freed:
            freed = True
            release()

    def finished() -> None:
        free()
        finish()

    try:
        pending = answer(plan, exchange, start, done, finished)
    except BaseException:
        free()
        raise
    if pending is None:
        return None
    return _guarded(pending, free)


async def _guarded(pending: Coroutine[Any, Any, None], free: Callable[[], None]) -> None:
    try:
        await pending
    finally:
        free()  # a delivery cancelled before it finished (the server closing)


async def _waited(slots: MemorySlots, cap: Capacity, scale: float,
                  waiter: asyncio.Future[int], conn: Connection, plan: Plan,
                  exchange: Exchange, start: float, done: list[Plan], finish: Finish,
                  answer: Answer, release: Callable[[], None]) -> None:
    tenant = plan.call.tenant
    try:
        while not (waiter.done() or _gone(conn)):
            # A client that leaves only half-closes as the server sees it: look now and then.
            await asyncio.wait((waiter, conn.lost), timeout=_LOOK,
                               return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        slots.leave(tenant, cap, waiter)
        raise
    if _gone(conn) or waiter.cancelled():
        slots.leave(tenant, cap, waiter)
        _abandoned(plan, exchange, done, finish)
        return
    pending = _go(loaded(plan, cap, waiter.result(), scale), exchange, now(), done,
                  finish, answer, release)
    if pending is not None:
        await pending


async def _shared(slots: RedisSlots, cap: Capacity, scale: float, conn: Connection,
                  plan: Plan, exchange: Exchange, start: float, done: list[Plan],
                  finish: Finish, answer: Answer) -> None:
    tenant = plan.call.tenant
    began = start
    try:
        kind, busy = await slots.take(tenant, cap)
        if kind == "queued":
            while True:
                handed = await slots.wait(tenant)
                if handed is not None:
                    busy, began = handed, now()
                    break
                if _gone(conn):
                    await slots.leave(tenant, cap)
                    _abandoned(plan, exchange, done, finish)
                    return
    except StateError as exc:
        _LOG.error("%s", exc)
        pending = answer(overloaded(plan, queue_error(str(exc)), scale, "capacity state "
                                    "unavailable"), exchange, start, done, finish)
        if pending is not None:
            await pending
        return
    if kind == "full":
        pending = answer(overloaded(plan, cap.error, scale), exchange, start, done, finish)
    else:
        pending = _go(loaded(plan, cap, busy, scale), exchange, began, done, finish, answer,
                      lambda: _release(slots, tenant, cap))
    if pending is not None:
        await pending


def _gone(conn: Connection) -> bool:
    return conn.lost.done() or conn.client_eof


def _release(slots: RedisSlots, tenant: str, cap: Capacity) -> None:
    """Free a slot in Redis without making the response wait for it."""

    async def give_back() -> None:
        try:
            await slots.give_back(tenant, cap)
        except StateError as exc:
            _LOG.warning("%s (a capacity slot was not freed)", exc)

    task = asyncio.get_running_loop().create_task(give_back())
    _RELEASING.add(task)
    task.add_done_callback(_RELEASING.discard)


def _abandoned(plan: Plan, exchange: Exchange, done: list[Plan], finish: Finish) -> None:
    """The client left while its request waited for a slot."""
    done.append(plan)  # its admission (a concurrency limit's slot) is released by finish
    exchange.seq = plan.ordinal
    exchange.status = 0
    exchange.client_disconnected = True
    exchange.outcome = "aborted waiting for a slot"
    exchange.source = plan.source
    finish()

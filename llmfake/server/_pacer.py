"""Pacing many streams on one timer: every chunk due at a tick goes out in that tick's callback.

A stream that slept (``asyncio.sleep``) before each chunk would cost a timer, a task wake-up and
an awaited write per chunk. With 1,000 streams whose schedules coincide (they count from their
arrival), each 20 ms tick would run 1,000 of those one after another, in an order that changes
from tick to tick, and the last would be late by the sum. Here one timer per loop
fires at the earliest deadline; its callback writes every chunk then due, straight to the
connection. A stream whose client reads slowly (the transport asked to pause writing) waits for
it to drain, without holding the others back.

Deadlines are read on ``_http_message.now`` (``time.monotonic``, the arrival stamps' clock):
uvloop's ``loop.time()`` is libuv's, the same clock cut to whole milliseconds, and its timers
are whole milliseconds too. So streams wait in buckets of a millisecond: bucket ``k`` holds the
deadlines in ``(k - 1, k]`` ms and goes out from ``k - 0.5`` ms, so no chunk is more than half a
millisecond early, and none is late by the clock's rounding. A bucket is a list, written in the
order its streams joined it: streams whose chunks fall due together keep their places from tick
to tick. (A heap of ``(deadline, order, step)`` tuples did the same at about twenty tuple
comparisons and two allocations per chunk: 4-6% of the server's time at 1,000 streams.)
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import heapq
import itertools
import logging
import math
import weakref
from collections.abc import Callable, Sequence

from llmfake.journal import Exchange
from llmfake.providers._base import Event, LazyEvents
from llmfake.server._http import Connection
from llmfake.server._http_message import ClientGone, now

_ceil = math.ceil
_LOG = logging.getLogger("llmfake.server")
_EVENTS_PER_WRITE = 256
"""Events one write takes at most (tens of kB): the transport asks to pause past 64 kB."""
_EARLY = 0.0005
"""How early a chunk may go: a timer is armed to the nearest millisecond."""
_NEVER = 1 << 62
"""A bucket key later than any."""


class Pacer:
    """One timer for every paced stream of a loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, list[_Stream]] = {}
        self._keys: list[int] = []
        """The buckets' keys (milliseconds of ``now``), a heap."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_key = _NEVER
        self._firing = False

    def at(self, when: float, stream: _Stream) -> None:
        """Have ``stream.step()`` called once ``when`` (``time.monotonic``) has come."""
        key = _ceil(when * 1000.0)
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.append(stream)
            return
        self._buckets[key] = [stream]
        heapq.heappush(self._keys, key)
        # While firing, the steps queue their next deadlines: one timer is armed at the end,
        # not one per new bucket (a cancelled timer stays in the loop's heap until it is due).
        if key < self._timer_key and not self._firing:
            self._arm(key)

    def pacing(self) -> bool:
        """Whether any stream waits for a deadline."""
        return bool(self._keys)

    def _arm(self, key: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_key = key
        self._timer = self._loop.call_later(key / 1000.0 - _EARLY - now(), self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_key = None, _NEVER
        keys, buckets = self._keys, self._buckets
        limit = (now() + _EARLY) * 1000.0
        self._firing = True
        try:
            while keys and keys[0] <= limit:
                for stream in buckets.pop(heapq.heappop(keys)):
                    try:
                        stream.step()
                    except Exception as exc:  # one stream's bug must not stop the others
                        stream.fail(exc)
        finally:
            self._firing = False
            if keys:
                self._arm(keys[0])


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = (
    weakref.WeakKeyDictionary())


def pacer(loop: asyncio.AbstractEventLoop) -> Pacer:
    """The pacer of ``loop``."""
    p = _PACERS.get(loop)
    if p is None:
        p = _PACERS[loop] = Pacer(loop)
    return p


def pace(conn: Connection, events: Sequence[Event], deadlines: Sequence[float], start: float,
         exchange: Exchange, done: Callable[[BaseException | None], None]) -> None:
    """Send ``events`` on ``conn`` (its headers already sent), each once its deadline
    (``start`` plus ``deadlines[event.due]``) has come; every event due by then goes in one
    write. ``done`` is called once: with None after the last event, or with the error that
    ended the stream (``ClientGone``)."""
    _Stream(conn, events, deadlines, start, exchange, done).step()


@functools.lru_cache(maxsize=256)
def _offsets(deadlines: tuple[float, ...], dues: tuple[int, ...]) -> tuple[float, ...]:
    """When each event goes, after the stream's start: its due chunk's deadline (past the last
    deadline: the last), or that of an event ahead of it in the stream if later (an event
    never goes before one ahead of it). Sorted, so a bisection finds what is due. Streams of
    one schedule share it: worked out once, not per stream (it was about 7% of a stream's
    set-up)."""
    if not deadlines or deadlines[-1] <= 0:  # deadlines never decrease: all due at once
        return (0.0,) * len(dues)
    last = len(deadlines) - 1
    return tuple(itertools.accumulate([deadlines[d if d <= last else last] for d in dues], max))


class _Stream:
    """One stream being paced. A class, not a closure: a closure that schedules itself is a
    reference cycle, which only the cyclic collector frees, and its collections grew with the
    journal until they cost a third of a stream's time."""

    __slots__ = ("conn", "done", "events", "exchange", "flags", "index", "lazy", "n", "offsets",
                 "pacer", "start")

    def __init__(self, conn: Connection, events: Sequence[Event], deadlines: Sequence[float],
                 start: float, exchange: Exchange,
                 done: Callable[[BaseException | None], None]) -> None:
        self.conn, self.events, self.start, self.exchange, self.done = (
            conn, events, start, exchange, done)
        self.pacer = pacer(conn.loop)
        self.n = len(events)
        self.index = 0
        lazy = self.lazy = events if isinstance(events, LazyEvents) else None
        if lazy is not None:
            dues, self.flags = lazy.schedule()
        else:
            dues, self.flags = [e.due for e in events], [e.chunk for e in events]
        self.offsets = _offsets(tuple(deadlines), tuple(dues))

    def step(self) -> None:
        """Send what is due, then wait for the next deadline or for the client to read."""
        conn, offsets, index, n = self.conn, self.offsets, self.index, self.n
        exchange, start = self.exchange, self.start
        while True:
            if index >= n:
                self.done(None)
                return
            if conn.closed:
                self.done(ClientGone("the client went away"))
                return
            at = now()
            due = bisect.bisect_right(offsets, at - start + _EARLY, index)
            if due == index:
                self.pacer.at(start + offsets[index], self)
                return
            # A write at a time, so a slow reader pauses a stream that is all due at once.
            capped = due - index > _EVENTS_PER_WRITE
            if capped:
                due = index + _EVENTS_PER_WRITE
            lazy = self.lazy
            try:
                payload = (lazy.payload(index, due) if lazy is not None else
                           b"".join([e.data for e in self.events[index:due]]))
            except Exception as exc:  # a rendering bug: this stream ends cut, nothing else
                self.fail(exc)
                return
            flags = self.flags
            chunks = (1 if flags[index] else 0) if due == index + 1 else sum(flags[index:due])
            exchange.chunks += chunks
            exchange.writes().append((at - start, offsets[due - 1], chunks))
            exchange.bytes_sent += len(payload)
            index = self.index = due
            conn.send(payload, last=due == n)
            if conn.write_paused:  # a slow reader: resume once it has taken this
                conn.when_drained(self.step)
                return
            if due < n and not capped:
                # The bisection put the next event after now: wait for it without another
                # look at the clock (most writes are one chunk, each followed by a wait).
                self.pacer.at(start + offsets[due], self)
                return

    def fail(self, exc: Exception) -> None:
        """End this stream cut, after a bug of llmfake's in it: the other streams go on."""
        _LOG.error("llmfake failed on a paced stream", exc_info=exc)
        self.exchange.outcome = "llmfake error"
        self.index = self.n
        self.conn.abort()
        try:
            self.done(exc)
        except Exception:  # ending it failed too: the connection is gone in any case
            _LOG.exception("llmfake failed ending a paced stream")

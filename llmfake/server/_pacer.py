"""Pacing many streams on one timer: every chunk due at a tick goes out in that tick's callback.

A stream that slept (``asyncio.sleep``) before each chunk would cost a timer, a task wake-up and
an awaited write per chunk. With 1,000 streams whose schedules coincide (they count from their
arrival), each 20 ms tick would run 1,000 of those one after another, in an order that changes
from tick to tick, and the last would be late by the sum. Here one timer per loop
fires at the earliest deadline; its callback writes every chunk then due, straight to the
connection, in deadline order and, among equal deadlines, in the order the streams started, so
a stream keeps its place from tick to tick. A stream whose client reads slowly (the transport
asked to pause writing) waits for it to drain, without holding the others back.

Deadlines are read on ``_http.now`` (``time.monotonic``, the arrival stamps' clock):
uvloop's ``loop.time()`` is libuv's, the same clock cut to whole milliseconds, and its timers
are whole milliseconds too. So the timer is armed for the nearest millisecond and, when it
fires, what falls due within half a millisecond goes out: no chunk is more than that early, and
none is late by the clock's rounding.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
import weakref
from collections.abc import Callable, Sequence

from llmfake.journal import Exchange
from llmfake.providers._base import Event, LazyEvents
from llmfake.server._http import ClientGone, Connection, now

_Step = Callable[[], None]
_LOG = logging.getLogger("llmfake.server")
_EVENTS_PER_WRITE = 256
"""Events one write takes at most (tens of kB): the transport asks to pause past 64 kB."""
_EARLY = 0.0005
"""How early a chunk may go: a timer is armed to the nearest millisecond."""


class Pacer:
    """One timer for every paced stream of a loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, _Step]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._firing = False

    def at(self, when: float, step: _Step, order: int) -> None:
        """Call ``step`` at ``when`` (``time.monotonic``); ``order`` breaks ties between equal
        deadlines."""
        heapq.heappush(self._heap, (when, order, step))
        # While firing, the steps push their next deadlines: one timer is armed at the end,
        # not one per push (a cancelled timer stays in the loop's heap until it is due).
        if when < self._timer_at and not self._firing:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self._loop.call_later(when - now(), self._fire)

    def pacing(self) -> bool:
        """Whether any stream waits for a deadline."""
        return bool(self._heap)

    def ticket(self) -> int:
        """A stream's place among streams whose chunks fall due at the same instant."""
        return next(self._order)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        heap = self._heap
        due = now() + _EARLY
        self._firing = True
        try:
            while heap and heap[0][0] <= due:
                _, _, step = heapq.heappop(heap)
                step()
        finally:
            self._firing = False
        if heap:
            self._timer_at = heap[0][0]
            self._timer = self._loop.call_later(self._timer_at - now(), self._fire)


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


class _Stream:
    """One stream being paced. A class, not a closure: a closure that schedules itself is a
    reference cycle, which only the cyclic collector frees, and its collections grew with the
    journal until they cost a third of a stream's time."""

    __slots__ = ("ats", "conn", "done", "events", "exchange", "flags", "index", "lazy", "n",
                 "order", "pacer", "start")

    def __init__(self, conn: Connection, events: Sequence[Event], deadlines: Sequence[float],
                 start: float, exchange: Exchange,
                 done: Callable[[BaseException | None], None]) -> None:
        self.conn, self.events, self.start, self.exchange, self.done = (
            conn, events, start, exchange, done)
        self.pacer = pacer(conn.loop)
        self.order = self.pacer.ticket()
        self.n = n = len(events)
        self.index = 0
        lazy = self.lazy = events if isinstance(events, LazyEvents) else None
        if lazy is not None:
            dues, self.flags = lazy.schedule()
        else:
            dues, self.flags = [e.due for e in events], [e.chunk for e in events]
        # An event never goes before one ahead of it in the stream: its time is the latest of
        # its own deadline and theirs (sorted, so a bisection finds what is due).
        # A tuple: of numbers only, the cyclic collector stops walking it after one look.
        self.ats: tuple[float, ...]
        if not deadlines or deadlines[-1] <= 0:  # deadlines never decrease: all due at once
            self.ats = (start,) * n
        else:
            last = len(deadlines) - 1
            self.ats = tuple(itertools.accumulate(
                [start + deadlines[d if d <= last else last] for d in dues], max))

    def step(self) -> None:
        """Send what is due, then wait for the next deadline or for the client to read."""
        conn, ats, index, n = self.conn, self.ats, self.index, self.n
        exchange = self.exchange
        while True:
            if index >= n:
                self.done(None)
                return
            if conn.closed:
                self.done(ClientGone("the client went away"))
                return
            at = now()
            due = bisect.bisect_right(ats, at + _EARLY, index)
            if due == index:
                self.pacer.at(ats[index], self.step, self.order)
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
                _LOG.error("llmfake failed rendering a stream", exc_info=exc)
                exchange.outcome = "llmfake error"
                conn.abort()
                self.done(exc)
                return
            flags = self.flags
            chunks = (1 if flags[index] else 0) if due == index + 1 else sum(flags[index:due])
            exchange.chunks += chunks
            exchange.sent.append((at - self.start, ats[due - 1] - self.start, chunks))
            exchange.bytes_sent += len(payload)
            index = self.index = due
            conn.send(payload)
            if conn.write_paused:  # a slow reader: resume once it has taken this
                conn.when_drained(self.step)
                return
            if due < n and not capped:
                # The bisection put the next event after now: wait for it without another
                # look at the clock (most writes are one chunk, each followed by a wait).
                self.pacer.at(ats[due], self.step, self.order)
                return

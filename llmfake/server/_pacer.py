"""Pacing many streams on one timer: every chunk due at a tick goes out in that tick's callback.

A stream that slept (``asyncio.sleep``) before each chunk cost a timer, a task wake-up and an
awaited ``response.write`` per chunk: ~40 us of the loop's time. With 100 streams whose
schedules coincide (they count from their arrival), each 20 ms tick had 100 of those to run one
after another, in an order that changed from tick to tick, and the last of them was late by
the sum: chunk-gap errors of several ms. Here one ``call_at`` timer per loop fires at the
earliest deadline; its callback writes every chunk then due, in deadline order and, among
equal deadlines, in the order the streams started, so a stream keeps its place from tick to
tick. The write itself is aiohttp's ``StreamResponse.write``, run to completion on the spot
(it only suspends when the client's socket buffer is full; then the stream waits for it).
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from llmfake.journal import Exchange
from llmfake.providers._base import Event, LazyEvents

_Step = Callable[[], None]


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
        """Call ``step`` at ``when`` (loop time); ``order`` breaks ties between equal deadlines."""
        heapq.heappush(self._heap, (when, order, step))
        # While firing, the steps push their next deadlines: one timer is armed at the end,
        # not one per push (a cancelled timer stays in the loop's heap until it is due).
        if when < self._timer_at and not self._firing:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._fire)

    def ticket(self) -> int:
        """A stream's place among streams whose chunks fall due at the same instant."""
        return next(self._order)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        heap = self._heap
        now = self._loop.time()
        self._firing = True
        try:
            while heap and heap[0][0] <= now:
                _, _, step = heapq.heappop(heap)
                step()
        finally:
            self._firing = False
        if heap:
            self._timer_at = heap[0][0]
            self._timer = self._loop.call_at(self._timer_at, self._fire)


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = (
    weakref.WeakKeyDictionary())


def pacer(loop: asyncio.AbstractEventLoop) -> Pacer:
    """The pacer of ``loop``."""
    p = _PACERS.get(loop)
    if p is None:
        p = _PACERS[loop] = Pacer(loop)
    return p


def _drive(coro: Coroutine[Any, Any, None], done: Callable[[BaseException | None], None]
           ) -> None:
    """Run ``coro`` as far as it goes now; when it waits on a future, resume it once that
    future is done (what a Task does, without a Task and a loop iteration per write)."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        done(None)
        return
    except BaseException as exc:  # the client went away: the stream ends with it
        done(exc)
        return
    waiting.add_done_callback(lambda _: _drive(coro, done))


_DIRECT_LIMIT = 0x10000
"""Bytes waiting in the transport's buffer below which a chunk is written to it directly."""


async def paced(response: web.StreamResponse, events: Sequence[Event],
                deadlines: Sequence[float], start: float, exchange: Exchange,
                transport: asyncio.BaseTransport | None = None) -> None:
    """Write ``events`` on ``response``, each once its deadline (``start`` plus
    ``deadlines[event.due]``) has come; every event due by then goes in one write.

    With the response's ``transport``, once aiohttp has sent the headers, a chunk of a
    chunked, uncompressed response is framed here and written to the transport directly: the
    same bytes as ``response.write`` would send, for a third of its cost (a tick of 100
    streams is 100 writes). aiohttp's write (which waits for a slow client) takes over
    whenever the transport's buffer holds more than ``_DIRECT_LIMIT`` bytes.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    p = pacer(loop)
    order = p.ticket()
    n = len(events)
    last = len(deadlines) - 1
    lazy = events if isinstance(events, LazyEvents) else None
    if lazy is not None:
        dues, flags = lazy.schedule()
    else:
        dues, flags = [e.due for e in events], [e.chunk for e in events]

    def data_range(i: int, j: int) -> list[bytes]:
        if lazy is not None:
            return lazy.data_range(i, j)
        return [e.data for e in events[i:j]]

    # An event never goes before one ahead of it in the stream: its time is the latest of its
    # own deadline and theirs (sorted, so a bisection finds what is due).
    ats = list(itertools.accumulate((start + deadlines[min(d, last)] for d in dues), max))
    index = 0
    direct = (transport if isinstance(transport, asyncio.WriteTransport)
              and response.headers.get("Transfer-Encoding", "").lower() == "chunked"
              and not response.compression else None)
    headers_out = False

    def written(exc: BaseException | None) -> None:
        if finished.done():
            return
        if exc is not None:
            finished.set_exception(exc)
        else:
            step()

    def step() -> None:
        nonlocal index, headers_out
        while True:
            if finished.done():  # the handler was cancelled
                return
            if index >= n:
                finished.set_result(None)
                return
            due = bisect.bisect_right(ats, loop.time(), index)
            if due == index:
                p.at(ats[index], step, order)
                return
            payload = b"".join(data_range(index, due))
            exchange.chunks += sum(flags[index:due])
            exchange.bytes_sent += len(payload)
            index = due
            if (direct is not None and headers_out
                    and direct.get_write_buffer_size() < _DIRECT_LIMIT):
                if direct.is_closing():
                    finished.set_exception(ConnectionResetError("the client went away"))
                    return
                direct.write(b"%x\r\n%b\r\n" % (len(payload), payload))
                continue  # on to the next deadline
            headers_out = True
            # Once written, written() calls step() again: it schedules the next deadline, or
            # finishes the stream.
            _drive(response.write(payload), written)
            return

    if n and ats[0] > loop.time():
        # aiohttp holds the headers back to send them with the first chunk; a provider sends
        # them at once and the first token at its ttft. Sending them now also takes them out
        # of the first tick's work, which a burst of streams shares.
        await response.write(b"")
        headers_out = True
    step()
    await finished

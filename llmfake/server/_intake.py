"""Taking requests in one at a time per loop iteration, so the loop keeps reading its sockets.

A handler's intake (journal entry, parse, decide, render, response headers) runs without
yielding: ~0.2 ms. When a burst of requests is read in one loop iteration, asyncio runs all
their handlers before it polls its sockets again, so requests that arrive meanwhile are read
(and stamped, see ``_arrival``) only after the whole burst's intake: at 100 concurrent streams
the last requests' deadlines started up to 10 ms late. Here a handler whose intake would follow
another's in the same iteration waits for the next iteration instead, in arrival order; in
between the loop polls its sockets. A request that meets no queue does not wait at all.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Intake:
    """A FIFO turnstile letting one request's intake through per loop iteration."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def turn(self) -> None:
        """Wait until this request may do its intake."""
        loop = asyncio.get_running_loop()
        if not self._busy:
            self._busy = True
            loop.call_soon(self._next)
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiting.append(waiter)
        await waiter

    def _next(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled handler gives up its place
                waiter.set_result(None)
                waiter.get_loop().call_soon(self._next)
                return
        self._busy = False

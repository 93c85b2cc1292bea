"""Stamping each request when its bytes arrive, not when its handler gets to run.

In a burst, aiohttp runs handlers one after another; a handler that stamped its own start would
count its deadlines from when the handlers ahead of it had done their work (tens of ms for a
100-request burst), and every first byte would be late by that much. The connection protocol
sees the bytes first, so it stamps them there.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from aiohttp import web, web_protocol


class _StampingHandler(web_protocol.RequestHandler):
    __slots__ = ("llmfake_arrivals",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.llmfake_arrivals: deque[float] = deque()

    def data_received(self, data: bytes) -> None:
        queued = len(self._messages)
        now = self._loop.time()
        super().data_received(data)
        # One stamp per request message this data completed; handlers take them in order.
        self.llmfake_arrivals.extend([now] * max(0, len(self._messages) - queued))


class StampingServer(web.Server):
    """``web.Server`` whose connections stamp each request's arrival."""

    def __call__(self) -> web_protocol.RequestHandler:
        return _StampingHandler(self, loop=self._loop, **self._kwargs)


def arrival(request: web.Request, default: float) -> float:
    """When ``request``'s bytes arrived (``default`` if the connection did not stamp them)."""
    arrivals = getattr(request.protocol, "llmfake_arrivals", None)
    if arrivals:
        return float(arrivals.popleft())
    return default

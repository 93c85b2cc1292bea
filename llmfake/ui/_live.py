"""The dashboard's push channel: Server-Sent Events of the journal, one connection per page.

A page subscribes with ``GET /_llmfake/ui/events`` (every tenant) or
``/t/<tenant>/_llmfake/ui/events`` (one). It first gets a ``snapshot`` event with the newest
exchanges already journaled, then ``exchanges`` events, each a batch of those that arrived or
ended since (an exchange comes again when it ends; pages match the two by tenant, ``seq`` and
``started``). They are queued and flushed at most every ``FLUSH`` seconds, one write per page,
so 100 requests a second cost each page ten small writes, not two hundred. A comment line every
``KEEPALIVE`` seconds lets the server notice a page that went away.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from llmfake.journal import Exchange
from llmfake.metrics import first_byte
from llmfake.server._http import Connection
from llmfake.server._http_message import ClientGone
from llmfake.ui._kept import limits

if TYPE_CHECKING:
    from llmfake.server._app import App

FLUSH = 0.1
"""Seconds ended exchanges wait to be pushed with others."""
KEEPALIVE = 15.0
"""Seconds between keep-alive comments on an idle channel."""
SNAPSHOT = 2000
"""Exchanges a page gets on connecting (the newest, over the tenants it watches)."""

_SSE = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store",
        "x-accel-buffering": "no"}


def summary(e: Exchange, attempts_by: str = "identical") -> dict[str, Any]:
    """What the journal table and the charts need of an exchange (no bodies or headers);
    ``attempts_by`` is its journal's, so the page groups retries as the journal does."""
    return {"seq": e.seq, "tenant": e.tenant, "method": e.method, "path": e.path,
            "provider": e.provider, "endpoint": e.endpoint, "model": e.model,
            "stream": e.stream, "status": e.status, "outcome": e.outcome, "source": e.source,
            "started": e.started, "ended": e.ended, "duration": e.duration,
            "ttfb": first_byte(e), "chunks": e.chunks, "completed": e.completed,
            "client_disconnected": e.client_disconnected, "attempt": e.attempt,
            "retry_after": e.retry_after, "key": e.body_key, "retry_count": e.retry_count,
            "by": attempts_by, "limits": limits(e)}


class Live:
    """The pages watching one server's journal."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._pages: dict[Connection, str | None] = {}  # page -> its tenant (None: all)
        self._queued: list[Exchange] = []
        self._timer: asyncio.TimerHandle | None = None
        self.injected: dict[str, int] = {}
        """Tenants with a dashboard injection in force: how many requests it strikes."""

    def publish(self, exchange: Exchange) -> None:
        """Queue an ended exchange for the pages watching its tenant."""
        if self.injected:
            from llmfake.ui._api import uninject

            uninject(self.app, exchange.tenant)
        if not self._pages:
            return
        self._queue(exchange)

    def arrived(self, exchange: Exchange) -> None:
        """Queue a request that just arrived, so pages show it while it is in flight."""
        if self._pages:
            self._queue(exchange)

    def _queue(self, exchange: Exchange) -> None:
        self._queued.append(exchange)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH, self._flush)

    def subscribe(self, conn: Connection, tenant: str | None) -> None:
        """Make ``conn`` (its request just arrived) a page watching ``tenant`` (None: all)."""
        conn.start(200, _SSE)
        engine = self.app.engine
        states = ([engine.tenant(tenant)] if tenant is not None
                  else list(engine.tenants.values()))
        items = sorted((e for s in states for e in s.journal),
                       key=lambda e: e.started)[-SNAPSHOT:]
        dropped = sum(s.journal.dropped for s in states)
        conn.send(_event("snapshot", {"exchanges": [self.summary(e) for e in items],
                                      "dropped": dropped, "tenant": tenant}))
        self._pages[conn] = tenant
        conn.lost.add_done_callback(lambda _: self._pages.pop(conn, None))
        conn.loop.call_later(KEEPALIVE, self._keepalive, conn)

    def summary(self, e: Exchange) -> dict[str, Any]:
        """``summary`` of ``e``, with its tenant's ``attempts_by``."""
        state = self.app.engine.tenants.get(e.tenant)
        return summary(e, state.journal.attempts_by if state is not None else "identical")

    def _flush(self) -> None:
        self._timer = None
        # An exchange that arrived and ended within one batch goes once, as it is now.
        queued = list({id(e): e for e in self._queued}.values())
        self._queued = []
        everything: bytes | None = None
        for conn, tenant in list(self._pages.items()):
            if tenant is None:
                everything = everything or _event(
                    "exchanges", [self.summary(e) for e in queued])
                data = everything
            else:
                mine = [self.summary(e) for e in queued if e.tenant == tenant]
                if not mine:
                    continue
                data = _event("exchanges", mine)
            self._send(conn, data)

    def _send(self, conn: Connection, data: bytes) -> None:
        try:
            conn.send(data)
        except ClientGone:
            self._pages.pop(conn, None)
            conn.close(drained=False)

    def _keepalive(self, conn: Connection) -> None:
        if conn in self._pages:
            self._send(conn, b": keep-alive\n\n")
            conn.loop.call_later(KEEPALIVE, self._keepalive, conn)


def _event(name: str, value: Any) -> bytes:
    return b"event: %b\ndata: %b\n\n" % (name.encode(), orjson.dumps(value))

"""Memory bounds of what the server keeps between requests: journal bodies and tenants.

A tenant's journal keeps its newest ``JOURNAL_LIMIT`` exchanges, but a count alone does not
bound memory: 10,000 bodies of 32 MiB each fit in it. So bodies are bounded by bytes too:

- a request body over ``MAX_BODY_BYTES`` is journaled truncated on arrival: ``{"truncated":
  true, "bytes": <its size>, "sha256": <its digest>, "head": <its first characters>}``;
- once the bodies a journal holds add up to more than ``JOURNAL_BYTES``, the oldest bodies over
  ``SMALL_BODY_BYTES`` are truncated the same way until they fit again (the exchanges stay:
  assertions on attempts, statuses and timing keep working).

Tenants (``/t/<name>/``) are made on first use, so a client inventing names would grow the
server without end: past ``MAX_TENANTS`` the tenants whose scenario was put in force (or that
were made, or reset) longest ago, and that have nothing in flight, are forgotten, a tenth of
them at a time (``bound_tenants``), ``default`` never. A forgotten tenant that comes back
starts afresh with the server's scenario.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmfake.engine._engine import TenantState
    from llmfake.journal import Exchange, Journal

__all__ = ["JOURNAL_BYTES", "MAX_BODY_BYTES", "MAX_TENANTS", "SMALL_BODY_BYTES",
           "bound_tenants", "keep_body"]

MAX_BODY_BYTES = 1 << 20
"""A request body over this many bytes is journaled truncated."""
JOURNAL_BYTES = 64 << 20
"""The request-body bytes one tenant's journal holds whole; past it the oldest are truncated."""
SMALL_BODY_BYTES = 4096
"""Bodies up to this size are never truncated (they cost little, and assertions read them)."""
MAX_TENANTS = 10_000
"""Tenants one server keeps; past it the idle ones configured longest ago are forgotten."""
_HEAD = 1000  # characters of a truncated body kept, so a reader sees what it was


def truncated(raw: bytes) -> dict[str, Any]:
    """What the journal keeps of a body too large to keep whole."""
    return {"truncated": True, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "head": raw[:4 * _HEAD].decode("utf-8", "replace")[:_HEAD]}


def keep_body(journal: Journal, exchange: Exchange, body: Any, raw: bytes) -> None:
    """Set ``exchange.body`` (``body``: the parsed request, ``raw``: its bytes) within the
    journal's byte bounds, truncating older bodies when the journal is over them."""
    size = len(raw)
    if size > MAX_BODY_BYTES:
        exchange.body = truncated(raw)
        return
    exchange.body = body
    if size <= SMALL_BODY_BYTES:
        return
    large: deque[tuple[Exchange, str, str]] = journal.large_bodies
    # its digest and head now, while the bytes are at hand: truncating it later needs them
    large.append((exchange, hashlib.sha256(raw).hexdigest(),
                  raw[:4 * _HEAD].decode("utf-8", "replace")[:_HEAD]))
    exchange.body_bytes = size
    journal.body_bytes += size
    while journal.body_bytes > JOURNAL_BYTES and large:
        old, digest, head = large.popleft()
        if old.body_bytes:  # 0: dropped from the ring meanwhile, its bytes already returned
            journal.body_bytes -= old.body_bytes
            old.body = {"truncated": True, "bytes": old.body_bytes, "sha256": digest,
                        "head": head}
            old.body_bytes = 0


def bound_tenants(tenants: dict[str, TenantState]) -> None:
    """Forget the longest-configured idle tenants once there are more than ``MAX_TENANTS``
    (a tenth of them at a time, so the sort is rare)."""
    if len(tenants) <= MAX_TENANTS:
        return
    idle = [(s.since, name) for name, s in tenants.items()
            if name != "default" and not (len(s.journal) and s.journal[-1].ended is None)]
    idle.sort()
    for _, name in idle[: max(1, MAX_TENANTS // 10)]:
        del tenants[name]

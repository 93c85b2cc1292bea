"""The journal: every exchange a tenant had, for the control API, the CLI log and the pytest plugin.

Secrets never reach it: API keys and auth headers are masked before an exchange is recorded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

SECRET_HEADERS = frozenset({
    "authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization", "cookie",
})
"""Headers whose values are masked wherever llmfake stores or prints them."""


def mask(value: str) -> str:
    """Mask a secret, keeping enough to tell two keys apart: ``sk-abc***xyz``."""
    scheme = ""
    if value.lower().startswith("bearer "):
        scheme, value = value[:7], value[7:]
    if len(value) <= 8:
        return scheme + "***"
    return f"{scheme}{value[:6]}***{value[-3:]}"


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with names lower-cased and secrets masked."""
    return {k.lower(): (mask(v) if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


@dataclass
class Exchange:
    """One request and what the fake did with it."""

    seq: int
    """The request's number within its tenant, from 0."""
    tenant: str
    """The tenant."""
    method: str
    """HTTP method."""
    path: str
    """The path, without the tenant prefix and without secrets in the query."""
    provider: str | None = None
    """The provider the path belongs to."""
    endpoint: str | None = None
    """The neutral endpoint name."""
    model: str | None = None
    """The model asked for."""
    stream: bool = False
    """Whether a stream was asked for."""
    headers: dict[str, str] = field(default_factory=dict)
    """Request headers, secrets masked."""
    body: Any = None
    """The request body (parsed JSON, or the text when it was not JSON)."""
    status: int = 0
    """The HTTP status sent (0 when no response started)."""
    outcome: str = ""
    """``reply``, ``error <name>``, ``fault <name>`` or a server-side rejection."""
    source: str = ""
    """What decided it (``rule 1 step 0``...)."""
    started: float = 0.0
    """Seconds since the server started when the request arrived."""
    duration: float = 0.0
    """Seconds until the response was finished or cut."""
    chunks: int = 0
    """Stream chunks sent."""
    completed: bool = False
    """Whether the whole response was sent."""
    client_disconnected: bool = False
    """Whether the client went away before the end."""
    retry_count: int | None = None
    """The SDK's ``x-stainless-retry-count`` header, when sent."""
    response_text: str | None = None
    """The reply's text (first choice), for assertions."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


JOURNAL_LIMIT = 10_000
"""Exchanges a tenant's journal keeps; older ones are dropped (and counted in ``dropped``)."""


class Journal:
    """The exchanges of one tenant, oldest first, the newest ``limit`` of them.

    Bounded so that a long-running ``llmfake serve`` under load does not grow without end.
    """

    def __init__(self, limit: int = JOURNAL_LIMIT) -> None:
        self._items: deque[Exchange] = deque(maxlen=limit)
        self.dropped = 0
        """Exchanges dropped because the journal was full."""

    def add(self, exchange: Exchange) -> None:
        """Record an exchange (the server fills it in as the response goes out)."""
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(exchange)

    def clear(self) -> None:
        """Forget every exchange."""
        self._items.clear()
        self.dropped = 0

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Exchange:
        return self._items[index]

    def to_json(self) -> list[dict[str, Any]]:
        """Every exchange as a JSON-ready dict."""
        return [e.to_json() for e in self._items]

"""What providers share: the request they parse, the response they render, their errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmfake.engine._call import Call
from llmfake.engine._plan import Plan
from llmfake.scenario._model import ErrorSpec


@dataclass(frozen=True, slots=True)
class Incoming:
    """The parts of an HTTP request a provider reads (no I/O objects: parsing stays pure)."""

    method: str
    """HTTP method."""
    path: str
    """The path without the tenant prefix."""
    params: Mapping[str, str]
    """Path parameters (``model``, ``deployment``...)."""
    query: Mapping[str, str]
    """Query parameters."""
    headers: Mapping[str, str]
    """Headers, names lower-cased."""
    body: Any
    """The parsed JSON body (None for an empty body)."""
    tenant: str = "default"
    """The tenant."""


@dataclass(frozen=True, slots=True)
class Event:
    """One piece of a streamed body."""

    data: bytes
    """The bytes, framing included (``data: ...\\n\\n``)."""
    due: int = 0
    """The token whose deadline it waits for (0: the first token, at the ttft)."""
    chunk: bool = True
    """Whether it carries content (a token, a tool-call fragment) and so counts for
    ``after_chunks`` faults; framing (a role delta, message_start, pings, the finish) does not."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response ready for the wire: a body, or a list of stream events."""

    status: int
    """HTTP status."""
    headers: Mapping[str, str]
    """Response headers (content-type included)."""
    body: bytes = b""
    """The body of a non-streamed response."""
    events: tuple[Event, ...] | None = None
    """The events of a streamed response."""
    tokens: int = 0
    """How many tokens the body stands for: a non-streamed body is due when the last is."""
    text: str | None = None
    """The reply's text, for the journal."""


class InvalidRequest(Exception):
    """A request the provider rejects; rendered in the provider's error shape."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None,
                 code: str | None = None, kind: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Route:
    """An endpoint of a provider."""

    method: str
    """HTTP method."""
    pattern: str
    """The path, with ``{name}`` for a parameter (``/v1/models/{model}``)."""
    provider: str
    """The provider it belongs to."""
    endpoint: str
    """The neutral endpoint name."""
    parse: Callable[[Incoming], Call]
    """Request to ``Call``; raises ``InvalidRequest``."""
    render: Callable[[Plan], Rendered]
    """``Plan`` to response (when the plan holds no error)."""
    accepts: Callable[[Mapping[str, str]], bool] | None = None
    """When two providers share a path (``GET /v1/models``), the route whose ``accepts`` takes
    the request's headers wins; routes with ``accepts`` are tried before those without."""


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider: its routes and how it renders errors."""

    name: str
    """The provider's name."""
    routes: tuple[Route, ...]
    """Its endpoints."""
    error: Callable[[ErrorSpec, str, Call | None], Rendered]
    """Render an error (spec, request id, call when parsed)."""
    invalid: Callable[[InvalidRequest, str], Rendered]
    """Render a rejected request (error, request id)."""
    stream_error: Callable[[ErrorSpec, Plan], bytes]
    """The bytes of an error event inside a stream."""
    headers: Callable[[Plan], dict[str, str]] = field(default=lambda plan: {})
    """Headers every response of a decided plan carries, errors included (rate limits)."""


def strike_index(events: tuple[Event, ...] | list[Event], after_chunks: int | None) -> int:
    """The index of the event a stream fault strikes before: once ``after_chunks`` content
    chunks are out (half of them when None), or at the end when there are not that many."""
    total = sum(1 for e in events if e.chunk)
    strike = total // 2 if after_chunks is None else after_chunks
    sent = 0
    for index, event in enumerate(events):
        if sent >= strike:
            return index
        if event.chunk:
            sent += 1
    return len(events)


def dumps(value: object) -> str:
    """Compact JSON, as the providers' stream chunks use."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def pretty(value: object) -> bytes:
    """Indented JSON, as OpenAI's non-streamed bodies are."""
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")

"""What the server reads of a request's body, on the general and the compiled path alike: the
body parsed, recorded in the request's exchange, and handed to a route's ``parse``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from llmfake._bounds import keep_body
from llmfake.engine._engine import TenantState
from llmfake.journal import Exchange, body_key
from llmfake.providers import Incoming
from llmfake.server._http_message import Request

INVALID_JSON: Any = object()
"""What a body that is not JSON parses to."""


def decode(raw: bytes) -> Any:
    """A body parsed as JSON: None when empty, ``INVALID_JSON`` when it is not JSON."""
    if not raw or raw.isspace():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return INVALID_JSON


def incoming(req: Request, path: str, params: dict[str, str], body: Any,
             tenant: str) -> Incoming:
    """What a route's ``parse`` reads of ``req`` (``body``: parsed)."""
    query = dict(parse_qsl(req.query, keep_blank_values=True)) if req.query else {}
    return Incoming(req.method, path, params, query, req.headers, body, tenant, req.body)


def journal_body(state: TenantState, exchange: Exchange, method: str, path: str, raw: bytes,
                 body: Any) -> None:
    """Record a request's body in its exchange: its digest, the attempt it is, the body itself
    (within the journal's bounds)."""
    exchange.body_key = body_key(method, path, raw)
    if exchange.retry_count is not None:
        exchange.attempt = exchange.retry_count
    else:
        exchange.attempt = state.journal.infer_attempt(exchange)
    keep_body(state.journal, exchange,  # within the journal's byte bounds (issue 19)
              body if body is not INVALID_JSON else raw.decode("utf-8", "replace"), raw)

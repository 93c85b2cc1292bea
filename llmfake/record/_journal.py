"""Interactions that went through the recording proxy, as journal exchanges.

While a test records its cassette its clients talk to the real API through the proxy, not to
the fake: the proxy's observer turns each interaction into an ``Exchange`` so that the test's
journal (and its assertions) and ``llmfake record``'s log see the real exchanges. Fields the
fake knows from its own decision (``source``, ``response_text``) are left empty; the provider,
endpoint, model and stream flag come from the providers' own request parsers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmfake.journal import Exchange, body_key, safe_headers
from llmfake.record._cassette import Interaction

if TYPE_CHECKING:
    from llmfake.engine import Call
    from llmfake.providers import Route
    from llmfake.providers._router import Router

_ROUTER: Router | None = None


def exchange_of(it: Interaction, *, seq: int, tenant: str, started: float, ended: float
                ) -> Exchange:
    """The ``Exchange`` of a recorded (already redacted) interaction that started and ended
    at the given ``time.monotonic()`` values."""
    req, resp = it.request, it.response
    headers = {k.lower(): ", ".join(v) for k, v in req.headers.items()}
    path = req.path + (f"?{req.query}" if req.query else "")
    body = req.json if req.json is not None else req.body
    resp_headers = {k.lower(): ", ".join(v) for k, v in resp.headers.items()}
    retry = headers.get("x-stainless-retry-count", "")
    exchange = Exchange(
        seq=seq, tenant=tenant, method=req.method, path=path, headers=safe_headers(headers),
        body=body, status=resp.status, started=started, ended=ended,
        duration=ended - started, completed=True,
        chunks=len(resp.chunks) if resp.chunks is not None else 0,
        retry_count=int(retry) if retry.isdigit() else None,
        retry_after=retry_after(resp_headers),
        outcome="reply" if resp.status < 400 else f"error {resp.status}",
        source="recorded", body_key=body_key(req.method, req.path,
                                             (req.body or "").encode("utf-8")),
        bytes_sent=len(resp.content),
    )
    _describe(exchange, req.method, req.path, headers, req.json)
    return exchange


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait a response's ``retry-after-ms`` or ``retry-after`` (seconds) header asks for."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                continue  # an HTTP date: not a wait the journal can check
    return None


def _describe(exchange: Exchange, method: str, path: str, headers: Mapping[str, str],
              body: Any) -> None:
    """Fill provider, endpoint, model and stream as the fake would have."""
    route, call = parse_call(method, path, headers, body)
    if route is not None:
        exchange.provider, exchange.endpoint = route.provider, route.endpoint
    if call is not None:
        exchange.model, exchange.stream = call.model, call.stream
    elif isinstance(body, dict) and isinstance(body.get("model"), str):
        exchange.model = body["model"]


def parse_call(method: str, path: str, headers: Mapping[str, str], body: Any
               ) -> tuple[Route | None, Call | None]:
    """The provider route a request goes to and the ``Call`` its parser makes of it, with the
    providers' own parsers; None for what no route knows or its parser refuses."""
    from llmfake.providers import REGISTRY, Incoming
    from llmfake.providers._router import Router

    global _ROUTER
    if _ROUTER is None:
        _ROUTER = Router(REGISTRY)
    path = path.split("?", 1)[0]
    found = _ROUTER.find(method, path, headers)
    if found is None:
        return None, None
    route, _, params = found
    try:
        call = route.parse(Incoming(method, path, params, {}, headers,
                                    body if isinstance(body, dict) else None))
    except Exception:  # a request the fake would refuse (it still went upstream)
        return route, None
    return route, call

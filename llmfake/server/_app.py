"""The fake server's request handler: routing, tenants, the journal, and the plan on the wire.

A tenant prefix ``/t/{tenant}`` may stand before any path; the providers' paths are looked up in
a dict first (exact paths are the hot path). The control API lives in ``_control``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any

from llmfake.engine._call import Call
from llmfake.engine._engine import Engine, TenantState
from llmfake.engine._plan import Plan
from llmfake.engine._redis import RedisState
from llmfake.engine._state import Reservation
from llmfake.errors import StateError
from llmfake.journal import Exchange, safe_headers
from llmfake.metrics import Metrics
from llmfake.providers import (
    REGISTRY,
    InvalidRequest,
    ProviderSpec,
    Rendered,
    Route,
    owner_of,
)
from llmfake.providers._openai_common import render_invalid
from llmfake.providers._router import Router
from llmfake.scenario._model import ErrorSpec
from llmfake.server._capacity import through_capacity
from llmfake.server._control import MAX_CONTROL_BODY, control
from llmfake.server._http import Connection
from llmfake.server._http_message import ClientGone, Request, now
from llmfake.server._plain import answer_plain
from llmfake.server._replay import render as render_replay
from llmfake.server._request_body import decode, incoming, journal_body
from llmfake.server._wire import Finish, deliver
from llmfake.ui._kept import keep
from llmfake.ui._live import Live

_TENANT = re.compile(r"/t/([A-Za-z0-9_.~-]{1,128})(/.*)?\Z")
_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:key|api-key|api_key)=)[^&]*", re.IGNORECASE)
_UNREAD: Any = object()
_LOG = logging.getLogger("llmfake.server")
_AWS_ATTEMPT = re.compile(r"attempt=(\d+)")
LogHook = Callable[[Exchange], None]


class App:
    """The fake server's request handler for ``engine``; ``log`` is called after each exchange."""

    def __init__(self, engine: Engine, *, log: LogHook | None = None) -> None:
        self.engine = engine
        self.log = log
        self.router = Router(REGISTRY)
        self.started = time.monotonic()
        self.metrics = Metrics(engine)
        self.live = Live(self)

    def body_limit(self, req: Request) -> int:
        """The largest body the tenant a request goes to accepts."""
        tenant, path = _split(req.path)
        if path.startswith("/_llmfake"):
            return MAX_CONTROL_BODY
        return self.engine.tenant(tenant).scenario.limits.max_request_bytes

    def __call__(self, req: Request, conn: Connection) -> Coroutine[Any, Any, None] | None:
        """Answer ``req``: at once, or through the coroutine returned."""
        start = req.arrived  # every deadline counts from here
        tenant, path = _split(req.path)
        if path.startswith(("/_llmfake", "/metrics")):  # one test for the providers' paths
            if path == "/metrics":
                self.metrics.serve(req, conn)
                return None
            if path.startswith("/_llmfake/ui"):
                from llmfake.ui import ui  # the package's own import of the server: not at load

                ui(req, conn, self)
                return None
            if path.startswith("/_llmfake/") or path == "/_llmfake":
                return control(req, conn, self.engine, tenant,
                               path[len("/_llmfake"):].strip("/"))
        engine = self.engine
        state = engine.tenant(tenant)
        query = req.query
        exchange = Exchange(
            seq=state.ordinal, tenant=tenant, method=req.method,
            path=(_SECRET_QUERY.sub(r"\1***", f"{path}?{query}") if query
                  else path),  # only a query can hold a key
            headers=safe_headers(req.headers, lowered=True),
            started=time.monotonic() - self.started,
        )
        retry = req.headers.get("x-stainless-retry-count")
        exchange.retry_count = int(retry) if retry and retry.isdigit() else None
        if exchange.retry_count is None and "amz-sdk-request" in req.headers:
            aws = _AWS_ATTEMPT.search(req.headers["amz-sdk-request"])  # AWS SDKs: attempt=N
            if aws:
                exchange.retry_count = int(aws.group(1)) - 1
        # Journaled on arrival, filled in as it goes: the journal is in arrival order and shows
        # what is still in flight.
        state.journal.add(exchange)
        self.live.arrived(exchange)
        finish = _Ending(self, state, exchange, start)
        done, shared = finish.done, engine.shared
        pending: Coroutine[Any, Any, None] | None
        try:
            if shared is not None:
                pending = _serve_shared(req, conn, self.router, engine, shared, tenant, path,
                                        exchange, start, done, finish)
            else:
                pending = _serve(req, conn, self.router, engine, tenant, path, exchange, start,
                                 done, finish)
        except Exception as exc:  # a bug must cost one request, never the server
            self._failed(exc, req, conn, path, exchange)
            finish()
            return None
        return None if pending is None else self._guarded(pending, req, conn, path, exchange,
                                                          finish)

    async def _guarded(self, pending: Coroutine[Any, Any, None], req: Request, conn: Connection,
                       path: str, exchange: Exchange, finish: Finish) -> None:
        """``pending``, with a bug in it answered as one before it (and the exchange ended)."""
        try:
            await pending
        except (ClientGone, ConnectionError):
            raise
        except Exception as exc:
            self._failed(exc, req, conn, path, exchange)
            finish()

    def _failed(self, exc: Exception, req: Request, conn: Connection, path: str,
                exchange: Exchange) -> None:
        _LOG.error("llmfake failed on %s %s", req.method, path, exc_info=exc)
        exchange.outcome = "llmfake error"
        if conn.current is not req:  # its answer went out before the bug: nothing to add
            return
        if conn.responded:  # too late for a status: cut the response short
            conn.abort()
            return
        bug = InvalidRequest(f"llmfake internal error: {type(exc).__name__}: {exc}. This is "
                             "a bug in llmfake; please report it.", status=500,
                             kind="server_error")
        # In the shape of the provider the client speaks, so its SDK raises its own error;
        # x-should-retry: false, so the SDK does not repeat a request that fails the same.
        rendered = self.provider_of(req.method, path, req.headers).invalid(
            bug, "req_llmfake_internal_error")
        _respond(conn, _with_headers(rendered, {"x-should-retry": "false"}), exchange)


    def provider_of(self, method: str, path: str, headers: Mapping[str, str]) -> ProviderSpec:
        """The provider whose route serves a request, or whose client most likely sent it."""
        found = self.router.find(method, path, headers)
        return found[1] if found is not None else owner_of(path, headers)


class _Ending:
    """Ends an exchange once: frees what its plans hold, times it, counts it, publishes and
    logs it. A class, not a closure: a closure over these would be a function and a cell for
    each name, every one of them an object the cyclic collector walks while the exchange lasts
    (a thousand paced streams are tens of thousands of them)."""

    __slots__ = ("app", "done", "exchange", "finished", "reserved", "start", "state")

    def __init__(self, app: App, state: TenantState, exchange: Exchange, start: float) -> None:
        self.app, self.state, self.exchange, self.start = app, state, exchange, start
        self.done: list[Plan] = []  # the plans decided for the request (their slots to free)
        self.reserved: Reservation | None = None  # what a shared state backend reserved
        self.finished = False

    def __call__(self) -> None:
        if self.finished:
            return
        self.finished = True
        app, exchange, done = self.app, self.exchange, self.done
        engine = app.engine
        for plan in done:
            engine.finish(plan)
        exchange.duration = now() - self.start
        exchange.ended = time.monotonic() - app.started
        shared = engine.shared
        if shared is not None:
            shared.finish(exchange.tenant, done[0].call if done else None,
                          self.state.scenario, self.reserved, exchange)
        app.metrics.observe(exchange)
        app.live.publish(exchange)
        if app.log is not None:
            app.log(exchange)


def _split(target: str) -> tuple[str, str]:
    """The tenant and the path after its prefix."""
    if target.startswith("/t/"):
        m = _TENANT.match(target)
        if m:
            return m.group(1), m.group(2) or "/"
    return "default", target


class _Reject:
    """A request answered before the engine: an unknown path, a body too large, invalid, or
    a stateful resource (OpenAI files and batches) whose route answers it itself."""

    __slots__ = ("outcome", "rendering")

    def __init__(self, rendering: Callable[[str], Rendered], outcome: str) -> None:
        self.rendering = rendering
        self.outcome = outcome


def _parse(req: Request, router: Router, engine: Engine, tenant: str, path: str,
           exchange: Exchange, body: Any) -> tuple[Route, ProviderSpec, Call] | _Reject:
    """The route, provider and call of ``req`` (``body``: its body parsed, when it was),
    or why it is refused before the engine."""
    state = engine.tenant(tenant)
    headers = req.headers
    method = req.method
    found = router.find(method, path, headers)
    if found is None:
        exc = InvalidRequest(f"Invalid URL ({method} {path})", status=404)
        owner = owner_of(path, headers)
        return _Reject(lambda rid: owner.invalid(exc, rid), "not found")
    route, provider, params = found
    exchange.provider, exchange.endpoint = route.provider, route.endpoint

    if req.too_large:
        limit = state.scenario.limits.max_request_bytes
        return _Reject(lambda rid: provider.invalid(_too_large(limit), rid), "too large")
    raw = req.body
    if provider.verify is not None:  # Bedrock's SigV4, when the scenario gives a key pair
        refused = provider.verify(method, req.path, req.query, headers, raw, state.scenario.auth)
        if refused is not None:
            denied = refused
            return _Reject(lambda rid: provider.invalid(denied, rid), "unauthorized")
    if body is _UNREAD:
        body = decode(raw)
    journal_body(state, exchange, method, path, raw, body)
    inc = incoming(req, path, params, body, tenant)
    handler = route.handler
    if handler is not None:  # a stateful resource (OpenAI files, batches) answers itself
        return _Reject(lambda rid: handler(inc, engine, rid), "resource")
    try:
        call = route.parse(inc)
    except InvalidRequest as exc:
        # Kept past this frame: without its traceback, which would hold this frame, which
        # holds it (a cycle only the garbage collector frees).
        invalid = exc.with_traceback(None)
        return _Reject(lambda rid: provider.invalid(invalid, rid), "invalid")
    exchange.model, exchange.stream = call.model, call.stream
    return route, provider, call


def _serve(req: Request, conn: Connection, router: Router, engine: Engine, tenant: str,
           path: str, exchange: Exchange, start: float, done: list[Plan], finish: Finish
           ) -> Coroutine[Any, Any, None] | None:
    body: Any = _UNREAD
    plain = router.plain.get((req.method, path))
    if plain is not None and not req.too_large:
        body = decode(req.body)
        answered = answer_plain(req, conn, plain[0], engine, engine.tenant(tenant), path, body,
                                exchange, start, finish)
        if answered is True:
            return None
        if answered is not False:  # a plain stream, decided
            return _on_wire(engine, conn, plain[0], plain[1], answered, exchange, start, done,
                            finish)
    parsed = _parse(req, router, engine, tenant, path, exchange, body)
    if isinstance(parsed, _Reject):
        exchange.seq, _, request_id = engine.reserve(engine.tenant(tenant))
        exchange.outcome = parsed.outcome
        _respond(conn, parsed.rendering(request_id), exchange)
        finish()
        return None
    route, provider, call = parsed
    plan = engine.decide(call, (req.method, path))
    return _on_wire(engine, conn, route, provider, plan, exchange, start, done, finish)


def _on_wire(engine: Engine, conn: Connection, route: Route, provider: ProviderSpec,
             plan: Plan, exchange: Exchange, start: float, done: list[Plan], finish: Finish
             ) -> Coroutine[Any, Any, None] | None:
    """``_answer``, through a capacity slot when the scenario has slots (it may wait)."""
    if engine.tenant(plan.call.tenant).scenario.capacity is None:
        return _answer(conn, route, provider, plan, exchange, start, done, finish)
    return through_capacity(engine, conn, plan, exchange, start, done, finish,
                            partial(_answer, conn, route, provider))


async def _serve_shared(req: Request, conn: Connection, router: Router, engine: Engine,
                        shared: RedisState, tenant: str, path: str, exchange: Exchange,
                        start: float, done: list[Plan],
                        finish: _Ending) -> None:
    """``_serve`` with the state in Redis: one awaited round trip reserves the request."""
    parsed = _parse(req, router, engine, tenant, path, exchange, _UNREAD)
    try:
        if isinstance(parsed, _Reject):
            exchange.seq = await shared.ordinal(tenant)
            exchange.outcome = parsed.outcome
            _, request_id = engine.ids(engine.tenant(tenant).scenario, exchange.seq)
            _respond(conn, parsed.rendering(request_id), exchange)
            finish()
            return
        route, provider, call = parsed
        res = await shared.reserve(engine, call)
    except StateError as exc:
        _LOG.error("%s", exc)
        exchange.outcome = "state unavailable"
        error = ErrorSpec("unavailable", status=503, message=str(exc))
        _respond(conn, render_invalid(InvalidRequest(str(exc), status=503),
                                      "req_llmfake_state_unavailable")
                 if isinstance(parsed, _Reject) else
                 provider.error(error, "req_llmfake_state_unavailable", call), exchange)
        finish()
        return
    finish.reserved = res[0]
    plan = engine.decide(call, (req.method, path), res)
    pending = _on_wire(engine, conn, route, provider, plan, exchange, start, done, finish)
    if pending is not None:
        await pending


def _answer(conn: Connection, route: Route, provider: ProviderSpec, plan: Plan,
            exchange: Exchange, start: float, done: list[Plan], finish: Finish
            ) -> Coroutine[Any, Any, None] | None:
    """Put ``plan`` on the wire."""
    call = plan.call
    done.append(plan)  # released when the response is over, whatever happens
    exchange.seq = plan.ordinal
    exchange.outcome, exchange.source = plan.outcome, plan.source
    error = plan.error
    extra = {**provider.headers(plan), **plan.headers}
    if error is not None:
        exchange.retry_after = error.retry_after
        if error.should_retry is not None:
            extra["x-should-retry"] = "true" if error.should_retry else "false"
        rendered = _with_headers(provider.error(error, plan.request_id, call), extra)
        plan_for_wire: Plan | None = plan if plan.fault is None else None
        keep(exchange, plan, rendered)
        return deliver(conn, plan_for_wire, rendered, start, exchange, finish)
    replay = None
    if plan.recorded is not None:
        # The recording's own ids and headers stand, unless the scenario counts rate limits.
        replay = render_replay(plan, extra if plan.rate_limit is not None else plan.headers)
        rendered = replay.rendered
        exchange.retry_after = _retry_after(rendered.headers)
    else:
        rendered = _with_headers(route.render(plan), extra)
    exchange.response_text = rendered.text
    keep(exchange, plan, rendered)
    return deliver(conn, plan, rendered, start, exchange, finish,
                   None if plan.fault is None else partial(_stream_error, provider), replay)


def _stream_error(provider: ProviderSpec, plan: Plan) -> bytes:
    """The error event ``plan``'s fault puts in its stream, in ``provider``'s shape."""
    assert plan.fault is not None  # the engine gives an error_event fault its error
    assert plan.fault.error is not None
    return provider.stream_error(plan.fault.error, plan)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The delay a recorded response's retry-after header asks for (seconds only)."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _with_headers(rendered: Rendered, extra: Mapping[str, str]) -> Rendered:
    if not extra:
        return rendered
    return Rendered(rendered.status, {**rendered.headers, **extra}, rendered.body,
                    rendered.events, rendered.tokens, rendered.text)


def _respond(conn: Connection, rendered: Rendered, exchange: Exchange) -> None:
    exchange.status = rendered.status
    exchange.completed = True
    keep(exchange, None, rendered)
    conn.respond(rendered.status, rendered.headers, rendered.body)


def _too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(f"Request body too large: the limit is {limit} bytes.", status=413,
                          code="request_too_large")

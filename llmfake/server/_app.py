"""The aiohttp application: routing, tenants, the control API, and the journal.

One catch-all route dispatches by itself: a tenant prefix ``/t/{tenant}`` may stand before any
path, and the providers' paths are looked up in a dict first (exact paths are the hot path).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from llmfake._version import __version__
from llmfake.engine._engine import Engine
from llmfake.engine._plan import Plan
from llmfake.errors import ScenarioError
from llmfake.journal import Exchange, body_key, safe_headers
from llmfake.providers import (
    REGISTRY,
    Incoming,
    InvalidRequest,
    ProviderSpec,
    Rendered,
    Route,
    owner_of,
)
from llmfake.providers._openai_common import render_invalid
from llmfake.scenario._load import scenario_from_dict, scenario_from_text
from llmfake.scenario._model import ErrorSpec
from llmfake.server._arrival import arrival
from llmfake.server._intake import Intake
from llmfake.server._replay import render as render_replay
from llmfake.server._wire import Aborted, send

_TENANT = re.compile(r"/t/([A-Za-z0-9_.~-]{1,128})(/.*)?\Z")
_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:key|api-key|api_key)=)[^&]*", re.IGNORECASE)
_INVALID_JSON = object()
_LOG = logging.getLogger("llmfake.server")
ENGINE_KEY: web.AppKey[Engine] = web.AppKey("llmfake_engine", Engine)
LogHook = Callable[[Exchange], None]


class Router:
    """Finds the route for a method and a path."""

    def __init__(self, providers: tuple[ProviderSpec, ...]) -> None:
        self.exact: dict[tuple[str, str], list[tuple[Route, ProviderSpec]]] = {}
        self.patterns: list[tuple[str, re.Pattern[str], Route, ProviderSpec]] = []
        routes = [(r, p) for p in providers for r in p.routes]
        routes.sort(key=lambda rp: rp[0].accepts is None)  # conditional routes first
        for route, provider in routes:
            if "{" in route.pattern:
                regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.pattern))
                self.patterns.append((route.method, re.compile(regex + r"\Z"), route, provider))
            else:
                self.exact.setdefault((route.method, route.pattern), []).append((route, provider))

    def find(self, method: str, path: str, headers: Mapping[str, str]
             ) -> tuple[Route, ProviderSpec, dict[str, str]] | None:
        """The route, its provider and the path parameters, or None."""
        for route, provider in self.exact.get((method, path), ()):
            if route.accepts is None or route.accepts(headers):
                return route, provider, {}
        for m, regex, route, provider in self.patterns:
            if m == method and (route.accepts is None or route.accepts(headers)):
                match = regex.match(path)
                if match:
                    return route, provider, match.groupdict()
        return None


def create_app(engine: Engine, *, log: LogHook | None = None) -> web.Application:
    """The fake server's application for ``engine``; ``log`` is called after each exchange."""
    app = web.Application(client_max_size=1 << 40, handler_args={"max_field_size": 65536})
    app[ENGINE_KEY] = engine
    router = Router(REGISTRY)
    intake = Intake()
    started = time.monotonic()

    async def handle(request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        start = arrival(request, loop.time())  # every deadline counts from here
        tenant, path = "default", request.path
        m = _TENANT.match(path)
        if m:
            tenant, path = m.group(1), m.group(2) or "/"
        if path.startswith("/_llmfake/") or path == "/_llmfake":
            return await _control(request, engine, tenant, path[len("/_llmfake"):].strip("/"))
        state = engine.tenant(tenant)
        exchange = Exchange(
            seq=state.ordinal, tenant=tenant, method=request.method,
            path=(_SECRET_QUERY.sub(r"\1***", f"{path}?{request.query_string}")
                  if request.query_string else path),  # only a query can hold a key
            headers=safe_headers(request.headers), started=time.monotonic() - started,
        )
        retry = request.headers.get("x-stainless-retry-count")
        exchange.retry_count = int(retry) if retry and retry.isdigit() else None
        # Journaled on arrival, filled in as it goes: the journal is in arrival order and shows
        # what is still in flight.
        state.journal.add(exchange)
        done: list[Plan] = []
        try:
            if state.scenario.paced:  # no delays, no deadlines for a late stamp to shift
                await intake.turn()  # see _intake: the loop reads its sockets between intakes
            return await _serve(request, router, engine, tenant, path, exchange, start, done)
        except Aborted:
            exchange.outcome = exchange.outcome or "aborted"
            raise _silent_close() from None
        except Exception as exc:  # a bug must cost one request, never the server
            _LOG.exception("llmfake failed on %s %s", request.method, path)
            exchange.outcome = "llmfake error"
            bug = InvalidRequest(f"llmfake internal error: {type(exc).__name__}: {exc}. This is "
                                 "a bug in llmfake; please report it.", status=500)
            return _respond(render_invalid(bug, "req_llmfake_internal_error"), exchange)
        finally:
            for plan in done:
                engine.finish(plan)
            exchange.duration = loop.time() - start
            exchange.ended = time.monotonic() - started
            if log is not None:
                log(exchange)

    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _silent_close() -> web.HTTPException:
    # The transport is already closed; aiohttp drops whatever the handler returns.
    return web.HTTPNoContent()


async def _serve(request: web.Request, router: Router, engine: Engine, tenant: str, path: str,
                 exchange: Exchange, start: float, done: list[Plan]) -> web.StreamResponse:
    state = engine.tenant(tenant)
    headers = {k.lower(): v for k, v in request.headers.items()}
    found = router.find(request.method, path, headers)

    def reject(rendering: Callable[[str], Rendered], outcome: str) -> web.Response:
        exchange.seq, _, request_id = engine.reserve(state)
        exchange.outcome = outcome
        return _respond(rendering(request_id), exchange)

    if found is None:
        exc = InvalidRequest(f"Invalid URL ({request.method} {path})", status=404)
        owner = owner_of(path, headers)
        return reject(lambda rid: owner.invalid(exc, rid), "not found")
    route, provider, params = found
    exchange.provider, exchange.endpoint = route.provider, route.endpoint

    limit = state.scenario.limits.max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        return reject(lambda rid: provider.invalid(_too_large(limit), rid), "too large")
    raw = await _read_body(request, limit)
    if raw is None:
        return reject(lambda rid: provider.invalid(_too_large(limit), rid), "too large")
    body = _decode(raw)
    exchange.body_key = body_key(request.method, path, raw)
    if exchange.retry_count is not None:
        exchange.attempt = exchange.retry_count
    else:
        exchange.attempt = state.journal.infer_attempt(exchange)
    exchange.body = body if body is not _INVALID_JSON else raw.decode("utf-8", "replace")
    inc = Incoming(request.method, path, params, dict(request.query), headers, body, tenant)
    try:
        call = route.parse(inc)
    except InvalidRequest as exc:
        invalid = exc
        return reject(lambda rid: provider.invalid(invalid, rid), "invalid")
    exchange.model, exchange.stream = call.model, call.stream
    plan = engine.decide(call, (request.method, path))
    done.append(plan)  # released when the response is over, whatever happens
    exchange.seq = plan.ordinal
    exchange.outcome, exchange.source = plan.outcome, plan.source
    error = plan.error
    if error is None and plan.fault is not None and plan.fault.name == "error_event" \
            and not call.stream:
        error = plan.fault.error or ErrorSpec("server_error")
    extra = {**provider.headers(plan), **plan.headers}
    if error is not None:
        exchange.retry_after = error.retry_after
        if error.should_retry is not None:
            extra["x-should-retry"] = "true" if error.should_retry else "false"
        rendered = _with_headers(provider.error(error, plan.request_id, call), extra)
        plan_for_wire: Plan | None = plan if plan.fault is None else None
        return await send(request, plan_for_wire, rendered, start, exchange)
    replay = None
    if plan.recorded is not None:
        # The recording's own ids and headers stand, unless the scenario counts rate limits.
        replay = render_replay(plan, extra if plan.rate_limit is not None else plan.headers)
        rendered = replay.rendered
        exchange.retry_after = _retry_after(rendered.headers)
    else:
        rendered = _with_headers(route.render(plan), extra)
    exchange.response_text = rendered.text

    def stream_error(p: Plan) -> bytes:
        spec = p.fault.error if p.fault is not None and p.fault.error else ErrorSpec(
            "server_error")
        return provider.stream_error(spec, p)

    return await send(request, plan, rendered, start, exchange, stream_error, replay)


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


def _respond(rendered: Rendered, exchange: Exchange) -> web.Response:
    exchange.status = rendered.status
    exchange.completed = True
    return web.Response(status=rendered.status, headers=rendered.headers, body=rendered.body)


def _too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(f"Request body too large: the limit is {limit} bytes.", status=413,
                          code="request_too_large")


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    if not request.body_exists:
        return b""
    length = request.content_length
    if length is not None and length <= limit:
        # The usual request says its length: one read, not an async iteration per chunk.
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError as exc:  # the client hung up half-way
            return exc.partial
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _INVALID_JSON


# --- control API -----------------------------------------------------------------------------

async def _control(request: web.Request, engine: Engine, tenant: str, what: str
                   ) -> web.StreamResponse:
    state = engine.tenant(tenant)
    method = request.method
    if what == "health" and method == "GET":
        return web.json_response({"status": "ok", "version": __version__, "tenant": tenant})
    if what == "scenario" and method == "GET":
        sc = state.scenario
        return web.json_response({"name": sc.name, "source": sc.source,
                                  "scenario": _jsonable(sc.raw)})
    if what == "scenario" and method in ("PUT", "POST"):
        text = await request.text()
        source = f"PUT /_llmfake/scenario (tenant {tenant})"
        try:
            if (request.content_type or "").endswith("json") and text.strip():
                try:
                    doc = json.loads(text)
                except ValueError as exc:
                    raise ScenarioError(f"not valid JSON: {exc}", source=source) from None
                scenario = scenario_from_dict(doc if doc is not None else {}, source)
            else:
                scenario = scenario_from_text(text, source)
        except ScenarioError as exc:
            return web.json_response({"error": {"message": str(exc), "path": exc.path,
                                                "type": "scenario_error"}}, status=400)
        engine.set_scenario(tenant, scenario)
        return web.json_response({"status": "ok", "name": scenario.name, "tenant": tenant})
    if what == "journal" and method == "GET":
        return web.json_response(state.journal.to_json())
    if what == "reset" and method == "POST":
        state.reset()
        return web.json_response({"status": "ok", "tenant": tenant})
    return web.json_response(
        {"error": {"message": f"Unknown control endpoint {method} /_llmfake/{what}; use GET "
                              "health, GET or PUT scenario, GET journal, POST reset.",
                   "type": "not_found"}}, status=404)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))

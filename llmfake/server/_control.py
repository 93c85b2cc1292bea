"""The control API under ``/_llmfake/`` (and ``/t/<tenant>/_llmfake/``): health, the scenario in
force, the journal, reset."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

from llmfake._version import __version__
from llmfake.engine._engine import Engine
from llmfake.engine._redis import RedisState
from llmfake.errors import ScenarioError, StateError
from llmfake.scenario._load import scenario_from_dict, scenario_from_text
from llmfake.scenario._model import Scenario
from llmfake.server._http import Connection, Request

_JSON = {"content-type": "application/json; charset=utf-8"}


def control(req: Request, conn: Connection, engine: Engine, tenant: str, what: str
            ) -> Coroutine[Any, Any, None] | None:
    """Answer a control request for ``tenant``; ``what`` is the path after ``/_llmfake/``
    (with a shared state, what reads or writes it answers through the coroutine returned)."""
    if engine.shared is not None and what in ("scenario", "journal", "reset"):
        return _shared(req, conn, engine, engine.shared, tenant, what)
    _local(req, conn, engine, tenant, what)
    return None


def _local(req: Request, conn: Connection, engine: Engine, tenant: str, what: str) -> None:
    state = engine.tenant(tenant)
    method = req.method
    if what == "health" and method == "GET":
        return _json(conn, {"status": "ok", "version": __version__, "tenant": tenant})
    if what == "scenario" and method == "GET":
        sc = state.scenario
        return _json(conn, {"name": sc.name, "source": sc.source, "scenario": _jsonable(sc.raw)})
    if what == "scenario" and method in ("PUT", "POST"):
        scenario = _scenario(req, conn, tenant)
        if scenario is None:
            return None
        engine.set_scenario(tenant, scenario)
        return _json(conn, {"status": "ok", "name": scenario.name, "tenant": tenant})
    if what == "journal" and method == "GET":
        return _json(conn, state.journal.to_json())
    if what == "reset" and method == "POST":
        state.reset()
        return _json(conn, {"status": "ok", "tenant": tenant})
    return _unknown(conn, method, what)


async def _shared(req: Request, conn: Connection, engine: Engine, shared: RedisState,
                  tenant: str, what: str) -> None:
    """The control API on the shared state: what it answers holds for every instance."""
    method = req.method
    try:
        if what == "scenario" and method == "GET":
            version, raw = await shared.scenario(tenant)
            sc = engine.base if not raw else scenario_from_dict(json.loads(raw), "redis")
            return _json(conn, {"name": sc.name, "source": sc.source, "version": version,
                                "scenario": _jsonable(sc.raw)})
        if what == "scenario" and method in ("PUT", "POST"):
            scenario = _scenario(req, conn, tenant)
            if scenario is None:
                return None
            engine.set_scenario(tenant, scenario)
            engine.tenant(tenant).version = await shared.put(tenant, scenario)
            return _json(conn, {"status": "ok", "name": scenario.name, "tenant": tenant})
        if what == "journal" and method == "GET":
            return _json(conn, await shared.journal(tenant))
        if what == "reset" and method == "POST":
            engine.tenant(tenant).reset()
            engine.tenant(tenant).version = await shared.put(tenant, None)
            return _json(conn, {"status": "ok", "tenant": tenant})
    except StateError as exc:
        return _json(conn, {"error": {"message": str(exc), "type": "state_unavailable"}}, 503)
    return _unknown(conn, method, what)


def _scenario(req: Request, conn: Connection, tenant: str) -> Scenario | None:
    """The scenario a PUT carries (None: it was invalid, and the 400 is sent)."""
    source = f"PUT /_llmfake/scenario (tenant {tenant})"
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        _json(conn, {"error": {"message": f"{source}: the body is not UTF-8",
                               "path": None, "type": "scenario_error"}}, 400)
        return None
    try:
        content_type = req.headers.get("content-type", "").split(";")[0].strip()
        if content_type.endswith("json") and text.strip():
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise ScenarioError(f"not valid JSON: {exc}", source=source) from None
            return scenario_from_dict(doc if doc is not None else {}, source)
        return scenario_from_text(text, source)
    except ScenarioError as exc:
        _json(conn, {"error": {"message": str(exc), "path": exc.path,
                               "type": "scenario_error"}}, 400)
        return None


def _unknown(conn: Connection, method: str, what: str) -> None:
    return _json(conn, {"error": {
        "message": f"Unknown control endpoint {method} /_llmfake/{what}; use GET health, GET or "
                   "PUT scenario, GET journal, POST reset.",
        "type": "not_found"}}, 404)


def _json(conn: Connection, value: Any, status: int = 200) -> None:
    conn.respond(status, _JSON, json.dumps(value, default=str).encode())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))

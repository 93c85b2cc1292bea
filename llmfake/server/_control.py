"""The control API under ``/_llmfake/`` (and ``/t/<tenant>/_llmfake/``): health, the scenario in
force, the journal, reset."""

from __future__ import annotations

import json
from typing import Any

from llmfake._version import __version__
from llmfake.engine._engine import Engine
from llmfake.errors import ScenarioError
from llmfake.scenario._load import scenario_from_dict, scenario_from_text
from llmfake.server._http import Connection, Request

_JSON = {"content-type": "application/json; charset=utf-8"}


def control(req: Request, conn: Connection, engine: Engine, tenant: str, what: str) -> None:
    """Answer a control request for ``tenant``; ``what`` is the path after ``/_llmfake/``."""
    state = engine.tenant(tenant)
    method = req.method
    if what == "health" and method == "GET":
        return _json(conn, {"status": "ok", "version": __version__, "tenant": tenant})
    if what == "scenario" and method == "GET":
        sc = state.scenario
        return _json(conn, {"name": sc.name, "source": sc.source, "scenario": _jsonable(sc.raw)})
    if what == "scenario" and method in ("PUT", "POST"):
        source = f"PUT /_llmfake/scenario (tenant {tenant})"
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return _json(conn, {"error": {"message": f"{source}: the body is not UTF-8",
                                          "path": None, "type": "scenario_error"}}, 400)
        try:
            content_type = req.headers.get("content-type", "").split(";")[0].strip()
            if content_type.endswith("json") and text.strip():
                try:
                    doc = json.loads(text)
                except ValueError as exc:
                    raise ScenarioError(f"not valid JSON: {exc}", source=source) from None
                scenario = scenario_from_dict(doc if doc is not None else {}, source)
            else:
                scenario = scenario_from_text(text, source)
        except ScenarioError as exc:
            return _json(conn, {"error": {"message": str(exc), "path": exc.path,
                                          "type": "scenario_error"}}, 400)
        engine.set_scenario(tenant, scenario)
        return _json(conn, {"status": "ok", "name": scenario.name, "tenant": tenant})
    if what == "journal" and method == "GET":
        return _json(conn, state.journal.to_json())
    if what == "reset" and method == "POST":
        state.reset()
        return _json(conn, {"status": "ok", "tenant": tenant})
    return _json(conn, {"error": {
        "message": f"Unknown control endpoint {method} /_llmfake/{what}; use GET health, GET or "
                   "PUT scenario, GET journal, POST reset.",
        "type": "not_found"}}, 404)


def _json(conn: Connection, value: Any, status: int = 200) -> None:
    conn.respond(status, _JSON, json.dumps(value, default=str).encode())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))

"""The dashboard's JSON endpoints: an exchange in full, the scenario editor, fault injection."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import yaml

from llmfake.errors import ScenarioError
from llmfake.scenario._load import (
    builtin_names,
    load_scenario,
    scenario_from_dict,
    scenario_from_text,
)
from llmfake.server._http import Connection
from llmfake.server._http_message import Request
from llmfake.ui._cassette import cassette_text
from llmfake.ui._export import pytest_module
from llmfake.ui._kept import fault, schedule

if TYPE_CHECKING:
    from llmfake.server._app import App

_JSON = {"content-type": "application/json; charset=utf-8", "cache-control": "no-store"}
INJECTED = "dashboard: next requests"
"""The name of the rule ``api/inject`` puts first in the scenario."""


def api(req: Request, conn: Connection, app: App, tenant: str, what: str) -> None:
    """Answer ``/_llmfake/ui/api/<what>`` for ``tenant``."""
    engine = app.engine
    state = engine.tenant(tenant)
    method = req.method
    if what == "exchange" and method == "GET":
        query = dict(parse_qsl(req.query))
        state = engine.tenant(query.get("tenant", tenant))
        seq = int(query["seq"]) if query.get("seq", "").isdigit() else -1
        for e in state.journal:
            if e.seq == seq:
                return _json(conn, {**e.to_json(), **app.live.summary(e), "schedule": schedule(e),
                                    "fault": fault(e)})
        return _json(conn, {"error": f"no exchange {seq} in tenant {state.name}'s journal"}, 404)
    if what in ("export", "cassette") and method == "GET":
        query = dict(parse_qsl(req.query))
        state = engine.tenant(query.get("tenant", tenant))
        wanted = {int(s) for s in query.get("seqs", "").split(",") if s.strip().isdigit()}
        chosen = [e for e in state.journal if e.seq in wanted]
        name = re.sub(r"[^A-Za-z0-9_]", "_", state.name)
        try:
            if what == "export":
                text, kind, file = (pytest_module(chosen), "text/x-python",
                                    f"test_exported_{name}.py")
            else:
                text, kind, file = (cassette_text(chosen), "application/yaml",
                                    f"cassette_{name}.yaml")
        except ValueError as exc:
            return _json(conn, {"error": str(exc)}, 400)
        return conn.respond(200, {
            "content-type": f"{kind}; charset=utf-8",
            "content-disposition": f'attachment; filename="{file}"'}, text.encode())
    if what == "scenario" and method == "GET":
        sc = state.scenario
        return _json(conn, {"tenant": tenant, "name": sc.name, "source": sc.source,
                            "yaml": yaml.safe_dump(_plain(sc.raw), sort_keys=False),
                            "builtins": sorted(builtin_names())})
    if what == "scenario" and method == "PUT":
        text = req.body.decode("utf-8", "replace")
        try:
            scenario = scenario_from_text(text, f"dashboard (tenant {tenant})")
        except ScenarioError as exc:
            return _json(conn, {"errors": [
                {"path": path, "problem": problem, "line": line_of(text, path)}
                for path, problem in exc.problems]}, 400)
        engine.set_scenario(tenant, scenario)
        return _json(conn, {"status": "ok", "name": scenario.name})
    if what in ("builtin", "inject") and method == "POST":
        try:
            doc = json.loads(req.body or b"{}")
            if what == "builtin":
                scenario = load_scenario(str(doc.get("name", "")))
                engine.set_scenario(tenant, scenario)
                return _json(conn, {"status": "ok", "name": scenario.name})
            return _json(conn, inject(app, tenant, doc))
        except (ValueError, ScenarioError, AttributeError) as exc:
            return _json(conn, {"error": str(exc)}, 400)
    _json(conn, {"error": f"unknown dashboard endpoint {method} api/{what}"}, 404)


def inject(app: App, tenant: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Give ``tenant``'s next ``count`` requests ``error`` (or ``fault``), then the scenario's
    own outcomes again. The scenario in force gains a first rule whose script holds one step per
    request and then falls through; counters, limits and the journal are kept."""
    count = doc.get("count", 1)
    if not isinstance(count, int) or not 1 <= count <= 1000:
        raise ValueError(f"count must be a whole number from 1 to 1000, not {count!r}")
    step = {k: doc[k] for k in ("error", "fault", "retry_after", "after_chunks")
            if doc.get(k) not in (None, "")}
    if not ("error" in step or "fault" in step):
        raise ValueError("give an 'error' (rate_limit, 503...) or a 'fault' (disconnect...)")
    state = app.engine.tenant(tenant)
    raw = _plain(state.scenario.raw) or {}
    rules = [r for r in raw.get("rules", []) if r.get("name") != INJECTED]
    kept = len(raw.get("rules", [])) - len(rules)  # an earlier injection is replaced
    raw["rules"] = [{"name": INJECTED, "script": [step] * count, "then": "default"}, *rules]
    scenario = scenario_from_dict(raw, f"dashboard injection (tenant {tenant})")
    # The rules move down one place (unless one injection replaces another): their counters
    # move with them, so scripts and chaos draws go on where they were.
    shift = 1 - kept
    state.scenario = scenario
    state.rule_matches = {i + shift: n for i, n in state.rule_matches.items() if i + shift > 0}
    state.script_pos = {i + shift: n for i, n in state.script_pos.items() if i + shift > 0}
    app.live.injected[tenant] = count
    return {"status": "ok", "name": scenario.name, "rule": step, "count": count}


def uninject(app: App, tenant: str) -> None:
    """Take the injected rule out once its script is used up, so the scenario's own rules
    answer again (a rule that falls through answers with the default reply, skipping them)."""
    count = app.live.injected.get(tenant)
    state = app.engine.tenant(tenant)
    if count is None or state.script_pos.get(0, 0) < count:
        return
    del app.live.injected[tenant]
    raw = _plain(state.scenario.raw) or {}
    rules = raw.get("rules", [])
    if not rules or rules[0].get("name") != INJECTED:
        return  # the scenario was replaced since
    raw["rules"] = rules[1:]
    if not raw["rules"]:
        del raw["rules"]
    state.scenario = scenario_from_dict(raw, state.scenario.source)
    state.rule_matches = {i - 1: n for i, n in state.rule_matches.items() if i > 0}
    state.script_pos = {i - 1: n for i, n in state.script_pos.items() if i > 0}


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of the field at ``path`` (``rules[2].script[0].error``) in a YAML
    ``text``, or of the nearest field above it that is there; None when it cannot be found."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return int(mark.line) + 1 if mark is not None else None
    if node is None:
        return None
    line = int(node.start_mark.line) + 1
    for part in path.replace("[", ".").replace("]", "").split("."):
        if not part:
            continue
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == part]
            if not found:
                break
            key, node = found[0]
            line = int(key.start_mark.line) + 1
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() \
                and int(part) < len(node.value):
            node = node.value[int(part)]
            line = int(node.start_mark.line) + 1
        else:
            break
    return line


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _json(conn: Connection, value: Any, status: int = 200) -> None:
    conn.respond(status, _JSON, json.dumps(value, default=str).encode())

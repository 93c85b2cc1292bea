"""The control API under ``/_llmfake/`` (and ``/t/<tenant>/_llmfake/``): health, the scenario in
force, the journal, reset.

It steers the server, so it must not be steerable by a web page the developer happens to visit:

- A ``PUT`` or ``POST`` carrying an ``Origin`` that is not the server's own (``Host``), or
  ``Origin: null``, gets 403: browsers send ``Origin`` on every cross-site ``POST`` and
  ``PUT``, and no other client sends a foreign one.
- A ``POST`` (the one method a page can send without a CORS preflight) whose content type is
  one a form can send (``text/plain``, ``application/x-www-form-urlencoded``,
  ``multipart/form-data``) gets 415 unless it carries an ``x-llmfake`` header, which no form and
  no simple request can add. A ``PUT`` is always preflighted by browsers, and this server
  answers no preflight, so any content type is fine there (``curl --data-binary`` works).
- On a loopback address, every control request must name a loopback host (``localhost``,
  ``*.localhost``, ``127.0.0.1``, ``[::1]``) in ``Host``, else 403: a page that rebinds its own
  domain to 127.0.0.1 (DNS rebinding) sends its domain there. ``LLMFAKE_ALLOWED_HOSTS`` (names
  separated by commas, ``*`` for any) adds names.
- A control body may be at most ``MAX_CONTROL_BODY`` bytes (413).
- A scenario it receives may name cassettes only under ``cassette_dirs`` (the working directory
  and the startup scenario's folder unless ``LLMFAKE_CASSETTE_DIRS`` says otherwise); a path
  elsewhere is refused before anything looks at it, so the answer does not tell whether it
  exists. Any cassette must be a regular file of at most 64 MiB (``record._cassette.load``).

Scenarios (and the cassettes they name) are read off the event loop, one at a time, so a large
one does not hold up other tenants' requests. With a shared state (Redis) the scenario, the
journal and reset read and write it, so what they answer holds for every instance.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import ipaddress
import json
import os
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import orjson

from llmfake._version import __version__
from llmfake.engine._engine import Engine
from llmfake.engine._redis import RedisState
from llmfake.errors import ScenarioError, StateError
from llmfake.journal import Journal
from llmfake.scenario._load import scenario_from_dict, scenario_from_text
from llmfake.scenario._model import Scenario
from llmfake.server._http import Connection
from llmfake.server._http_message import Request

_JSON = {"content-type": "application/json; charset=utf-8"}
MAX_CONTROL_BODY = 8 << 20
"""The largest control request body (a scenario; cassettes are named, not sent)."""
_SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
_LOADER: concurrent.futures.ThreadPoolExecutor | None = None


def control(req: Request, conn: Connection, engine: Engine, tenant: str, what: str
            ) -> Coroutine[Any, Any, None] | None:
    """Answer a control request for ``tenant``; ``what`` is the path after ``/_llmfake/``.
    A scenario is loaded in the coroutine returned; everything else is answered at once."""
    refusal = _refusal(req, conn)
    method = req.method
    answer: tuple[Any, int]
    if refusal is not None:
        answer = {"error": {"message": refusal[1], "type": "forbidden"}}, refusal[0]
    elif req.too_large:
        answer = {"error": {
            "message": f"control request body over {MAX_CONTROL_BODY} bytes; name large "
                       "replies' files (a cassette) in the scenario instead",
            "type": "request_too_large"}}, 413
    elif engine.shared is not None and what in ("scenario", "journal", "reset"):
        return _shared(req, conn, engine, engine.shared, tenant, what)
    elif what == "scenario" and method in ("PUT", "POST"):
        return _put_scenario(req, conn, engine, tenant)
    elif what == "health" and method == "GET":
        answer = {"status": "ok", "version": __version__, "tenant": tenant}, 200
    elif what == "scenario" and method == "GET":
        known = engine.tenants.get(tenant)  # a look does not make a tenant
        sc = known.scenario if known is not None else engine.base
        answer = {"name": sc.name, "source": sc.source, "scenario": _jsonable(sc.raw)}, 200
    elif what == "journal" and method == "GET":
        known = engine.tenants.get(tenant)
        answer = (_journal(known.journal) if known is not None else []), 200
    elif what == "reset" and method == "POST":
        engine.tenant(tenant).reset()
        answer = {"status": "ok", "tenant": tenant}, 200
    else:
        answer = {"error": {
            "message": f"Unknown control endpoint {method} /_llmfake/{what}; use GET health, "
                       "GET or PUT scenario, GET journal, POST reset.",
            "type": "not_found"}}, 404
    _json(conn, *answer)
    return None


async def _put_scenario(req: Request, conn: Connection, engine: Engine, tenant: str) -> None:
    scenario = await _scenario(req, conn, tenant, engine)
    if scenario is not None and not conn.closed:
        engine.set_scenario(tenant, scenario)
        _json(conn, {"status": "ok", "name": scenario.name, "tenant": tenant})


def cassette_dirs(engine: Engine) -> tuple[Path, ...]:
    """The folders a scenario sent over HTTP may name cassettes under: the folders
    ``LLMFAKE_CASSETTE_DIRS`` lists (separated by ``os.pathsep``), else the working directory
    and the folder of the scenario the server started with."""
    listed = os.environ.get("LLMFAKE_CASSETTE_DIRS")
    if listed is not None:
        return tuple(Path(d) for d in listed.split(os.pathsep) if d)
    dirs = [Path.cwd()]
    started = Path(engine.base.source) if engine.base.source else None
    if started is not None and started.is_file():
        dirs.append(started.parent)
    return tuple(dirs)


async def _scenario(req: Request, conn: Connection, tenant: str, engine: Engine
                    ) -> Scenario | None:
    """The scenario a PUT carries, read off the loop (None: it was invalid; the 400 is sent)."""
    source = f"PUT /_llmfake/scenario (tenant {tenant})"
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    global _LOADER
    if _LOADER is None:  # one thread: loads queue up rather than compete with the loop
        _LOADER = concurrent.futures.ThreadPoolExecutor(1, "llmfake-scenario")
    try:
        return await asyncio.get_running_loop().run_in_executor(
            _LOADER, _load, req.body, content_type, source, cassette_dirs(engine))
    except ScenarioError as exc:
        _json(conn, {"error": {"message": str(exc), "path": exc.path,
                               "type": "scenario_error"}}, 400)
        return None


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
            scenario = await _scenario(req, conn, tenant, engine)
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
    return _json(conn, {"error": {
        "message": f"Unknown control endpoint {method} /_llmfake/{what}; use GET health, "
                   "GET or PUT scenario, GET journal, POST reset.",
        "type": "not_found"}}, 404)


def _load(body: bytes, content_type: str, source: str, dirs: Sequence[Path]) -> Scenario:
    """Read a scenario body (in the loader's thread). The collector waits meanwhile: a full
    collection over a large scenario's new objects stops every thread, the loop's too, for a
    few hundred milliseconds; without it, the loop only shares the GIL."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _read(body, content_type, source, dirs)
    finally:
        if enabled:
            gc.enable()


def _read(body: bytes, content_type: str, source: str, dirs: Sequence[Path]) -> Scenario:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"the body is not UTF-8 (byte {exc.start}); send the scenario as "
                            "UTF-8 YAML or JSON", source=source) from None
    if content_type.endswith("json") and text.strip():
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ScenarioError(f"not valid JSON: {exc}", source=source) from None
        return scenario_from_dict(doc if doc is not None else {}, source, cassette_dirs=dirs)
    return scenario_from_text(text, source, cassette_dirs=dirs)


def _refusal(req: Request, conn: Connection) -> tuple[int, str] | None:
    """Why a control request is refused (status, message), or None."""
    headers = req.headers
    host = headers.get("host")
    if host is not None and _on_loopback(conn) and not _loopback_name(_hostname(host)):
        return 403, (f"Host {host!r} is not a loopback name, and this server listens on "
                     "loopback: refused, as a DNS-rebinding page would send it. Use localhost "
                     "or 127.0.0.1, or allow the name with LLMFAKE_ALLOWED_HOSTS.")
    if req.method not in ("PUT", "POST"):
        return None
    origin = headers.get("origin")
    if origin is not None and (host is None or origin.split("://", 1)[-1].lower()
                               != host.lower()):
        return 403, (f"cross-origin control request refused (Origin {origin!r}, Host "
                     f"{host!r}): a web page may not steer llmfake. Clients other than "
                     "browsers send no Origin.")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if req.method == "POST" and "x-llmfake" not in headers and (
            content_type in _SIMPLE_TYPES or (not content_type and req.body)):
        return 415, (f"a control POST with content type {content_type or 'none'!r} is what a "
                     "web form can send: refused. Send application/json or application/yaml "
                     "(or use PUT), or add the header x-llmfake: 1.")
    return None


def _on_loopback(conn: Connection) -> bool:
    transport = conn.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple) or not sockname:
        return False  # a Unix socket, or gone: no DNS to rebind
    return _loopback_ip(str(sockname[0]).split("%")[0]) is True


@functools.lru_cache(maxsize=256)
def _loopback_ip(text: str) -> bool | None:
    """Whether ``text`` is a loopback IP address (None: no IP address at all). Cached: parsing
    one took ~5 us, twice per control request, and a client sends the same few names."""
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return None


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    loopback = _loopback_ip(name)
    if loopback is not None:
        return loopback
    allowed = {n.strip().lower() for n in os.environ.get("LLMFAKE_ALLOWED_HOSTS", "").split(",")}
    return "*" in allowed or name in allowed


def _json(conn: Connection, value: Any, status: int = 200) -> None:
    try:
        body = json.dumps(value, default=str)
    except RecursionError:  # a journaled body nested past the encoder's depth
        body = json.dumps(_clip(value, 0), default=str)
    conn.respond(status, _JSON, body.encode())


def _journal(journal: Journal) -> list[dict[str, Any]]:
    try:
        return journal.to_json()
    except RecursionError:  # a body nested past the copier's depth: shown clipped
        out = []
        for exchange in journal:
            body, exchange.body = exchange.body, None
            try:
                entry = exchange.to_json()
            finally:
                exchange.body = body
            entry["body"] = _clip(body, 0)
            out.append(entry)
        return out


def _clip(value: Any, depth: int) -> Any:
    """``value`` with what nests deeper than 100 levels replaced by a note."""
    if isinstance(value, (dict, list)) and depth >= 100:
        return "<nested deeper than 100 levels: not shown>"
    if isinstance(value, dict):
        return {str(k): _clip(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v, depth + 1) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))

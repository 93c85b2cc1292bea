"""The dashboard at ``/_llmfake/ui`` (every tenant) and ``/t/<tenant>/_llmfake/ui`` (one).

Everything it needs ships in this package (``static/``): an HTML page, plain ES modules, a style
sheet and uPlot (MIT, vendored from npm as ``uPlot.iife.min.js``) for the charts. No CDN, no
build step: the files are served as they are. The page talks to the endpoints below, all under
the dashboard's own path so they take the tenant prefix like the rest of the control API:

- ``events``: the live journal, as Server-Sent Events (``_live``);
- ``api/exchange?tenant=T&seq=N``: one exchange in full (request, response, stream writes);
- ``api/scenario``: the scenario in force as YAML, the built-in names; ``PUT`` a new one (its
  mistakes come back with the line of each field), ``POST api/builtin`` switches to a built-in,
  ``POST api/inject`` gives the next N requests an error or a fault (``_api``);
- ``api/export?tenant=T&seqs=0,1``: those exchanges as a pytest test replaying them
  (``_export``); ``api/cassette?tenant=T&seqs=0,1``: as a cassette ``llmfake replay`` serves
  (``_cassette``), from what ``keep`` kept of each response (``_kept``).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from llmfake.server._http import Connection
from llmfake.server._http_message import Request
from llmfake.ui._api import api
from llmfake.ui._kept import keep
from llmfake.ui._live import Live

if TYPE_CHECKING:
    from llmfake.server._app import App

__all__ = ["Live", "keep", "ui"]

_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
          "css": "text/css; charset=utf-8", "png": "image/png", "LICENSE": "text/plain"}
_STATIC = resources.files(__name__) / "static"


def ui(req: Request, conn: Connection, app: App) -> None:
    """Answer a request under ``/_llmfake/ui``."""
    from llmfake.server._app import _split

    tenant, path = _split(req.path)
    scoped = tenant if req.path.startswith("/t/") else None
    rest = path[len("/_llmfake/ui"):].strip("/")
    if rest in ("", "index.html"):
        if not path.endswith("/"):  # relative asset URLs resolve under the dashboard's path
            conn.respond(308, {"location": req.path + "/"}, b"")
            return
        return _file(conn, "index.html")
    if rest.startswith("static/") and req.method == "GET":
        return _file(conn, rest[len("static/"):])
    if rest == "events" and req.method == "GET":
        return app.live.subscribe(conn, scoped)
    if rest.startswith("api/"):
        return api(req, conn, app, tenant, rest[len("api/"):])
    conn.respond(404, {"content-type": "text/plain; charset=utf-8"},
                 f"no dashboard page {path}\n".encode())


def _file(conn: Connection, name: str) -> None:
    kind = name.rsplit(".", 1)[-1]
    item = _STATIC / name
    if "/" in name or name.startswith(".") or kind not in _TYPES or not item.is_file():
        conn.respond(404, {"content-type": "text/plain"}, b"no such dashboard file\n")
        return
    conn.respond(200, {"content-type": _TYPES[kind], "cache-control": "no-cache"},
                 item.read_bytes())

"""OpenAI's Files API: upload, list, retrieve, download and delete, stored per tenant.

Unlike the other endpoints these are stateful resources, not calls the engine decides: each
route has a ``handler`` that answers from the tenant's ``Store`` (``TenantState.resources``,
gone when the tenant is reset or its scenario replaced). The store is bounded by the scenario's
``batch.max_files`` and ``batch.max_storage``; an upload past either gets a 400.

The shapes follow the openai SDK's types (``FileObject``, ``FileDeleted``, ``SyncCursorPage``):
a file is ``{"id": "file-...", "object": "file", "bytes", "created_at", "filename", "purpose",
"status": "processed", "status_details": null, "expires_at"}``; a list is ``{"object": "list",
"data", "first_id", "last_id", "has_more"}``, newest first unless ``order=asc``, paged with
``after`` (an id) and ``limit`` (1 to 10,000, default 10,000), and the SDK asks for the next page
with ``after`` set to the last id while ``has_more`` is true. An upload is ``multipart/form-data``
with a ``purpose`` field and a ``file`` part; a ``batch`` file's name must end in ``.jsonl``
(the API's 400 otherwise: "Invalid file format for Batch API. Must be .jsonl"). Files uploaded for
``batch`` expire after 30 days unless ``expires_after`` says otherwise. An unknown id gets 404
"No such File object: <id>". Ids are drawn from the scenario's seed and the tenant's upload
count, so the same uploads get the same ids.

With a cassette in the scenario, these routes answer from it (``_replay``) before the store:
a recorded session of uploads, batch polls and downloads plays back as recorded.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmfake._multipart import is_form, parse_form
from llmfake.engine._draws import ALNUM
from llmfake.engine._plan import Plan
from llmfake.providers._base import Incoming, InvalidRequest, Rendered, Route, pretty
from llmfake.providers._openai_common import JSON_TYPE, api_key, render_error, render_invalid
from llmfake.scenario._model import ErrorSpec, Scenario

if TYPE_CHECKING:
    from llmfake.engine._engine import Engine, TenantState

_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_BATCH_TTL = 30 * 86400
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
Handler = Callable[[Incoming, "Engine", str], Rendered]


@dataclass
class StoredFile:
    """A file the tenant uploaded, or a batch's output."""

    id: str
    """``file-`` and 22 characters."""
    filename: str
    """The name it was uploaded with."""
    purpose: str
    """``batch``, ``batch_output``..."""
    data: bytes
    """Its content."""
    created_at: int
    """Unix seconds."""
    expires_at: int | None = None
    """Unix seconds, or None."""

    def object(self) -> dict[str, Any]:
        """The file object the API answers with."""
        return {"id": self.id, "object": "file", "bytes": len(self.data),
                "created_at": self.created_at, "expires_at": self.expires_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "status_details": None}


@dataclass
class Store:
    """A tenant's files and batches (``TenantState.resources["openai"]``)."""

    files: dict[str, StoredFile] = field(default_factory=dict)
    """By id, in upload order."""
    batches: dict[str, Any] = field(default_factory=dict)
    """``openai_batch.Job`` by id, in creation order."""
    made: dict[str, int] = field(default_factory=dict)
    """Ids drawn so far, by kind: the ordinal of each draw."""

    @property
    def used(self) -> int:
        """Bytes its files hold."""
        return sum(len(f.data) for f in self.files.values())

    def new_id(self, sc: Scenario, kind: str) -> str:
        """The next seeded id of ``kind`` (``file``, ``batch``)."""
        n = self.made.get(kind, 0)
        self.made[kind] = n + 1
        rng = random.Random(f"{sc.seed}:{kind}:{n}")
        if kind == "file":
            return "file-" + "".join(rng.choice(ALNUM) for _ in range(22))
        return f"{kind}_{rng.getrandbits(128):032x}"

    def add(self, sc: Scenario, filename: str, purpose: str, data: bytes, created_at: int,
            expires_at: int | None = None) -> StoredFile:
        """Store a file (the caller checked the bounds)."""
        stored = StoredFile(self.new_id(sc, "file"), filename, purpose, data, created_at,
                            expires_at)
        self.files[stored.id] = stored
        return stored


def store_of(state: TenantState) -> Store:
    """The tenant's store, made on first use."""
    found = state.resources.get("openai")
    if not isinstance(found, Store):
        found = state.resources["openai"] = Store()
    return found


def now(sc: Scenario) -> int:
    """Unix seconds: the scenario's frozen moment, else the clock."""
    return int(sc.freeze_time if sc.freeze_time is not None else time.time())


def json_response(value: object, request_id: str, status: int = 200) -> Rendered:
    """A JSON body with OpenAI's headers."""
    return Rendered(status, {"content-type": JSON_TYPE, "x-request-id": request_id,
                             "openai-version": "2020-10-01"}, pretty(value))


def not_found(what: str, ident: str, param: str | None = None) -> InvalidRequest:
    """OpenAI's 404 for an unknown id."""
    return InvalidRequest(f"No such {what} object: {ident}", status=404, param=param)


def resource(fn: Callable[[Incoming, Engine, TenantState, Store, str], Rendered]) -> Handler:
    """A route handler from ``fn``: with the tenant's state and store, the scenario's auth
    checked first, and ``InvalidRequest`` rendered as OpenAI's error."""

    def handle(inc: Incoming, engine: Engine, request_id: str) -> Rendered:
        state = engine.tenant(inc.tenant)
        auth = state.scenario.auth
        key = api_key(inc)
        if (auth.required or auth.keys) and (not key or (auth.keys and key not in auth.keys)):
            return render_error(ErrorSpec("auth"), request_id, None)
        if state.scenario.cassette is not None:
            replayed = _replay(inc, engine, state, request_id)
            if replayed is not None:
                return replayed
        try:
            return fn(inc, engine, state, store_of(state), request_id)
        except InvalidRequest as exc:
            return render_invalid(exc, request_id)

    return handle


# Headers of the recorded connection, not of this one (as ``llmfake.server._replay`` drops).
_NOT_REPLAYED = frozenset({"content-length", "transfer-encoding", "content-encoding",
                           "connection", "keep-alive", "date", "server", "set-cookie"})


def _replay(inc: Incoming, engine: Engine, state: TenantState, request_id: str
            ) -> Rendered | None:
    """The recorded answer to ``inc`` from the scenario's cassette, at once: identical polls
    get the recorded answers in order, so a batch's status advances as it did when recorded,
    and every id is the recording's. Unmatched: a 500 naming the nearest recording (strict
    cassettes), or None (the live store answers)."""
    matcher = engine.matcher(state)
    spec = state.scenario.cassette
    if matcher is None or spec is None:
        return None
    key = matcher.key_of(inc.method, inc.path, inc.raw, inc.headers.get("content-type"))
    index = matcher.find_key(key)
    if index is None:
        if not spec.strict:
            return None
        problem = matcher.explain_key(key)
        state.unmatched.append(problem)
        failed = render_error(ErrorSpec("server_error", should_retry=False,
                                        message=f"llmfake: {problem} (cassette {spec.path})"),
                              request_id, None)
        return Rendered(failed.status, {**failed.headers, "x-should-retry": "false"},
                        failed.body)
    response = matcher.interactions[index].response
    headers = {name: values[-1] for name, values in response.headers.items()
               if values and name.lower() not in _NOT_REPLAYED}
    return Rendered(response.status, headers, response.content, text=response.body)


def page(items: list[dict[str, Any]], query: Mapping[str, str], *, default: int,
         most: int, what: str) -> dict[str, Any]:
    """One page of ``items``: those after ``query['after']``, at most ``limit``."""
    limit = default
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            raise InvalidRequest(f"Invalid 'limit': expected an integer, got "
                                 f"{query['limit']!r}.", param="limit") from None
        if not 1 <= limit <= most:
            raise InvalidRequest(f"Invalid 'limit': must be between 1 and {most}, got {limit}.",
                                 param="limit", code="integer_out_of_range")
    after = query.get("after")
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise not_found(what, after, "after")
        items = items[ids.index(after) + 1:]
    data = items[:limit]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(items) > limit}


# --- multipart -------------------------------------------------------------------------------

def form(inc: Incoming) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a ``multipart/form-data`` body: name to (filename, content)."""
    ctype = inc.headers.get("content-type", "")
    if not is_form(ctype) or _BOUNDARY.search(ctype) is None:
        raise InvalidRequest("Expected a multipart/form-data upload with 'file' and 'purpose' "
                             f"fields, got content-type {ctype or 'none'!r}.")
    try:
        parts = parse_form(ctype, inc.raw)
    except ValueError:
        raise InvalidRequest("Malformed multipart body: a part has no blank line after its "
                             "headers.") from None
    return {name: (part.filename, part.content) for name, part in parts.items()}


# --- handlers --------------------------------------------------------------------------------

@resource
def create(inc: Incoming, engine: Engine, state: TenantState, store: Store,
           request_id: str) -> Rendered:
    """``POST /v1/files``."""
    fields = form(inc)
    purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
    if "file" not in fields:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file",
                             code="missing_required_parameter")
    if not purpose:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose",
                             code="missing_required_parameter")
    if purpose not in _PURPOSES:
        raise InvalidRequest(f"Invalid value for 'purpose': {purpose!r}. Supported values are: "
                             + ", ".join(repr(p) for p in _PURPOSES) + ".", param="purpose",
                             code="invalid_value")
    filename, data = fields["file"]
    filename = filename or "upload"
    if purpose == "batch" and not filename.endswith(".jsonl"):
        raise InvalidRequest("Invalid file format for Batch API. Must be .jsonl", param="file")
    spec = state.scenario.batch
    if len(store.files) >= spec.max_files:
        raise InvalidRequest(f"You have reached the limit of {spec.max_files} files this "
                             "organization may store (llmfake's batch.max_files). Delete files "
                             "you no longer need and try again.", param="file",
                             code="file_limit_exceeded")
    if store.used + len(data) > spec.max_storage:
        raise InvalidRequest(f"Uploading {len(data)} bytes would take this organization's file "
                             f"storage past its limit of {spec.max_storage} bytes "
                             f"({store.used} in use; llmfake's batch.max_storage). Delete files "
                             "you no longer need and try again.", param="file",
                             code="storage_limit_exceeded")
    created = now(state.scenario)
    ttl = _BATCH_TTL if purpose == "batch" else None
    seconds = fields.get("expires_after[seconds]")
    if seconds is not None:
        try:
            ttl = int(seconds[1])
        except ValueError:
            raise InvalidRequest("Invalid 'expires_after.seconds': expected an integer.",
                                 param="expires_after.seconds") from None
        if not 3600 <= ttl <= 2_592_000:
            raise InvalidRequest("Invalid 'expires_after.seconds': must be between 3600 and "
                                 f"2592000, got {ttl}.", param="expires_after.seconds",
                                 code="integer_out_of_range")
    stored = store.add(state.scenario, filename, purpose, data, created,
                       None if ttl is None else created + ttl)
    return json_response(stored.object(), request_id)


def _file(store: Store, inc: Incoming) -> StoredFile:
    ident = inc.params.get("file_id", "")
    found = store.files.get(ident)
    if found is None:
        raise not_found("File", ident, "file_id")
    return found


@resource
def listing(inc: Incoming, engine: Engine, state: TenantState, store: Store,
            request_id: str) -> Rendered:
    """``GET /v1/files``."""
    _advance(engine, state, store)
    files = list(store.files.values())
    purpose = inc.query.get("purpose")
    if purpose:
        files = [f for f in files if f.purpose == purpose]
    order = inc.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid value for 'order': {order!r}. Supported values are: "
                             "'asc' and 'desc'.", param="order", code="invalid_value")
    if order == "desc":
        files.reverse()
    return json_response(page([f.object() for f in files], inc.query, default=10_000,
                              most=10_000, what="File"), request_id)


@resource
def retrieve(inc: Incoming, engine: Engine, state: TenantState, store: Store,
             request_id: str) -> Rendered:
    """``GET /v1/files/{file_id}``."""
    _advance(engine, state, store)
    return json_response(_file(store, inc).object(), request_id)


@resource
def content(inc: Incoming, engine: Engine, state: TenantState, store: Store,
            request_id: str) -> Rendered:
    """``GET /v1/files/{file_id}/content``: the bytes as uploaded."""
    _advance(engine, state, store)
    stored = _file(store, inc)
    return Rendered(200, {"content-type": "application/octet-stream",
                          "x-request-id": request_id, "openai-version": "2020-10-01"},
                    stored.data)


@resource
def delete(inc: Incoming, engine: Engine, state: TenantState, store: Store,
           request_id: str) -> Rendered:
    """``DELETE /v1/files/{file_id}``."""
    _advance(engine, state, store)
    stored = _file(store, inc)
    del store.files[stored.id]
    return json_response({"id": stored.id, "object": "file", "deleted": True}, request_id)


def _advance(engine: Engine, state: TenantState, store: Store) -> None:
    """Bring the tenant's batches up to now: a batch that has ended puts its output files in
    the store, so they are listed like any other."""
    from llmfake.providers.openai_batch import advance

    advance(engine, state, store)


def _unused(plan: Plan) -> Rendered:  # pragma: no cover - handlers answer these routes
    raise AssertionError("a resource route is answered by its handler")


def _no_call(inc: Incoming) -> Any:
    raise InvalidRequest("this route is a stored resource, not a model call")


def routes(table: list[tuple[str, str, str, Handler]]) -> tuple[Route, ...]:
    """Resource routes for ``table`` (method, path under /v1, endpoint, handler), with and
    without the /v1 prefix, as the OpenAI SDK may be given either base URL."""
    return tuple(Route(method, prefix + path, "openai", endpoint, _no_call, _unused,
                       handler=handler)
                 for prefix in ("/v1", "") for method, path, endpoint, handler in table)


ROUTES = routes([
    ("POST", "/files", "files", create),
    ("GET", "/files", "files", listing),
    ("GET", "/files/{file_id}", "files", retrieve),
    ("GET", "/files/{file_id}/content", "files", content),
    ("DELETE", "/files/{file_id}", "files", delete),
])
"""The Files API's routes."""

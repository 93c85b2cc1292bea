"""OpenAI's Batch API: create, retrieve, list and cancel batches whose lines the engine decides.

A batch reads a ``batch`` file (``openai_files``) of JSONL lines, each ``{"custom_id", "method":
"POST", "url", "body"}``. Creating it validates every line at once; the problems, if any, are
the batch's ``errors.data`` (``{"code", "message", "param", "line"}``, lines numbered from 1),
and the batch goes ``validating`` -> ``failed``. Otherwise each line is decided right then, in
order, as if it were a request to its url: parsed by the OpenAI route of that url,
``engine.decide``d (rules, scripts, chaos and the seed apply; the per-minute limits do not, the
Batch API queues apart from them) and rendered, an error in OpenAI's own body. A transport
fault has no connection to strike in a batch: the line gets a 500 ``server_error``.

The batch's status then follows the scenario's ``batch`` block on its clock (times
``time_scale``): ``validating`` for ``validating``, ``in_progress`` for ``in_progress`` (the
lines finish evenly across it, which ``request_counts`` shows), then by ``outcome``: completed
(``finalizing``, then ``completed``), expired (``expired`` at the end of in_progress, with the
``progress`` share of the lines answered), cancelled (``cancelling`` for ``finalizing``, then
``cancelled``) or failed (``failed`` after validating, with an enqueued-token-limit error). A
client's cancel during validating or in_progress goes ``cancelling`` -> ``cancelled`` the same
way, keeping the lines answered by then. Timestamps (``in_progress_at``...) are ``created_at``
plus the scenario's own durations, so a frozen time gives the same bytes at any time_scale;
``expires_at`` is ``created_at`` plus 24h.

When a batch ends its output file (purpose ``batch_output``) holds the lines answered 2xx and its
error file the others, each ``{"id": "batch_req_...", "custom_id", "response": {"status_code",
"request_id", "body"}, "error": null}``; lines never run (expired, cancelled) are in the error
file with ``"response": null`` and ``"error": {"code": "batch_expired" | "batch_cancelled",
"message"}``. A file that would be empty is not made (its id stays null). ``request_counts``
counts the answered lines as completed or failed, and at the end the lines never run as failed,
so completed + failed = total.

Validation codes: ``invalid_json_line``, ``missing_required_parameter``, ``invalid_method``,
``invalid_url``, ``duplicate_custom_id``, ``mismatched_model``, ``empty_file`` and
``too_many_requests`` (over 50,000 lines, the API's bound).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from llmfake.engine._plan import Plan
from llmfake.engine._state import reserve_local
from llmfake.providers._base import Incoming, InvalidRequest, Rendered
from llmfake.providers._openai_common import body_object
from llmfake.providers.openai_files import (
    Store,
    json_response,
    not_found,
    now,
    page,
    resource,
    routes,
)
from llmfake.scenario._model import BatchSpec, ErrorSpec

if TYPE_CHECKING:
    from llmfake.engine._engine import Engine, TenantState
    from llmfake.providers._router import Router

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses")
"""The batch endpoints llmfake serves (the API also takes moderations and images)."""
MAX_LINES = 50_000
_MAX_ERRORS = 1000
_DAY = 86400
_TERMINAL = ("completed", "failed", "expired", "cancelled")
_UNRUN = {
    "expired": ("batch_expired",
                "This request could not be executed before the completion window expired."),
    "cancelled": ("batch_cancelled", "This request was not executed: the batch was cancelled."),
}
_router: Router | None = None


@dataclass
class Line:
    """A decided line of a batch."""

    ok: bool
    """Answered 2xx."""
    record: bytes
    """Its line of the output or error file (no newline)."""
    prompt: int = 0
    """Its prompt tokens."""
    completion: int = 0
    """Its completion tokens."""


@dataclass
class Job:
    """A batch, as the tenant's store keeps it."""

    id: str
    input_file_id: str
    endpoint: str
    created_at: int
    """Unix seconds."""
    started: float
    """The engine's monotonic clock at creation."""
    spec: BatchSpec
    scale: float
    custom_ids: list[str]
    request_ids: list[str]
    """The ``batch_req_`` id of each line."""
    errors: list[dict[str, Any]]
    """Validation errors (the batch fails)."""
    lines: list[Line] = field(default_factory=list)
    """The lines decided: all of them, or the ``progress`` share for expired and cancelled."""
    metadata: Mapping[str, Any] | None = None
    model: str | None = None
    cancel_at: float | None = None
    """Scenario seconds from creation to the client's cancel."""
    output_file_id: str | None = None
    error_file_id: str | None = None
    ended: bool = False
    """Whether its output files are made."""
    _ok: list[int] = field(default_factory=list, init=False, repr=False)
    _prompt: list[int] = field(default_factory=list, init=False, repr=False)
    _completion: list[int] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.index()

    def index(self) -> None:
        """Running sums over the decided lines (answered 2xx, tokens), so that a poll costs
        the same however long the batch."""
        self._ok = [0, *itertools.accumulate(int(line.ok) for line in self.lines)]
        self._prompt = [0, *itertools.accumulate(line.prompt for line in self.lines)]
        self._completion = [0, *itertools.accumulate(line.completion for line in self.lines)]

    def elapsed(self, now: float) -> float:
        """Scenario seconds since creation, at ``now`` on the engine's clock."""
        return (now - self.started) / self.scale

    def events(self) -> list[tuple[str, float]]:
        """Each status and the scenario second it starts at."""
        s = self.spec
        v, p, f = s.validating, s.in_progress, s.finalizing
        if self.errors:
            return [("validating", 0.0), ("failed", v)]
        out = [("validating", 0.0), ("in_progress", v)]
        if s.outcome == "completed":
            out += [("finalizing", v + p), ("completed", v + p + f)]
        elif s.outcome == "expired":
            out += [("expired", v + p)]
        else:
            out += [("cancelling", v + p), ("cancelled", v + p + f)]
        c = self.cancel_at
        if c is not None:
            out = [e for e in out[:2] if e[1] <= c] + [("cancelling", c), ("cancelled", c + f)]
        return out

    def status(self, t: float) -> str:
        """The status ``t`` scenario seconds after creation."""
        return [name for name, at in self.events() if at <= t][-1]

    def done(self, t: float) -> int:
        """Lines answered by ``t``: spread evenly over in_progress, up to the decided ones."""
        s = self.spec
        v, p = s.validating, s.in_progress
        if self.errors or t < v:
            return 0
        stop = v + p if self.cancel_at is None else min(self.cancel_at, v + p)
        span = min(t, stop) - v
        if span <= 0:  # cancelled while validating
            return 0
        n = len(self.custom_ids)
        answered = n if p <= 0 or span >= p else int(span * n / p)
        return min(len(self.lines), answered)

    def object(self, t: float) -> dict[str, Any]:
        """The batch object ``t`` scenario seconds after creation."""
        reached = {name: at for name, at in self.events() if at <= t}
        status = self.status(t)
        total = completed = failed = 0
        if status not in ("validating", "failed"):
            total = len(self.custom_ids)
            done = self.done(t)
            completed = self._ok[done]
            failed = done - completed + (total - done if status in _TERMINAL else 0)
        answered = self.done(t)
        prompt, completion = self._prompt[answered], self._completion[answered]

        def at(name: str) -> int | None:
            return None if name not in reached else self.created_at + int(reached[name])

        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if status == "failed" else None,
            "input_file_id": self.input_file_id, "completion_window": "24h",
            "status": status, "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id, "created_at": self.created_at,
            "in_progress_at": at("in_progress"), "expires_at": self.created_at + _DAY,
            "finalizing_at": at("finalizing"), "completed_at": at("completed"),
            "failed_at": at("failed"), "expired_at": at("expired"),
            "cancelling_at": at("cancelling"), "cancelled_at": at("cancelled"),
            "request_counts": {"total": total, "completed": completed, "failed": failed},
            "metadata": self.metadata, "model": self.model,
            "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": completion,
                      "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": prompt + completion},
        }


def advance(engine: Engine, state: TenantState, store: Store) -> float:
    """Make the output and error files of every batch that has ended by now, and return that
    now (the engine's clock): a request reads the clock once, so a batch it reports ended
    always has its files."""
    now = engine.clock()
    for job in store.batches.values():
        if job.ended:
            continue
        t = job.elapsed(now)
        status = job.status(t)
        if status not in _TERMINAL:
            continue
        job.ended = True
        if status == "failed":
            continue
        done = job.done(math.inf)
        good = [line.record for line in job.lines[:done] if line.ok]
        bad = [line.record for line in job.lines[:done] if not line.ok]
        if status in _UNRUN:
            code, message = _UNRUN[status]
            bad += [orjson.dumps({"id": job.request_ids[i], "custom_id": job.custom_ids[i],
                                  "response": None,
                                  "error": {"code": code, "message": message}})
                    for i in range(done, len(job.custom_ids))]
        ended_at = job.created_at + int(dict(job.events())[status])
        sc = state.scenario
        if good:
            job.output_file_id = store.add(sc, f"batch_{job.id}_output.jsonl", "batch_output",
                                           b"\n".join(good) + b"\n", ended_at).id
        if bad:
            job.error_file_id = store.add(sc, f"batch_{job.id}_error.jsonl", "batch_output",
                                          b"\n".join(bad) + b"\n", ended_at).id
    return now


# --- validation ------------------------------------------------------------------------------

def _error(code: str, message: str, line: int | None, param: str | None = None
           ) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def validate(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The input file's requests (with their line numbers), and what is wrong with it."""
    errors: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            errors.append(_error("invalid_json_line", "This line is not parseable as valid "
                                 "JSON.", number))
            continue
        missing = [key for key in ("custom_id", "method", "url", "body") if key not in obj]
        for key in missing:
            errors.append(_error("missing_required_parameter",
                                 f"Missing required parameter: '{key}'.", number, key))
        if missing:
            continue
        custom_id, method, url, body = obj["custom_id"], obj["method"], obj["url"], obj["body"]
        if not isinstance(custom_id, str) or not isinstance(body, dict):
            key = "custom_id" if not isinstance(custom_id, str) else "body"
            want = "a string" if key == "custom_id" else "an object"
            errors.append(_error("invalid_type", f"Invalid type for '{key}': expected {want}.",
                                 number, key))
            continue
        if method != "POST":
            errors.append(_error("invalid_method", f"Invalid value for 'method': {method!r}. "
                                 "Only 'POST' is supported.", number, "method"))
        if url != endpoint:
            errors.append(_error("invalid_url", f"The URL {url!r} of this request does not "
                                 f"match the batch's endpoint {endpoint!r}.", number, "url"))
        if custom_id in seen:
            errors.append(_error("duplicate_custom_id", "The custom_id for this request is a "
                                 "duplicate of another request. The custom_id parameter must "
                                 "be unique for each request in a batch.", number, "custom_id"))
        seen.add(custom_id)
        line_model = body.get("model")
        if isinstance(line_model, str):
            if model is not None and line_model != model:
                errors.append(_error("mismatched_model", f"The provided model {line_model!r} "
                                     f"does not match the model {model!r} of the batch's other "
                                     "requests; a batch may use one model only.", number,
                                     "body.model"))
            model = model or line_model
        entries.append(obj)
    if not entries and not errors:
        errors.append(_error("empty_file", "The batch input file is empty.", None))
    if len(entries) > MAX_LINES:
        errors.append(_error("too_many_requests", f"The batch input file has {len(entries)} "
                             f"requests; a batch may hold at most {MAX_LINES}.", None))
    return entries, errors[:_MAX_ERRORS]


# --- deciding lines --------------------------------------------------------------------------

def _route(url: str, headers: Mapping[str, str]) -> Any:
    global _router
    if _router is None:
        from llmfake.providers import REGISTRY
        from llmfake.providers._router import Router

        _router = Router(REGISTRY)
    return _router.find("POST", url, headers)


def _decide(engine: Engine, state: TenantState, inc: Incoming, url: str, body: dict[str, Any],
            request_id: str) -> tuple[int, Any, Plan | None]:
    """The status and JSON body ``body`` gets as a request to ``url``, and its plan."""
    route, provider, params = _route(url, inc.headers)
    line = Incoming("POST", url, params, {}, inc.headers, body, inc.tenant)
    try:
        if body.get("stream"):
            raise InvalidRequest("Streaming is not supported in the Batch API.",
                                 param="stream")
        call = route.parse(line)
    except InvalidRequest as exc:
        rendered = provider.invalid(exc, request_id)
        return rendered.status, orjson.loads(rendered.body), None
    ask, prompt = engine.ask(state, call)
    ask.limited = False  # the Batch API queues apart from the per-minute limits
    plan = engine.decide(call, ("POST", url), (reserve_local(state, ask, None, call), ask,
                                               prompt))
    if plan.recorded is not None:
        return plan.recorded.response.status, plan.recorded.response.json, plan
    error = plan.error or (ErrorSpec("server_error") if plan.fault is not None else None)
    rendered = (provider.error(error, plan.request_id, call) if error is not None
                else route.render(plan))
    return rendered.status, orjson.loads(rendered.body), plan


def _lines(engine: Engine, state: TenantState, inc: Incoming, entries: Sequence[dict[str, Any]],
           request_ids: list[str], count: int) -> list[Line]:
    rng = random.Random(f"{state.scenario.seed}:{request_ids[0] if request_ids else ''}:req")
    out = []
    for i, entry in enumerate(entries[:count]):
        fallback = f"req_{rng.getrandbits(128):032x}"
        status, body, plan = _decide(engine, state, inc, entry["url"], entry["body"], fallback)
        record = {"id": request_ids[i], "custom_id": entry["custom_id"],
                  "response": {"status_code": status,
                               "request_id": plan.request_id if plan else fallback,
                               "body": body},
                  "error": None}
        usage = plan.usage if plan is not None else None
        out.append(Line(200 <= status < 300, orjson.dumps(record),
                        usage.prompt_tokens if usage else 0,
                        usage.completion_tokens if usage else 0))
    return out


# --- handlers --------------------------------------------------------------------------------

def _required(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{key}'.", param=key,
                             code="missing_required_parameter")
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid type for '{key}': expected a string.", param=key,
                             code="invalid_type")
    return value


@resource
def create(inc: Incoming, engine: Engine, state: TenantState, store: Store,
           request_id: str) -> Rendered:
    """``POST /v1/batches``."""
    advance(engine, state, store)
    body = body_object(inc)
    file_id = _required(body, "input_file_id")
    endpoint = _required(body, "endpoint")
    window = _required(body, "completion_window")
    metadata = body.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(v, str) for v in metadata.values())):
        raise InvalidRequest("Invalid type for 'metadata': expected an object of strings.",
                             param="metadata", code="invalid_type")
    if window != "24h":
        raise InvalidRequest(f"Invalid value for 'completion_window': {window!r}. Supported "
                             "values are: '24h'.", param="completion_window",
                             code="invalid_value")
    if endpoint not in ENDPOINTS:
        raise InvalidRequest(f"Invalid value for 'endpoint': {endpoint!r}. llmfake's batches "
                             "serve: " + ", ".join(repr(e) for e in ENDPOINTS) + ".",
                             param="endpoint", code="invalid_value")
    stored = store.files.get(file_id)
    if stored is None:
        raise not_found("File", file_id, "input_file_id")
    if stored.purpose != "batch":
        raise InvalidRequest(f"The input file must be uploaded with purpose 'batch', not "
                             f"{stored.purpose!r}.", param="input_file_id")
    sc = state.scenario
    spec = sc.batch
    entries, errors = validate(stored.data, endpoint)
    if not errors and spec.outcome == "failed":
        model = entries[0]["body"].get("model", "gpt-4o")
        errors = [_error("token_limit_exceeded", f"Enqueued token limit reached for {model} in "
                         "organization org-llmfake. Limit: 90,000 enqueued tokens. Please try "
                         "again once some in_progress batches have been completed.", None)]
    job_id = store.new_id(sc, "batch")
    rng = random.Random(f"{sc.seed}:{job_id}:lines")
    request_ids = [f"batch_req_{rng.getrandbits(128):032x}" for _ in entries]
    models = [e["body"].get("model") for e in entries]
    job = Job(job_id, file_id, endpoint, now(sc), engine.clock(), spec, sc.time_scale,
              [e["custom_id"] for e in entries] if not errors else [], request_ids, errors,
              metadata=metadata, model=next((m for m in models if isinstance(m, str)), None))
    if not errors:
        count = len(entries) if spec.outcome == "completed" else int(len(entries) *
                                                                        spec.progress)
        job.lines = _lines(engine, state, inc, entries, request_ids, count)
        job.index()
    store.batches[job.id] = job
    return json_response(job.object(0.0), request_id)


def _job(store: Store, inc: Incoming) -> Job:
    ident = inc.params.get("batch_id", "")
    job = store.batches.get(ident)
    if not isinstance(job, Job):
        raise not_found("Batch", ident, "batch_id")
    return job


@resource
def retrieve(inc: Incoming, engine: Engine, state: TenantState, store: Store,
             request_id: str) -> Rendered:
    """``GET /v1/batches/{batch_id}``."""
    now = advance(engine, state, store)
    job = _job(store, inc)
    return json_response(job.object(job.elapsed(now)), request_id)


@resource
def listing(inc: Incoming, engine: Engine, state: TenantState, store: Store,
            request_id: str) -> Rendered:
    """``GET /v1/batches``: newest first."""
    now = advance(engine, state, store)
    jobs = [job.object(job.elapsed(now)) for job in reversed(store.batches.values())]
    return json_response(page(jobs, inc.query, default=20, most=100, what="Batch"), request_id)


@resource
def cancel(inc: Incoming, engine: Engine, state: TenantState, store: Store,
           request_id: str) -> Rendered:
    """``POST /v1/batches/{batch_id}/cancel``."""
    now = advance(engine, state, store)
    job = _job(store, inc)
    t = job.elapsed(now)
    status = job.status(t)
    if status in ("validating", "in_progress"):
        job.cancel_at = t
    elif status not in ("cancelling", "cancelled"):
        raise InvalidRequest(f"Cannot cancel a batch with status '{status}'.",
                             code="batch_not_cancellable")
    return json_response(job.object(t), request_id)


ROUTES = routes([
    ("POST", "/batches", "batches", create),
    ("GET", "/batches", "batches", listing),
    ("GET", "/batches/{batch_id}", "batches", retrieve),
    ("POST", "/batches/{batch_id}/cancel", "batches", cancel),
])
"""The Batch API's routes."""

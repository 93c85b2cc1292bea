"""What providers share: the request they parse, the response they render, their errors, and
``ProviderSpec``, everything the rest of llmfake knows about one provider."""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, overload

from llmfake.engine._call import Call
from llmfake.engine._plan import Choice, Plan
from llmfake.engine._schema_check import SchemaError, check_schema
from llmfake.scenario._model import Auth, ErrorSpec

if TYPE_CHECKING:
    from llmfake.engine._compiled import PlainReply
    from llmfake.engine._engine import Engine

_orjson: Any
try:  # a C encoder with indentation (pretty() is otherwise the stdlib's pure-Python encoder,
    import orjson  # ~60 us per chat body); a dependency, but the stdlib path stays correct

    _orjson = orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _orjson = None


@dataclass(slots=True)
class Incoming:
    """The parts of an HTTP request a provider reads (no I/O objects: parsing stays pure)."""

    method: str
    """HTTP method."""
    path: str
    """The path without the tenant prefix."""
    params: Mapping[str, str]
    """Path parameters (``model``, ``deployment``...)."""
    query: Mapping[str, str]
    """Query parameters."""
    headers: Mapping[str, str]
    """Headers, names lower-cased."""
    body: Any
    """The parsed JSON body (None for an empty body)."""
    tenant: str = "default"
    """The tenant."""
    raw: bytes = b""
    """The body as received (a multipart upload is not JSON)."""


@dataclass(slots=True)
class Event:
    """One piece of a streamed body."""

    data: bytes
    """The bytes, framing included (``data: ...\\n\\n``)."""
    due: int = 0
    """The token whose deadline it waits for (0: the first token, at the ttft)."""
    chunk: bool = True
    """Whether it carries content (a token, a tool-call fragment) and so counts for
    ``after_chunks`` faults; framing (a role delta, message_start, pings, the finish) does not."""


@dataclass(slots=True)
class Rendered:
    """A response ready for the wire: a body, or a list of stream events."""

    status: int
    """HTTP status."""
    headers: Mapping[str, str]
    """Response headers (content-type included)."""
    body: bytes = b""
    """The body of a non-streamed response."""
    events: Sequence[Event] | None = None
    """The events of a streamed response (a tuple, or ``LazyEvents`` rendered as sent)."""
    tokens: int = 0
    """How many tokens the body stands for: a non-streamed body is due when the last is."""
    text: str | None = None
    """The reply's text, for the journal."""
    head: bytes | None = None
    """``headers`` as their header block (``head_block``), when the rendering wrote it already
    (a compiled route's answers: a template filled, where joining the headers costs more)."""


class InvalidRequest(Exception):
    """A request the provider rejects; rendered in the provider's error shape."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None,
                 code: str | None = None, kind: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Route:
    """An endpoint of a provider."""

    method: str
    """HTTP method."""
    pattern: str
    """The path, with ``{name}`` for a parameter (``/v1/models/{model}``)."""
    provider: str
    """The provider it belongs to."""
    endpoint: str
    """The neutral endpoint name."""
    parse: Callable[[Incoming], Call]
    """Request to ``Call``; raises ``InvalidRequest``."""
    render: Callable[[Plan], Rendered]
    """``Plan`` to response (when the plan holds no error)."""
    accepts: Callable[[Mapping[str, str]], bool] | None = None
    """When two providers share a path (``GET /v1/models``), the route whose ``accepts`` takes
    the request's headers wins; routes with ``accepts`` are tried before those without."""
    handler: Callable[[Incoming, Engine, str], Rendered] | None = None
    """A stateful resource (OpenAI files and batches) answers the request itself, given the
    engine and a request id, instead of ``parse``, ``engine.decide`` and ``render``."""
    plain: Callable[[PlainReply], PlainRoute | None] | None = None
    """Compiles a scenario's plain reply (``engine._compiled``) into this route's answer to
    a plain request, written beforehand (None: the route cannot, or not for that reply)."""


class PlainRoute(Protocol):
    """A route's answer to plain requests, compiled from one scenario's plain reply."""

    def shape(self, body: Any) -> tuple[str, bytes, int, bool] | None:
        """The model (as sent, and as JSON), prompt tokens and whether a stream is asked for,
        of a request whose parsed body is ``body``, when the request is plain (its reply is the
        plain one and ``parse`` takes it as it is); None sends it the general way."""

    def render(self, uid: str, request_id: str, created: int, model: bytes, prompt: int,
               choice: Choice, due: float) -> Rendered:
        """The response to a plain request that is not a stream (``due``: seconds after
        arrival its body is due)."""


def _no_claim(path: str, headers: Mapping[str, str]) -> int:
    return 0


def _all_content(payload: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider: everything the rest of llmfake knows about it. Each provider module builds
    one (``PROVIDER``) and ``llmfake.providers.REGISTRY`` lists them; the server, the
    recording proxy, the pytest plugin and ``intercept`` derive what they need from it."""

    name: str
    """The provider's name (``Call.provider``, the scenario's ``match: {provider: ...}``)."""
    routes: tuple[Route, ...]
    """Its endpoints."""
    error: Callable[[ErrorSpec, str, Call | None], Rendered]
    """Render an error (spec, request id, call when parsed)."""
    invalid: Callable[[InvalidRequest, str], Rendered]
    """Render a rejected request (error, request id)."""
    stream_error: Callable[[ErrorSpec, Plan], bytes]
    """The bytes of an error event inside a stream."""
    headers: Callable[[Plan], dict[str, str]] = field(default=lambda plan: {})
    """Headers every response of a decided plan carries, errors included (rate limits)."""
    claim: Callable[[str, Mapping[str, str]], int] = _no_claim
    """How surely a path no route serves (and the request's lower-cased headers) belongs to
    this provider's clients, so its 404, and the recording proxy's choice of upstream, follow
    that provider: 0 not at all; the highest claim wins, ties going to the provider listed
    first. The ranks in use: 4 a path prefix only it serves (Ollama ``/api/``, Azure
    ``/openai/``), 3 Gemini (``/v1beta/``, a ``:method`` path, ``x-goog-api-key``), 2 Anthropic
    (``/v1/messages``, ``anthropic-version``), 1 OpenAI (any path: the shape most clients
    speak)."""
    is_content: Callable[[Mapping[str, Any]], bool] = _all_content
    """Whether a recorded stream event's JSON object carries content (text, a tool-call
    fragment) rather than framing (a role delta, a ping, usage): replay counts only content
    events for a fault's ``after_chunks``."""
    base_path: str = ""
    """What the official SDK's base URL adds to the server's root (OpenAI's ``/v1``)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables that point the official SDK at a fake, with dummy keys; ``{url}``
    in a value stands for the SDK's base URL (root plus ``base_path``)."""
    key_variables: tuple[str, ...] = ()
    """Variables a recording test keeps from the real environment (real keys reach the real
    API; the cassette gets them redacted), rather than the fake's dummies."""
    upstream: str | None = None
    """The real API's root URL, where recording sends this provider's requests."""
    upstream_variable: str | None = None
    """An environment variable naming the upstream instead, when it is set (Azure's endpoint is
    per resource: ``AZURE_OPENAI_ENDPOINT``)."""
    hosts: tuple[str, ...] = ()
    """The real API's hosts, which ``llmfake.intercept`` routes to the fake (``*.`` matches any
    subdomain)."""
    verify: Callable[[str, str, str, Mapping[str, str], bytes, Auth], InvalidRequest | None
                     ] | None = None
    """Checks a request's signature before it is parsed, where the scenario's ``auth`` asks
    (Bedrock: SigV4 with ``auth.aws``): (method, path as sent, raw query, headers, raw body,
    auth) to the refusal, rendered by ``invalid``, or None to go on."""


class LazyEvents(Sequence[Event]):
    """Stream events whose bytes are rendered only when the wire reaches them.

    Rendering all of a stream's events before its first write kept the server's loop busy
    ~0.2 ms per request, which a burst of concurrent streams paid for in first-byte lateness.
    Event ``i`` is ``dues[i]``, ``chunks[i]`` and ``specs[i]``, kept as three lists (the pacer
    reads the first two whole, and a stream's content specs can be its tokens as they are);
    ``render(spec)`` gives an event's bytes (pure, so rendering late gives the same bytes as
    rendering early) and ``render_run(specs)`` those of several, joined.
    """

    __slots__ = ("_chunks", "_dues", "_render", "_render_run", "_specs")

    def __init__(self, dues: Sequence[int], chunks: Sequence[bool], specs: Sequence[Any],
                 render: Callable[[Any], bytes],
                 render_run: Callable[[Sequence[Any]], bytes] | None = None) -> None:
        self._dues = dues
        self._chunks = chunks
        self._specs = specs
        self._render = render
        self._render_run = render_run

    def __len__(self) -> int:
        return len(self._specs)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        return Event(self._render(self._specs[index]), self._dues[index], self._chunks[index])

    def __iter__(self) -> Iterator[Event]:
        render = self._render
        for spec, due, chunk in zip(self._specs, self._dues, self._chunks, strict=True):
            yield Event(render(spec), due, chunk)

    def meta(self, index: int) -> tuple[int, bool]:
        """``(due, chunk)`` of event ``index``, without rendering it."""
        return self._dues[index], self._chunks[index]

    def data(self, index: int) -> bytes:
        """The bytes of event ``index``."""
        return self._render(self._specs[index])

    def data_range(self, start: int, stop: int) -> list[bytes]:
        """The bytes of events ``start`` to ``stop - 1``."""
        render = self._render
        return [render(spec) for spec in self._specs[start:stop]]

    def payload(self, start: int, stop: int) -> bytes:
        """The bytes of events ``start`` to ``stop - 1``, joined (``render_run`` renders them
        in one go where the provider gives one)."""
        if self._render_run is not None:
            return self._render_run(self._specs[start:stop])
        return b"".join(self.data_range(start, stop))

    def schedule(self) -> tuple[Sequence[int], Sequence[bool]]:
        """Every event's ``due`` and ``chunk``, rendering nothing (the sequences themselves:
        read them, do not change them)."""
        return self._dues, self._chunks


json_str: Callable[[str], str] = json.encoder.encode_basestring
"""A str as JSON with ``ensure_ascii=False``: what ``dumps`` writes for it, in C."""


def join_run(specs: Sequence[Any], before: str, after: str, render: Callable[[Any], str]
             ) -> bytes:
    """A run of stream events in one join and one encode (a ``LazyEvents``' ``render_run``):
    a str spec is a content token, its JSON string between ``before`` and ``after``; any other
    spec is ``render(spec)``."""
    parts: list[str] = []
    for spec in specs:
        if type(spec) is str:
            parts += (before, json_str(spec), after)
        else:
            parts.append(render(spec))
    return "".join(parts).encode()


def event_meta(events: Sequence[Event], index: int) -> tuple[int, bool]:
    """``(due, chunk)`` of ``events[index]``, rendering nothing when the events are lazy."""
    if isinstance(events, LazyEvents):
        return events.meta(index)
    event = events[index]
    return event.due, event.chunk


def strike_index(events: Sequence[Event], after_chunks: int | None) -> int:
    """The index of the event a stream fault strikes before: once ``after_chunks`` content
    chunks are out (half of them when None), or at the end when there are not that many."""
    flags = [event_meta(events, i)[1] for i in range(len(events))]
    total = sum(flags)
    strike = total // 2 if after_chunks is None else after_chunks
    sent = 0
    for index, chunk in enumerate(flags):
        if sent >= strike:
            return index
        if chunk:
            sent += 1
    return len(events)


def check_call_schemas(call: Call, response: Callable[[str], InvalidRequest],
                       tool: Callable[[str, str], InvalidRequest]) -> Call:
    """``call``, once its response schema and each tool's parameter schema pass
    ``check_schema`` (the fake generates from them: a malformed one, or one asking for more
    than a model could answer, must cost a 400, not the loop's time or a 500). Otherwise the
    provider's own error: ``response(problem)``, or ``tool(name, problem)``."""
    try:
        if call.response_schema is not None:
            check_schema(call.response_schema)
    except SchemaError as exc:
        raise response(str(exc)) from None
    for spec in call.tools:
        if spec.parameters is not None:
            try:
                check_schema(spec.parameters)
            except SchemaError as exc:
                raise tool(spec.name, str(exc)) from None
    return call


_PLAIN_LEAVES = (str, int, type(None))


def _orjson_safe(value: object, depth: int = 0) -> bool:
    """Whether orjson writes ``value`` byte for byte as the stdlib does: dicts with str keys,
    lists, tuples, str, bool, None and ints within 64 bits. Floats are out (orjson writes
    ``1e-5`` as ``0.00001`` and ``2.5e-07`` as ``2.5e-7``), and so is anything else."""
    if depth > 64:
        return False
    t = type(value)
    if t is str or value is None or t is bool:
        return True
    if t is int:
        return -(1 << 63) <= value < (1 << 64)  # type: ignore[operator]
    if t is dict:
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if not _orjson_safe(v, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        return all(_orjson_safe(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    return False


class Template:
    """A ``pretty`` body with slots, written once: filling it costs a join, not an encoding.

    Made from a skeleton whose slot values are the strings ``"@@name@@"``; ``fill`` takes each
    slot's JSON (bytes) in the order the slots appear and gives what ``pretty`` would write for
    the skeleton with those values in place (``compact``: what ``dumps`` would write, encoded).
    """

    __slots__ = ("_format",)

    def __init__(self, skeleton: object, *, compact: bool = False) -> None:
        written = dumps(skeleton).encode() if compact else pretty(skeleton)
        parts = re.split(rb'"@@(\w+)@@"', written)
        self._format = b"%b".join(p.replace(b"%", b"%%") for p in parts[0::2])

    def fill(self, *values: bytes) -> bytes:
        """The body with ``values`` (JSON, in slot order) in the slots."""
        return self._format % values


def json_bytes(value: str | int) -> bytes:
    """A string or integer as ``pretty`` and ``dumps`` write it; raises TypeError or ValueError
    for a lone surrogate, which they refuse too (their caller's ``encode`` does)."""
    if _orjson is not None:
        return _orjson.dumps(value)  # type: ignore[no-any-return]
    return json.dumps(value, ensure_ascii=False).encode()


def json_ints(values: list[int]) -> bytes:
    """A list of integers within 64 bits as ``dumps`` writes it, encoded (orjson skips the
    walk ``dumps`` makes to check that it may write the value)."""
    if _orjson is not None:
        return _orjson.dumps(values)  # type: ignore[no-any-return]
    return json.dumps(values, separators=(",", ":")).encode()


def dumps(value: object) -> str:
    """Compact JSON, as the providers' stream chunks use: the stdlib's bytes (orjson writes
    them where it writes what the stdlib does, see ``pretty``)."""
    if _orjson is not None and _orjson_safe(value):
        try:
            return _orjson.dumps(value).decode()  # type: ignore[no-any-return]
        except (TypeError, ValueError):
            pass
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def pretty(value: object, *, no_floats: bool = False) -> bytes:
    """Indented JSON, as OpenAI's non-streamed bodies are.

    With orjson importable (a dependency) and a value it writes exactly as the stdlib does
    (see ``_orjson_safe``), orjson writes it: ~1 us instead of ~60 us for a chat completion,
    the same bytes. Anything else (floats, odd keys, lone surrogates) takes the stdlib.
    ``no_floats``: the caller vouches that ``value`` holds no float, which skips the walk that
    checks it (~7 us); orjson itself rejects non-str keys and oversized ints, and those fall
    back to the stdlib too.
    """
    if _orjson is not None and (no_floats or _orjson_safe(value)):
        try:
            return bytes(_orjson.dumps(value, option=_orjson.OPT_INDENT_2))
        except (TypeError, ValueError):  # e.g. a lone surrogate, which the stdlib rejects too
            pass
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")


# --- wrong-typed fields ------------------------------------------------------------------------

_KINDS: dict[str, type | tuple[type, ...]] = {
    "boolean": bool, "integer": int, "number": (int, float), "string": str, "array": list,
    "object": Mapping, "string|object": (str, Mapping), "string|array": (str, list),
    "array|object": (list, Mapping),
}


def wrong_type(body: Mapping[str, Any], fields: Mapping[str, str]) -> tuple[str, str] | None:
    """The first field of ``body`` whose value is not of the JSON kind ``fields`` gives it
    (``"boolean"``, ``"integer"``, ``"number"``, ``"string"``, ``"array"``, ``"object"``, or
    two joined by ``|``), as ``(field, kind)``; None when all fit. Absent and null fields fit.

    Each provider's API rejects such a request with a 400 naming the field (``"stream":
    "true"`` would otherwise be answered unstreamed). The walk is over the body's own keys, a
    dict lookup and an ``isinstance`` each: it runs on every request.
    """
    for key, value in body.items():
        kind = fields.get(key)
        if kind is None or value is None:
            continue
        expected = _KINDS[kind]
        if isinstance(value, bool):
            if kind != "boolean":
                return key, kind
        elif kind == "boolean" or not isinstance(value, expected):
            return key, kind
    return None

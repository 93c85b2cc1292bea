"""The scenario model: frozen dataclasses, each field documented where it is defined.

A scenario is the only input that says *what* the fake does; ``_load`` builds these objects from
YAML, JSON or dicts and is the one place that validates them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ENDPOINTS = ("chat", "responses", "completions", "embeddings", "models", "count_tokens")
"""Endpoint names a rule can match. Anthropic messages, Gemini generateContent and Ollama chat
count as ``chat``; Ollama generate counts as ``completions``; Anthropic count_tokens and Gemini
countTokens as ``count_tokens``."""

PROVIDERS = ("openai", "azure", "anthropic", "gemini", "ollama")
"""Provider names a rule can match."""

ERROR_STATUS: Mapping[str, int] = {
    "bad_request": 400,
    "context_length": 400,
    "auth": 401,
    "permission": 403,
    "not_found": 404,
    "conflict": 409,
    "timeout": 504,
    "request_too_large": 413,
    "rate_limit": 429,
    "quota": 429,
    "server_error": 500,
    "bad_gateway": 502,
    "unavailable": 503,
    "overloaded": 529,
}
"""Error names and their provider-neutral status; each provider may render its own status."""

STATUS_ERROR: Mapping[int, str] = {
    400: "bad_request",
    401: "auth",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "conflict",
    413: "request_too_large",
    429: "rate_limit",
    500: "server_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}
"""The error name a bare status stands for; other statuses keep the closest class."""

FAULTS = (
    "reset",
    "hang",
    "empty",
    "disconnect",
    "stall",
    "error_event",
    "malformed",
    "truncate",
    "slow_headers",
)
"""Transport-level faults."""

Then = Literal["last", "cycle", "default"]

JITTER_DISTRIBUTIONS = ("uniform", "normal", "lognormal")
"""How latency jitter can be drawn."""

LIMIT_SCOPES = ("tenant", "api_key", "model", "global")
"""What rate limits are counted per: the tenant, each API key, each model, or the whole server."""


@dataclass(frozen=True)
class Latency:
    """When the bytes of a response leave the server."""

    ttft: float = 0.0
    """Seconds from the request's arrival to the first token (the response headers go first)."""
    per_token: float = 0.0
    """Seconds between two streamed tokens; a non-streamed body waits for all of them."""
    jitter: float = 0.0
    """Relative spread of every delay, 0.1 for +-10%, drawn from the scenario's seed."""
    distribution: str = "uniform"
    """How jitter is drawn: ``uniform`` (within +-jitter), ``normal`` (jitter is the standard
    deviation) or ``lognormal`` (jitter is sigma: a long tail of slow tokens)."""
    tokens_per_chunk: int = 1
    """Tokens a stream sends per chunk."""


@dataclass(frozen=True)
class Limits:
    """Provider-side limits; counted per tenant."""

    requests_per_minute: int | None = None
    """Requests a minute before 429 (None: unlimited)."""
    tokens_per_minute: int | None = None
    """Prompt plus completion tokens a minute before 429 (None: unlimited)."""
    max_concurrent: int | None = None
    """Requests in flight at once before 429 (None: unlimited)."""
    max_request_bytes: int = 32 * 1024 * 1024
    """A request body over this many bytes gets 413."""
    by: str = "tenant"
    """What the limits are counted per (``LIMIT_SCOPES``)."""
    quota_requests: int | None = None
    """Requests allowed in all before ``quota`` (429 insufficient_quota) for good."""
    quota_tokens: int | None = None
    """Tokens allowed in all before ``quota`` for good."""

    @property
    def active(self) -> bool:
        """Whether any counting limit is set (``max_request_bytes`` is always checked)."""
        return any(v is not None for v in (
            self.requests_per_minute, self.tokens_per_minute, self.max_concurrent,
            self.quota_requests, self.quota_tokens))


@dataclass(frozen=True)
class ToolCallSpec:
    """A tool call the fake model makes."""

    name: str
    """The function's name."""
    arguments: Mapping[str, Any] | str | None = None
    """The arguments: an object, a JSON string sent as is, or None to generate them from the
    tool's parameter schema in the request."""
    id: str | None = None
    """The call id; None draws a deterministic one."""


@dataclass(frozen=True)
class Generate:
    """Seeded generated text."""

    sentences: int | None = None
    """How many sentences (default: 1 to 3, drawn from the seed)."""
    words: int | None = None
    """Exactly this many words instead of sentences."""


@dataclass(frozen=True)
class Reply:
    """What the model answers. With nothing set, seeded generated text."""

    text: str | None = None
    """Fixed text."""
    echo: bool = False
    """Answer with the last user message."""
    generate: Generate | None = None
    """Seeded generated text."""
    tool_calls: tuple[ToolCallSpec, ...] = ()
    """Tool calls to make instead of (or after) text."""
    json: Any = None
    """A JSON value to answer with, serialised as the message content."""
    json_schema: Mapping[str, Any] | None = None
    """Generate JSON that validates against this schema (the request's own schema is used
    automatically when it asks for structured output)."""
    embedding_dimensions: int | None = None
    """Length of the vectors an embeddings request gets (default: the model's usual size)."""
    finish_reason: str | None = None
    """Override the finish reason: stop, length, tool_calls or content_filter."""


@dataclass(frozen=True)
class LimitHit:
    """Which rate limit a request went over (set by the limiter, not by scenarios)."""

    kind: str
    """``requests``, ``tokens``, ``concurrency`` or ``quota``."""
    limit: int
    """The limit (per minute, at once, or in all)."""
    requested: int = 1
    """What the request asked for (1 request, or its tokens)."""


@dataclass(frozen=True)
class ErrorSpec:
    """An HTTP error the provider answers with."""

    name: str
    """A name from ``ERROR_STATUS``, or ``status`` for a bare HTTP status."""
    status: int | None = None
    """The HTTP status; None lets the provider pick its own for ``name``."""
    message: str | None = None
    """The error message; None uses the provider's usual text."""
    retry_after: float | None = None
    """Seconds sent as ``retry-after`` (and ``retry-after-ms``)."""
    should_retry: bool | None = None
    """Sent as ``x-should-retry: true|false``, which the official SDKs obey over the status."""
    limit_hit: LimitHit | None = None
    """For errors the rate limiter makes: which limit, so providers can phrase it their way."""


@dataclass(frozen=True)
class FaultSpec:
    """A transport-level fault."""

    name: str
    """One of ``FAULTS``."""
    after_chunks: int | None = None
    """For stream faults: how many chunks go out before the fault strikes."""
    after_bytes: int | None = None
    """For ``truncate``: how many body bytes go out."""
    duration: float | None = None
    """For ``hang``, ``stall`` and ``slow_headers``: how long (None: until the client gives up)."""
    error: ErrorSpec | None = None
    """For ``error_event``: the error sent inside the stream."""


@dataclass(frozen=True)
class Step:
    """One outcome: a reply, an error or a fault, with optional extras."""

    reply: Reply | None = None
    """The reply (also the content a stream fault cuts short)."""
    error: ErrorSpec | None = None
    """An HTTP error instead of a reply."""
    fault: FaultSpec | None = None
    """A transport fault, struck while sending ``reply``."""
    latency: Latency | None = None
    """Latency for this outcome alone."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers (``x-should-retry: "false"``...)."""

    @property
    def empty(self) -> bool:
        """True when the step says nothing, so the rule's defaults apply."""
        return self.reply is None and self.error is None and self.fault is None


@dataclass(frozen=True)
class Chaos:
    """A random outcome drawn from the seed for each request the rule matches."""

    probability: float
    """Chance in [0, 1]."""
    step: Step
    """What happens when it strikes."""


@dataclass(frozen=True)
class Match:
    """Which requests a rule applies to; every given field must match."""

    endpoint: tuple[str, ...] = ()
    """Endpoint names (``ENDPOINTS``); empty matches any."""
    provider: tuple[str, ...] = ()
    """Provider names (``PROVIDERS``); empty matches any."""
    model: str | None = None
    """A glob on the model name (``gpt-4o*``)."""
    contains: str | None = None
    """A case-insensitive substring of the last user message."""
    header: Mapping[str, str] = field(default_factory=dict)
    """Header name to a glob its value must match."""
    stream: bool | None = None
    """Match only streamed (True) or only non-streamed (False) requests."""
    tool_result: bool | None = None
    """Match only requests that answer a tool call (True: a tool result comes after the last
    assistant message) or only those that do not (False)."""
    after: float | None = None
    """Match only from this many seconds after the scenario was put in force for the tenant
    (times the scenario's ``time_scale``)."""
    before: float | None = None
    """Match only until this many seconds after the scenario was put in force (exclusive,
    times ``time_scale``); later than ``after`` when both are given."""

    @property
    def timed(self) -> bool:
        """Whether the match depends on the time since the scenario was put in force."""
        return self.after is not None or self.before is not None


@dataclass(frozen=True)
class Rule:
    """A match, and what the requests it matches get."""

    match: Match
    """Which requests."""
    step: Step
    """The outcome for every request (when there is no script, or after it with then: last)."""
    script: tuple[Step, ...] = ()
    """The Nth request this rule matches gets the Nth step."""
    then: Then = "last"
    """After the script: repeat the last step, cycle, or fall through to the defaults."""
    chaos: tuple[Chaos, ...] = ()
    """Random outcomes that pre-empt the rule's own."""
    latency: Latency | None = None
    """Latency for the requests this rule matches."""
    name: str | None = None
    """A label shown in the journal and the log."""


@dataclass(frozen=True)
class Auth:
    """API-key checks."""

    required: bool = False
    """Answer 401 when a request carries no API key."""
    keys: tuple[str, ...] = ()
    """When not empty, answer 401 to any key not in this list."""


@dataclass(frozen=True)
class CassetteSpec:
    """A recorded session to replay: requests that no rule answers otherwise get the recorded
    response, at the recorded pace."""

    path: str
    """The cassette file (resolved against the scenario file's folder when relative)."""
    replay_speed: float = 1.0
    """1 replays at the recorded pace, 2 twice as fast, 0 with no delays at all."""
    strict: bool = True
    """An unmatched request gets a 500 (``x-should-retry: false``) naming the nearest recorded
    request and the body diff; False lets the scenario's own reply answer it instead."""
    ignore: tuple[str, ...] = ("metadata", "seed", "stream_options", "user")
    """Top-level request-body fields left out when matching requests to recordings."""
    cassette: Any = field(default=None, compare=False, repr=False)
    """The loaded ``llmfake.record.Cassette`` (read once, when the scenario is loaded)."""


@dataclass(frozen=True)
class Scenario:
    """Everything the fake does: the defaults, the rules, the limits."""

    name: str = "unnamed"
    """A label."""
    description: str = ""
    """What the scenario is for."""
    seed: int = 0
    """Every random draw (jitter, chaos, generated text, ids) follows from it."""
    freeze_time: float | None = None
    """When set, ``created`` timestamps are this epoch second, so bodies are byte-identical."""
    time_scale: float = 1.0
    """Multiplies every configured delay, Retry-After and rate-limit window (0.01 for fast CI
    runs of a slow scenario)."""
    latency: Latency = field(default_factory=Latency)
    """Default latency."""
    limits: Limits = field(default_factory=Limits)
    """Rate and concurrency limits."""
    reply: Reply = field(default_factory=Reply)
    """The reply for requests no rule decides."""
    rules: tuple[Rule, ...] = ()
    """First match wins."""
    chaos: tuple[Chaos, ...] = ()
    """Random outcomes for every request, drawn before the rules."""
    auth: Auth = field(default_factory=Auth)
    """API-key checks."""
    models: tuple[str, ...] = ()
    """Model ids ``/v1/models`` lists; when set, other ids get 404 there."""
    strict: bool = False
    """Every request must be decided by a rule: the pytest plugin fails a test whose client sent
    one that only the defaults answered."""
    cassette: CassetteSpec | None = None
    """A recorded session replayed for the requests no rule answers otherwise."""

    @functools.cached_property
    def paced(self) -> bool:
        """Whether any response of this scenario is due later than its request's arrival (a
        latency anywhere, or a cassette replayed at its pace): the server then takes requests
        in one per loop iteration, so that every arrival is stamped on time (``_intake``)."""
        steps = [rule.step for rule in self.rules]
        steps += [step for rule in self.rules for step in rule.script]
        steps += [c.step for c in self.chaos]
        steps += [c.step for rule in self.rules for c in rule.chaos]
        latencies = [self.latency, *(r.latency for r in self.rules),
                     *(s.latency for s in steps)]
        if any(lat is not None and (lat.ttft > 0 or lat.per_token > 0) for lat in latencies):
            return True
        return self.cassette is not None and self.cassette.replay_speed > 0
    source: str = field(default="<dict>", compare=False)
    """Where the scenario came from (a path, a built-in name or ``<dict>``)."""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The document it was loaded from, as given (for the control API's GET)."""

"""The scenario as the engine reads it: frozen dataclasses, and the names the format knows.

``_format`` declares the document users write (YAML, JSON or dicts) and compiles a valid one into
these objects, whose shape suits the engine rather than the writer: a step's flat keys become an
``ErrorSpec`` or a ``FaultSpec``, durations are seconds, defaults are filled in. They are plain
frozen dataclasses so that the engine's reads per request cost an attribute lookup, and
``dataclasses.replace`` derives one from another (a seed override, a script rule added) without
validating again. Field meanings are documented once, on the document's keys in ``_format``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from llmfake.engine._match import Matcher

ENDPOINTS = ("chat", "responses", "completions", "embeddings", "models", "count_tokens")
"""Endpoint names a rule can match. Anthropic messages, Gemini generateContent and Ollama chat
count as ``chat``; Ollama generate counts as ``completions``; Anthropic count_tokens, Gemini
countTokens and Bedrock CountTokens as ``count_tokens``."""

PROVIDER_NAMES = ("openai", "azure", "anthropic", "gemini", "ollama", "bedrock",
                  "vertex")
"""Provider names a rule can match (``llmfake.providers.PROVIDERS`` holds the providers)."""

_ERRORS = {
    "bad_request": (400, "the request is invalid."),
    "context_length": (400, "the prompt is over the model's context length."),
    "auth": (401, "missing or wrong API key."),
    "permission": (403, "the key may not use this resource."),
    "not_found": (404, "no such model."),
    "conflict": (409, "a conflicting request is in progress."),
    "timeout": (504, "the provider timed out."),
    "request_too_large": (413, "the request body is too large."),
    "rate_limit": (429, "rate limit reached; retry after a while."),
    "quota": (429, "quota or credit used up; retrying does not help."),
    "server_error": (500, "internal server error."),
    "bad_gateway": (502, "bad gateway between the provider's front end and the model."),
    "unavailable": (503, "the service is unavailable."),
    "overloaded": (529, "the provider is overloaded (OpenAI sends 503)."),
}

ERROR_NAMES: Mapping[str, str] = {n: f"{status}: {text}" for n, (status, text) in _ERRORS.items()}
"""Error names a step can answer with, and what each stands for."""

ERROR_STATUS: Mapping[str, int] = {name: status for name, (status, _) in _ERRORS.items()}
"""Each error name's provider-neutral status; each provider may render its own status."""

STATUS_ERROR: Mapping[int, str] = {
    408: "timeout", **{status: name for name, status in reversed(list(ERROR_STATUS.items()))}}
"""The error name a bare status stands for (the first name with that status); other statuses keep
the closest class."""

FAULT_NAMES: Mapping[str, str] = {
    "reset": "Drop the connection (TCP RST) at the first-token time, before any byte.",
    "hang": "Say nothing; drop the connection after 'duration' (default: a day).",
    "empty": "Close the connection cleanly without answering.",
    "disconnect": "Drop the connection after 'after_chunks' chunks (default: half).",
    "stall": "Stop after 'after_chunks' chunks; wait 'duration' (default: a day), then drop.",
    "error_event": "Send the step's error as an event inside the stream, then end it.",
    "malformed": "Send half a chunk (or half the body) as if complete: broken JSON.",
    "truncate": "Send 'after_bytes' of the body (or half a chunk), then drop.",
    "slow_headers": "Wait 'duration' (default 10s) before sending the response headers.",
    "length_short": "Announce a Content-Length of 'after_bytes' (default: half the body), send "
                    "the whole body, then close.",
    "length_long": "Announce a Content-Length twice the body's, send the body, wait 'duration' "
                   "(default: none), then close.",
    "bad_chunking": "Send 'after_chunks' chunks (default: half; a body: none), then one whose "
                    "size line is not hexadecimal, then close.",
    "hang_after_headers": "Send the headers, then nothing; drop the connection after "
                          "'duration' (default: until the client leaves).",
    "drip": "Send the whole response 'drip.bytes' at a time, 'drip.every' apart (default: 16 "
            "bytes every 50ms).",
    "half_close": "Send 'after_bytes' of the body or 'after_chunks' chunks (default: half), then "
                  "end the sending side (FIN) while still reading.",
    "garbage_status": "Send a status line that is not HTTP, then the headers and body; close.",
    "reset_after_headers": "Send the headers, then drop the connection (TCP RST).",
}
"""Transport-level faults and what each does (``llmfake.strategies.FAULTS`` lists them from mild
to severe instead). The faults from ``length_short`` on break HTTP itself (``BYTE_FAULTS``)."""

BYTE_FAULTS = frozenset(list(FAULT_NAMES)[list(FAULT_NAMES).index("length_short"):])
"""The faults that write the response's bytes themselves (``llmfake.server._byte_faults``)."""

Then = Literal["last", "cycle", "default"]

JITTER_DISTRIBUTIONS = ("uniform", "normal", "lognormal")
"""How latency jitter can be drawn."""

LIMIT_SCOPES = ("tenant", "api_key", "model", "global")
"""What rate limits are counted per: the tenant, each API key, each model, or the whole server."""

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")
"""Finish reasons a reply can force."""

BATCH_OUTCOMES = ("completed", "failed", "expired", "cancelled")
"""How an OpenAI batch can end (``llmfake.providers.openai_batch``)."""


@dataclass(frozen=True)
class Latency:
    """When the bytes of a response leave the server (times in seconds)."""

    ttft: float = 0.0
    per_token: float = 0.0
    jitter: float = 0.0
    distribution: str = "uniform"
    """How jitter is drawn: ``uniform`` (within +-jitter), ``normal`` (jitter is the standard
    deviation) or ``lognormal`` (jitter is sigma: a long tail of slow tokens)."""
    tokens_per_chunk: int = 1


@dataclass(frozen=True)
class Limits:
    """Provider-side limits; counted per tenant."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_concurrent: int | None = None
    max_request_bytes: int = 32 * 1024 * 1024
    by: str = "tenant"
    quota_requests: int | None = None
    quota_tokens: int | None = None

    @functools.cached_property
    def active(self) -> bool:
        """Whether any counting limit is set (``max_request_bytes`` is always checked)."""
        return any(v is not None for v in (
            self.requests_per_minute, self.tokens_per_minute, self.max_concurrent,
            self.quota_requests, self.quota_tokens))


@dataclass(frozen=True)
class Capacity:
    """A provider under load: slots that generate at once, a queue waiting for them."""

    slots: int
    queue: int | None = None
    """Requests that may wait for a slot (None: any number)."""
    prefill: float = 0.0
    """Seconds per prompt token, added to the time to first token."""
    slowdown: float = 0.0
    """Per-token latency with every slot busy is ``1 + slowdown`` times a lone request's."""
    error: ErrorSpec = field(default_factory=lambda: ErrorSpec("overloaded"))
    """What a request finding the queue full gets."""


@dataclass(frozen=True)
class ToolCallSpec:
    """A tool call the fake model makes."""

    name: str
    arguments: Mapping[str, Any] | str | None = None
    id: str | None = None


@dataclass(frozen=True)
class CallTool:
    """A tool call that fits the request: one of the tools it offers, arguments generated from
    that tool's parameter schema."""

    tool: str = "first"
    """``first``, ``next``, ``seeded`` or a tool's name."""
    count: int = 1
    """Calls in the turn (parallel tool calls)."""
    loop: bool = False
    """Call tools after a tool result too (by default the loop ends: the reply is text)."""


@dataclass(frozen=True)
class Generate:
    """Seeded generated text."""

    sentences: int | None = None
    words: int | None = None


@dataclass(frozen=True)
class Reply:
    """What the model answers. With nothing set, seeded generated text."""

    text: str | None = None
    echo: bool = False
    generate: Generate | None = None
    tool_calls: tuple[ToolCallSpec, ...] = ()
    json: Any = None
    json_schema: Mapping[str, Any] | None = None
    embedding_dimensions: int | None = None
    """Length of the vectors an embeddings request gets (default: the model's usual size)."""
    finish_reason: str | None = None
    call_tool: CallTool | None = None


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
    retry_after: float | None = None
    should_retry: bool | None = None
    limit_hit: LimitHit | None = None
    """For errors the rate limiter makes: which limit, so providers can phrase it their way."""


@dataclass(frozen=True)
class FaultSpec:
    """A transport-level fault."""

    name: str
    """One of ``FAULT_NAMES``."""
    after_chunks: int | None = None
    after_bytes: int | None = None
    duration: float | None = None
    error: ErrorSpec | None = None
    """For ``error_event``: the error sent inside the stream."""
    drip: Drip | None = None
    """For ``drip``: how many bytes go out at a time, how far apart."""


@dataclass(frozen=True)
class Drip:
    """A response trickled out: ``bytes`` at a time, ``every`` seconds apart."""

    bytes: int = 16
    every: float = 0.05


@dataclass(frozen=True)
class Step:
    """One outcome: a reply, an error or a fault, with optional extras."""

    reply: Reply | None = None
    error: ErrorSpec | None = None
    fault: FaultSpec | None = None
    latency: Latency | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the step says nothing, so the rule's defaults apply."""
        return self.reply is None and self.error is None and self.fault is None


@dataclass(frozen=True)
class Chaos:
    """A random outcome drawn from the seed for each request the rule matches."""

    probability: float
    step: Step
    """What happens when it strikes."""


@dataclass(frozen=True)
class ResultMatch:
    """What the last tool result a request sends back must be like (every given field)."""

    name: str | None = None
    """A glob on the tool's name."""
    contains: str | None = None
    """A case-insensitive substring of its content."""
    regex: re.Pattern[str] | None = None
    """A pattern searched in its content."""
    id: str | None = None
    """A glob on the id of the call it answers."""


@dataclass(frozen=True)
class TurnMatch:
    """The conversation keys of a match: where in an agent loop the request stands."""

    turn: int | None = None
    """Assistant turns the request already holds."""
    result: ResultMatch | None = None
    """The last tool result it sends back."""
    offered: tuple[str, ...] = ()
    """Globs that each name an offered tool."""


@dataclass(frozen=True)
class Match:
    """Which requests a rule applies to; every given field must match."""

    endpoint: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    model: str | None = None
    contains: str | None = None
    header: Mapping[str, str] = field(default_factory=dict)
    stream: bool | None = None
    tool_result: bool | None = None
    after: float | None = None
    before: float | None = None
    turns: TurnMatch | None = None
    """The turn, tool-result and offered-tool keys (``llmfake.engine._turns`` checks them)."""

    @property
    def timed(self) -> bool:
        """Whether the match depends on the time since the scenario was put in force."""
        return self.after is not None or self.before is not None

    @functools.cached_property
    def matcher(self) -> Matcher:
        """This match compiled into the checks it names, made on first use and kept."""
        from llmfake.engine._match import compile_match  # the engine builds on the model

        return compile_match(self)


@dataclass(frozen=True)
class Rule:
    """A match, and what the requests it matches get."""

    match: Match
    step: Step
    """The outcome for every request (when there is no script, or after it with then: last)."""
    script: tuple[Step, ...] = ()
    then: Then = "last"
    chaos: tuple[Chaos, ...] = ()
    latency: Latency | None = None
    name: str | None = None


@dataclass(frozen=True)
class AwsKeys:
    """An AWS key pair Bedrock requests must be signed with."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Auth:
    """API-key checks."""

    required: bool = False
    keys: tuple[str, ...] = ()
    aws: AwsKeys | None = None
    """When set, Bedrock requests must be SigV4-signed with this pair."""


@dataclass(frozen=True)
class CassetteSpec:
    """A recorded session to replay: requests that no rule answers otherwise get the recorded
    response, at the recorded pace."""

    path: str
    replay_speed: float = 1.0
    strict: bool = True
    ignore: tuple[str, ...] = ("metadata", "seed", "stream_options", "user")
    cassette: Any = field(default=None, compare=False, repr=False)
    """The loaded ``llmfake.record.Cassette`` (read once, when the scenario is loaded)."""


@dataclass(frozen=True)
class BatchSpec:
    """How OpenAI batches run: phase lengths in seconds (before ``time_scale``), the outcome,
    and the bounds of a tenant's file storage."""

    outcome: str = "completed"
    validating: float = 0.5
    in_progress: float = 1.0
    finalizing: float = 0.5
    progress: float = 0.0
    max_files: int = 100
    max_storage: int = 100_000_000


@dataclass(frozen=True)
class Scenario:
    """Everything the fake does: the defaults, the rules, the limits."""

    name: str = "unnamed"
    description: str = ""
    seed: int = 0
    freeze_time: float | None = None
    time_scale: float = 1.0
    latency: Latency = field(default_factory=Latency)
    limits: Limits = field(default_factory=Limits)
    reply: Reply = field(default_factory=Reply)
    rules: tuple[Rule, ...] = ()
    chaos: tuple[Chaos, ...] = ()
    auth: Auth = field(default_factory=Auth)
    models: tuple[str, ...] = ()
    strict: bool = False
    cassette: CassetteSpec | None = None
    capacity: Capacity | None = None
    """Slots and a queue (None: every request is served at once)."""
    batch: BatchSpec = field(default_factory=BatchSpec)
    """How OpenAI batches run (``llmfake.providers.openai_batch``)."""

    source: str = field(default="<dict>", compare=False)
    """Where the scenario came from (a path, a built-in name or ``<dict>``)."""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The document it was loaded from, as given (for the control API's GET)."""

    @functools.cached_property
    def default_step(self) -> Step:
        """The step of a request no rule or chaos entry takes: the default reply."""
        return Step(reply=self.reply)

"""``Plan``: what the engine decided a request gets. Providers render it; the server executes it."""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmfake.engine._call import Call
from llmfake.scenario._model import ErrorSpec, FaultSpec, Latency

if TYPE_CHECKING:
    from llmfake.record._cassette import Interaction


@dataclass(slots=True)
class ToolCall:
    """A tool call the model makes."""

    id: str
    """The call id (``call_...``)."""
    name: str
    """The function's name."""
    arguments: str
    """The arguments as a JSON string."""


@dataclass(slots=True)
class Choice:
    """One choice of a reply."""

    text: str | None
    """The text (None when the model only calls tools)."""
    tokens: tuple[str, ...] = ()
    """``text`` cut into tokens; concatenated they give ``text``. Streams send one per chunk."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Tool calls."""
    finish: str = "stop"
    """``stop``, ``length``, ``tool_calls`` or ``content_filter``."""
    token_count: int = -1
    """Tokens in ``text`` (``tokens`` holds one piece per stream chunk, several tokens each
    when the latency sets ``tokens_per_chunk``); -1 means ``len(tokens)``."""
    stop_sequence: str | None = None
    """The stop sequence that cut ``text``, if one did (Anthropic reports it)."""

    def __post_init__(self) -> None:
        if self.token_count < 0:
            object.__setattr__(self, "token_count", len(self.tokens))


@dataclass(slots=True)
class Usage:
    """Token counts, from the documented estimate (see ``llmfake.engine._text``)."""

    prompt_tokens: int = 0
    """Tokens in the request."""
    completion_tokens: int = 0
    """Tokens generated."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Timing:
    """When each part of the response is due, in seconds from the request's arrival."""

    latency: Latency = field(default_factory=Latency)
    """The latency the plan was made with (already multiplied by the time scale)."""
    seed: str = ""
    """Seeds the jitter, so the same request gets the same schedule."""

    def deadlines(self, chunks: int) -> tuple[float, ...]:
        """Deadlines of ``chunks`` successive stream chunks: the first once its tokens are
        generated (ttft, plus the rest of its tokens), then one chunk's tokens apart."""
        latency = self.latency
        if not latency.ttft and not latency.per_token:  # nothing to wait for
            return _no_deadlines(chunks)
        return _deadlines(latency, self.seed if latency.jitter else "", chunks)

    def total(self, chunks: int) -> float:
        """When a non-streamed body of ``chunks`` chunks is due: ttft plus every token."""
        latency = self.latency
        if not latency.ttft and not latency.per_token:
            return 0.0
        if not latency.jitter and chunks > _CLOSED_FORM:
            # A closed form, not a list of a deadline per token: the same figure up to float
            # rounding (summed, not multiplied), so it serves only bodies too long to list.
            per, k = latency.per_token, latency.tokens_per_chunk
            first = latency.ttft + per * (k - 1)
            return first + per * k * (chunks - 1) + per if chunks > 0 else first
        return _schedule(self.latency, self.seed if self.latency.jitter else "", chunks)[chunks]


_CLOSED_FORM = 4096
"""Bodies of more chunks than this get their total from the closed form."""


@functools.lru_cache(maxsize=256)
def _no_deadlines(chunks: int) -> tuple[float, ...]:
    return (0.0,) * chunks


@functools.lru_cache(maxsize=4096)
def _deadlines(latency: Latency, seed: str, chunks: int) -> tuple[float, ...]:
    # The same tuple for every stream of one schedule: the pacer's own cache (its offsets)
    # then finds it by identity.
    return _schedule(latency, seed, chunks)[:chunks]


@functools.lru_cache(maxsize=4096)
def _schedule(latency: Latency, seed: str, chunks: int) -> tuple[float, ...]:
    # chunks + 1 deadlines: the stream's, then the end of a non-streamed body. Cached because
    # the wire and the headers ask for the same schedule.
    rng = random.Random(seed) if latency.jitter else None
    k = latency.tokens_per_chunk

    def spread(delay: float) -> float:
        if rng is None or delay <= 0:
            return delay
        j = latency.jitter
        if latency.distribution == "normal":
            return max(0.0, delay * (1 + j * rng.gauss(0.0, 1.0)))
        if latency.distribution == "lognormal":
            return delay * rng.lognormvariate(-j * j / 2, j)  # mean 1: a tail, not a shift
        return max(0.0, delay * (1 + j * (2 * rng.random() - 1)))

    t = spread(latency.ttft) + spread(latency.per_token * (k - 1))
    out = [t]
    for _ in range(chunks):
        t += spread(latency.per_token * k)
        out.append(t)
    if chunks:
        out[chunks] = out[chunks - 1] + (out[chunks] - out[chunks - 1]) / k  # one token more
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Where the tenant's rate-limit buckets stand once this request is counted.

    Providers render it as their own headers (OpenAI ``x-ratelimit-*`` with durations,
    Anthropic ``anthropic-ratelimit-*`` with RFC 3339 times).
    """

    requests_limit: int | None = None
    """Requests per minute allowed (None: not limited)."""
    requests_remaining: int = 0
    """Requests left in the bucket."""
    requests_reset: float = 0.0
    """Seconds until the request bucket is full again."""
    tokens_limit: int | None = None
    """Tokens per minute allowed (None: not limited)."""
    tokens_remaining: int = 0
    """Tokens left in the bucket."""
    tokens_reset: float = 0.0
    """Seconds until the token bucket is full again."""
    now: float = 0.0
    """Wall-clock Unix time of the decision, for providers that send absolute reset times."""


# Not frozen: a frozen dataclass costs a setattr call per field to make, and one is made per
# request. The engine fills it in as it decides; nothing changes it after.
@dataclass(slots=True)
class Plan:
    """The decision for one request."""

    call: Call
    """The request."""
    ordinal: int
    """The request's number within its tenant, from 0."""
    uid: str
    """A deterministic 29-character id body; providers add their prefix (``chatcmpl-``)."""
    request_id: str
    """The ``x-request-id`` (``req_`` and 32 hex digits)."""
    created: int
    """The Unix time the response says it was created."""
    choices: tuple[Choice, ...] = ()
    """The reply's choices (empty for errors and embeddings)."""
    embeddings: tuple[tuple[float, ...], ...] = ()
    """One vector per input of an embeddings request."""
    usage: Usage = field(default_factory=Usage)
    """Token counts."""
    models: tuple[str, ...] = ()
    """For the models endpoint: the ids the scenario lists (empty: the provider's defaults)."""
    error: ErrorSpec | None = None
    """An HTTP error instead of a reply."""
    fault: FaultSpec | None = None
    """A transport fault to strike while sending."""
    timing: Timing = field(default_factory=Timing)
    """The schedule."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers the scenario asked for."""
    rate_limit: RateLimit | None = None
    """The tenant's rate-limit state, when the scenario sets limits."""
    limit_key: str | None = None
    """The limiter bucket this request holds a concurrency slot in, until ``Engine.finish``."""
    recorded: Interaction | None = None
    """The ``llmfake.record.Interaction`` replayed instead of a generated reply, if any."""
    replay_factor: float = 1.0
    """Recorded offsets are multiplied by this (time_scale / replay_speed; 0: no delays)."""
    source: str = "default"
    """What decided it: ``default``, ``rule 2``, ``rule 2 step 1``, ``rule 2 chaos 0``, ``auth``."""

    @property
    def outcome(self) -> str:
        """``reply``, ``error <name>`` or ``fault <name>``, for logs and the journal."""
        if self.fault is not None:  # an error_event fault on a body is both: the fault names it
            return f"fault {self.fault.name}"
        if self.error is not None:
            return f"error {self.error.name}"
        return "reply" if self.recorded is None else "replay"

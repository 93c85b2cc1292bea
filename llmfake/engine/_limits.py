"""Rate limits that count: continuously refilling buckets, concurrency and quotas.

A bucket of capacity C per minute refills at C/60 per second (times the scenario's time scale),
as the providers' limits do, so a client that waits the Retry-After it was given gets through.
State is kept per key: the tenant, an API key, a model, or the whole server (``limits.by``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llmfake.engine._call import Call
from llmfake.engine._plan import RateLimit
from llmfake.scenario._model import ErrorSpec, LimitHit, Limits


@dataclass
class Bucket:
    """A token bucket refilling continuously to ``capacity`` over ``window`` seconds."""

    capacity: int
    window: float
    level: float = -1.0
    updated: float = 0.0

    def refill(self, now: float) -> None:
        """Bring the level up to ``now``."""
        if self.level < 0 and self.updated == 0.0:
            self.level, self.updated = float(self.capacity), now
            return
        rate = self.capacity / self.window
        self.level = min(float(self.capacity), self.level + (now - self.updated) * rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 when it is now)."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing * self.window / self.capacity

    def until_full(self) -> float:
        """Seconds until the bucket is full again."""
        return max(0.0, (self.capacity - self.level) * self.window / self.capacity)


@dataclass
class _State:
    requests: Bucket | None
    tokens: Bucket | None
    in_flight: int = 0
    quota_requests: int = 0
    quota_tokens: int = 0


@dataclass
class Admission:
    """What the limiter said about one request."""

    error: ErrorSpec | None
    """429 (or quota) when over a limit, else None."""
    state: RateLimit
    """Where the buckets stand afterwards (for the rate-limit headers)."""
    key: str
    """The bucket key, to release the concurrency slot and charge the reply."""
    reason: str = ""
    """Which limit tripped: ``requests``, ``tokens``, ``concurrency`` or ``quota``."""


@dataclass
class Limiter:
    """The buckets of one scope (a tenant, or the whole server for ``by: global``)."""

    limits: Limits
    time_scale: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _states: dict[str, _State] = field(default_factory=dict)

    def _key(self, call: Call) -> str:
        by = self.limits.by
        if by == "api_key":
            return f"key:{call.api_key or ''}"
        if by == "model":
            return f"model:{call.model}"
        return by

    def _state(self, key: str) -> _State:
        state = self._states.get(key)
        if state is None:
            window = 60.0 * self.time_scale
            lim = self.limits
            state = self._states[key] = _State(
                Bucket(lim.requests_per_minute, window) if lim.requests_per_minute else None,
                Bucket(lim.tokens_per_minute, window) if lim.tokens_per_minute else None)
        return state

    def admit(self, call: Call, tokens: int) -> Admission:
        """Count one request of ``tokens`` (prompt plus max_tokens) or refuse it."""
        key = self._key(call)
        state = self._state(key)
        now = self.clock()
        for bucket in (state.requests, state.tokens):
            if bucket is not None:
                bucket.refill(now)
        lim = self.limits
        error: ErrorSpec | None = None
        if lim.quota_requests is not None and state.quota_requests >= lim.quota_requests:
            error = ErrorSpec("quota", limit_hit=LimitHit("quota", lim.quota_requests))
        elif lim.quota_tokens is not None and state.quota_tokens >= lim.quota_tokens:
            error = ErrorSpec("quota", limit_hit=LimitHit("quota", lim.quota_tokens, tokens))
        elif state.requests is not None and state.requests.level < 1:
            error = ErrorSpec("rate_limit", retry_after=state.requests.wait_for(1),
                              limit_hit=LimitHit("requests", state.requests.capacity))
        elif state.tokens is not None and state.tokens.level < tokens:
            # A request bigger than the whole bucket waits for a full bucket and then passes,
            # instead of never passing at all.
            error = ErrorSpec("rate_limit",
                              retry_after=state.tokens.wait_for(min(tokens,
                                                                    state.tokens.capacity)),
                              limit_hit=LimitHit("tokens", state.tokens.capacity, tokens))
        elif lim.max_concurrent is not None and state.in_flight >= lim.max_concurrent:
            error = ErrorSpec("rate_limit", retry_after=0.1 * self.time_scale,
                              limit_hit=LimitHit("concurrency", lim.max_concurrent))
        if error is None:
            if state.requests is not None:
                state.requests.level -= 1
            if state.tokens is not None:
                state.tokens.level -= tokens
            state.in_flight += 1
            state.quota_requests += 1
            state.quota_tokens += tokens
        reason = error.limit_hit.kind if error is not None and error.limit_hit else ""
        return Admission(error, self._snapshot(state), key, reason)

    def charge(self, key: str, tokens: int) -> None:
        """Charge ``tokens`` more (a reply whose size was not known on admission)."""
        state = self._state(key)
        if state.tokens is not None and tokens:
            state.tokens.refill(self.clock())
            state.tokens.level -= tokens
        state.quota_tokens += tokens

    def release(self, key: str) -> None:
        """The request is done: free its concurrency slot."""
        state = self._states.get(key)
        if state is not None and state.in_flight > 0:
            state.in_flight -= 1

    def _snapshot(self, state: _State) -> RateLimit:
        req, tok = state.requests, state.tokens
        return RateLimit(
            requests_limit=req.capacity if req else None,
            requests_remaining=max(0, math.floor(req.level)) if req else 0,
            requests_reset=req.until_full() if req else 0.0,
            tokens_limit=tok.capacity if tok else None,
            tokens_remaining=max(0, math.floor(tok.level)) if tok else 0,
            tokens_reset=tok.until_full() if tok else 0.0,
            now=time.time(),
        )

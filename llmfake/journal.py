"""The journal: every exchange a tenant had, for the control API, the CLI log and the pytest plugin.

Secrets never reach it: API keys and auth headers are masked before an exchange is recorded.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from llmfake._assertions import JournalAssertions

SECRET_HEADERS = frozenset({
    "authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization", "cookie",
})
"""Headers whose values are masked wherever llmfake stores or prints them."""


def mask(value: str) -> str:
    """Mask a secret, keeping enough to tell two keys apart: ``sk-abc***xyz``."""
    scheme = ""
    if value.lower().startswith("bearer "):
        scheme, value = value[:7], value[7:]
    if len(value) <= 8:
        return scheme + "***"
    return f"{scheme}{value[:6]}***{value[-3:]}"


def body_key(method: str, path: str, body: bytes) -> str:
    """A digest identifying a request's content, to recognise retries of it."""
    digest = hashlib.blake2b(f"{method} {path}\n".encode(), digest_size=12)
    digest.update(body)  # not joined first: a body can be megabytes
    return digest.hexdigest()


def safe_headers(headers: Mapping[str, str], *, lowered: bool = False) -> dict[str, str]:
    """``headers`` with names lower-cased and secrets masked (``lowered``: the names are lower
    case already, as the server's are, which saves a pass)."""
    if lowered:
        out = dict(headers)
        for name in SECRET_HEADERS.intersection(out):
            out[name] = mask(out[name])
        return out
    return {(low := k.lower()): (mask(v) if low in SECRET_HEADERS else v)
            for k, v in headers.items()}


@dataclass(slots=True)
class Exchange:
    """One request and what the fake did with it."""

    seq: int
    """The request's number within its tenant, from 0."""
    tenant: str
    """The tenant."""
    method: str
    """HTTP method."""
    path: str
    """The path, without the tenant prefix and without secrets in the query."""
    provider: str | None = None
    """The provider the path belongs to."""
    endpoint: str | None = None
    """The neutral endpoint name."""
    model: str | None = None
    """The model asked for."""
    stream: bool = False
    """Whether a stream was asked for."""
    headers: dict[str, str] = field(default_factory=dict)
    """Request headers, secrets masked."""
    body: Any = None
    """The request body (parsed JSON, or the text when it was not JSON)."""
    status: int = 0
    """The HTTP status sent (0 when no response started)."""
    outcome: str = ""
    """``reply``, ``error <name>``, ``fault <name>`` or a server-side rejection."""
    source: str = ""
    """What decided it (``rule 1 step 0``...)."""
    started: float = 0.0
    """Seconds since the server started when the request arrived."""
    duration: float = 0.0
    """Seconds until the response was finished or cut."""
    chunks: int = 0
    """Stream chunks sent."""
    completed: bool = False
    """Whether the whole response was sent."""
    client_disconnected: bool = False
    """Whether the client went away before the end."""
    retry_count: int | None = None
    """The SDK's ``x-stainless-retry-count`` header, when sent."""
    response_text: str | None = None
    """The reply's text (first choice), for assertions."""
    attempt: int = 0
    """0 for a first try, 1 for its first retry...: the SDK's retry count when it sends one,
    else inferred (an identical request soon after a failed one is a retry of it)."""
    retry_after: float | None = None
    """The Retry-After this response gave the client, in seconds."""
    bytes_sent: int = 0
    """Body bytes written to the client."""
    ended: float | None = None
    """Seconds since the server started when the response ended or was cut (None: in flight)."""
    sent: Sequence[tuple[float, float, int]] = field(default=(), repr=False)
    """Each write of a paced stream: (seconds after arrival it went out, seconds after arrival
    the scenario's schedule asked for, chunks in it). The dashboard's timeline and the time to
    first byte come from it. An empty tuple until the first write (no list per whole answer:
    one object fewer per exchange for the cyclic collector to walk), then a list."""
    body_key: str = field(default="", repr=False)
    """A digest of method, path and body: identical requests share it (retries)."""
    _kept: Any = field(default=None, repr=False, compare=False)
    """The response as put on the wire and the plan behind it, kept (bounded) by
    ``llmfake.ui.keep`` for the dashboard's cassette export and timelines. The underscore keeps
    it out of orjson's encoding (the shared journal); ``to_json`` leaves it out too."""
    body_bytes: int = field(default=0, repr=False)
    """The bytes of ``body`` the journal counts against its byte bound (``_bounds``)."""

    @property
    def failed(self) -> bool:
        """Whether the client did not get a whole success (an error status or a cut)."""
        return self.status >= 400 or self.status == 0 or not self.completed

    def note_write(self, at: float, planned: float) -> None:
        """Add a write to ``sent`` (a stream a fault cuts): its chunks are those counted since
        the writes before it."""
        sent = self.writes()
        sent.append((at, planned, self.chunks - sum(s[2] for s in sent)))

    def writes(self) -> list[tuple[float, float, int]]:
        """``sent``, as a list a write is added to."""
        sent = self.sent
        if not isinstance(sent, list):
            sent = self.sent = list(sent)
        return sent

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(replace(self, _kept=None))
        del out["_kept"]
        return out


RETRY_WINDOW = 60.0
"""Seconds within which an identical request after a failure counts as its retry."""

ATTEMPTS_BY = ("identical", "header")
"""The ways ``Journal.requests`` can tell a retry from a new request (see there)."""


def _continues(last: Exchange, e: Exchange, by: str) -> bool:
    """Whether ``e`` is another attempt of the request whose latest attempt is ``last``."""
    if e.retry_count is not None and (by == "header" or e.retry_count > 0):
        return e.retry_count > 0  # the client said so, either way
    if e.attempt > 0:
        return True  # the server inferred it on arrival (a client that sends no header)
    if by == "header" or last.ended is None or not last.failed:
        return False
    # In flight at the same time (beyond a millisecond of clock rounding): a new request.
    return -0.001 <= e.started - last.ended <= RETRY_WINDOW

JOURNAL_LIMIT = 10_000
"""Exchanges a tenant's journal keeps; older ones are dropped (and counted in ``dropped``)."""


class Journal(JournalAssertions):
    """The exchanges of one tenant, oldest first, the newest ``limit`` of them.

    Bounded so that a long-running ``llmfake serve`` under load does not grow without end.
    """

    def __init__(self, limit: int = JOURNAL_LIMIT) -> None:
        self._items: deque[Exchange] = deque(maxlen=limit)
        self.attempts_by = "identical"
        """What ``requests`` counts as a retry when an assertion does not say (see there)."""
        self.dropped = 0
        """Exchanges dropped because the journal was full."""
        self._last_by_key: dict[str, Exchange] = {}
        self._before: dict[str, Exchange] = {}
        self.body_bytes = 0  # request-body bytes held whole, and those bodies: see _bounds
        self.large_bodies: deque[tuple[Exchange, str, str]] = deque()
        # The newest exchange of each body_key still in the ring, and the one it replaced there:
        # infer_attempt() finds an exchange's predecessor here instead of scanning up to
        # ``limit`` exchanges per request (with distinct bodies it scanned them all).

    @property
    def limit(self) -> int:
        """How many exchanges it keeps."""
        return self._items.maxlen or 0

    def add(self, exchange: Exchange) -> None:
        """Record an exchange (the server fills it in as the response goes out)."""
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
            oldest = self._items[0]
            self.body_bytes -= oldest.body_bytes
            oldest.body_bytes = 0
            if self._last_by_key.get(oldest.body_key) is oldest:
                del self._last_by_key[oldest.body_key]
            if self._before.get(oldest.body_key) is oldest:
                del self._before[oldest.body_key]
        self._items.append(exchange)
        if exchange.body_key:
            self._index(exchange)

    def _index(self, exchange: Exchange) -> Exchange | None:
        """Make ``exchange`` the newest of its body_key; return the one before it."""
        key = exchange.body_key
        newest = self._last_by_key.get(key)
        if newest is exchange:
            return self._before.get(key)
        if newest is None:
            self._before.pop(key, None)
        else:
            self._before[key] = newest
        self._last_by_key[key] = exchange
        return newest

    def clear(self) -> None:
        """Forget every exchange."""
        self._items.clear()
        self._last_by_key.clear()
        self._before.clear()
        self.dropped = 0
        self.body_bytes = 0
        self.large_bodies.clear()

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Exchange:
        return self._items[index]

    def to_json(self) -> list[dict[str, Any]]:
        """Every exchange as a JSON-ready dict."""
        return [e.to_json() for e in self._items]

    # --- what the client did ------------------------------------------------------------------

    def infer_attempt(self, exchange: Exchange, window: float = RETRY_WINDOW) -> int:
        """The attempt number of a new ``exchange`` that sent no retry count: one more than the
        latest identical request if that one failed less than ``window`` seconds before, else
        0. Call it once per exchange, once its ``body_key`` is set."""
        earlier = self._index(exchange)
        if earlier is None:
            return 0
        if exchange.started - (earlier.ended or earlier.started) > window:
            return 0
        return earlier.attempt + 1 if earlier.failed else 0

    def requests(self, *, attempts_by: str | None = None, **where: Any
                 ) -> list[list[Exchange]]:
        """Exchanges grouped into logical requests: a first try and its retries.

        ``attempts_by`` says what makes a request a retry of an earlier one (default: the
        journal's ``attempts_by``, ``"identical"``):

        - ``"identical"``: the same method, path and body as a request that failed (an error
          status or a cut stream) and had ended when it arrived, less than ``RETRY_WINDOW``
          seconds before, or the SDK's retry header says it is a retry. An app that restarts
          a broken stream itself counts: its new call is an attempt of the same request.
        - ``"header"``: only what the client says: the SDK's retry header
          (``x-stainless-retry-count``); an identical request after a failure counts only
          for clients that send no such header (curl, requests, other languages).

        Keyword filters compare exchange fields (``endpoint="chat"``, ``model="gpt-4o"``).
        """
        by = self.attempts_by if attempts_by is None else attempts_by
        if by not in ATTEMPTS_BY:
            raise ValueError(f"attempts_by={by!r}: expected one of "
                             f"{', '.join(map(repr, ATTEMPTS_BY))}")
        groups: list[list[Exchange]] = []
        open_by_key: dict[str, list[Exchange]] = {}
        for e in self._items:
            if any(getattr(e, k) != v for k, v in where.items()):
                continue
            group = open_by_key.get(e.body_key) if e.body_key else None
            if group is not None and not _continues(group[-1], e, by):
                group = None
            if group is None:
                group = []
                groups.append(group)
                open_by_key[e.body_key] = group
            group.append(e)
        return groups

    def grouping(self, attempts_by: str | None = None) -> str:
        """How ``requests`` tells retries apart, in words, for assertion messages."""
        by = self.attempts_by if attempts_by is None else attempts_by
        if by == "header":
            return ("attempts: the SDK's retry header says which request is a retry; "
                    "attempts_by='identical' counts the app's own retries too")
        return (f"attempts: an identical request within {RETRY_WINDOW:g}s of a failure is a "
                "retry, the app's own too; attempts_by='header' counts the SDK's only")

    def attempts(self, **where: Any) -> list[int]:
        """How many attempts each logical request took: ``[3]`` for fail, fail, succeed."""
        return [len(g) for g in self.requests(**where)]

    def backoff_intervals(self, **where: Any) -> list[float]:
        """Seconds from each failed attempt's end to its retry's arrival, in order."""
        return [b.started - (a.ended if a.ended is not None else a.started)
                for g in self.requests(**where) for a, b in itertools.pairwise(g)]

    def retry_after_violations(self, *, tolerance: float = 0.0, **where: Any
                               ) -> list[tuple[Exchange, Exchange, float]]:
        """Retries that came sooner than the Retry-After they were given: (failed attempt,
        retry, seconds too early)."""
        out = []
        for g in self.requests(**where):
            for a, b in itertools.pairwise(g):
                if a.retry_after is None:
                    continue
                waited = b.started - (a.ended if a.ended is not None else a.started)
                if waited + tolerance < a.retry_after:
                    out.append((a, b, a.retry_after - waited))
        return out

    def honoured_retry_after(self, *, tolerance: float = 0.0, **where: Any) -> bool:
        """Whether every retry waited at least the Retry-After it was given."""
        return not self.retry_after_violations(tolerance=tolerance, **where)

"""Prometheus metrics of a fake server, served at ``/metrics`` in Prometheus' text format.

Every metric lives in a registry of its own per server (two servers in one process count apart)
and is written by ``prometheus_client``: llmfake holds no exposition code. Counters and
histograms are updated once per exchange, when it ends (``Metrics.observe``); the gauges (open
streams, limit remaining) are read from the server's state when ``/metrics`` is scraped.

``llmfake serve --workers N`` runs N processes that each count their own requests. The CLI then
sets ``PROMETHEUS_MULTIPROC_DIR`` (to a temporary directory it removes at exit, unless it was set
already) before forking, so ``prometheus_client`` keeps counters and histograms in files every
worker can read: any worker's ``/metrics`` shows the sum over all of them. The two gauges are the
answering worker's own (each worker has its own tenants, journals and limits).
"""

from __future__ import annotations

import bisect
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from llmfake.journal import Exchange

if TYPE_CHECKING:
    from llmfake.engine._engine import Engine
    from llmfake.server._http import Connection
    from llmfake.server._http_message import Request

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that puts ``prometheus_client`` in multiprocess mode."""

TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                float("inf"))
"""Histogram buckets (seconds): from a fast local reply to a stream that takes a minute."""


_Spec = tuple[str, str, tuple[str, ...]]  # name, help, labels
_REQUESTS: _Spec = ("llmfake_requests", "Requests answered (or cut), by what the fake did.",
             ("tenant", "provider", "endpoint", "status", "outcome"))
_FAULTS: _Spec = ("llmfake_faults_injected",
           "Errors and transport faults sent instead of a reply (scripted, chaos, limits).",
           ("tenant", "provider", "kind", "name"))
_TTFB: _Spec = ("llmfake_time_to_first_byte_seconds",
         "From a request's arrival to the first byte of its response body.",
         ("tenant", "provider", "endpoint"))
_DURATION: _Spec = ("llmfake_request_duration_seconds",
             "From a request's arrival to the end (or the cut) of its response.",
             ("tenant", "provider", "endpoint"))
_OPEN: _Spec = ("llmfake_open_streams", "Streams being sent now.", ("tenant",))
_REMAINING: _Spec = ("llmfake_limit_remaining",
              "What a rate-limit bucket has left, per tenant, key and unit.",
              ("tenant", "key", "unit"))

Key = tuple[str, ...]


class Metrics:
    """The metrics of one server: ``observe`` each ended exchange, ``serve`` a scrape.

    In one process the counts are kept in plain dicts and handed to ``prometheus_client`` as
    metric families when scraped: about a microsecond per exchange, where its metric objects
    (a lock per update, a bucket scan per observation) cost several on every request. Under
    ``--workers`` its metric objects write to the shared files instead.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = CollectorRegistry(auto_describe=True)
        """Holds every metric; ``collect()`` it, or parse ``/metrics``."""
        self._shared = _Shared() if os.environ.get(MULTIPROC_ENV) else None
        self._tally = _Tally()
        if self._shared is None:
            self.registry.register(self._tally)
        self.registry.register(_StateCollector(engine))

    def observe(self, e: Exchange) -> None:
        """Count an exchange that has ended."""
        if self._shared is None:
            self._tally.observe(e)
            return
        key, fault, where = _keys(e)
        self._shared.add(key, fault, where, first_byte(e), e.duration)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        if self._shared is not None:
            # Counters and histograms from every worker's files, gauges from this one.
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(_StateCollector(self.engine))
            return generate_latest(registry)
        return generate_latest(self.registry)

    def serve(self, req: Request, conn: Connection) -> None:
        """Answer a scrape."""
        if req.method not in ("GET", "HEAD"):
            conn.respond(405, {"allow": "GET, HEAD", "content-type": "text/plain"},
                         b"/metrics answers GET\n")
            return
        conn.respond(200, {"content-type": CONTENT_TYPE_LATEST}, self.exposition())


def _keys(e: Exchange) -> tuple[Key, Key | None, Key]:
    """The labels ``e`` counts under: its request counter's, its fault counter's (None: no
    fault) and its histograms'."""
    where = (e.tenant, e.provider or "", e.endpoint or "")
    kind, _, name = e.outcome.partition(" ")
    fault = (where[0], where[1], kind, name) if kind in ("error", "fault") and name else None
    return (*where, str(e.status), e.outcome), fault, where


class _Tally:
    """Counts in dicts, exposed as metric families: the single-process path."""

    def __init__(self) -> None:
        self.requests: dict[Key, int] = {}
        self.faults: dict[Key, int] = {}
        # Per label set: the count of each bucket (not cumulative), then the sum.
        self.ttfb: dict[Key, list[float]] = {}
        self.duration: dict[Key, list[float]] = {}
        # What each kind of exchange counts into, found with one lookup: its request counter's
        # key, its fault counter's, its duration row, its histograms' labels.
        self._into: dict[tuple[str, str | None, str | None, int, str],
                         tuple[Key, Key | None, list[float], Key]] = {}

    def observe(self, e: Exchange) -> None:
        kind = (e.tenant, e.provider, e.endpoint, e.status, e.outcome)
        into = self._into.get(kind)
        if into is None:
            key, fault, where = _keys(e)
            into = (key, fault, _row(self.duration, where), where)
            if len(self._into) < 4096:  # tenants come and go: a bound, not a cache of each
                self._into[kind] = into
        key, fault, duration, where = into
        self.requests[key] = self.requests.get(key, 0) + 1
        if fault is not None:
            self.faults[fault] = self.faults.get(fault, 0) + 1
        value = e.duration
        duration[bisect.bisect_left(TIME_BUCKETS, value)] += 1  # a bucket holds values <= its
        duration[-1] += value                                    # bound; then the sum
        first = first_byte(e)
        if first is not None:
            ttfb = _row(self.ttfb, where)
            ttfb[bisect.bisect_left(TIME_BUCKETS, first)] += 1
            ttfb[-1] += first

    def describe(self) -> list[Metric]:
        return []  # names checked at scrape time only; the registry need not know them

    def collect(self) -> Iterator[Metric]:
        for (name, doc, labels), counts in ((_REQUESTS, self.requests),
                                            (_FAULTS, self.faults)):
            counter = CounterMetricFamily(name, doc, labels=labels)
            for key, n in list(counts.items()):
                counter.add_metric(key, n)
            yield counter
        for (name, doc, labels), table in ((_TTFB, self.ttfb), (_DURATION, self.duration)):
            hist = HistogramMetricFamily(name, doc, labels=labels)
            for key, row in list(table.items()):
                cumulative = itertools.accumulate(row[:-1])
                hist.add_metric(key, [(_le(b), c) for b, c in
                                      zip(TIME_BUCKETS, cumulative, strict=True)], row[-1])
            yield hist


def _le(bound: float) -> str:
    return floatToGoString(bound)  # type: ignore[no-untyped-call,no-any-return]


def _row(table: dict[Key, list[float]], key: Key) -> list[float]:
    """The histogram row of ``key`` in ``table``: each bucket's count, then the sum."""
    row = table.get(key)
    if row is None:
        row = table[key] = [0.0] * (len(TIME_BUCKETS) + 1)
    return row


class _Shared:
    """prometheus_client's metric objects, which multiprocess mode keeps in shared files."""

    def __init__(self) -> None:
        if values.ValueClass is values.MutexValue:
            # prometheus_client picks its value class on import, which in a worker happened
            # before the CLI set the directory (the parent imports llmfake before forking).
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        registry = CollectorRegistry()  # the files are what counts, not this registry
        self.requests = Counter(*_REQUESTS, registry=registry)
        self.faults = Counter(*_FAULTS, registry=registry)
        self.ttfb = Histogram(*_TTFB, buckets=TIME_BUCKETS, registry=registry)
        self.duration = Histogram(*_DURATION, buckets=TIME_BUCKETS, registry=registry)

    def add(self, key: Key, fault: Key | None, where: Key, first: float | None,
            duration: float) -> None:
        self.requests.labels(*key).inc()
        if fault is not None:
            self.faults.labels(*fault).inc()
        self.duration.labels(*where).observe(duration)
        if first is not None:
            self.ttfb.labels(*where).observe(first)


def reference() -> list[tuple[str, str, tuple[str, ...], str]]:
    """(name, type, labels, help) of every metric ``/metrics`` exposes, in order: the docs'
    metrics reference is generated from it."""
    kinds = [(_REQUESTS, "counter"), (_FAULTS, "counter"), (_TTFB, "histogram"),
             (_DURATION, "histogram"), (_OPEN, "gauge"), (_REMAINING, "gauge")]
    return [(name + ("_total" if kind == "counter" else ""), kind, labels, doc)
            for (name, doc, labels), kind in kinds]


def share_between_workers() -> Callable[[], None]:
    """Put ``prometheus_client`` in multiprocess mode for the processes forked after this call
    (``llmfake serve --workers``): a temporary directory unless ``PROMETHEUS_MULTIPROC_DIR`` is
    set already. Returns what removes the directory it made, for when the workers are gone."""
    if os.environ.get(MULTIPROC_ENV):
        return lambda: None
    path = tempfile.mkdtemp(prefix="llmfake-metrics-")
    os.environ[MULTIPROC_ENV] = path

    def remove() -> None:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)

    return remove


def first_byte(e: Exchange) -> float | None:
    """Seconds from ``e``'s arrival to its first body byte, when one went out."""
    if e.sent:
        return e.sent[0][0]
    if e.status and e.completed and not e.stream:
        return e.duration  # a whole body goes out in the write that ends it
    return None


class _StateCollector:
    """Gauges read from the server's state at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(name, doc, labels=labels)
                for name, doc, labels in (_OPEN, _REMAINING)]

    def collect(self) -> Iterator[Metric]:
        streams = GaugeMetricFamily(*_OPEN[:2], labels=_OPEN[2])
        remaining = GaugeMetricFamily(*_REMAINING[:2], labels=_REMAINING[2])
        for name, state in list(self.engine.tenants.items()):
            open_ = sum(1 for e in state.journal if e.stream and e.ended is None and e.status)
            streams.add_metric([name], open_)
            limiter = self.engine.limiter(state) if state.scenario.limits.active else None
            if limiter is None:
                continue
            now = limiter.clock()
            for key, bucket_state in list(limiter._states.items()):  # no public view yet
                for bucket in (bucket_state.requests, bucket_state.tokens):
                    if bucket is not None:
                        bucket.refill(now)  # refilling is idempotent: the level as of now
                snap = limiter._snapshot(bucket_state)
                if snap.requests_limit is not None:
                    remaining.add_metric([name, key, "requests"], snap.requests_remaining)
                if snap.tokens_limit is not None:
                    remaining.add_metric([name, key, "tokens"], snap.tokens_remaining)
        yield streams
        yield remaining

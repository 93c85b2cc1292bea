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

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from llmfake.journal import Exchange

if TYPE_CHECKING:
    from llmfake.engine._engine import Engine
    from llmfake.server._http import Connection, Request

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that puts ``prometheus_client`` in multiprocess mode."""

TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                float("inf"))
"""Histogram buckets (seconds): from a fast local reply to a stream that takes a minute."""


class Metrics:
    """The metrics of one server: ``observe`` each ended exchange, ``serve`` a scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if os.environ.get(MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
            # prometheus_client picks its value class on import, which in a worker happened
            # before the CLI set the directory (the parent imports llmfake before forking).
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        """Holds every metric; ``collect()`` it, or parse ``/metrics``."""
        reg = self.registry
        self.requests = Counter(
            "llmfake_requests", "Requests answered (or cut), by what the fake did.",
            ["tenant", "provider", "endpoint", "status", "outcome"], registry=reg)
        self.faults = Counter(
            "llmfake_faults_injected",
            "Errors and transport faults sent instead of a reply (scripted, chaos, limits).",
            ["tenant", "provider", "kind", "name"], registry=reg)
        self.ttfb = Histogram(
            "llmfake_time_to_first_byte_seconds",
            "From a request's arrival to the first byte of its response body.",
            ["tenant", "provider", "endpoint"], buckets=TIME_BUCKETS, registry=reg)
        self.duration = Histogram(
            "llmfake_request_duration_seconds",
            "From a request's arrival to the end (or the cut) of its response.",
            ["tenant", "provider", "endpoint"], buckets=TIME_BUCKETS, registry=reg)
        reg.register(_StateCollector(engine))
        self._children: dict[tuple[str, ...], tuple[Counter, Histogram, Histogram]] = {}

    def observe(self, e: Exchange) -> None:
        """Count an exchange that has ended."""
        provider, endpoint = e.provider or "", e.endpoint or ""
        key = (e.tenant, provider, endpoint, str(e.status), e.outcome)
        children = self._children.get(key)
        if children is None:  # labels() costs a lookup and a lock: once per label set
            children = self._children[key] = (
                self.requests.labels(*key), self.ttfb.labels(e.tenant, provider, endpoint),
                self.duration.labels(e.tenant, provider, endpoint))
        requests, ttfb, duration = children
        requests.inc()
        duration.observe(e.duration)
        first = first_byte(e)
        if first is not None:
            ttfb.observe(first)
        kind, _, name = e.outcome.partition(" ")
        if kind in ("error", "fault") and name:
            self.faults.labels(e.tenant, provider, kind, name).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        if os.environ.get(MULTIPROC_ENV):
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


def reference() -> list[tuple[str, str, tuple[str, ...], str]]:
    """(name, type, labels, help) of every metric ``/metrics`` exposes, in order: the docs'
    metrics reference is generated from it."""
    from llmfake.engine._engine import Engine
    from llmfake.scenario._load import load_scenario

    m = Metrics(Engine(load_scenario(None)))
    metrics: list[Any] = [m.requests, m.faults, m.ttfb, m.duration,
                          *_StateCollector(m.engine).describe()]
    out = []
    for metric in metrics:
        if isinstance(metric, Metric):
            name, kind, doc = metric.name, metric.type, metric.documentation
        else:  # a metric object keeps these privately: prometheus_client has no public view
            name, kind, doc = metric._name, metric._type, metric._documentation
        name += "_total" if kind == "counter" else ""
        out.append((name, kind, tuple(metric._labelnames), doc))
    return out


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
        if os.environ.get(MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
            # prometheus_client picks its value class on import, which in a worker happened
            # before the CLI set the directory (the parent imports llmfake before forking).
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily("llmfake_open_streams", "Streams being sent now.",
                                  labels=["tenant"]),
                GaugeMetricFamily("llmfake_limit_remaining",
                                  "What a rate-limit bucket has left, per tenant, key and unit.",
                                  labels=["tenant", "key", "unit"])]

    def collect(self) -> Iterator[Metric]:
        streams = GaugeMetricFamily("llmfake_open_streams", "Streams being sent now.",
                                    labels=["tenant"])
        remaining = GaugeMetricFamily(
            "llmfake_limit_remaining",
            "What a rate-limit bucket has left, per tenant, key and unit.",
            labels=["tenant", "key", "unit"])
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

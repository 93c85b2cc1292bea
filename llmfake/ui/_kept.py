"""What the journal keeps of each response for the dashboard: the bytes, the schedule, limits.

The journal records the reply's text, not the bytes the client got. The cassette export and the
stream timelines need those, so the server hands each exchange's rendered response and its plan
to ``keep`` just before it goes on the wire. That costs one tuple: the response is kept by
reference (a stream's events are rendered lazily and rendering is pure, so they can be rendered
again when an export asks), the plan gives the schedule the scenario asked for, the fault and
the rate-limit counters. A response past ``KEEP_BYTES`` or ``KEEP_EVENTS`` is kept truncated,
and only the latest ``KEEP_RECENT`` exchanges keep theirs.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from llmfake.engine._plan import Plan, RateLimit, Timing
from llmfake.journal import Exchange
from llmfake.providers._base import Rendered, event_meta

if TYPE_CHECKING:
    from llmfake.scenario._model import FaultSpec, Latency

KEEP_BYTES = 256 * 1024
"""A response body longer than this is kept cut at this length."""
KEEP_EVENTS = 4096
"""A stream of more events than this is kept cut after this many."""

class PlanKept:
    """What the dashboard reads of the plan of a whole (not streamed) answer, without the plan:
    the plan holds the request it was made for (its call, messages, choices), a dozen objects
    the cyclic collector would walk for as long as the exchange keeps its response. Let go
    with the response, they never outlive the young generation."""

    __slots__ = ("fault", "latency", "rate_limit", "recorded", "seed")

    def __init__(self, fault: FaultSpec | None, rate_limit: RateLimit | None, latency: Latency,
                 seed: str) -> None:
        self.fault = fault
        self.rate_limit = rate_limit
        self.recorded = None  # a replayed answer keeps its plan (its schedule is the recording)
        self.latency, self.seed = latency, seed  # the scenario's, a str

    @property
    def timing(self) -> Timing:
        """The plan's timing, made again when asked."""
        return Timing(self.latency, self.seed)


Kept = tuple["Plan | PlanKept | None", Rendered, bool]
"""What ``keep`` stores: the plan (None for a request refused before the engine; a ``PlanKept``
for a whole answer), the response, and whether it was cut to fit."""


KEEP_RECENT = 1000
"""How many exchanges (the latest, over all tenants of the process) keep their response: a
kept response holds its plan and rendering, 3-6 KB each, so a full 10,000-exchange journal
would hold 30-60 MB more. Older exchanges keep their journal fields only."""

_recent: deque[Exchange] = deque()


def keep(exchange: Exchange, plan: Plan | PlanKept | None, rendered: Rendered) -> None:
    """Keep ``rendered`` (about to go out for ``plan``) on ``exchange``, bounded."""
    events = rendered.events
    # A stream's events may render from its plan again (an export): a stream keeps it whole.
    held: Plan | PlanKept | None = plan
    if isinstance(plan, Plan) and events is None and plan.recorded is None:
        latency = plan.timing.latency  # its seed draws the jitter, and only the jitter
        held = PlanKept(plan.fault, plan.rate_limit, latency,
                        plan.timing.seed if latency.jitter else "")
    if len(rendered.body) <= KEEP_BYTES and (events is None or len(events) <= KEEP_EVENTS):
        exchange._kept = (held, rendered, False)
    else:
        cut = replace(rendered, body=rendered.body[:KEEP_BYTES],
                      events=None if events is None else tuple(events[:KEEP_EVENTS]))
        exchange._kept = (held, cut, True)
    _recent.append(exchange)
    if len(_recent) > KEEP_RECENT:
        _recent.popleft()._kept = None


def kept(exchange: Exchange) -> Kept | None:
    """What ``keep`` kept of ``exchange``'s response (None: nothing went out for it yet)."""
    value: Kept | None = exchange._kept
    return value


def schedule(exchange: Exchange) -> list[tuple[float, bool]] | None:
    """Each stream event's time as the scenario's schedule asked (seconds after arrival) and
    whether it carries content; None when the response is not a stream."""
    k = kept(exchange)
    if k is None or k[1].events is None:
        return None
    plan, rendered, _ = k
    events = k[1].events
    if plan is None:
        deadlines: tuple[float, ...] = (0.0,)
    elif plan.recorded is not None:
        from llmfake.server._replay import render as render_replay

        deadlines = render_replay(plan, {}).deadlines
    else:
        deadlines = plan.timing.deadlines(max(rendered.tokens, 1))
    last = len(deadlines) - 1
    metas = [event_meta(events, i) for i in range(len(events))]
    # As the pacer sends them: an event never goes before one ahead of it.
    ats = itertools.accumulate((deadlines[min(due, last)] for due, _ in metas), max)
    return [(at, chunk) for at, (_, chunk) in zip(ats, metas, strict=True)]


def body_due(exchange: Exchange) -> float:
    """When a whole (not streamed) body was due, in seconds after arrival."""
    k = kept(exchange)
    if k is None or k[0] is None:
        return 0.0
    plan, rendered = k[0], k[1]
    if plan.recorded is not None:
        from llmfake.server._replay import render as render_replay

        return render_replay(plan, {}).headers_at
    return plan.timing.total(rendered.tokens)


def limits(exchange: Exchange) -> dict[str, Any] | None:
    """The tenant's rate-limit counters once ``exchange`` was counted (remaining, limit and
    seconds to reset, for requests and tokens); None when its scenario sets no limits."""
    k = kept(exchange)
    state = k[0].rate_limit if k is not None and k[0] is not None else None
    if state is None:
        return None
    out = asdict(state)
    del out["now"]
    return out


def fault(exchange: Exchange) -> dict[str, Any] | None:
    """The fault the plan struck, with its parameters (None: no fault)."""
    k = kept(exchange)
    spec = k[0].fault if k is not None and k[0] is not None else None
    if spec is None:
        return None
    return {"name": spec.name, "after_chunks": spec.after_chunks,
            "duration": spec.duration}

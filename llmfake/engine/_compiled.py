"""Scenarios compiled for the hot path: what a plain request gets, worked out once.

Most load is the simplest case: a scenario with no rules, chaos, limits, capacity, auth or
cassette, and requests that ask for nothing but a reply to their messages. Whatever such a
request gets depends only on its ordinal (ids, and the text when the reply is generated) and on
its prompt (the usage), so ``compile_plain`` decides the rest once per scenario, and a route
that knows the request is plain (``providers.PlainRoute``) fills its reply into bytes written
beforehand. ``Engine.decide`` stays the definition: a plain request answered this way gets the
bytes, journal entry and counters it would get there (``tests/server/test_plain_path.py``
compares the two paths).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmfake.engine._call import Call
from llmfake.engine._plan import Choice, Timing
from llmfake.scenario._model import Latency, Reply, Scenario

if TYPE_CHECKING:
    from llmfake.providers._base import PlainRoute
    from llmfake.ui._kept import PlanKept

PLAIN_CALL = Call("openai", "chat", "")
"""What a plain request asks, as the engine sees it: no stop, token limit, tools, schema or
JSON mode, one choice. Its model and prompt change nothing in the reply."""


@dataclass(frozen=True, slots=True, eq=False)
class PlainReply:
    """What every plain request of one scenario gets."""

    scenario: Scenario
    """The scenario it was compiled from."""
    reply: Reply
    """The reply it gives (the scenario's default)."""
    latency: Latency
    """Its latency, time scale applied."""
    choice: Choice | None
    """The choice, when it draws nothing (a fixed text or JSON); None: drawn per request."""
    waits: bool
    """Whether a body waits for its latency (else it is due at once)."""
    timing: Timing
    """The schedule of every request (no jitter: none draws its own)."""
    kept: PlanKept
    """What the dashboard keeps of each answer's plan."""
    routes: dict[tuple[str, str], PlainRoute | None] = field(default_factory=dict)
    """Each route's compiled answer to it (``providers.PlainRoute``), made on first use."""

    def created(self) -> int:
        """The creation time a response made now carries."""
        return created_now(self.scenario)


def created_now(sc: Scenario) -> int:
    """The creation time a response of ``sc`` made now carries (its frozen time, if any)."""
    return int(sc.freeze_time if sc.freeze_time is not None else time.time())


def compile_plain(sc: Scenario) -> PlainReply | None:
    """The plain reply of ``sc``, or None when what a request gets depends on more than its
    ordinal and prompt (rules, chaos, limits, capacity, auth, a cassette, jitter, a reply that
    echoes the prompt or calls tools)."""
    from llmfake.engine._engine import _draws, _scaled_latency, first_choice  # it imports us

    if (sc.rules or sc.chaos or sc.limits.active or sc.cassette is not None
            or sc.capacity is not None or sc.auth.required or sc.auth.keys):
        return None
    reply = sc.reply
    if reply.tool_calls or reply.call_tool is not None or (reply.text is None and reply.echo):
        return None
    latency = _scaled_latency(sc.latency, sc.time_scale)
    if latency.jitter:  # each request's schedule is drawn: its processing-ms header too
        return None
    fixed = (None if _draws(reply, PLAIN_CALL)
             else first_choice(sc, reply, PLAIN_CALL, 0, latency.tokens_per_chunk))
    from llmfake.ui._kept import PlanKept  # the dashboard's, which the engine does not load

    return PlainReply(sc, reply, latency, fixed, bool(latency.ttft or latency.per_token),
                      Timing(latency), PlanKept(None, None, latency, ""))

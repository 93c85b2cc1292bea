"""What a request needs from the global state, and the embedded (``memory``) way to get it.

A request touches global state in one place: its *reservation*. The engine first works out,
from the call alone, what it asks of the state (an ``Ask``: is auth fine, which limit bucket,
how many tokens, which rule matches first); the state backend then does everything that must
be atomic in one step (take the tenant's next ordinal, admit or refuse under the limits, draw
chaos, advance the matched rule's counters and script cursor) and answers a ``Reservation``;
the engine decides the plan from it, with no more state.

The ``memory`` backend does this on the tenant's own dicts, synchronously, inside
``Engine.decide``; the ``redis`` backend (``_redis``) does it in one Lua script, so that
instances sharing one Redis are one provider.

Chaos draws are a hash, not ``random.Random``: ``draw(key)`` is the first 52 bits of the SHA-1
of ``"{seed}:chaos:{where}:{index}:{n}"`` over 2**52. Redis's Lua computes the same digest
(``redis.sha1hex``), so a draw made in Redis equals the one made here, bit for bit, and a
scenario gives the same outcomes with either backend.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmfake.engine._limits import Admission, Limiter

if TYPE_CHECKING:
    from llmfake.engine._call import Call
    from llmfake.engine._engine import TenantState

_SCALE = float(2**52)


def draw(key: str) -> float:
    """A uniform draw in [0, 1) made from ``key`` (see the module docstring)."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:13], 16) / _SCALE


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to make, on the hot path
class Ask:
    """What one request asks of the state, worked out from the call alone."""

    auth_ok: bool
    """False: the request is refused for its API key, before any limit counts it."""
    limited: bool
    """Whether the scenario's limits count this request."""
    tokens: int
    """Prompt tokens plus ``max_tokens``: what the token bucket is charged on admission."""
    rule: int
    """The first rule whose match fits the call (-1: none)."""


@dataclass(slots=True)
class Reservation:
    """What the state answered: the request's ordinal and what it drew."""

    ordinal: int
    """The request's number within its tenant, in the order requests reached the state."""
    admission: Admission | None = None
    """What the limiter said (None when no limit counts the request)."""
    chaos: int = -1
    """The scenario-wide chaos entry that struck (-1: none)."""
    rule_chaos: int = -1
    """The matched rule's chaos entry that struck (-1: none)."""
    position: int = -1
    """The script step the matched rule's cursor gave (-1: the rule has no script)."""
    charge: int = 0
    """Tokens the reply used that admission could not know (no ``max_tokens``): the backend
    charges them when the response is over."""
    decided: bool = False
    """Whether the rule selection ran (False: refused for auth or by a limit)."""


def reserve_local(state: TenantState, ask: Ask, limiter: Limiter | None, call: Call
                  ) -> Reservation:
    """The memory backend's reservation, on ``state``'s own counters."""
    sc = state.scenario
    ordinal = state.ordinal
    state.ordinal += 1
    res = Reservation(ordinal)
    if not ask.auth_ok:
        return res
    if ask.limited and limiter is not None:
        res.admission = limiter.admit(call, ask.tokens)
        if res.admission.error is not None:
            return res
    res.decided = True
    seed = sc.seed
    for c_index, chaos in enumerate(sc.chaos):
        if draw(f"{seed}:chaos:*:{c_index}:{ordinal}") < chaos.probability:
            res.chaos = c_index
            return res
    index = ask.rule
    if index < 0:
        return res
    rule = sc.rules[index]
    matched = state.rule_matches.get(index, 0)
    state.rule_matches[index] = matched + 1
    for c_index, chaos in enumerate(rule.chaos):
        if draw(f"{seed}:chaos:{index}:{c_index}:{matched}") < chaos.probability:
            res.rule_chaos = c_index
            return res
    if rule.script:
        res.position = state.script_pos.get(index, 0)
        state.script_pos[index] = res.position + 1
    return res

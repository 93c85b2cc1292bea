"""Rule matches compiled once into matchers: a request pays only for the checks its rules name.

A rule's ``Match`` has a dozen optional keys. Testing each of them on every request (is it set?
then does it hold?) costs the same for a rule naming one key as for one naming all, lower-cases
``contains`` again per request, and sends every glob through ``fnmatch``'s pattern cache. A
``Matcher`` is made once per ``Match`` (``Match.matcher``, cached on the frozen match, so a
scenario derived by ``dataclasses.replace`` keeps its rules' matchers) and holds only:

- the time window (``after``/``before`` in the scenario's seconds), tested first against the
  real seconds since the scenario was put in force; the bounds are multiplied by ``time_scale``
  at each test, as they always were, because one ``Match`` can serve scenarios of different
  scales;
- a tuple of checks, one callable per other key the rule names, each taking the ``Call``:
  endpoints and providers as frozensets (or one name), and globs (model, header values) as
  the compiled regex of ``fnmatch.translate``, which is what ``fnmatch.fnmatchcase`` runs, or
  a plain comparison where the glob has no wildcard (equality), ends in its only ``*`` (a
  prefix) or is only stars (any value: no check at all);
- ``contains`` lower-cased once, tested last: ``first_rule`` lower-cases the request's last
  user message once for all the rules it tries.

Semantics are the engine's since the start: every key given must hold; a header the request
lacks never matches (even ``*``); ``turns`` go through ``_turns.fits``; ``tool_result`` asks
whether a tool result comes after the last assistant message. ``first_rule`` reads the clock
only when it reaches a timed rule, so a scenario without time windows never reads it.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmfake.engine._call import Call
from llmfake.engine._turns import fits

if TYPE_CHECKING:
    from llmfake.scenario._model import Match, Rule

Check = Callable[[Call], bool]
"""One key of a match, as a test of the request."""

_WILDCARDS = frozenset("*?[")


class Matcher:
    """A ``Match`` compiled: its time window and the checks of its other keys."""

    __slots__ = ("after", "before", "checks", "needle", "timed")

    def __init__(self, after: float | None, before: float | None, checks: tuple[Check, ...],
                 needle: str | None) -> None:
        self.after = after
        """Scenario seconds from which the rule matches (None: from the start)."""
        self.before = before
        """Scenario seconds until which it matches, exclusive (None: for ever)."""
        self.timed = after is not None or before is not None
        """Whether matching needs the time since the scenario was put in force."""
        self.checks = checks
        """The tests of the other keys but ``contains``, cheapest first; all must hold."""
        self.needle = needle
        """``contains`` lower-cased, tested last against the lower-cased last user message
        (None: no such key, or an empty one, which every text contains)."""

    def __call__(self, call: Call, elapsed: float = 0.0, scale: float = 1.0) -> bool:
        """Whether ``call`` fits, ``elapsed`` real seconds into a scenario of ``time_scale``
        ``scale``."""
        if self.timed and not self.in_window(elapsed, scale):
            return False
        for check in self.checks:
            if not check(call):
                return False
        return self.needle is None or self.needle in call.last_user_text.lower()

    def in_window(self, elapsed: float, scale: float) -> bool:
        """Whether ``elapsed`` real seconds fall in the time window, scaled by ``scale``."""
        if self.after is not None and elapsed < self.after * scale:
            return False
        return self.before is None or elapsed < self.before * scale


def first_rule(rules: Sequence[Rule], call: Call, clock: Callable[[], float], since: float,
               scale: float) -> int:
    """The index of the first of ``rules`` that ``call`` fits (-1: none). The clock is read
    (once) only if a timed rule is reached; windows count real seconds since ``since``. The last
    user message is lower-cased once too, when a rule's other keys hold and it names
    ``contains``: scenarios are often many ``contains`` rules."""
    elapsed: float | None = None
    text: str | None = None
    for index, rule in enumerate(rules):
        matcher = rule.match.matcher
        if matcher.timed:
            if elapsed is None:
                # Real seconds since the scenario was put in force; windows are scaled like
                # every other delay, so time_scale 0.01 runs a one-minute brownout in 0.6 s.
                elapsed = clock() - since
            if not matcher.in_window(elapsed, scale):
                continue
        for check in matcher.checks:
            if not check(call):
                break
        else:
            needle = matcher.needle
            if needle is None:
                return index
            if text is None:
                text = call.last_user_text.lower()
            if needle in text:
                return index
    return -1


def compile_match(match: Match) -> Matcher:
    """The matcher of ``match``: its window, a check for each other key it gives in about the
    order of their cost, and its ``contains`` lower-cased."""
    checks: list[Check] = []
    if match.stream is not None:
        stream = match.stream
        checks.append(lambda call: call.stream == stream)
    if match.endpoint:
        checks.append(_member("endpoint", match.endpoint))
    if match.provider:
        checks.append(_member("provider", match.provider))
    model = None if match.model is None else _model(match.model)
    if model is not None:
        checks.append(model)
    for name, pattern in match.header.items():
        checks.append(_header(name, pattern))
    if match.tool_result is not None:
        wanted = match.tool_result
        checks.append(lambda call: answers_tool_call(call) == wanted)
    if match.turns is not None:
        checks.append(functools.partial(fits, match.turns))
    # '' is in every text: no check.
    needle = match.contains.lower() if match.contains else None
    return Matcher(match.after, match.before, tuple(checks), needle)


def _member(attribute: str, names: tuple[str, ...]) -> Check:
    if len(names) == 1:
        (name,) = names
        if attribute == "endpoint":
            return lambda call: call.endpoint == name
        return lambda call: call.provider == name
    allowed = frozenset(names)
    if attribute == "endpoint":
        return lambda call: call.endpoint in allowed
    return lambda call: call.provider in allowed


def _glob(pattern: str) -> tuple[str, Any]:
    """How to test a string against ``pattern`` as ``fnmatch.fnmatchcase`` would: ``any``
    (only stars), ``equal`` (no wildcard), ``prefix`` (a single ``*``, at the end) or
    ``regex`` (the compiled ``fnmatch.translate``, whose ``match`` is given)."""
    if not _WILDCARDS.intersection(pattern):
        return "equal", pattern
    if pattern.strip("*") == "":
        return "any", None
    head = pattern[:-1]
    if pattern[-1] == "*" and not _WILDCARDS.intersection(head):
        return "prefix", head
    return "regex", re.compile(fnmatch.translate(pattern)).match


# One closure per kind rather than a glob function called by the check: a Python call less per
# rule, the largest part of a check's cost.
def _model(pattern: str) -> Check | None:
    kind, arg = _glob(pattern)
    if kind == "any":
        return None
    if kind == "equal":
        return lambda call: call.model == arg
    if kind == "prefix":
        return lambda call: call.model.startswith(arg)
    return lambda call: arg(call.model) is not None


def _header(name: str, pattern: str) -> Check:
    """A header glob: the request must send the header (a missing one never matches, even
    ``*``) with a value the glob takes."""
    kind, arg = _glob(pattern)
    if kind == "any":
        return lambda call: call.headers.get(name) is not None
    if kind == "equal":
        return lambda call: call.headers.get(name) == arg

    def check(call: Call) -> bool:
        value = call.headers.get(name)
        if value is None:
            return False
        return value.startswith(arg) if kind == "prefix" else arg(value) is not None
    return check


def answers_tool_call(call: Call) -> bool:
    """Whether a tool result comes after the last assistant message: the client is sending
    back what the tools it was asked to call returned (a user message beside the results, as
    Anthropic allows in one turn, does not change that)."""
    for message in reversed(call.messages):
        if message.role == "tool":
            return True
        if message.role == "assistant":
            return False
    return False

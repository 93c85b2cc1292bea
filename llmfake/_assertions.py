"""Resilience assertions on a journal: what the client did, checked in one line each.

``JournalAssertions`` is mixed into ``llmfake.journal.Journal``, so every journal has them::

    llmfake.journal.assert_attempts(3)
    llmfake.journal.assert_honoured_retry_after()

Each failure is an ``AssertionError`` whose message says what was expected, shows the timeline of
requests (time, attempt, status or fault, Retry-After given, gap since the previous attempt) and
says what to change. Keyword filters (``endpoint="chat"``, ``model="gpt-4o"``) select the
exchanges an assertion looks at, as ``Journal.requests`` does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from llmfake.journal import Exchange
    from llmfake.scenario._model import Scenario, Step

TIMELINE_ROWS = 40
"""Rows a timeline shows before it elides the middle."""


class ScriptState(Protocol):
    """What ``assert_all_consumed`` reads: the engine's ``TenantState`` has both attributes."""

    @property
    def scenario(self) -> Scenario:
        """The scenario in force."""

    @property
    def script_pos(self) -> dict[int, int]:
        """Script steps each rule has used."""


class JournalAssertions:
    """Assertion methods mixed into ``llmfake.journal.Journal``."""

    _script_state: ScriptState | None = None
    recording: str | None = None
    """Set while a test records its cassette: why scripts did not apply (the real API
    answered), said in every failure message; ``assert_all_consumed`` then stands down."""

    if TYPE_CHECKING:  # provided by Journal
        def __iter__(self) -> Iterator[Exchange]: ...
        def requests(self, *, attempts_by: str | None = None, **where: Any
                     ) -> list[list[Exchange]]: ...
        def grouping(self, attempts_by: str | None = None) -> str: ...
        def retry_after_violations(self, *, tolerance: float = 0.0, **where: Any
                                   ) -> list[tuple[Exchange, Exchange, float]]: ...

    def attach(self, state: ScriptState) -> None:
        """Let ``assert_all_consumed`` see the script positions of ``state`` (the tenant whose
        journal this is). The pytest fixture attaches its tenant; outside pytest, call
        ``server.journal(name).attach(server.tenant(name))``."""
        self._script_state = state

    # --- the assertions ---------------------------------------------------------------------

    def assert_attempts(self, n: int | Sequence[int], **where: Any) -> None:
        """Assert the client made one logical request in ``n`` attempts (a first try and its
        retries), or, given a list, that ``attempts()`` equals it (``[3, 1]``).
        ``attempts_by="header"`` counts only the SDK's own retries (see ``Journal.requests``).
        """
        __tracebackhide__ = True  # pytest shows the message, not this frame
        groups = self.requests(**where)
        got = [len(g) for g in groups]
        if isinstance(n, int):
            if got == [n]:
                return
            expected = f"one request in {n} attempt{'s' * (n != 1)}"
        else:
            if got == list(n):
                return
            expected = f"attempts {list(n)}"
        if not got and self.recording:
            hint = ("the client sent nothing through the recording proxy: build the client "
                    "inside the test, after the llmfake fixture has pointed OPENAI_BASE_URL "
                    "and the others at the proxy (or pass llmfake.openai_base_url)")
        elif not got:
            hint = ("the client sent nothing to this tenant: point it at the fake (the llmfake "
                    "fixture sets OPENAI_BASE_URL and the others; or use llmfake.openai_base_url)")
        elif isinstance(n, int) and len(got) == 1 and got[0] < n:
            hint = ("the client retried less than expected: check its max_retries (the official "
                    "SDKs default to 2) and that the failures are retryable (429, 5xx, "
                    "x-should-retry)")
        elif isinstance(n, int) and len(got) == 1:
            hint = ("the client retried more than expected: check its retry limit, and whether "
                    "it should give up on this error")
        else:
            hint = ("pass a list to check several requests (assert_attempts([3, 1])), or filter "
                    "with keywords (endpoint='chat', model='...')")
        raise AssertionError(self._explain(f"expected {expected}, got {_got(got)}", hint, where))

    def assert_gave_up_after(self, n: int, **where: Any) -> None:
        """Assert the client made one logical request, failed ``n`` times and stopped there."""
        __tracebackhide__ = True  # pytest shows the message, not this frame
        groups = self.requests(**where)
        if len(groups) == 1 and len(groups[0]) == n and all(e.failed for e in groups[0]):
            return
        if len(groups) != 1:
            problem, hint = (f"expected one request that gave up after {n} attempts, got "
                             f"{_got([len(g) for g in groups])}",
                             "filter with keywords (endpoint='chat', model='...') to pick one")
        elif not groups[0][-1].failed:
            problem, hint = (f"expected the client to give up after {n} failed attempts, but "
                             f"attempt {len(groups[0])} succeeded",
                             "script more failures than the client retries (then='last' "
                             "repeats the last step)")
        else:
            problem, hint = (f"expected the client to give up after {n} attempts, it gave up "
                             f"after {len(groups[0])}",
                             "check the client's retry limit (the official SDKs make "
                             "max_retries + 1 attempts) and which errors it retries")
        raise AssertionError(self._explain(problem, hint, where))

    def assert_honoured_retry_after(self, *, tolerance: float = 0.01, **where: Any) -> None:
        """Assert every retry waited the Retry-After its failed attempt was given, less
        ``tolerance`` seconds; fails too when no retry followed a Retry-After (nothing checked).
        """
        __tracebackhide__ = True  # pytest shows the message, not this frame
        violations = self.retry_after_violations(tolerance=tolerance, **where)
        if violations:
            attempt = {id(e): k for g in self.requests(**where) for k, e in enumerate(g)}
            lines = [f"attempt {attempt.get(id(b), b.attempt)} (#{b.seq}) came "
                     f"{a.retry_after - early:.3f}s after "
                     f"#{a.seq} said Retry-After {a.retry_after:.3f}s: {early:.3f}s too early"
                     for a, b, early in violations if a.retry_after is not None]
            raise AssertionError(self._explain(
                "retries came sooner than the Retry-After they were given:\n  "
                + "\n  ".join(lines),
                "wait the retry-after (or retry-after-ms) header before retrying; the official "
                "SDKs do when it is at most 60 s", where))
        checked = [a for g in self.requests(**where) for a, _ in itertools.pairwise(g)
                   if a.retry_after is not None]
        if not checked:
            raise AssertionError(self._explain(
                "no retry followed a response with a Retry-After, so there was nothing to check",
                "script an error with retry_after (llmfake.error('rate_limit', "
                "retry_after='1s')) and let the client retry it", where))

    def assert_backoff(self, *, min_factor: float = 1.2, **where: Any) -> None:
        """Assert the waits between retries grow at least ``min_factor``-fold from one retry to
        the next (exponential backoff). Waits that followed a Retry-After are the server's
        choice and are left out. Needs two backoff waits in a row in some request.

        The official SDKs double the wait with up to 25% jitter (a ratio of 1.5 to 2.7), which
        the default 1.2 allows for.
        """
        __tracebackhide__ = True  # pytest shows the message, not this frame
        checked = 0
        slow: list[str] = []
        for group in self.requests(**where):
            waits = [(b, _gap(a, b)) for a, b in itertools.pairwise(group)
                     if a.retry_after is None]
            attempt = {id(e): k for k, e in enumerate(group)}
            for (_, w1), (b2, w2) in itertools.pairwise(waits):
                checked += 1
                if w2 < w1 * min_factor:
                    ratio = w2 / w1 if w1 > 0 else float("inf")
                    slow.append(f"attempt {attempt[id(b2)]} (#{b2.seq}) waited {w2:.3f}s after "
                                f"{w1:.3f}s: x{ratio:.2f}")
        if slow:
            raise AssertionError(self._explain(
                f"backoff did not grow by x{min_factor:g} per retry:\n  " + "\n  ".join(slow),
                "double the wait on each retry (with jitter), or lower min_factor if the "
                "client's growth is gentler on purpose", where))
        if not checked:
            raise AssertionError(self._explain(
                "no request had two backoff waits in a row, so growth could not be checked",
                "script at least three failures without retry_after and let the client retry "
                "twice", where))

    def assert_no_retry_storm(self, *, max_rate: float = 5.0, window: float = 1.0,
                              **where: Any) -> None:
        """Assert no ``window``-second span saw more than ``max_rate`` retries a second (a
        client retrying in a tight loop, or many clients retrying in step)."""
        __tracebackhide__ = True  # pytest shows the message, not this frame
        groups = self.requests(**where)
        retries = sorted(e.started for group in groups for e in group[1:])
        limit = max_rate * window
        worst, start, lo = 0, 0.0, 0
        for hi, t in enumerate(retries):  # the busiest window that opens at a retry
            while t - retries[lo] >= window:
                lo += 1
            if hi - lo + 1 > worst:
                worst, start = hi - lo + 1, retries[lo]
        if worst > limit:
            start -= min(g[0].started for g in groups)  # as the timeline counts
            raise AssertionError(self._explain(
                f"retry storm: {worst} retries within {window:g}s from +{start:.3f}s (at most "
                f"{limit:g} allowed: max_rate={max_rate:g}/s)",
                "wait between retries (exponential backoff with jitter, honouring "
                "Retry-After) and cap the number of attempts", where))

    def assert_all_consumed(self) -> None:
        """Assert every scripted step of the tenant's scenario was used: catches a test whose
        script is longer than the client's retries. Needs the tenant's state (``attach``).
        Passes while the test records its cassette: scripts do not apply then."""
        __tracebackhide__ = True  # pytest shows the message, not this frame
        if self.recording:
            return
        state = self._script_state
        if state is None:
            raise AssertionError(
                "this journal does not know its tenant's scripts: use the llmfake fixture's "
                "journal, or call journal.attach(server.tenant(name)) first")
        unused = unused_steps(state)
        if unused:
            raise AssertionError(self._explain(
                "scripted steps were never used:\n  " + "\n  ".join(unused),
                "the client made fewer requests than the script expects: raise its "
                "max_retries, or shorten the script", {}))

    # --- the timeline ------------------------------------------------------------------------

    def timeline(self, **where: Any) -> str:
        """The exchanges as a table: time since the first, logical request, attempt, status or
        fault, Retry-After given and the gap since the previous attempt of the same request."""
        groups = self.requests(**where)
        if not groups:
            return "(no requests)"
        request_of = {id(e): i for i, g in enumerate(groups, 1) for e in g}
        attempt_of = {id(e): k for g in groups for k, e in enumerate(g)}
        previous: dict[int, Exchange] = {}
        for g in groups:
            for a, b in itertools.pairwise(g):
                previous[id(b)] = a
        rows = sorted((e for g in groups for e in g), key=lambda e: (e.started, e.seq))
        t0 = rows[0].started
        lines = [f"{'#':>4} {'time':>9} {'req':>4} {'attempt':>7}  {'response':<30} "
                 f"{'retry-after':>11} {'gap':>8}  request"]
        shown: list[Exchange | None] = list(rows)
        if len(rows) > TIMELINE_ROWS:
            half = TIMELINE_ROWS // 2
            shown = [*rows[:half], None, *rows[-half:]]
        for e in shown:
            if e is None:
                lines.append(f"   ... {len(rows) - 2 * (TIMELINE_ROWS // 2)} more ...")
                continue
            before = previous.get(id(e))
            gap = f"{_gap(before, e):.3f}s" if before is not None else "-"
            ra = f"{e.retry_after:.3f}s" if e.retry_after is not None else "-"
            lines.append(f"{e.seq:4d} {e.started - t0:+8.3f}s {request_of[id(e)]:4d} "
                         f"{attempt_of[id(e)]:7d}  {_response(e):<30} {ra:>11} {gap:>8}  "
                         f"{e.method} {e.path}{' ' + e.model if e.model else ''}")
        return "\n".join(lines)

    def _explain(self, problem: str, hint: str, where: dict[str, Any]) -> str:
        scope = (" (" + ", ".join(f"{k}={v!r}" for k, v in where.items()) + ")") if where else ""
        note = f"\n\nnote: {self.recording}" if self.recording else ""
        return (f"{problem}\n\nrequests{scope}:\n{self.timeline(**where)}\n"
                f"({self.grouping(where.get('attempts_by'))})\n\nto fix: {hint}{note}")


def unused_steps(state: ScriptState) -> list[str]:
    """One line per scripted rule of ``state`` that did not use all its steps."""
    out = []
    for index, rule in enumerate(state.scenario.rules):
        if not rule.script or rule.then == "cycle":
            # A cycling script (a library scenario's recurring burst) never runs out: there
            # is no "rest of the script" a test was meant to reach.
            continue
        used = state.script_pos.get(index, 0)
        if used >= len(rule.script):
            continue
        label = f"rule {index}" + (f" ({rule.name})" if rule.name else "")
        steps = ", ".join(f"step {k}: {describe_step(s)}"
                          for k, s in enumerate(rule.script) if k >= used)
        out.append(f"{label} used {used} of {len(rule.script)} steps; never used: {steps}")
    return out


def describe_step(step: Step) -> str:
    """A short description of a script step: ``error rate_limit (retry_after 1s)``."""
    if step.error is not None:
        extra = (f" (retry_after {step.error.retry_after:g}s)"
                 if step.error.retry_after is not None else "")
        return f"error {step.error.name}{extra}"
    if step.fault is not None:
        return f"fault {step.fault.name}"
    if step.reply is not None and step.reply.text is not None:
        text = step.reply.text
        return f"reply {text if len(text) <= 30 else text[:27] + '...'!r}"
    return "reply"


def _gap(a: Exchange, b: Exchange) -> float:
    return b.started - (a.ended if a.ended is not None else a.started)


def _response(e: Exchange) -> str:
    status = str(e.status) if e.status else "---"
    outcome = e.outcome or ("in flight" if e.ended is None else "")
    if e.outcome.startswith("fault") and e.stream:
        outcome += f" after {e.chunks} chunks"
    return f"{status} {outcome}".strip()


def _got(attempts: list[int]) -> str:
    if not attempts:
        return "no requests"
    if len(attempts) == 1:
        return f"one request in {attempts[0]} attempt{'s' * (attempts[0] != 1)}"
    return f"{len(attempts)} requests with attempts {attempts}"

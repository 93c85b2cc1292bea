"""What the plugin tells the user: the report header, teardown checks, per-test figures and the
terminal summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmfake._assertions import unused_steps

if TYPE_CHECKING:
    from llmfake._plugin._fixture import LLMFake
    from llmfake._plugin._options import Options, SessionSettings
    from llmfake._plugin._session import SessionServer
    from llmfake.journal import Exchange
    from llmfake.scenario._model import Match

FIGURES = ("requests", "faults", "retries", "retry_after_violations")
"""The per-test figures of the summary, in column order."""

_HEADINGS = ("requests", "faults injected", "retries", "Retry-After violations")


def header_lines(settings: SessionSettings, slot: SessionServer | None) -> list[str]:
    """The report header: where the server is (or that each xdist worker has one), the
    scenario and the seed."""
    name = settings.scenario or "default"
    scenario = f"scenario {name} ({settings.origin})"
    if settings.seed is not None:
        seed = f"seed {settings.seed}"
    else:
        seed = f"seed {settings.load(settings.scenario, settings.origin).seed} (the scenario's)"
    where = (slot.url + " (started on first use)" if slot is not None
             else "one server per xdist worker")
    return [f"llmfake: {where}, {scenario}, {seed}"]


def figures(fake: LLMFake) -> dict[str, Any]:
    """What happened in one test, for the summary (JSON-ready: it travels from xdist workers)."""
    journal = list(fake.journal)
    return {
        "tenant": fake.tenant,
        "requests": len(journal),
        "faults": sum(1 for e in journal if e.outcome.startswith(("error", "fault"))),
        "retries": sum(len(g) - 1 for g in fake.journal.requests()),
        "retry_after_violations": len(fake.journal.retry_after_violations()),
    }


def strictness(fake: LLMFake, options: Options) -> str | None:
    """Why requests only the defaults answered fail this test, or None when they do not."""
    if options.strict is not None:
        return "the test is strict" if options.strict else None
    scenario = fake.scenario
    if "strict" in scenario.raw:
        return "the scenario is strict" if scenario.strict else None
    # Under pytest a request that none of the test's own rules matched fails the test, as an
    # unmatched request does with pytest-httpx: a misspelt model or endpoint is loud instead
    # of a quiet default reply. A scenario with its own top-level reply means the defaults.
    if (fake.owns_scenario and "reply" not in scenario.raw
            and any(_narrow(rule.match) for rule in scenario.rules)):
        return "the test's rules match only some requests"
    return None


def _narrow(match: Match) -> bool:
    return match != type(match)()


def unexpected_requests(fake: LLMFake) -> str:
    """One line per request only the defaults answered, with the nearest rule."""
    from llmfake._plugin._explain import nearest_rule

    lines = []
    for e in fake.journal:
        if e.source != "default":
            continue
        lines.append(_request_line(e))
        why = nearest_rule(e, fake.scenario.rules)
        if why is not None:
            lines.append("    " + why)
    return "\n  ".join(lines)


def teardown_problems(fake: LLMFake, options: Options) -> str | None:
    """The teardown checks: requests a strict scenario did not expect, scripted steps never
    used. None when all is well, else the message to fail the test with."""
    problems = []
    strict = strictness(fake, options)
    unexpected = sum(1 for e in fake.journal if e.source == "default") if strict else 0
    if unexpected:
        problems.append(
            f"{strict}, and {unexpected} request(s) matched no rule or script (the defaults "
            "answered):\n  " + unexpected_requests(fake)
            + "\nto fix: add a rule that matches them (match: {endpoint: ..., model: ..., "
              "contains: ...}), or allow them with @pytest.mark.llmfake(strict=False)")
    unmatched = list(fake.state.unmatched)
    if unmatched:
        problems.append(
            f"{len(unmatched)} request(s) matched nothing in the cassette:\n  "
            + "\n  ".join(u.replace("\n", "\n  ") for u in unmatched)
            + "\nto fix: record them with --llmfake-record=new_episodes (real API), or make "
              "the request match the recording (cassette ignore: [...] for volatile fields)")
    unused = (unused_steps(fake.state)
              if options.check_unused and fake.owns_scenario and not fake.recording else [])
    if unused:
        problems.append(
            "scripted steps were never used:\n  " + "\n  ".join(unused)
            + "\nto fix: the client made fewer requests than the script expects: raise its "
              "max_retries or shorten the script; or silence this check with "
              "@pytest.mark.llmfake(check_unused=False)")
    if not problems:
        return None
    return (f"llmfake (tenant {fake.tenant}): " + "\n\n".join(problems)
            + "\n\nrequests:\n" + fake.journal.timeline()
            + f"\n({fake.journal.grouping()})")


def failure_section(fake: LLMFake) -> str:
    """What the fake saw, for the report of a test that failed: the timeline, the requests no
    rule matched (with the nearest rule and what differed), cassette misses, and script steps
    never used. The teardown checks do not run on a failed test; this says it instead."""
    if not len(fake.journal):
        parts = [f"tenant {fake.tenant}: no request reached the fake"]
    else:
        parts = [f"tenant {fake.tenant}: {len(fake.journal)} request(s)\n"
                 + fake.journal.timeline() + f"\n({fake.journal.grouping()})"]
    if fake.journal.recording:
        parts.append(f"note: {fake.journal.recording}")
    if any(e.source == "default" for e in fake.journal) and fake.scenario.rules:
        parts.append("answered by the scenario's defaults, no rule matched:\n  "
                     + unexpected_requests(fake))
    if fake.state.unmatched:
        parts.append("no recording in the cassette matched:\n  "
                     + "\n  ".join(u.replace("\n", "\n  ") for u in fake.state.unmatched))
    unused = unused_steps(fake.state) if fake.owns_scenario and not fake.recording else []
    if unused:
        parts.append("scripted steps never used (the client made fewer requests):\n  "
                     + "\n  ".join(unused))
    return "\n\n".join(parts)


def _request_line(e: Exchange) -> str:
    text = ""
    body = e.body
    if isinstance(body, dict):
        messages = body.get("messages") or body.get("contents") or []
        last = messages[-1] if isinstance(messages, list) and messages else None
        content = last.get("content") if isinstance(last, dict) else None
        if isinstance(content, str):
            text = f" {content if len(content) <= 40 else content[:37] + '...'!r}"
    model = f" model={e.model}" if e.model else ""
    return f"#{e.seq} {e.method} {e.path}{model}{text}"


def summary_lines(rows: Sequence[tuple[str, dict[str, Any]]], where: str) -> list[str]:
    """The terminal summary: one row per test that used the ``llmfake`` fixture, and totals."""
    if not rows:
        return [f"llmfake: {where}; no test used the llmfake fixture"]
    width = max(20, *(len(nodeid) for nodeid, _ in rows))
    width = min(width, 100)
    head = "test".ljust(width) + "".join(f"  {h:>{max(len(h), 8)}}" for h in _HEADINGS)
    lines = [f"server: {where}", head]
    totals = dict.fromkeys(FIGURES, 0)
    for nodeid, fig in rows:
        shown = nodeid if len(nodeid) <= width else "..." + nodeid[-(width - 3):]
        cells = "".join(f"  {fig.get(k, 0):>{max(len(h), 8)}}" for k, h in zip(
            FIGURES, _HEADINGS, strict=True))
        lines.append(shown.ljust(width) + cells)
        for k in FIGURES:
            totals[k] += int(fig.get(k, 0))
    lines.append(f"{len(rows)} test(s): {totals['requests']} requests, {totals['faults']} "
                 f"faults injected, {totals['retries']} retries, "
                 f"{totals['retry_after_violations']} Retry-After violations")
    return lines

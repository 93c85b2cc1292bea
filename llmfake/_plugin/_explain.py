"""Why a request matched no rule: the nearest rule and the fields that differed.

A test whose rule says ``model: gpt-4o`` while the app asks for ``gpt-4o-mini`` gets the
scenario's default reply, and then fails on a text it never scripted. The failure report
names the rule that came closest and what kept it from matching, so the fix is one look away.
The request is parsed again with its provider's own parser (from the journaled body), and each
field of each rule's ``match`` is compared as the engine compares it.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmfake.engine import Call
    from llmfake.journal import Exchange
    from llmfake.scenario._model import Match, Rule


def nearest_rule(exchange: Exchange, rules: tuple[Rule, ...]) -> str | None:
    """``nearest: rule 0 (name): model 'gpt-4o-mini' is not 'gpt-4o'``, or None when the
    scenario has no rule that narrows what it matches."""
    from llmfake.record._journal import parse_call

    _, call = parse_call(exchange.method, exchange.path, exchange.headers, exchange.body)
    best: tuple[int, int, list[str]] | None = None
    for index, rule in enumerate(rules):
        differs = mismatches(rule.match, exchange, call)
        if differs and (best is None or len(differs) < len(best[2])):
            best = (index, len(differs), differs)
    if best is None:
        return None
    index, _, differs = best
    name = rules[index].name
    label = f"rule {index}" + (f" ({name})" if name else "")
    return f"nearest: {label}: " + "; ".join(differs)


def mismatches(match: Match, e: Exchange, call: Call | None) -> list[str]:
    """Each field of ``match`` that the request does not satisfy, said in words."""
    out = []
    if match.endpoint and e.endpoint not in match.endpoint:
        out.append(f"endpoint {e.endpoint!r} is not {_one_of(match.endpoint)}")
    if match.provider and e.provider not in match.provider:
        out.append(f"provider {e.provider!r} is not {_one_of(match.provider)}")
    if match.model is not None and not fnmatch.fnmatchcase(e.model or "", match.model):
        out.append(f"model {e.model!r} does not match {match.model!r}")
    if match.stream is not None and match.stream != e.stream:
        out.append(f"stream is {e.stream}, the rule wants {match.stream}")
    if match.contains is not None:
        text = call.last_user_text if call is not None else ""
        if match.contains.lower() not in text.lower():
            shown = text if len(text) <= 40 else text[:37] + "..."
            out.append(f"the last user message {shown!r} does not contain {match.contains!r}")
    for name, pattern in match.header.items():
        value = e.headers.get(name.lower())
        if value is None or not fnmatch.fnmatchcase(value, pattern):
            out.append(f"header {name} {value!r} does not match {pattern!r}")
    if match.timed:
        out.append("the rule matches only from after= until before= seconds")
    if match.tool_result is not None and not out:
        out.append(f"tool_result: the rule wants {match.tool_result}")
    return out


def _one_of(values: tuple[str, ...]) -> str:
    return repr(values[0]) if len(values) == 1 else "one of " + ", ".join(map(repr, values))

"""Rule matches compiled into matchers (``llmfake.engine._match``) decide exactly as the
per-request walk they replace.

``_matches`` below is the engine's matching as it was before compilation, kept verbatim as the
reference: random matches (written in the scenario format, so they go through its loader) and
random requests must get the same answer from both, globs with metacharacters, case in
``contains``, empty values, missing headers and time-window boundaries included.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from llmfake.engine import Call, Engine, Message, ToolSpec
from llmfake.engine._call import ToolResult
from llmfake.engine._match import answers_tool_call
from llmfake.engine._turns import fits, turns
from llmfake.scenario import scenario_from_dict
from llmfake.scenario._model import ENDPOINTS, PROVIDER_NAMES, Match

# --- the reference: the engine's matching before compilation ---------------------------------
# (answers_tool_call moved to engine._match unchanged: the reference calls it there.)


def _matches(match: Match, call: Call, elapsed: float = 0.0, scale: float = 1.0) -> bool:
    """Whether ``call`` fits ``match``, ``elapsed`` real seconds into the tenant's scenario."""
    if match.timed:
        if match.after is not None and elapsed < match.after * scale:
            return False
        if match.before is not None and elapsed >= match.before * scale:
            return False
    if match.endpoint and call.endpoint not in match.endpoint:
        return False
    if match.provider and call.provider not in match.provider:
        return False
    if match.model is not None and not fnmatch.fnmatchcase(call.model, match.model):
        return False
    if match.stream is not None and match.stream != call.stream:
        return False
    if match.contains is not None and match.contains.lower() not in call.last_user_text.lower():
        return False
    if match.tool_result is not None and match.tool_result != answers_tool_call(call):
        return False
    if match.turns is not None and not fits(match.turns, call):
        return False
    for name, pattern in match.header.items():
        value = call.headers.get(name)
        if value is None or not fnmatch.fnmatchcase(value, pattern):
            return False
    return True


def _reference_rule(rules: Any, call: Call, elapsed: float, scale: float) -> int:
    for index, rule in enumerate(rules):
        if _matches(rule.match, call, elapsed, scale):
            return index
    return -1


class FakeClock:
    """A monotonic clock that moves only when told to, and counts its readings."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def _chat(text: str = "hi", **kw: Any) -> Call:
    return Call("openai", "chat", kw.pop("model", "gpt-4o"), (Message("user", text),), **kw)


# --- random matches and requests -------------------------------------------------------------

# Names and globs share an alphabet, so globs often match, and names hold glob metacharacters
# (matched literally).
NAME_CHARS = "ab4o-.*?[]!^\\"
names = st.one_of(
    st.sampled_from(["gpt-4o", "gpt-4o-mini", "o1", "o3-mini", "claude-3", "", "a*b", "[a]",
                     "gpt-4o\n", "]", "x-key"]),
    st.text(NAME_CHARS, max_size=8))
globs = st.one_of(
    st.sampled_from(["gpt-4o*", "*", "**", "", "gpt-4o", "*mini", "o[1-4]*", "[!g]*", "[]]", "o*",
                     "[", "a[", "*[*", "?", "??*", "[a-c-]*", "a*b", "\\*", "[^a]*", "*\n"]),
    st.text(NAME_CHARS, max_size=6))
# Cased letters, ones whose lower case is longer (İ) or is not a single letter (ẞ, Σ).
texts = st.text("aAbB İıßẞΣσς.", max_size=10)
roles = st.sampled_from(["system", "user", "assistant", "tool"])
HEADER_NAMES = ("x-a", "x-b", "authorization")


@st.composite
def messages(draw: st.DrawFn) -> Message:
    role = draw(roles)
    calls: tuple[tuple[str | None, str], ...] = ()
    results: tuple[ToolResult, ...] = ()
    if role == "assistant":
        calls = tuple(draw(st.lists(st.tuples(st.none() | st.sampled_from(["c1", "c2"]),
                                              st.sampled_from(["get_weather", "search"])),
                                    max_size=2)))
    if role == "tool":
        results = (ToolResult(draw(texts), draw(st.none() | st.sampled_from(["c1", "c2"])),
                              draw(st.none() | st.sampled_from(["get_weather", "search"]))),)
    return Message(role, draw(texts), calls, results)


@st.composite
def calls(draw: st.DrawFn) -> Call:
    return Call(
        draw(st.sampled_from(PROVIDER_NAMES)), draw(st.sampled_from(ENDPOINTS)), draw(names),
        tuple(draw(st.lists(messages(), max_size=5))), stream=draw(st.booleans()),
        tools=tuple(ToolSpec(n) for n in draw(st.lists(st.sampled_from(
            ["get_weather", "search", "a*b"]), max_size=2))),
        headers=draw(st.dictionaries(st.sampled_from(HEADER_NAMES), names, max_size=3)))


def _some(values: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """One name, or a list of them (the format takes both)."""
    return st.sampled_from(values) | st.lists(st.sampled_from(values), min_size=1, max_size=3)


def _globs_taking(value: str) -> st.SearchStrategy[str]:
    """Globs made from ``value``, which it usually fits: itself, a prefix or a suffix with a
    star, one character as ``?``, its case swapped."""
    cut = st.integers(0, len(value))
    return st.one_of(
        st.just(value), cut.map(lambda i: value[:i] + "*"), cut.map(lambda i: "*" + value[i:]),
        cut.map(lambda i: value[:i] + "?" + value[i + 1:]), st.just(value.swapcase()))


@st.composite
def match_docs(draw: st.DrawFn, call: Call | None = None) -> dict[str, Any]:
    """A rule's ``match:`` as a scenario author writes it, each key present or not; given a
    request, many keys are drawn to fit it, so that matches succeed as often as they fail."""
    keys: dict[str, st.SearchStrategy[Any]] = {
        "endpoint": _some(ENDPOINTS),
        "provider": _some(PROVIDER_NAMES),
        "model": globs,
        "contains": texts,
        "header": st.dictionaries(st.sampled_from((*HEADER_NAMES, "X-A")), globs, max_size=2),
        "stream": st.booleans(),
        "tool_result": st.booleans() | st.fixed_dictionaries({}, optional={
            "name": globs, "contains": texts, "id": st.sampled_from(["c1", "c*", "x"])}),
        "turn": st.integers(0, 2),
        "tool_offered": st.lists(st.sampled_from(["get_weather", "*", "se*", "a[*]b"]),
                                 min_size=1, max_size=2),
        "after": st.sampled_from([0, 0.25, 10, 60]),
    }
    if call is not None:
        text = call.last_user_text
        fitting: dict[str, st.SearchStrategy[Any]] = {
            "endpoint": st.just(call.endpoint),
            "provider": st.just([call.provider, "ollama"]),
            "model": _globs_taking(call.model),
            "contains": st.tuples(st.integers(0, len(text)), st.integers(0, 3)).map(
                lambda ij: text[ij[0]:ij[0] + ij[1]].swapcase()),
            "stream": st.just(call.stream),
            "tool_result": st.just(answers_tool_call(call)),
            "turn": st.just(turns(call)),
        }
        if call.headers:
            name = draw(st.sampled_from(sorted(call.headers)))
            fitting["header"] = _globs_taking(call.headers[name]).map(lambda g: {name: g})
        keys = {key: (st.one_of(fitting[key], value) if key in fitting else value)
                for key, value in keys.items()}
    doc = {key: draw(value) for key, value in keys.items() if draw(st.integers(0, 2)) == 0}
    if draw(st.booleans()):
        doc["before"] = doc.get("after", 0) + draw(st.sampled_from([0.5, 10, 30]))
    return doc


def _match(doc: dict[str, Any]) -> Match:
    return scenario_from_dict({"rules": [{"match": doc}]}).rules[0].match


@st.composite
def moments(draw: st.DrawFn, match: Match) -> tuple[float, float]:
    """(elapsed, time_scale), often exactly on a window's bound."""
    scale = draw(st.sampled_from([1.0, 0.01, 0.5, 3.0]))
    bounds = [b * scale for b in (match.after, match.before) if b is not None]
    elapsed = draw(st.sampled_from(bounds) | st.floats(0, 100) if bounds else st.floats(0, 100))
    return elapsed, scale


# --- the compiled matcher agrees with the reference ------------------------------------------


@settings(max_examples=600, deadline=None)
@given(call=calls(), data=st.data())
def test_the_compiled_matcher_agrees_with_the_reference(call: Call, data: st.DataObject) -> None:
    doc = data.draw(match_docs(call), label="match")
    match = _match(doc)
    elapsed, scale = data.draw(moments(match), label="elapsed, time_scale")
    fitted = _matches(match, call, elapsed, scale)
    event(f"matched: {fitted}")
    assert match.matcher(call, elapsed, scale) == fitted


@pytest.mark.parametrize(("doc", "call", "fitted"), [
    # A missing header never matches, even '*'; an empty value is a value.
    ({"header": {"x-a": "*"}}, _chat(), False),
    ({"header": {"x-a": "*"}}, _chat(headers={"x-a": ""}), True),
    ({"header": {"X-A": ""}}, _chat(headers={"x-a": ""}), True),
    ({"header": {"x-a": "b*"}}, _chat(headers={"x-a": "ab"}), False),  # a prefix, not a part
    ({"header": {"x-a": "a?"}}, _chat(headers={"x-a": "ab"}), True),
    # Unclosed and odd brackets are literal or sets exactly as fnmatch reads them.
    ({"model": "["}, _chat(model="["), True),
    ({"model": "a["}, _chat(model="a["), True),
    ({"model": "[]]"}, _chat(model="]"), True),
    ({"model": "[!g]*"}, _chat(model="gpt-4o"), False),
    ({"model": "[!g]*"}, _chat(model="o1"), True),
    ({"model": "o[1-4]*"}, _chat(model="o3-mini"), True),
    ({"model": "\\*"}, _chat(model="\\x"), True),  # a backslash escapes nothing in a glob
    ({"model": "?"}, _chat(model=""), False),
    ({"model": ""}, _chat(model=""), True),
    ({"model": "**"}, _chat(model="anything\nat all"), True),
    ({"model": "gpt-4o*"}, _chat(model="gpt-4o\n"), True),
    ({"model": "gpt-4o"}, _chat(model="gpt-4o\n"), False),
    ({"model": "gpt-4o"}, _chat(model="GPT-4o"), False),  # globs keep case
    ({"model": "4o*"}, _chat(model="gpt-4o"), False),
    # contains ignores case on both sides, with lower cases that are not one letter.
    ({"contains": "WEATHER"}, _chat("the Weather?"), True),
    ({"contains": "İ"}, _chat("i̇"), True),
    ({"contains": "ẞ"}, _chat("ß"), True),
    ({"contains": ""}, _chat(""), True),
    ({"contains": "x"}, Call("openai", "chat", "m"), False),  # no user message: ''
])
def test_edge_cases(doc: dict[str, Any], call: Call, fitted: bool) -> None:
    match = _match(doc)
    assert _matches(match, call) is fitted
    assert match.matcher(call) is fitted


@settings(max_examples=200, deadline=None)
@given(call=calls(), data=st.data(),
       offset=st.sampled_from([0.0, 0.25, 5.0, 10.0, 30.0, 70.0, 1e4]),
       scale=st.sampled_from([1.0, 0.01, 3.0]))
def test_the_engine_picks_the_rule_the_reference_picks(
        call: Call, data: st.DataObject, offset: float, scale: float) -> None:
    # Several rules share one lower-cased message text and one clock reading: the first
    # fitting rule must be the reference's, whatever came before it.
    docs = data.draw(st.lists(match_docs(call), min_size=1, max_size=6), label="matches")
    sc = scenario_from_dict({"time_scale": scale,
                             "rules": [{"match": doc, "reply": "x"} for doc in docs]})
    clock = FakeClock()
    engine = Engine(sc, clock=clock)
    state = engine.tenant(call.tenant)
    clock.now += offset * scale
    expected = _reference_rule(sc.rules, call, clock.now - state.since, scale)
    event(f"rule: {'none' if expected < 0 else 'some'}")
    assert engine.ask(state, call)[0].rule == expected


# --- what compiling buys -----------------------------------------------------------------------


def test_a_scenario_without_windows_never_reads_the_clock() -> None:
    clock = FakeClock()
    engine = Engine(scenario_from_dict({"rules": [
        {"match": {"model": "claude-*"}, "reply": "a"},
        {"match": {"contains": "HELLO"}, "reply": "b"},
    ]}), clock=clock)
    state = engine.tenant("default")
    before = clock.reads
    assert [engine.ask(state, _chat(t))[0].rule for t in ("hello there", "bye")] == [1, -1]
    assert clock.reads == before


def test_the_clock_is_read_once_and_only_when_a_timed_rule_is_reached() -> None:
    clock = FakeClock()
    engine = Engine(scenario_from_dict({"rules": [
        {"match": {"contains": "first"}, "reply": "a"},
        {"match": {"after": "10s"}, "reply": "b"},
        {"match": {"before": "10s"}, "reply": "c"},
    ]}), clock=clock)
    state = engine.tenant("default")
    before = clock.reads
    assert engine.ask(state, _chat("first"))[0].rule == 0
    assert clock.reads == before  # rule 0 matched before any window
    assert engine.ask(state, _chat("second"))[0].rule == 2
    assert clock.reads == before + 1  # two windows tried, one reading
    clock.now += 10
    assert engine.ask(state, _chat("second"))[0].rule == 1


def test_a_match_is_compiled_once_and_holds_only_its_keys() -> None:
    sc = scenario_from_dict({"rules": [
        {"match": {"model": "gpt-4o*", "contains": "Weather", "header": {"X-Team": "*"}}},
        {"match": {"model": "*", "contains": ""}},
    ]})
    first, anything = (rule.match.matcher for rule in sc.rules)
    assert sc.rules[0].match.matcher is first  # cached on the match
    assert len(first.checks) == 2 and first.needle == "weather"  # model, header; contains
    assert anything.checks == () and anything.needle is None  # '*' and '' hold for anything
    # A derived scenario keeps the rules, so their matchers; its own scale still applies.
    slower = dataclasses.replace(sc, time_scale=0.5)
    assert slower.rules[0].match.matcher is first
    assert first(_chat("the weather?", model="gpt-4o-mini", headers={"x-team": ""}))
    assert not first(_chat("the weather?", model="gpt-4o-mini"))  # a missing header fails '*'

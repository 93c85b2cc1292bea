"""The time-window (``after``/``before``) and ``tool_result`` match keys: loading and matching.

The engine reads a monotonic clock; these tests hand it a fake one, so every boundary is exact.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmfake.engine import Call, Engine, Message
from llmfake.errors import ScenarioError
from llmfake.scenario import scenario_from_dict, scenario_from_text


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _call(messages: tuple[Message, ...] = (Message("user", "hi"),), tenant: str = "default"
          ) -> Call:
    return Call("openai", "chat", "gpt-4o", messages, tenant=tenant)


WINDOWED = {
    "rules": [
        {"name": "early", "match": {"before": "10s"}, "error": 503},
        {"name": "middle", "match": {"after": "10s", "before": "20s"}, "error": 500},
        {"name": "late", "match": {"after": 20}, "reply": "late"},
    ],
}


def _source(engine: Engine, **kw: Any) -> str:
    return engine.decide(_call(**kw)).source


# --- loading -------------------------------------------------------------------------------------


def test_window_bounds_are_durations() -> None:
    sc = scenario_from_text("rules:\n  - match: {after: 1m30s, before: '2m'}\n"
                            "  - match: {after: 0.25}\n  - match: {before: 500ms}\n")
    assert [(r.match.after, r.match.before) for r in sc.rules] == [
        (90, 120), (0.25, None), (None, 0.5)]
    assert [r.match.timed for r in sc.rules] == [True, True, True]
    assert scenario_from_dict({"rules": [{"match": {}}]}).rules[0].match.timed is False


@pytest.mark.parametrize(("after", "before"), [("20s", "20s"), ("40s", "20s"), (1, 0)])
def test_an_empty_window_is_rejected(after: object, before: object) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"rules": [{"match": {"after": after, "before": before}}]}, "x.yaml")
    assert info.value.path == "rules[0].match.before"
    assert "must be later than 'after'" in info.value.problem
    assert info.value.source == "x.yaml"


@pytest.mark.parametrize(("match", "path", "words"), [
    ({"after": "soon"}, "rules[0].match.after", "duration"),
    ({"before": "-1s"}, "rules[0].match.before", "duration"),
    ({"tool_result": "yes"}, "rules[0].match.tool_result", "true or false"),
    ({"tool_results": True}, "rules[0].match.tool_results", "did you mean 'tool_result'"),
    ({"since": "1s"}, "rules[0].match.since", "unknown key"),
])
def test_bad_values_name_the_field(match: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"rules": [{"match": match}]})
    assert info.value.path == path
    assert words in str(info.value)


# --- time windows --------------------------------------------------------------------------------


def test_windows_count_from_when_the_tenant_started() -> None:
    clock = FakeClock()
    engine = Engine(scenario_from_dict(WINDOWED), clock=clock)
    engine.tenant("default")  # its clock starts here
    seen = []
    for t in (0, 9.999, 10, 19.999, 20, 3600):
        clock.now = 1000.0 + t
        seen.append(_source(engine))
    # after is inclusive and before exclusive, so consecutive windows neither overlap nor gap.
    assert seen == ["rule 0", "rule 0", "rule 1", "rule 1", "rule 2", "rule 2"]


def test_time_scale_multiplies_the_window() -> None:
    clock = FakeClock()
    engine = Engine(scenario_from_dict({**WINDOWED, "time_scale": 0.01}), clock=clock)
    engine.tenant("default")
    seen = []
    for t in (0.0999, 0.1, 0.1999, 0.2):
        clock.now = 1000.0 + t
        seen.append(_source(engine))
    assert seen == ["rule 0", "rule 1", "rule 1", "rule 2"]


def test_set_scenario_and_reset_restart_the_clock() -> None:
    clock = FakeClock()
    sc = scenario_from_dict(WINDOWED)
    engine = Engine(scenario_from_dict({}), clock=clock)
    engine.tenant("a")
    clock.now += 100
    engine.set_scenario("a", sc)  # put in force 100 s after the tenant was made
    assert _source(engine, tenant="a") == "rule 0"
    clock.now += 15
    assert _source(engine, tenant="a") == "rule 1"
    engine.tenant("a").reset()
    assert _source(engine, tenant="a") == "rule 0"


def test_each_tenant_has_its_own_clock() -> None:
    clock = FakeClock()
    engine = Engine(scenario_from_dict(WINDOWED), clock=clock)
    engine.tenant("old")
    clock.now += 25
    assert _source(engine, tenant="old") == "rule 2"
    assert _source(engine, tenant="new") == "rule 0"  # created by this very request


def test_freeze_time_does_not_stop_the_window_clock() -> None:
    clock = FakeClock()
    engine = Engine(scenario_from_dict({**WINDOWED, "freeze_time": True}), clock=clock)
    engine.tenant("default")
    clock.now += 25
    plan = engine.decide(_call())
    assert plan.source == "rule 2"
    assert plan.created == 1_700_000_000


def test_a_window_match_leaves_other_rules_counts_alone() -> None:
    # A rule outside its window does not match, so it uses up neither script steps nor draws.
    clock = FakeClock()
    engine = Engine(scenario_from_dict({"rules": [
        {"match": {"after": "10s"}, "script": [{"error": 500}, {"reply": "second"}]},
    ]}), clock=clock)
    engine.tenant("default")
    assert _source(engine) == "default"
    assert _source(engine) == "default"
    clock.now += 10
    assert [_source(engine) for _ in range(3)] == ["rule 0 step 0", "rule 0 step 1",
                                                   "rule 0 step 1"]


def test_same_requests_at_the_same_relative_times_give_the_same_plans() -> None:
    doc = {"seed": 11, "freeze_time": True, "rules": [
        {"match": {"before": "5s"}, "chaos": [{"probability": 0.5, "error": 503}]},
        {"match": {"after": "5s"}, "chaos": [{"probability": 0.2, "error": 500}]},
    ]}
    runs = []
    for start in (50.0, 12345.0):  # different absolute times, same offsets
        clock = FakeClock(start)
        engine = Engine(scenario_from_dict(doc), clock=clock)
        engine.tenant("default")
        plans = []
        for i in range(40):
            clock.now = start + i * 0.25
            plan = engine.decide(_call())
            plans.append((plan.source, plan.error, plan.choices))
        runs.append(plans)
    assert runs[0] == runs[1]
    assert {s for s, _, _ in runs[0]} >= {"rule 0 chaos 0", "rule 1 chaos 0", "rule 1"}


# --- tool_result ---------------------------------------------------------------------------------

QUESTION = Message("user", "weather in Paris?")
CALL = Message("assistant", 'get_weather{"city":"Paris"}')
RESULT = Message("tool", '{"temp": 21}')


@pytest.mark.parametrize(("messages", "answers"), [
    ((QUESTION,), False),
    ((Message("system", "be brief"), QUESTION), False),
    ((QUESTION, CALL, RESULT), True),
    ((QUESTION, CALL, RESULT, RESULT), True),
    # Anthropic: tool results and a user text in one turn (the text comes last).
    ((QUESTION, CALL, RESULT, Message("user", "and in Lyon?")), True),
    # The tool result was answered; a new question follows.
    ((QUESTION, CALL, RESULT, Message("assistant", "21 C"), Message("user", "thanks")), False),
    ((RESULT,), True),
])
def test_tool_result_matches_requests_answering_a_tool_call(
        messages: tuple[Message, ...], answers: bool) -> None:
    engine = Engine(scenario_from_dict({"rules": [
        {"match": {"tool_result": True}, "reply": "answer"},
        {"match": {"tool_result": False}, "reply": {"tool_calls": [{"name": "get_weather"}]}},
    ]}))
    assert _source(engine, messages=messages) == ("rule 0" if answers else "rule 1")

"""The agent-loop keys of the format: what they accept, and the mistakes they name."""

from __future__ import annotations

from typing import Any

import pytest

from llmfake.errors import ScenarioError
from llmfake.scenario import scenario_from_dict


@pytest.mark.parametrize(("doc", "path", "words"), [
    ({"rules": [{"match": {"tool_result": True}, "reply": {"call_tool": "first"}}]},
     "rules[0].reply.call_tool", "add 'loop: true'"),
    ({"rules": [{"match": {"tool_result": {"name": "a"}},
                 "script": [{"reply": "x"}, {"reply": {"call_tool": {"tool": "b"}}}]}]},
     "rules[0].script[1].reply.call_tool", "the loop ends"),
    ({"rules": [{"match": {"tool_result": {"regex": "("}}}]},
     "rules[0].match.tool_result.regex", "not a valid regular expression"),
    ({"rules": [{"match": {"tool_result": {"nam": "x"}}}]},
     "rules[0].match.tool_result.nam", "did you mean 'name'"),
    ({"rules": [{"match": {"tool_result": "yes"}}]},
     "rules[0].match.tool_result", "true or false, or a mapping"),
    ({"rules": [{"match": {"turn": -1}}]}, "rules[0].match.turn", "from 0"),
    ({"rules": [{"match": {"tool_offered": []}}]}, "rules[0].match.tool_offered",
     "at least one name"),
    ({"reply": {"call_tool": {"count": 0}}}, "reply.call_tool.count", "from 1 to 128"),
    ({"reply": {"call_tool": "first", "tool_calls": [{"name": "f"}]}}, "reply.call_tool",
     "not both"),
])
def test_mistakes_name_the_key(doc: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc)
    assert info.value.path == path
    assert words in str(info.value)


def test_the_keys_compile_for_the_engine() -> None:
    sc = scenario_from_dict({"reply": {"call_tool": "seeded"}, "rules": [
        {"match": {"turn": 2, "tool_offered": "search", "tool_result": {"name": "s*"}},
         "reply": {"call_tool": {"tool": "next", "count": 3, "loop": True}}},
        {"match": {"tool_result": False}}]})
    assert sc.reply.call_tool is not None and sc.reply.call_tool.tool == "seeded"
    turns = sc.rules[0].match.turns
    assert turns is not None and (turns.turn, turns.offered) == (2, ("search",))
    assert turns.result is not None and turns.result.name == "s*"
    assert sc.rules[0].match.tool_result is True
    reply = sc.rules[0].step.reply
    fit = reply.call_tool if reply is not None else None
    assert fit is not None and (fit.tool, fit.count, fit.loop) == ("next", 3, True)
    # A plain boolean needs no turn check: the engine's path for it is unchanged.
    assert sc.rules[1].match.turns is None and sc.rules[1].match.tool_result is False

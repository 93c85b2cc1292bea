"""Loading scenarios: every input form, the error messages, durations, and the step helpers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import llmfake
from llmfake.errors import LLMFakeError, ScenarioError
from llmfake.scenario import Scenario, load_scenario, scenario_from_dict, scenario_from_text
from llmfake.scenario._load import DEFAULT_FROZEN_TIME, parse_step

RETRY_DRILL = """\
name: retry-drill
seed: 7
latency: {ttft: 120ms, per_token: 15ms, jitter: 10%}
limits: {requests_per_minute: 60, tokens_per_minute: 40000, max_concurrent: 8}
reply: {text: "Hello from llmfake."}
rules:
  - match: {endpoint: embeddings}
    reply: {embedding: {dimensions: 1536}}
  - match: {provider: anthropic}
    script:
      - {error: overloaded}
      - {error: rate_limit, retry_after: 2s}
      - {fault: disconnect, after_chunks: 3}
      - {reply: {text: finally}}
    then: cycle
"""


def _check_retry_drill(sc: Scenario) -> None:
    assert sc.name == "retry-drill"
    assert sc.seed == 7
    assert sc.latency.ttft == pytest.approx(0.12)
    assert sc.latency.per_token == pytest.approx(0.015)
    assert sc.latency.jitter == pytest.approx(0.1)
    assert sc.limits.requests_per_minute == 60
    assert sc.limits.max_concurrent == 8
    assert sc.reply.text == "Hello from llmfake."
    assert sc.rules[0].match.endpoint == ("embeddings",)
    assert sc.rules[0].step.reply is not None
    assert sc.rules[0].step.reply.embedding_dimensions == 1536
    script = sc.rules[1].script
    assert [s.error.name if s.error else None for s in script] == [
        "overloaded", "rate_limit", None, None]
    assert script[1].error is not None
    assert script[1].error.retry_after == 2.0
    assert script[2].fault is not None
    assert script[2].fault.after_chunks == 3
    assert script[3].reply is not None
    assert script[3].reply.text == "finally"
    assert sc.rules[1].then == "cycle"


# --- input forms ---------------------------------------------------------------------------------


def test_yaml_text() -> None:
    sc = scenario_from_text(RETRY_DRILL, "drill.yaml")
    _check_retry_drill(sc)
    assert sc.source == "drill.yaml"


def test_json_text() -> None:
    text = json.dumps(yaml.safe_load(RETRY_DRILL))
    assert text.startswith("{")
    _check_retry_drill(scenario_from_text(text))


def test_dict() -> None:
    doc = yaml.safe_load(RETRY_DRILL)
    sc = scenario_from_dict(doc)
    _check_retry_drill(sc)
    assert sc.source == "<dict>"
    assert sc.raw is doc
    assert load_scenario(doc) == sc


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_file_path(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"drill{suffix}"
    text = json.dumps(yaml.safe_load(RETRY_DRILL)) if suffix == ".json" else RETRY_DRILL
    path.write_text(text, encoding="utf-8")
    for spec in (path, str(path)):
        sc = load_scenario(spec)
        _check_retry_drill(sc)
        assert sc.source == str(path)


def test_builtin_default() -> None:
    sc = load_scenario("default")
    assert sc.name == "default"
    assert sc.source == "default"
    assert sc.rules == ()
    assert sc.reply.text is None
    assert load_scenario() == sc
    assert load_scenario(None) == sc
    assert "default" in llmfake.builtin_names()


def test_a_scenario_passes_through() -> None:
    sc = scenario_from_dict({"seed": 3})
    assert load_scenario(sc) is sc


def test_empty_text_is_the_default_scenario() -> None:
    sc = scenario_from_text("# nothing but a comment\n")
    assert sc == Scenario(source=sc.source)


def test_unknown_name_lists_the_builtins() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("no-such-scenario")
    assert info.value.source == "no-such-scenario"
    assert "no such file" in info.value.problem
    assert "built-ins: " in info.value.problem
    assert "default" in info.value.problem


def test_near_miss_name_gets_a_hint() -> None:
    with pytest.raises(ScenarioError, match=r"did you mean 'default'\?"):
        load_scenario("defualt")


def test_wrong_spec_type() -> None:
    with pytest.raises(ScenarioError, match="expected a Scenario, a dict, a path"):
        load_scenario(42)


def test_document_must_be_a_mapping() -> None:
    with pytest.raises(ScenarioError, match="expected a mapping with keys name, description"):
        scenario_from_text("- a\n- b\n", "list.yaml")


# --- error messages ------------------------------------------------------------------------------


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nrules:\n  - match: {endpoint: chat\n  - reply: hi\n",
                    encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.source == str(path)
    assert str(err).startswith(f"{path}: line ")
    assert "column" in err.problem
    assert "not valid YAML or JSON" in err.problem


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(ScenarioError, match=r"line 2, column \d+: not valid YAML or JSON"):
        scenario_from_text('{"seed": 1,\n "rules": [}', "x.json")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ScenarioError, match="cannot read the file") as info:
        load_scenario(path)
    assert info.value.source == str(path)


def test_error_names_file_field_and_what_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - reply: ok\n  - script:\n      - {error: teapot}\n",
                    encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.source == str(path)
    assert err.path == "rules[1].script[0].error"
    assert str(err) == f"{path}: rules[1].script[0].error: {err.problem}"
    assert err.problem.startswith("unknown error")
    assert "'teapot'" in err.problem
    assert "HTTP status from 400 to 599" in err.problem
    assert "rate_limit" in err.problem
    assert "overloaded" in err.problem


@pytest.mark.parametrize(("doc", "path", "words"), [
    ({"replay": "hi"}, "replay", ["did you mean 'reply'?", "allowed keys: name"]),
    ({"latency": {"ttf": "1s"}}, "latency.ttf", ["did you mean 'ttft'?", "ttft, per_token"]),
    ({"rules": [{"mtach": {}}]}, "rules[0].mtach", ["did you mean 'match'?"]),
    ({"rules": [{"script": [{"retry-after": 1}]}]}, "rules[0].script[0].retry-after",
     ["did you mean 'retry_after'?"]),
    ({"rules": [{"error": "rate-limit"}]}, "rules[0].error", ["did you mean 'rate_limit'?"]),
    ({"rules": [{"fault": "disconect"}]}, "rules[0].fault",
     ["did you mean 'disconnect'?", "use one of reset, hang"]),
    ({"rules": [{"match": {"endpoint": "chats"}}]}, "rules[0].match.endpoint",
     ["did you mean 'chat'?", "embeddings"]),
    ({"rules": [{"match": {"provider": ["openai", "antropic"]}}]},
     "rules[0].match.provider[1]", ["did you mean 'anthropic'?", "gemini"]),
    ({"rules": [{"then": "cylce", "script": [{}]}]}, "rules[0].then", ["did you mean 'cycle'?"]),
    ({"reply": {"finish_reason": "stopp"}}, "reply.finish_reason", ["did you mean 'stop'?"]),
])
def test_did_you_mean(doc: dict[str, Any], path: str, words: list[str]) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc, "hint.yaml")
    assert info.value.path == path
    assert str(info.value).startswith(f"hint.yaml: {path}: ")
    for word in words:
        assert word in info.value.problem


@pytest.mark.parametrize(("doc", "path", "words"), [
    ({"seed": -1}, "seed", "from 0 to"),
    ({"seed": "7"}, "seed", "expected a whole number, got the string '7'"),
    ({"name": 5}, "name", "expected a string, got int 5"),
    ({"limits": {"max_concurrent": 0}}, "limits.max_concurrent", "got 0"),
    ({"limits": {"max_request_bytes": "lots"}}, "limits.max_request_bytes", "10MB"),
    ({"auth": {"required": "yes"}}, "auth.required", "expected true or false"),
    ({"rules": [{"script": []}]}, "rules[0].script", "at least one step"),
    ({"rules": [{"chaos": [{"error": 500}]}]}, "rules[0].chaos[0]", "'probability'"),
    ({"rules": [{"chaos": [{"probability": 0.1}]}]}, "rules[0].chaos[0]",
     "an 'error' or a 'fault'"),
    ({"rules": [{"chaos": [{"probability": 2, "error": 500}]}]},
     "rules[0].chaos[0].probability", "from 0 to 1"),
    ({"rules": [{"error": 500, "reply": "hi"}]}, "rules[0].reply", "not both"),
    ({"rules": [{"retry_after": 1}]}, "rules[0].retry_after", "goes with 'error'"),
    ({"rules": [{"error": 429, "after_chunks": 1}]}, "rules[0].after_chunks",
     "goes with 'fault'"),
    ({"rules": [{"error": 700}]}, "rules[0].error", "from 400 to 599"),
    ({"rules": [{"error": 429, "status": 200}]}, "rules[0].status", "from 400 to 599"),
    ({"rules": [{"headers": {"x-a": [1]}}]}, "rules[0].headers.x-a", "expected a string"),
    ({"reply": {"tool_calls": [{"arguments": {}}]}}, "reply.tool_calls[0]", "needs a 'name'"),
    ({"reply": {"tool_calls": [{"name": "f", "arguments": 3}]}},
     "reply.tool_calls[0].arguments", "an object or a JSON string"),
    ({"reply": {"json_schema": "object"}}, "reply.json_schema", "JSON Schema object"),
    ({"reply": {"generate": {"words": 0}}}, "reply.generate.words", "from 1 to 100000"),
    ({"reply": {"embedding": {"dimensions": 70000}}}, "reply.embedding.dimensions", "65536"),
    ({"reply": 5}, "reply", "expected a mapping with keys text, echo"),
    ({"models": ["a", 3]}, "models[1]", "expected a string"),
])
def test_problems_name_the_field(doc: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc, "s.yaml")
    assert (info.value.source, info.value.path) == ("s.yaml", path)
    assert words in info.value.problem


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)
    assert issubclass(ScenarioError, LLMFakeError)
    with pytest.raises(ValueError, match="seed"):
        scenario_from_dict({"seed": "x"})
    err = ScenarioError("bad", path="a.b", source="f.yaml")
    assert (str(err), err.problem, err.path, err.source) == ("f.yaml: a.b: bad", "bad", "a.b",
                                                             "f.yaml")
    assert str(ScenarioError("bad", source="f.yaml")) == "f.yaml: bad"


# --- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [
    ("120ms", 0.12), ("2s", 2.0), (1.5, 1.5), ("1.5", 1.5), ("1m30s", 90.0), (0, 0.0),
    ("250us", 0.00025), ("3µs", 3e-6), ("1h", 3600.0), (" 2 s ", 2.0), ("1s 500ms", 1.5),
    (".5s", 0.5), (7, 7.0),
])
def test_durations(value: object, seconds: float) -> None:
    sc = scenario_from_dict({"latency": {"ttft": value, "per_token": value}})
    assert sc.latency.ttft == pytest.approx(seconds)
    assert sc.latency.per_token == pytest.approx(seconds)
    step = parse_step({"error": "rate_limit", "retry_after": value})
    assert step.error is not None
    assert step.error.retry_after == pytest.approx(seconds)


def test_durations_from_yaml() -> None:
    sc = scenario_from_text("latency: {ttft: 120ms, per_token: 1.5}\n"
                            "rules: [{fault: hang, duration: 1m30s}]\n")
    assert sc.latency.ttft == pytest.approx(0.12)
    assert sc.latency.per_token == 1.5
    assert sc.rules[0].step.fault is not None
    assert sc.rules[0].step.fault.duration == 90.0


@pytest.mark.parametrize("value", ["fast", "-1s", -1, "1d", "", True, None, [1], "1e3s"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"latency": {"ttft": value}})
    assert info.value.path == "latency.ttft"
    assert "duration" in info.value.problem


@pytest.mark.parametrize(("value", "fraction"), [
    ("10%", 0.1), (" 5 %", 0.05), ("100%", 1.0), ("0%", 0.0), (0.25, 0.25), (1, 1.0),
])
def test_jitter(value: object, fraction: float) -> None:
    assert scenario_from_dict({"latency": {"jitter": value}}).latency.jitter == pytest.approx(
        fraction)


def test_jitter_percentage_from_yaml() -> None:
    assert scenario_from_text("latency: {jitter: 10%}").latency.jitter == pytest.approx(0.1)


@pytest.mark.parametrize(("value", "words"), [
    ("ten%", "percentage such as 10%"), ("150%", "from 0 to 1"), (1.5, "from 0 to 1"),
    ("0.1", "expected a number"), (-0.1, "from 0 to 1"),
])
def test_bad_jitter(value: object, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"latency": {"jitter": value}})
    assert info.value.path == "latency.jitter"
    assert words in info.value.problem


_JAN_1_2025 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp()


@pytest.mark.parametrize(("text", "expected"), [
    ("freeze_time: true", DEFAULT_FROZEN_TIME),
    ("freeze_time: false", None),
    ("freeze_time: null", None),
    ("freeze_time: 1700000123", 1_700_000_123.0),
    ("freeze_time: 1.5", 1.5),
    ("freeze_time: '2025-01-01T00:00:00Z'", _JAN_1_2025),
    ("freeze_time: 2025-01-01T00:00:00Z", _JAN_1_2025),  # a YAML timestamp
    ("freeze_time: '2025-01-01T01:00:00+01:00'", _JAN_1_2025),
    ("freeze_time: '2025-01-01 00:00:00'", _JAN_1_2025),  # naive means UTC
    ("freeze_time: '2025-01-01'", _JAN_1_2025),
])
def test_freeze_time(text: str, expected: float | None) -> None:
    assert scenario_from_text(text).freeze_time == expected


def test_freeze_time_unset_means_the_clock() -> None:
    assert scenario_from_dict({}).freeze_time is None
    assert DEFAULT_FROZEN_TIME == 1_700_000_000.0


@pytest.mark.parametrize("value", ["yesterday", -5, "2025-13-01", [], {"at": 1}])
def test_bad_freeze_time(value: object) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"freeze_time": value})
    assert info.value.path == "freeze_time"
    assert "ISO 8601" in info.value.problem
    assert "epoch second" in info.value.problem


def test_sizes() -> None:
    assert scenario_from_dict({}).limits.max_request_bytes == 32 * 1024 * 1024
    for value, size in [("10MB", 10_000_000), ("512kib", 524_288), (1024, 1024), ("3 GB", 3e9)]:
        sc = scenario_from_dict({"limits": {"max_request_bytes": value}})
        assert sc.limits.max_request_bytes == size


def test_defaults_and_normalisation() -> None:
    sc = scenario_from_dict({
        "auth": {"keys": ["sk-1"]},
        "rules": [{"match": {"endpoint": "chat", "header": {"X-Env": "ci*"}},
                   "headers": {"X-Should-Retry": "false", "X-N": 3}},
                  {"script": [{"reply": "one"}]},
                  {"reply": {"generate": True}}],
    })
    assert sc.auth.required is True  # keys imply required
    assert scenario_from_dict({"auth": {"keys": ["k"], "required": False}}).auth.required is False
    first, second, third = sc.rules
    assert first.match.endpoint == ("chat",)
    assert first.match.provider == ()
    assert first.match.header == {"x-env": "ci*"}
    assert first.step.headers == {"x-should-retry": "false", "x-n": "3"}
    assert second.then == "last"
    assert second.script[0].reply is not None
    assert second.script[0].reply.text == "one"
    assert third.step.reply is not None
    assert third.step.reply.generate is not None
    assert third.step.reply.generate.sentences is None


@pytest.mark.parametrize(("value", "name", "status"), [
    ("rate_limit", "rate_limit", None), (429, "rate_limit", 429), ("503", "unavailable", 503),
    (502, "bad_gateway", 502), (418, "bad_request", 418), (599, "server_error", 599),
    (529, "overloaded", 529),
])
def test_error_by_name_or_status(value: object, name: str, status: int | None) -> None:
    step = parse_step({"error": value})
    assert step.error is not None
    assert (step.error.name, step.error.status) == (name, status)


def test_error_event_carries_its_error() -> None:
    step = parse_step({"fault": "error_event", "error": "rate_limit", "reply": "partial"})
    assert step.error is None
    assert step.fault is not None
    assert step.fault.error is not None
    assert step.fault.error.name == "rate_limit"
    assert step.reply is not None
    assert step.reply.text == "partial"
    default = parse_step({"fault": "error_event"})
    assert default.fault is not None
    assert default.fault.error is not None
    assert default.fault.error.name == "server_error"


# --- Python helpers ------------------------------------------------------------------------------


def test_helpers_return_plain_dicts() -> None:
    assert llmfake.reply("hi") == {"reply": {"text": "hi"}}
    assert llmfake.reply(words=50) == {"reply": {"generate": {"words": 50}}}
    assert llmfake.reply(tool_calls=[{"name": "f", "arguments": {"a": 1}}]) == {
        "reply": {"tool_calls": [{"name": "f", "arguments": {"a": 1}}]}}
    assert llmfake.reply(embedding_dimensions=8, latency={"ttft": "1s"}) == {
        "reply": {"embedding": {"dimensions": 8}}, "latency": {"ttft": "1s"}}
    assert llmfake.error("rate_limit", retry_after="2s") == {"error": "rate_limit",
                                                             "retry_after": "2s"}
    assert llmfake.error(503, message="down") == {"error": 503, "message": "down"}
    assert llmfake.fault("disconnect", after_chunks=3) == {"fault": "disconnect",
                                                           "after_chunks": 3}
    assert llmfake.fault("reset") == {"fault": "reset"}
    step = llmfake.fault("error_event", error="overloaded", after_chunks=1)
    assert json.loads(json.dumps(step)) == step


def test_helper_steps_load_inside_a_script() -> None:
    script = [
        llmfake.error("overloaded"),
        llmfake.error("rate_limit", retry_after="2s", headers={"x-should-retry": "true"}),
        llmfake.fault("disconnect", after_chunks=3),
        llmfake.fault("hang", duration="5s"),
        llmfake.reply("finally", finish_reason="length"),
        llmfake.reply(sentences=2, latency={"ttft": "100ms"}),
    ]
    sc = scenario_from_dict({"rules": [{"match": {"provider": "openai"}, "script": script}]})
    steps = sc.rules[0].script
    assert steps[0].error is not None
    assert steps[0].error.name == "overloaded"
    assert steps[1].error is not None
    assert steps[1].error.retry_after == 2.0
    assert steps[1].headers == {"x-should-retry": "true"}
    assert steps[2].fault is not None
    assert steps[2].fault.after_chunks == 3
    assert steps[3].fault is not None
    assert steps[3].fault.duration == 5.0
    assert steps[4].reply is not None
    assert steps[4].reply.finish_reason == "length"
    assert steps[5].reply is not None
    assert steps[5].reply.generate is not None
    assert steps[5].reply.generate.sentences == 2
    assert steps[5].latency is not None
    assert steps[5].latency.ttft == pytest.approx(0.1)


@pytest.mark.parametrize(("make", "source", "words"), [
    (lambda: llmfake.error("rate-limit"), "llmfake.error()", "did you mean 'rate_limit'?"),
    (lambda: llmfake.error(200), "llmfake.error()", "from 400 to 599"),
    (lambda: llmfake.error("quota", retry_after="soon"), "llmfake.error()", "duration"),
    (lambda: llmfake.fault("explode"), "llmfake.fault()", "unknown fault 'explode'"),
    (lambda: llmfake.fault("disconnect", after_chunks=-1), "llmfake.fault()", "-1"),
    (lambda: llmfake.reply(words=0), "llmfake.reply()", "from 1 to 100000"),
    (lambda: llmfake.reply(finish_reason="done"), "llmfake.reply()", "finish reason"),
])
def test_helpers_fail_at_once(make: Any, source: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        make()
    assert info.value.source == source
    assert words in info.value.problem


@pytest.mark.parametrize(("doc", "path"), [
    ({"rules": [{"error": "\u2074\u2070\u2070"}]}, "rules[0].error"),  # superscript digits
    ({"latency": {"ttft": 10**400}}, "latency.ttft"),
    ({"latency": {"jitter": 10**400}}, "latency.jitter"),
    ({"rules": [{"chaos": [{"probability": 10**400, "error": 500}]}]},
     "rules[0].chaos[0].probability"),
    ({"freeze_time": 10**400}, "freeze_time"),
    ({"freeze_time": float("inf")}, "freeze_time"),
    ({"freeze_time": "1960-01-01T00:00:00Z"}, "freeze_time"),
    ({"rules": [{"fault": "reset", "status": "banana"}]}, "rules[0].status"),
    ({"rules": [{"fault": "reset", "error": "rate_limit"}]}, "rules[0].error"),
])
def test_hostile_values_get_a_scenario_error(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc)
    assert info.value.path == path


def test_sizes_past_2_to_the_63_mean_unlimited() -> None:
    sc = scenario_from_dict({"limits": {"max_request_bytes": "9" * 400}})
    assert sc.limits.max_request_bytes >= 2**62


def test_unquoted_yaml_date_is_a_freeze_time() -> None:
    sc = scenario_from_text("freeze_time: 2025-01-01\n")
    assert sc.freeze_time == 1_735_689_600


def test_a_name_too_long_for_a_path_is_an_unknown_builtin() -> None:
    with pytest.raises(ScenarioError, match="no built-in scenario"):
        load_scenario("x" * 5000)


# --- every mistake at once -----------------------------------------------------------------------

THREE_TYPOS = """\
latency: {ttft: 2 seconds}
rules:
  - match: {endpoint: chats}
    script:
      - {eror: rate_limit}
"""


def test_three_mistakes_are_three_errors_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "typos.yaml"
    path.write_text(THREE_TYPOS, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert [p for p, _ in err.problems] == [
        "latency.ttft", "rules[0].match.endpoint", "rules[0].script[0].eror"]
    assert (err.path, err.problem) == err.problems[0]
    lines = str(err).splitlines()
    assert lines == [f"{path}: {p}: {m}" for p, m in err.problems]
    assert lines[1].endswith("(did you mean 'chat'?); use one of chat, responses, completions, "
                             "embeddings, models, count_tokens")
    assert "unknown key 'eror' (did you mean 'error'?)" in lines[2]


def test_mistakes_between_keys_are_reported_with_the_others() -> None:
    doc = {"seed": "7", "rules": [{"retry_after": "2s", "after_chunks": 1},
                                  {"error": 500, "reply": "x"}],
           "chaos": [{"probability": 0.1}, {"error": 500}]}
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc, "s.yaml")
    assert [p for p, _ in info.value.problems] == [
        "seed", "rules[0].retry_after", "rules[0].after_chunks", "rules[1].reply", "chaos[0]",
        "chaos[1]"]
    assert "'retry_after' goes with 'error'" in str(info.value)
    assert "needs a 'probability'" in info.value.problems[-1][1]


def test_a_step_built_in_python_reports_every_mistake() -> None:
    with pytest.raises(ScenarioError) as info:
        llmfake.error("rate-limit", retry_after="soon", status=200)
    assert [p for p, _ in info.value.problems] == ["error", "retry_after", "status"]

"""The published JSON Schema and the loader accept the same scenarios.

Both come from one declaration (``llmfake.scenario._format``), but each kind of value has a check
and a schema of its own, and the rules between keys are said twice (in Python and in JSON
Schema): documents generated to satisfy the schema always load; a valid document with one
mutation is rejected by both, and the loader's error names the mutated field. The built-in
scenarios, a set of hand-written documents covering every key and every YAML example of
docs/scenarios.md are valid for both.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import llmfake
from llmfake._duration import parse_duration
from llmfake.errors import ScenarioError
from llmfake.scenario._load import builtin_names, parse_step, scenario_from_dict, scenario_from_text
from llmfake.scenario._model import (
    ENDPOINTS,
    ERROR_NAMES,
    ERROR_STATUS,
    FAULT_NAMES,
    FINISH_REASONS,
    PROVIDER_NAMES,
)
from llmfake.scenario._schema import SCHEMA_ID, schema
from llmfake.scenario._values import (
    DURATION_PATTERN,
    ISO_PATTERN,
    PERCENT_PATTERN,
    SIZE_PATTERN,
    SPREAD_PERCENT_PATTERN,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schema()
DEFS = SCHEMA["$defs"]
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
Json = Any


def schema_errors(doc: Json) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(doc)]


# --- the schema itself ---------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == SCHEMA_ID == "https://llmfake.dev/schema/scenario.json"
    assert SCHEMA["title"]
    assert llmfake.schema() == SCHEMA


def test_schema_returns_a_fresh_copy() -> None:
    first = schema()
    first["$defs"]["Step"]["properties"]["headers"]["additionalProperties"]["type"] = "null"
    first["properties"].clear()
    assert schema() == SCHEMA


def test_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    from llmfake.cli import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA


STEP_KEYS = {"reply", "error", "fault", "retry_after", "should_retry", "message", "status",
             "after_chunks", "after_bytes", "duration", "drip", "latency", "headers"}


def test_schema_keys_are_the_formats_keys() -> None:
    assert set(SCHEMA["properties"]) == {
        "name", "description", "seed", "freeze_time", "time_scale", "latency", "limits", "reply",
        "rules", "chaos", "auth", "models", "strict", "cassette", "capacity", "batch"}
    assert set(DEFS["Capacity"]["properties"]) == {"slots", "queue", "prefill", "slowdown",
                                                   "error", "retry_after"}
    assert set(DEFS["Batch"]["properties"]) == {
        "outcome", "validating", "in_progress", "finalizing", "progress", "max_files",
        "max_storage"}
    assert set(DEFS["Rule"]["properties"]) == {"name", "match", "script", "then", "chaos",
                                               *STEP_KEYS}
    assert set(DEFS["Step"]["properties"]) == STEP_KEYS
    assert set(DEFS["Chaos"]["properties"]) == {"probability", *STEP_KEYS}
    assert set(DEFS["Reply"]["properties"]) == {
        "text", "echo", "generate", "tool_calls", "json", "json_schema", "embedding",
        "finish_reason", "call_tool"}
    assert set(DEFS["Match"]["properties"]) == {
        "endpoint", "provider", "model", "contains", "header", "stream", "tool_result", "after",
        "before", "turn", "tool_offered"}
    assert list(ERROR_NAMES) == list(ERROR_STATUS)
    assert {"duration", "Step", "Reply", "Latency", "Match", "Rule"} <= set(DEFS)


def test_names_are_described_in_the_schema() -> None:
    faults = DEFS["Step"]["properties"]["fault"]["anyOf"]
    assert [(f["const"], f["description"]) for f in faults] == list(FAULT_NAMES.items())
    errors = [e for e in DEFS["Step"]["properties"]["error"]["anyOf"] if "const" in e]
    assert [(e["const"], e["description"]) for e in errors] == list(ERROR_NAMES.items())


def _objects(node: Json, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}/{i}")


def test_every_object_is_closed_and_every_property_described() -> None:
    objects = list(_objects(SCHEMA))
    assert len(objects) >= 12
    for where, obj in objects:
        if where.endswith("/then"):  # the if/then constraint of a step, not a definition
            continue
        assert obj["additionalProperties"] is False, where
        for name, prop in obj["properties"].items():
            description = prop.get("description")
            assert isinstance(description, str), f"{where}/properties/{name}"
            assert description.endswith("."), f"{where}/properties/{name}"


@pytest.mark.parametrize(("pattern", "good", "bad"), [
    (DURATION_PATTERN, ["120ms", "2s", "1.5", "1m30s", " 1h ", "1 2", ".5", "3 µs", "1s 500ms"],
     ["", "s", "-1s", "1..5", "1s\t2s", "fast", "1d", "1 m s"]),
    (PERCENT_PATTERN, ["10%", " 0 %", "100%", "100.0%", "5.%", ".5%", "+7%"],
     ["101%", "100.1%", "-5%", "%", "10", "ten%"]),
    (SPREAD_PERCENT_PATTERN, ["250%", "1000%", "1000.0%", "0.5%", "+7%"],
     ["1001%", "1000.1%", "-5%", "%", "3"]),
    (SIZE_PATTERN, ["0", "512kb", "10MiB", " 1.5 GB ", "3b"], ["", "10 parsecs", "-1", "1e6"]),
    (ISO_PATTERN, ["2025-01-01", "2025-01-01T00:00:00Z", "2025-06-30 12:30+02:00",
                   "2025-01-01T10", "2025-01-01T00:00:00.123456-05:00"],
     ["2025-13-01", "yesterday", "2025-01-01T25:00", "2025/01/01", "1700000000"]),
])
def test_patterns(pattern: str, good: list[str], bad: list[str]) -> None:
    assert [g for g in good if not re.search(pattern, g)] == []
    assert [b for b in bad if re.search(pattern, b)] == []


def test_a_long_bad_duration_fails_fast() -> None:
    # A pattern with nested repetition would take exponential time on this.
    assert not re.search(DURATION_PATTERN, "1" * 5000 + "x")
    assert not re.search(DURATION_PATTERN, "1 " * 2000 + "x")


# --- documents that must be valid ----------------------------------------------------------------

CASSETTE = Path(__file__).parent / "data" / "one-chat.yaml"

EVERY_KEY = {
    "name": "every-key",
    "description": "Uses every key of the format at least once.",
    "seed": 7,
    "freeze_time": "2025-01-01T00:00:00Z",
    "time_scale": 0.01,
    "latency": {"ttft": "120ms", "per_token": 0.015, "tokens_per_chunk": 2,
                "jitter": {"distribution": "lognormal", "spread": "30%"}},
    "limits": {"requests_per_minute": 60, "tokens_per_minute": 40000, "max_concurrent": 8,
               "max_request_bytes": "10MB", "by": "api_key", "quota_requests": 1000,
               "quota_tokens": 10**6},
    "chaos": [{"probability": 0.01, "fault": "reset"}],
    "reply": {"text": "Hello.", "echo": False, "generate": {"sentences": 2, "words": 5},
              "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"},
                              "id": "call_1"}],
              "json": {"ok": [1, None]}, "json_schema": {"type": "object"},
              "embedding": {"dimensions": 8}, "finish_reason": "stop"},
    "rules": [
        {"name": "embeddings", "match": {"endpoint": "embeddings"},
         "reply": {"embedding": {"dimensions": 1536}}},
        {"match": {"endpoint": ["chat", "responses"], "provider": ["openai", "azure"],
                   "model": "gpt-4o*", "contains": "weather", "header": {"x-test": "a*"},
                   "stream": True, "tool_result": False, "after": "20s"},
         "script": [
             {"error": "overloaded"},
             {"error": "rate_limit", "retry_after": "2s", "should_retry": True,
              "message": "slow down", "status": 429, "headers": {"x-request-source": "t"}},
             {"fault": "disconnect", "after_chunks": 3},
             {"fault": "truncate", "after_bytes": 100},
             {"fault": "stall", "after_chunks": 1, "duration": "1m30s"},
             {"fault": "error_event", "error": "server_error", "reply": "partial",
              "after_chunks": 2},
             {"reply": {"text": "finally"}, "latency": {"ttft": 1.5}},
         ],
         "then": "cycle"},
        {"match": {"provider": "anthropic", "before": 40}, "error": 529, "status": 529,
         "message": "busy", "retry_after": 1, "headers": {"retry-after": 1},
         "latency": {"per_token": "5ms"}},
        {"match": {}, "fault": "hang", "duration": "2s", "after_chunks": 0, "after_bytes": 0,
         "reply": {"generate": True}},
        {"chaos": [{"probability": 0.05, "error": "500"},
                   {"probability": 1, "fault": "reset", "latency": {"ttft": 0}},
                   {"probability": 0, "fault": "error_event", "error": "rate_limit",
                    "reply": {"echo": True}, "headers": {"a": "b"}, "retry_after": "1s",
                    "message": "m", "status": 429, "after_chunks": 1, "after_bytes": 2,
                    "duration": 3}],
         "then": "default"},
    ],
    "auth": {"required": True, "keys": ["sk-test"],
             "aws": {"access_key_id": "AKID", "secret_access_key": "s", "session_token": "t"}},
    "models": ["gpt-4o", "gpt-4o-mini"],
    "strict": False,
    "cassette": {"path": str(CASSETTE), "replay_speed": 2, "strict": False,
                 "ignore": ["user", "seed"]},
    "capacity": {"slots": 4, "queue": 16, "prefill": "0.1ms", "slowdown": 0.5,
                 "error": "overloaded", "retry_after": "1s"},
    "batch": {"outcome": "expired", "validating": "2s", "in_progress": "1m", "finalizing": 1,
              "progress": "25%", "max_files": 10, "max_storage": "1MB"},
}

VALID_DOCS: list[Json] = [
    {},
    EVERY_KEY,
    {"reply": "just text", "freeze_time": True, "latency": {"jitter": 0.1}},
    {"freeze_time": 1_700_000_000, "limits": {"requests_per_minute": None,
                                              "max_request_bytes": 1024}},
    {"freeze_time": None, "rules": [{"error": "quota"}, {"fault": "slow_headers"}]},
    {"freeze_time": False, "auth": {"keys": []}, "models": []},
    {"rules": [{"match": {"endpoint": []}, "reply": {"json": None, "finish_reason": None,
                                                      "json_schema": None}}]},
    {"rules": [{"reply": {"tool_calls": [{"name": "f", "arguments": '{"a": 1}'},
                                         {"name": "g", "arguments": None}]}}]},
    {"rules": [{"script": [{}], "then": "last"}]},
    {"reply": {"call_tool": "first"}, "rules": [
        {"match": {"turn": 1, "tool_offered": ["search", "fetch_*"],
                   "tool_result": {"name": "search", "contains": "hit", "regex": "[0-9]+",
                                   "id": "call_*"}},
         "reply": {"call_tool": {"tool": "next", "count": 2, "loop": True}}},
        {"match": {"tool_offered": "*"}, "reply": {"call_tool": {"tool": "seeded"}}}]},
    {"rules": [{"error": "0404"}, {"error": 418}, {"fault": "error_event", "error": "timeout"}]},
    {"latency": {"ttft": "1 2", "per_token": "3 µs", "jitter": 1}},
    {"rules": [{"match": {"after": "1m", "before": "1m0.001s", "tool_result": True}}]},
    {"cassette": str(CASSETTE)},
    {"rules": [{"fault": "drip", "drip": {"bytes": 64, "every": "10ms"}}, {"fault": "drip"}]},
]


def _keys(node: Json) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key not in ("json", "json_schema", "arguments", "headers", "header"):
                yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


def test_hand_written_documents_cover_every_key() -> None:
    every = {name for _, obj in _objects(SCHEMA) for name in obj["properties"]}
    assert every - set(_keys(VALID_DOCS)) == set()


@pytest.mark.parametrize("doc", VALID_DOCS, ids=lambda d: str(d)[:40])
def test_valid_documents_validate_and_load(doc: Json) -> None:
    assert schema_errors(doc) == []
    scenario = scenario_from_dict(doc)
    assert scenario.raw is doc
    assert len(scenario.rules) == len(doc.get("rules", []))


def test_every_key_document_loads_as_written() -> None:
    sc = scenario_from_dict(EVERY_KEY)
    assert sc.latency.ttft == pytest.approx(0.12)
    assert sc.latency.jitter == pytest.approx(0.3)
    assert sc.latency.distribution == "lognormal"
    assert sc.freeze_time == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    assert sc.limits.max_request_bytes == 10_000_000
    script = sc.rules[1].script
    assert script[4].fault is not None
    assert script[4].fault.duration == 90
    assert script[5].error is None
    assert script[5].fault is not None
    assert script[5].fault.error is not None
    assert script[5].fault.error.name == "server_error"
    assert sc.rules[2].step.error is not None
    assert sc.rules[2].step.error.status == 529
    assert (sc.rules[1].match.after, sc.rules[1].match.before) == (20, None)
    assert (sc.rules[2].match.after, sc.rules[2].match.before) == (None, 40)
    assert sc.rules[1].match.tool_result is False
    assert sc.rules[4].chaos[0].step.error is not None
    assert sc.rules[4].chaos[0].step.error.status == 500
    assert (sc.batch.outcome, sc.batch.in_progress, sc.batch.progress) == ("expired", 60, 0.25)
    assert sc.batch.max_storage == 1_000_000


BUILTINS = sorted((ROOT / "scenarios").glob("*.y*ml"))


def test_builtin_scenarios_are_found() -> None:
    assert BUILTINS, "no scenarios/*.yaml"
    assert {p.stem for p in BUILTINS} <= set(builtin_names())


@pytest.mark.parametrize("path", BUILTINS, ids=lambda p: p.name)
def test_builtin_scenario_validates_and_loads(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    assert schema_errors(doc) == []
    assert scenario_from_text(text, str(path)).name == doc.get("name", "default")


DOCS = ROOT / "docs" / "scenarios.md"
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _doc_examples() -> list[str]:
    return YAML_BLOCK.findall(DOCS.read_text(encoding="utf-8"))


def test_docs_have_yaml_examples() -> None:
    assert len(_doc_examples()) >= 10


@pytest.mark.parametrize("text", _doc_examples(), ids=lambda t: t.strip().splitlines()[0][:40])
def test_doc_example_validates_and_loads(text: str) -> None:
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    assert schema_errors(doc) == []
    scenario_from_text(text, "docs/scenarios.md")


# --- strategies: documents the schema accepts ----------------------------------------------------

texts = st.text(max_size=8)
durations = st.one_of(
    st.integers(0, 10**6),
    st.floats(0, 1e6),
    st.from_regex(DURATION_PATTERN, fullmatch=True).filter(lambda s: len(s) < 60),
)
jitters = st.one_of(st.floats(0, 1), st.integers(0, 1),
                    st.from_regex(PERCENT_PATTERN, fullmatch=True))
sizes = st.one_of(st.integers(0, 2**40),
                  st.from_regex(SIZE_PATTERN, fullmatch=True).filter(lambda s: len(s) < 40))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
header_maps = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(texts, st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
    max_size=3,
)


def _opt(**optional: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=optional)


latencies = _opt(ttft=durations, per_token=durations, jitter=jitters)
limits = _opt(
    requests_per_minute=st.none() | st.integers(1, 10**9),
    tokens_per_minute=st.none() | st.integers(1, 10**9),
    max_concurrent=st.none() | st.integers(1, 10**4),
    max_request_bytes=sizes,
)
tool_calls = st.fixed_dictionaries(
    {"name": texts},
    optional={"arguments": st.none() | texts | st.dictionaries(texts, json_values, max_size=3),
              "id": texts},
)
reply_objects = _opt(
    text=texts,
    echo=st.booleans(),
    generate=st.just(True) | _opt(sentences=st.integers(1, 1000), words=st.integers(1, 100_000)),
    tool_calls=st.lists(tool_calls, max_size=2),
    json=json_values,
    json_schema=st.none() | st.just({"type": "object"}) | st.just({}),
    embedding=_opt(dimensions=st.integers(1, 65536)),
    finish_reason=st.sampled_from([*FINISH_REASONS, None]),
)
replies = texts | reply_objects
error_values = st.one_of(
    st.sampled_from(sorted(ERROR_STATUS)),
    st.integers(400, 599),
    st.builds(lambda n, zeros: "0" * zeros + str(n), st.integers(400, 599), st.integers(0, 2)),
)


@st.composite
def steps(draw: st.DrawFn, *, latency: bool = True, needs_outcome: bool = False
          ) -> dict[str, Any]:
    """A step the schema accepts: error and fault parameters only with them, and an error
    beside a fault or a reply only inside an error_event fault."""
    d: dict[str, Any] = {}
    has_error, has_fault = draw(st.booleans()), draw(st.booleans())
    if needs_outcome and not has_error:
        has_fault = True
    if has_error:
        d["error"] = draw(error_values)
        d |= draw(_opt(status=st.integers(400, 599), message=texts, retry_after=durations))
    if has_fault:
        # An error goes with a fault only as the event an error_event fault sends.
        d["fault"] = "error_event" if has_error else draw(st.sampled_from(list(FAULT_NAMES)))
        d |= draw(_opt(after_chunks=st.integers(0, 10**6), after_bytes=st.integers(0, 10**9),
                       duration=durations))
    if (not has_error or d.get("fault") == "error_event") and draw(st.booleans()):
        d["reply"] = draw(replies)
    extras = {"headers": header_maps, **({"latency": latencies} if latency else {})}
    d |= draw(st.fixed_dictionaries({}, optional=extras))
    return d


def _one_or_many(names: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(names) | st.lists(st.sampled_from(names), max_size=3)


@st.composite
def matches(draw: st.DrawFn) -> dict[str, Any]:
    """A match the loader accepts: a time window's ``before`` later than its ``after``, which
    JSON Schema cannot say."""
    match = draw(_opt(endpoint=_one_or_many(ENDPOINTS), provider=_one_or_many(PROVIDER_NAMES),
                      model=texts, contains=texts, header=header_maps, stream=st.booleans(),
                      tool_result=st.booleans(), after=durations, before=durations))
    if "after" in match and "before" in match:
        after, before = (parse_duration(match[k]) for k in ("after", "before"))
        if before <= after:
            match["before"] = after * 2 + 1
    return match


def _empty_window(doc: Json) -> bool:
    """Whether some rule's time window ends before it starts (the loader rejects it)."""
    for rule in doc.get("rules", []) if isinstance(doc, dict) else ():
        match = rule.get("match") if isinstance(rule, dict) else None
        if isinstance(match, dict) and "after" in match and "before" in match:
            try:
                if parse_duration(match["before"]) <= parse_duration(match["after"]):
                    return True
            except (TypeError, ValueError):
                pass
    return False


@st.composite
def chaos_entries(draw: st.DrawFn) -> dict[str, Any]:
    return {"probability": draw(st.floats(0, 1) | st.integers(0, 1)),
            **draw(steps(needs_outcome=True))}


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    rule = draw(steps(latency=False))
    rule |= draw(_opt(name=texts, match=matches(), script=st.lists(steps(), min_size=1, max_size=3),
                      then=st.sampled_from(["last", "cycle", "default"]),
                      chaos=st.lists(chaos_entries(), max_size=2), latency=latencies))
    return rule


@st.composite
def iso_times(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.dates(min_value=dt.date(1970, 1, 2))).isoformat()
    offset = draw(st.none() | st.integers(-23 * 60 - 59, 23 * 60 + 59))
    tz = None if offset is None else dt.timezone(dt.timedelta(minutes=offset))
    moment = draw(st.datetimes(min_value=dt.datetime(1970, 1, 2),
                               max_value=dt.datetime(9999, 12, 30))).replace(tzinfo=tz)
    text = moment.isoformat(sep=draw(st.sampled_from("T ")), timespec=draw(st.sampled_from(
        ["hours", "minutes", "seconds", "milliseconds", "microseconds"])))
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


scenarios = _opt(
    name=texts,
    description=texts,
    seed=st.integers(0, 2**63 - 1),
    freeze_time=st.one_of(st.none(), st.booleans(), st.integers(0, 253_402_300_799),
                          st.floats(0, 1e11), iso_times()),
    latency=latencies,
    limits=limits,
    reply=replies,
    rules=st.lists(rules(), max_size=3),
    auth=_opt(required=st.booleans(), keys=st.lists(texts, max_size=2)),
    models=st.lists(texts, max_size=3),
    capacity=st.fixed_dictionaries({"slots": st.integers(1, 1_000_000)}, optional={
        "queue": st.none() | st.integers(0, 1_000_000), "prefill": durations,
        "slowdown": st.floats(0, 1000), "error": error_values, "retry_after": durations}),
    batch=_opt(outcome=st.sampled_from(["completed", "failed", "expired", "cancelled"]),
               validating=durations, in_progress=durations, finalizing=durations,
               max_files=st.integers(1, 10**6), max_storage=sizes),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_documents_the_schema_accepts_always_load(doc: dict[str, Any]) -> None:
    assert schema_errors(doc) == []
    scenario = scenario_from_dict(doc, "generated")
    assert scenario.seed == doc.get("seed", 0)
    assert len(scenario.rules) == len(doc.get("rules", []))
    assert scenario.models == tuple(doc.get("models", []))


@settings(max_examples=60, deadline=None)
@given(steps())
def test_steps_the_schema_accepts_load_as_steps(step: dict[str, Any]) -> None:
    assert schema_errors({"rules": [{"script": [step]}]}) == []
    parse_step(step)


# --- mutations: documents both reject ------------------------------------------------------------

BAD_VALUES: list[Json] = [
    None, True, False, -1, -0.5, 1.5, 700, 10**6, 2**63, "", "bogus", "rate-limit", "chats",
    "resett", "-5ms", "110%", "600", "fast", [], ["bogus"], {}, {"bogus": 1},
]


@cache
def _validator(key: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$defs": DEFS, "allOf": [_SUBS[key]]})


_SUBS: dict[str, dict[str, Any]] = {}


def _is_valid(sub: dict[str, Any], value: Json) -> bool:
    key = repr(sub)
    _SUBS.setdefault(key, sub)
    return bool(_validator(key).is_valid(value))


def _resolve(sub: dict[str, Any], value: Json) -> dict[str, Any]:
    """The (sub)schema that describes ``value``: follow $ref, pick the anyOf branch it meets."""
    while "$ref" in sub:
        sub = DEFS[sub["$ref"].rsplit("/", 1)[1]]
    for branch in sub.get("anyOf", []):
        if _is_valid(branch, value):
            return _resolve(branch, value)
    return sub


def _ranges(sub: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The bounded numeric (sub)schemas ``sub`` allows, through $ref and anyOf."""
    while "$ref" in sub:
        sub = DEFS[sub["$ref"].rsplit("/", 1)[1]]
    if "minimum" in sub or "maximum" in sub:
        yield sub
    for branch in sub.get("anyOf", []):
        yield from _ranges(branch)


def _edges(sub: dict[str, Any]) -> tuple[list[Json], list[Json]]:
    """Values just inside and just outside each numeric range of ``sub``."""
    inside: list[Json] = []
    outside: list[Json] = []
    for r in _ranges(sub):
        step = 1 if "integer" in r["type"] else 0.001
        for bound, sign in (("minimum", -1), ("maximum", 1)):
            if bound in r:
                inside.append(r[bound])
                outside.append(r[bound] + sign * step)
    return inside, outside


Path_ = tuple[str | int, ...]


def _sites(value: Json, sub: dict[str, Any], path: Path_ = ()
           ) -> Iterator[tuple[Path_, dict[str, Any], Json]]:
    """Every (path, subschema, value) of a valid document, down to the free-form values."""
    yield path, sub, value
    sub = _resolve(sub, value)
    if isinstance(value, dict):
        props, more = sub.get("properties", {}), sub.get("additionalProperties")
        for key, child in value.items():
            child_sub = props.get(key, more if isinstance(more, dict) else None)
            if child_sub is not None:
                yield from _sites(child, child_sub, (*path, key))
    elif isinstance(value, list) and "items" in sub:
        for i, child in enumerate(value):
            yield from _sites(child, sub["items"], (*path, i))


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _within(inner: str, outer: str) -> bool:
    return outer == "" or inner == outer or inner.startswith((outer + ".", outer + "["))


def _related(a: str, b: str) -> bool:
    return _within(a, b) or _within(b, a)


def _replace(doc: Json, path: Path_, new: Json) -> Json:
    if not path:
        return new
    out = copy.deepcopy(doc)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = new
    return out


def _load_fails(doc: Json) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc, "mutated")
    assert info.value.source == "mutated"
    return info.value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios, st.data())
def test_a_wrong_value_is_rejected_by_both(doc: dict[str, Any], data: st.DataObject) -> None:
    sites = [(p, s) for p, s, _ in _sites(doc, SCHEMA)
             if {k for k in s if k != "description"}]  # skip free-form values (reply.json)
    path, sub = data.draw(st.sampled_from(sites), label="site")
    bad = [v for v in BAD_VALUES + _edges(sub)[1] if not _is_valid(sub, v)]
    value = data.draw(st.sampled_from(bad), label="value")
    mutated = _replace(doc, path, value)
    assert schema_errors(mutated) != []
    error = _load_fails(mutated)
    # The loader names the mutated field, the object holding it, or a part of the new value.
    assert _related(_dotted(path), error.path), (error.path, _dotted(path))


def _edge_cases() -> Iterator[tuple[str, Json, bool]]:
    for path, sub, _ in _sites(EVERY_KEY, SCHEMA):
        inside, outside = _edges(sub)
        for value in inside:
            yield _dotted(path), _replace(EVERY_KEY, path, value), True
        for value in outside:
            yield _dotted(path), _replace(EVERY_KEY, path, value), False


EDGE_CASES = list(_edge_cases())


def test_every_bounded_key_has_edge_cases() -> None:
    bounded = {re.sub(r"\[\d+\]", "", path).rsplit(".", 1)[-1] for path, _, _ in EDGE_CASES}
    assert bounded == {
        "seed", "freeze_time", "ttft", "per_token", "jitter", "requests_per_minute",
        "tokens_per_minute", "max_concurrent", "max_request_bytes", "sentences", "words",
        "dimensions", "error", "status", "retry_after", "after_chunks", "after_bytes",
        "duration", "probability", "tokens_per_chunk", "quota_tokens", "quota_requests",
        "time_scale", "spread", "replay_speed", "after", "before", "slots", "queue",
        "prefill", "slowdown", "validating", "in_progress", "finalizing", "progress",
        "max_files", "max_storage"}


@pytest.mark.parametrize(("path", "doc", "valid"), EDGE_CASES,
                         ids=[f"{p}-{'in' if v else 'out'}" for p, _, v in EDGE_CASES])
def test_range_edges_of_every_key(path: str, doc: Json, valid: bool) -> None:
    if valid:
        assert schema_errors(doc) == []
        scenario_from_dict(doc)
    else:
        assert schema_errors(doc) != []
        assert _load_fails(doc).path == path


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios, st.data())
def test_range_edges_agree(doc: dict[str, Any], data: st.DataObject) -> None:
    sites = [(p, _edges(s)) for p, s, _ in _sites(doc, SCHEMA)]
    sites = [(p, edges) for p, edges in sites if edges[0]]
    assume(sites)
    path, (inside, outside) = data.draw(st.sampled_from(sites), label="site")
    value = data.draw(st.sampled_from(inside), label="inside")
    accepted = _replace(doc, path, value)
    assume(not _empty_window(accepted))  # before: 0 after an after: only the loader knows
    assert schema_errors(accepted) == []
    scenario_from_dict(accepted)
    value = data.draw(st.sampled_from(outside), label="outside")
    rejected = _replace(doc, path, value)
    assert schema_errors(rejected) != []
    assert _related(_dotted(path), _load_fails(rejected).path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios, st.data())
def test_an_unknown_key_is_rejected_by_both(doc: dict[str, Any], data: st.DataObject) -> None:
    closed = [(p, _resolve(s, v), v) for p, s, v in _sites(doc, SCHEMA) if isinstance(v, dict)]
    closed = [(p, s, v) for p, s, v in closed if s.get("additionalProperties") is False]
    path, sub, obj = data.draw(st.sampled_from(closed), label="object")
    old = data.draw(st.sampled_from([*obj, None]), label="key")
    new = data.draw(st.sampled_from(
        ["bogus", "Name", *([old + "s", old.upper(), old[:-1] + "_"] if old else [])]))
    assume(new not in sub["properties"] and new not in obj)
    renamed = {(new if k == old else k): v for k, v in obj.items()}
    if old is None:
        renamed[new] = 1
    mutated = _replace(doc, path, renamed)
    assert schema_errors(mutated) != []
    error = _load_fails(mutated)
    assert error.path == _dotted((*path, new))
    assert "unknown key" in error.problem


@pytest.mark.parametrize(("doc", "path"), [
    ({"rules": [{"error": "rate-limit"}]}, "rules[0].error"),
    ({"rules": [{"error": 600}]}, "rules[0].error"),
    ({"rules": [{"error": "399"}]}, "rules[0].error"),
    ({"rules": [{"fault": "explode"}]}, "rules[0].fault"),
    ({"rules": [{"match": {"endpoint": "chats"}}]}, "rules[0].match.endpoint"),
    ({"rules": [{"match": {"provider": ["openai", "mistral"]}}]}, "rules[0].match.provider[1]"),
    ({"rules": [{"then": "first", "script": [{}]}]}, "rules[0].then"),
    ({"rules": [{"script": []}]}, "rules[0].script"),
    ({"rules": [{"chaos": [{"error": 500}]}]}, "rules[0].chaos[0]"),
    ({"rules": [{"chaos": [{"probability": 0.5}]}]}, "rules[0].chaos[0]"),
    ({"rules": [{"chaos": [{"probability": 1.5, "error": 500}]}]},
     "rules[0].chaos[0].probability"),
    ({"rules": [{"error": 500, "reply": "x"}]}, "rules[0].reply"),
    ({"rules": [{"retry_after": "2s"}]}, "rules[0].retry_after"),
    ({"rules": [{"after_chunks": 2, "error": 500}]}, "rules[0].after_chunks"),
    ({"latency": {"ttft": "-5ms"}}, "latency.ttft"),
    ({"latency": {"jitter": "150%"}}, "latency.jitter"),
    ({"latency": {"jitter": 2}}, "latency.jitter"),
    ({"limits": {"requests_per_minute": 0}}, "limits.requests_per_minute"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"freeze_time": "yesterday"}, "freeze_time"),
    ({"reply": {"generate": False}}, "reply.generate"),
    ({"reply": {"embedding": {"dimensions": 0}}}, "reply.embedding.dimensions"),
    ({"reply": {"tool_calls": [{"arguments": {}}]}}, "reply.tool_calls[0]"),
    ({"reply": {"finish_reason": "done"}}, "reply.finish_reason"),
    ({"auth": {"required": "yes"}}, "auth.required"),
    ({"auth": {"aws": {"access_key_id": "AKID"}}}, "auth.aws.secret_access_key"),
    ({"models": "gpt-4o"}, "models"),
    ({"rules": [{"headers": {"x-a": True}}]}, "rules[0].headers.x-a"),
    ({"rulez": []}, "rulez"),
    ({"batch": {"outcome": "finished"}}, "batch.outcome"),
    ({"batch": {"progress": "50%"}}, "batch.progress"),
    ({"batch": {"outcome": "completed", "progress": 0.5}}, "batch.progress"),
    ({"batch": {"max_files": 0}}, "batch.max_files"),
])
def test_known_mistakes_are_rejected_by_both(doc: Json, path: str) -> None:
    assert schema_errors(doc) != []
    assert _load_fails(doc).path == path

"""Hypothesis strategies for llmfake: fault scripts, scenarios, chat requests and latencies.

hypothesis is a test dependency, not one of llmfake's: import this module from tests only.
Every strategy draws the plain dicts a YAML scenario holds (the ``llmfake.reply``, ``error`` and
``fault`` helpers build the steps), so a falsifying example prints as a scenario you can paste
into a file. A property test reads::

    import openai
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from llmfake.strategies import fault_scripts

    @settings(max_examples=25, deadline=None)
    @given(script=fault_scripts(max_size=4, faults=[], retryable_only=True, retry_after=True),
           retries=st.integers(min_value=0, max_value=3))
    def test_retries(server, script, retries):
        server.use({"time_scale": 0.01, "rules": [{"script": script}]}, tenant=...)
        ...  # a client with max_retries >= len(script) - 1 gets script[-1]'s reply

``docs/property-tests.md`` has the whole recipe, run against the official ``openai`` SDK.

Arguments are checked when a strategy is called, not when it is drawn from: a bad one raises
``hypothesis.errors.InvalidArgument`` (a ``TypeError``) naming the value and what is allowed.

Shrinking goes toward shorter scripts, fewer rules and milder outcomes. Error and fault names are
drawn from ``ERRORS`` and ``FAULTS``, which list them from mild to severe (the retryable ones
first), so a failing example shrinks toward ``rate_limit`` and ``error_event``; optional keys
shrink away, durations toward zero, and limits toward generous values.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from llmfake.scenario._helpers import error as _error_step
from llmfake.scenario._helpers import fault as _fault_step
from llmfake.scenario._helpers import reply as _reply_step

__all__ = [
    "ERRORS",
    "FAULTS",
    "RETRYABLE_ERRORS",
    "RETRYABLE_FAULTS",
    "chat_requests",
    "fault_scripts",
    "latencies",
    "scenarios",
]

Doc = dict[str, Any]

ERRORS: tuple[str, ...] = (
    "rate_limit", "server_error", "bad_gateway", "unavailable", "timeout", "overloaded",
    "conflict", "quota", "request_too_large", "context_length", "bad_request", "not_found",
    "permission", "auth",
)  # fmt: skip
"""Every error name, from mild to severe: the order strategies shrink in."""

RETRYABLE_ERRORS: tuple[str, ...] = ERRORS[:7]
"""Transient errors: a retry may succeed, and the official SDKs retry them (429, 409, 5xx).
``quota`` is a 429 the SDKs retry too, but no retry helps, so it is not among them."""

FAULTS: tuple[str, ...] = (
    "slow_headers", "error_event", "drip", "disconnect", "truncate", "half_close",
    "reset_after_headers", "length_long", "stall", "empty", "reset", "bad_chunking",
    "length_short", "garbage_status", "malformed", "hang_after_headers", "hang",
)  # fmt: skip
"""Every fault name, from mild to severe. ``slow_headers`` and ``drip`` are slow successes
rather than failures; ``hang`` and ``hang_after_headers`` need a client timeout, so strategies
draw them only when asked for them."""

_UNBOUNDED = ("hang_after_headers", "hang")
_DRAWN_FAULTS = tuple(n for n in FAULTS if n not in _UNBOUNDED)

RETRYABLE_FAULTS: tuple[str, ...] = (
    "error_event", "disconnect", "truncate", "half_close", "reset_after_headers", "length_long",
    "stall", "empty", "reset", "bad_chunking", "garbage_status", "hang_after_headers", "hang",
)  # fmt: skip
"""Faults the official SDKs retry on a request that does not stream (a connection error or,
for ``error_event``, an HTTP error). A stream cut after its first chunk is never retried by
them, and ``malformed`` and ``length_short`` (a complete but broken body) are not retried at
all; ``drip`` is a success. docs/what-your-client-sees.md shows the byte-level ones, cell by
cell."""

_STREAM_FAULTS = ("error_event", "disconnect", "truncate", "stall", "malformed", "half_close",
                  "bad_chunking")
_TIMED_FAULTS = ("stall", "slow_headers")
_WORDS = ("ok", "done", "hello", "recovered", "fine", "finally", "yes", "steady")
_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1")
_LIMIT_KEYS = {  # key: the most generous value drawn; shrinking goes toward it
    "requests_per_minute": 10_000, "tokens_per_minute": 1_000_000, "max_concurrent": 100,
    "quota_requests": 10_000, "quota_tokens": 1_000_000,
}  # fmt: skip


# --- argument checks ---------------------------------------------------------------------------

def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be a whole number")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}")
    return value


def _bounds(lo_name: str, lo: object, hi_name: str, hi: object, minimum: int) -> None:
    low = _whole(lo_name, lo, minimum)
    high = _whole(hi_name, hi, minimum)
    if low > high:
        raise InvalidArgument(f"{lo_name}={low!r} must not be greater than {hi_name}={high!r}")


def _flag(name: str, value: object, *, optional: bool = False) -> None:
    if isinstance(value, bool) or (optional and value is None):
        return
    allowed = "True, False or None" if optional else "True or False"
    raise InvalidArgument(f"{name}={value!r} must be {allowed}")


def _seconds(name: str, value: object, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} must be a finite number of seconds")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum:g} seconds")
    return float(value)


def _names(arg: str, given: Iterable[str] | None, what: str, allowed: tuple[str, ...],
           default: tuple[str, ...], retryable: tuple[str, ...] | None) -> tuple[str, ...]:
    """The names to draw, from mild to severe, whatever order they were given in."""
    if given is None:
        return tuple(n for n in default if retryable is None or n in retryable)
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
        raise InvalidArgument(f"{arg}={given!r} must be a list of {what} names, such as "
                              f"[{allowed[0]!r}]; allowed: {', '.join(allowed)}")
    names = list(given)
    for name in names:
        if name not in allowed:
            hint = difflib.get_close_matches(str(name), allowed, n=1)
            tip = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise InvalidArgument(f"unknown {what} {name!r} in {arg}={names!r}{tip}; allowed: "
                                  f"{', '.join(allowed)}")
        if retryable is not None and name not in retryable:
            raise InvalidArgument(f"{what} {name!r} in {arg}={names!r} is not retryable, and "
                                  f"retryable_only=True; retryable {what}s: "
                                  f"{', '.join(retryable)}")
    return tuple(n for n in allowed if n in names)


def _sometimes(setting: bool | None) -> st.SearchStrategy[bool]:
    """True, False, or drawn (shrinking to False) when the setting is None."""
    return st.booleans() if setting is None else st.just(setting)


# --- pieces ------------------------------------------------------------------------------------
# Strategies are built once, outside the functions that draw from them: hypothesis labels each
# strategy object, and building new ones on every draw makes examples slow to shrink.

def _millis(maximum: float, minimum: int = 0) -> st.SearchStrategy[str]:
    """A duration such as ``"120ms"`` up to ``maximum`` seconds, shrinking toward ``minimum``."""
    return st.integers(min_value=minimum, max_value=max(minimum, int(maximum * 1000))).map(
        lambda ms: f"{ms}ms")


_TEXTS = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map(" ".join)
_REPLY_STEPS = _TEXTS.map(_reply_step)


def _failure_steps(errors: tuple[str, ...], faults: tuple[str, ...], retry_after: bool | None,
                   max_retry_after: float) -> st.SearchStrategy[Doc]:
    """Error and fault steps, errors first.

    Each step is three draws whatever its name (hypothesis deletes list elements of a few draws
    far more readily than of many): the name; an option, which is whether an error carries a
    Retry-After or which error an ``error_event`` sends; and an amount from 0 to 999, scaled to
    the Retry-After, the ``after_chunks`` or the duration. All three shrink toward 0: the mildest
    name, no option, the least amount.
    """
    names = st.sampled_from((*(("error", n) for n in errors), *(("fault", n) for n in faults)))
    options = st.integers(min_value=0, max_value=len(errors))
    amounts = st.integers(min_value=0, max_value=999)
    longest_wait = max(1, int(max_retry_after * 1000))

    @st.composite
    def steps(draw: st.DrawFn) -> Doc:
        kind, name = draw(names)
        option, amount = draw(options), draw(amounts)
        if kind == "error":
            waited = option > 0 if retry_after is None else retry_after
            wait = 1 + amount * (longest_wait - 1) // 999
            return _error_step(name, retry_after=f"{wait}ms" if waited else None)
        return _fault_step(
            name,
            after_chunks=amount * 6 // 1000 if name in _STREAM_FAULTS else None,
            duration=f"{1 + amount // 2}ms" if name in _TIMED_FAULTS else None,
            error=errors[option - 1] if name == "error_event" and option else None,
            drip={"bytes": 256, "every": f"{amount // 100}ms"} if name == "drip" else None,
        )

    return steps()


# --- fault_scripts -----------------------------------------------------------------------------

def fault_scripts(
    *,
    min_size: int = 1,
    max_size: int = 5,
    errors: Iterable[str] | None = None,
    faults: Iterable[str] | None = None,
    retryable_only: bool = False,
    end_with_reply: bool = True,
    retry_after: bool | None = None,
    max_retry_after: float = 2.0,
) -> st.SearchStrategy[list[Doc]]:
    """Scripts for a rule: ``min_size`` to ``max_size`` steps, failures then (by default) a
    reply, as ``[{"error": "rate_limit", "retry_after": "40ms"}, {"fault": "reset"},
    {"reply": {"text": "ok"}}]``.

    - ``errors`` and ``faults``: the names failures are drawn from (default: every error, and
      every fault but ``hang`` and ``hang_after_headers``, which need a client timeout and
      appear only when listed). Pass
      ``[]`` for none. Names are drawn from mild to severe whatever order they are given in.
    - ``retryable_only``: draw only from ``RETRYABLE_ERRORS`` and ``RETRYABLE_FAULTS`` (listing
      another name is an error), so that a client with ``max_retries >= len(script) - 1`` gets the
      reply on a request that does not stream.
    - ``end_with_reply``: the last step is a reply (``{"reply": {"text": ...}}``); with False,
      every step is a failure.
    - ``retry_after``: whether error steps carry a ``retry_after`` of 1 ms to ``max_retry_after``
      seconds: always (True), never (False) or sometimes (None). The official SDKs wait a
      Retry-After they are given and otherwise back off for half a second and more, so give
      True for fast property tests (and a scenario ``time_scale`` to scale the waits down).

    Stream faults carry ``after_chunks`` (0 to 5); ``stall`` and ``slow_headers`` a ``duration``
    up to 500 ms; ``error_event`` may name one of ``errors``; ``drip`` sends 256 bytes every 0
    to 9 ms.

    Shrinks toward shorter scripts, errors before faults, milder names (``rate_limit`` before
    ``server_error`` before ``overloaded``; ``error_event`` and ``disconnect`` before ``reset``),
    no ``retry_after`` (or a smaller one), fewer ``after_chunks`` and shorter durations, and the
    reply ``"ok"``.
    """
    _bounds("min_size", min_size, "max_size", max_size, 1)
    _flag("retryable_only", retryable_only)
    _flag("end_with_reply", end_with_reply)
    _flag("retry_after", retry_after, optional=True)
    _seconds("max_retry_after", max_retry_after, 0.001)
    error_names = _names("errors", errors, "error", ERRORS, ERRORS,
                         RETRYABLE_ERRORS if retryable_only else None)
    fault_names = _names("faults", faults, "fault", FAULTS, _DRAWN_FAULTS,
                         RETRYABLE_FAULTS if retryable_only else None)
    reserved = 1 if end_with_reply else 0
    most = max_size - reserved
    if most > 0 and not error_names and not fault_names:
        raise InvalidArgument("errors and faults are both empty, so there is no failure to draw; "
                              "give at least one name, or max_size=1 for a lone reply")
    failures = st.lists(_failure_steps(error_names, fault_names, retry_after, max_retry_after),
                        min_size=max(min_size - reserved, 0),
                        max_size=most) if most > 0 else st.just([])
    if not end_with_reply:
        return failures
    return st.tuples(failures, _REPLY_STEPS).map(lambda pair: [*pair[0], pair[1]])


# --- latencies ---------------------------------------------------------------------------------

def latencies(*, max_ttft: float = 1.0, max_per_token: float = 0.05) -> st.SearchStrategy[Doc]:
    """Latency dicts such as ``{"ttft": "120ms", "per_token": "15ms", "jitter": "10%"}``:
    ``ttft`` up to ``max_ttft`` seconds and ``per_token`` up to ``max_per_token``, in whole
    milliseconds, and sometimes a ``jitter`` (a percentage, or a distribution and spread) and
    ``tokens_per_chunk`` (1 to 8).

    Shrinks toward ``{"ttft": "0ms", "per_token": "0ms"}``: no delay, no jitter.
    """
    _seconds("max_ttft", max_ttft, 0)
    _seconds("max_per_token", max_per_token, 0)
    percent = st.integers(min_value=0, max_value=100).map(lambda n: f"{n}%")
    jitter = st.one_of(percent, st.fixed_dictionaries({
        "distribution": st.sampled_from(("uniform", "normal", "lognormal")),
        "spread": percent,
    }))
    return st.fixed_dictionaries(
        {"ttft": _millis(max_ttft), "per_token": _millis(max_per_token)},
        optional={"jitter": jitter, "tokens_per_chunk": st.integers(min_value=1, max_value=8)},
    )


# --- scenarios ---------------------------------------------------------------------------------

_LATENCIES = latencies()
_REPLY_DOCS = st.one_of(
    _TEXTS,
    _TEXTS.map(lambda text: {"text": text}),
    st.builds(lambda n: {"generate": {"words": n}}, st.integers(min_value=1, max_value=30)),
    st.just({"echo": True}),
    st.builds(lambda word, n: {"json": {word: n}}, st.sampled_from(_WORDS),
              st.integers(min_value=0, max_value=100)),
)
_FAILURE_DOCS = _failure_steps(ERRORS, _DRAWN_FAULTS, None, 2.0)
_CHAOS = st.lists(st.builds(lambda p, step: {"probability": p / 100, **step},
                            st.integers(min_value=0, max_value=100), _FAILURE_DOCS),
                  min_size=1, max_size=3)
_MATCHES = st.fixed_dictionaries({}, optional={
    "endpoint": st.sampled_from(("chat", "responses", "completions", "embeddings")),
    "provider": st.sampled_from(("openai", "anthropic", "gemini", "ollama", "azure")),
    "model": st.sampled_from(("gpt-4o*", "gpt-4o-mini", "claude-*", "gemini-*")),
    "contains": st.sampled_from(_WORDS),
    "stream": st.booleans(),
})
_OUTCOMES = st.one_of(
    _REPLY_DOCS.map(lambda r: {"reply": r}),
    st.builds(lambda script, then: {"script": script, "then": then},
              fault_scripts(max_size=4), st.sampled_from(("last", "cycle", "default"))),
    _FAILURE_DOCS,
)
_RULE_NAMES = st.sampled_from(("outage", "flaky", "slow model", "cache"))
_SCENARIO_NAMES = st.sampled_from(("drill", "outage", "soak", "flaky"))
_SEEDS = st.integers(min_value=0, max_value=2**63 - 1)
_LIMIT_NAMES = st.lists(st.sampled_from(tuple(_LIMIT_KEYS)), min_size=1, max_size=3, unique=True)
_LIMIT_CUTS = {key: st.integers(min_value=0, max_value=most - 1)
               for key, most in _LIMIT_KEYS.items()}
_SCOPES = st.sampled_from(("api_key", "model", "tenant"))


@st.composite
def _limits(draw: st.DrawFn) -> Doc:
    doc: Doc = {key: _LIMIT_KEYS[key] - draw(_LIMIT_CUTS[key]) for key in draw(_LIMIT_NAMES)}
    if draw(st.booleans()):
        doc["by"] = draw(_SCOPES)
    return doc


def _default_rules(with_chaos: bool | None, with_latency: bool | None
                   ) -> st.SearchStrategy[Doc]:
    chaos = _sometimes(None if with_chaos is not False else False)
    latency = _sometimes(None if with_latency is not False else False)

    @st.composite
    def rules(draw: st.DrawFn) -> Doc:
        rule: Doc = {"match": draw(_MATCHES), **draw(_OUTCOMES)}
        if draw(chaos):
            rule["chaos"] = draw(_CHAOS)
        if draw(latency):
            rule["latency"] = draw(_LATENCIES)
        if draw(st.booleans()):
            rule["name"] = draw(_RULE_NAMES)
        return rule

    return rules()


def scenarios(
    *,
    rules: st.SearchStrategy[Mapping[str, Any]] | None = None,
    min_rules: int = 0,
    max_rules: int = 3,
    with_limits: bool | None = False,
    with_chaos: bool | None = False,
    with_latency: bool | None = None,
) -> st.SearchStrategy[Doc]:
    """Scenario dicts that ``llmfake.load_scenario`` (and ``server.use``) accept.

    - ``rules``: a strategy for each rule (default: a ``match`` on endpoint, provider, model,
      contents or streaming, and a reply, a single error or fault, or a ``fault_scripts()``
      script with its ``then``); ``min_rules`` to ``max_rules`` of them. A custom one, such as
      ``fault_scripts(retryable_only=True).map(lambda s: {"script": s})``, must draw valid rules.
    - ``with_limits``: a ``limits`` mapping with at least one limit: always (True), never (False,
      the default: limits answer 429 on their own) or sometimes (None).
    - ``with_chaos``: seeded random failures, at the top and in default rules, likewise.
    - ``with_latency``: a ``latency`` from ``latencies()``, at the top and in default rules,
      likewise (default: sometimes).

    Chaos and rule outcomes never ``hang``. The scenarios keep real-world durations: add a
    ``time_scale`` (``.map(lambda s: {**s, "time_scale": 0.01})``) to serve them fast.

    Shrinks toward ``{}`` (the defaults): fewer rules, optional keys left out, seed 0, replies
    before failures, chaos probabilities toward 0, limits toward generous values.
    """
    if rules is not None and not isinstance(rules, st.SearchStrategy):
        raise InvalidArgument(f"rules={rules!r} must be a hypothesis strategy drawing rule dicts, "
                              "such as fault_scripts().map(lambda s: {'script': s})")
    _bounds("min_rules", min_rules, "max_rules", max_rules, 0)
    _flag("with_limits", with_limits, optional=True)
    _flag("with_chaos", with_chaos, optional=True)
    _flag("with_latency", with_latency, optional=True)
    rule_lists = st.lists(rules if rules is not None else _default_rules(with_chaos, with_latency),
                          min_size=min_rules, max_size=max_rules)
    latency, limits, chaos = (_sometimes(with_latency), _sometimes(with_limits),
                              _sometimes(with_chaos))

    @st.composite
    def docs(draw: st.DrawFn) -> Doc:
        doc: Doc = {}
        drawn = draw(rule_lists)
        if drawn:
            doc["rules"] = [dict(rule) for rule in drawn]
        if draw(st.booleans()):
            doc["seed"] = draw(_SEEDS)
        if draw(st.booleans()):
            doc["reply"] = draw(_REPLY_DOCS)
        if draw(latency):
            doc["latency"] = draw(_LATENCIES)
        if draw(limits):
            doc["limits"] = draw(_limits())
        if draw(chaos):
            doc["chaos"] = draw(_CHAOS)
        if draw(st.booleans()):
            doc["name"] = draw(_SCENARIO_NAMES)
        if draw(st.booleans()):
            doc["freeze_time"] = True
        return doc

    return docs()


# --- chat_requests -----------------------------------------------------------------------------

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
_OBJECT_SCHEMAS = st.dictionaries(
    _NAMES, st.sampled_from(("string", "integer", "number", "boolean")).map(lambda t: {"type": t}),
    max_size=4,
).map(lambda p: {"type": "object", "properties": p, "required": list(p),
                 "additionalProperties": False})  # strict mode: all required, no others
_SHORT_TEXTS = st.text(min_size=1, max_size=40)
_CONTENTS = st.one_of(_SHORT_TEXTS, st.lists(
    _SHORT_TEXTS.map(lambda t: {"type": "text", "text": t}), min_size=1, max_size=3))
_TURNS = st.integers(min_value=0, max_value=3)
_FORMATS: st.SearchStrategy[Doc] = st.one_of(
    st.just({"type": "text"}),
    st.just({"type": "json_object"}),
    st.builds(lambda name, schema: {"type": "json_schema", "json_schema": {
        "name": name, "schema": schema, "strict": True}}, _NAMES, _OBJECT_SCHEMAS),
)
_TOOLS: st.SearchStrategy[list[Doc]] = st.lists(
    st.builds(lambda name, schema: {"type": "function", "function": {
        "name": name, "description": f"The {name} tool.", "parameters": schema}},
        _NAMES, _OBJECT_SCHEMAS),
    min_size=1, max_size=3, unique_by=lambda t: t["function"]["name"])
_TOOL_CHOICES = st.sampled_from(("auto", "none", "required", "function"))
_MODEL_NAMES = st.sampled_from(_MODELS)
_MAX_TOKEN_KEYS = st.sampled_from(("max_tokens", "max_completion_tokens"))
_MAX_TOKENS = st.integers(min_value=1, max_value=4096)
_STOP_WORDS = st.text(min_size=1, max_size=5)
_STOPS = _STOP_WORDS | st.lists(_STOP_WORDS, min_size=1, max_size=4)
_NS = st.integers(min_value=1, max_value=3)
_TEMPERATURES = st.integers(min_value=0, max_value=20).map(lambda n: n / 10)
_REQUEST_SEEDS = st.integers(min_value=0, max_value=2**31 - 1)
_STREAMS = st.none() | st.booleans()


@st.composite
def _messages(draw: st.DrawFn, json_mode: bool) -> list[Doc]:
    out: list[Doc] = []
    if draw(st.booleans()):
        out.append({"role": "system", "content": draw(_SHORT_TEXTS)})
    for _ in range(draw(_TURNS)):
        out.append({"role": "user", "content": draw(_CONTENTS)})
        out.append({"role": "assistant", "content": draw(_SHORT_TEXTS)})
    content = draw(_CONTENTS)
    if json_mode:  # OpenAI asks that a json_object request mention JSON
        content = (content + " Answer in JSON." if isinstance(content, str)
                   else [*content, {"type": "text", "text": "Answer in JSON."}])
    out.append({"role": "user", "content": content})
    return out


_MESSAGES = {False: _messages(False), True: _messages(True)}


def chat_requests(*, stream: bool | None = None, with_tools: bool | None = None
                  ) -> st.SearchStrategy[Doc]:
    """OpenAI chat completion request bodies the real API and the fake both accept: a model,
    ``messages`` (an optional system message, user and assistant turns, a last user message;
    contents as text or text parts), and sometimes ``max_tokens`` (or
    ``max_completion_tokens``), ``stop``, ``n``, ``temperature``, ``seed`` and a
    ``response_format`` (text, JSON mode, or a strict JSON schema). Post them as JSON, or pass
    them to the SDK: ``client.chat.completions.create(**request)``.

    - ``stream``: the request streams (True, with sometimes ``stream_options``), does not (False:
      ``stream`` is left out or false) or either (None).
    - ``with_tools``: function ``tools`` with object parameter schemas and sometimes a
      ``tool_choice`` naming one: always (True), never (False) or sometimes (None).

    Shrinks toward ``{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "0"}]}``
    (plus ``stream``/``tools`` when required): fewer messages and options, shorter texts.
    """
    _flag("stream", stream, optional=True)
    _flag("with_tools", with_tools, optional=True)

    streams = _STREAMS if stream is None else st.just(stream)
    tooled = _sometimes(with_tools)

    @st.composite
    def requests(draw: st.DrawFn) -> Doc:
        fmt = draw(_FORMATS) if draw(st.booleans()) else None
        json_mode = fmt is not None and fmt["type"] == "json_object"
        body: Doc = {"model": draw(_MODEL_NAMES), "messages": draw(_MESSAGES[json_mode])}
        streaming = draw(streams)
        if streaming or (streaming is False and draw(st.booleans())):
            body["stream"] = streaming
            if streaming and draw(st.booleans()):
                body["stream_options"] = {"include_usage": draw(st.booleans())}
        if draw(tooled):
            body["tools"] = tools = draw(_TOOLS)
            if draw(st.booleans()):
                choice = draw(_TOOL_CHOICES)
                if choice == "function":
                    index = draw(st.integers(min_value=0, max_value=len(tools) - 1))
                    name = tools[index]["function"]["name"]
                    body["tool_choice"] = {"type": "function", "function": {"name": name}}
                else:
                    body["tool_choice"] = choice
        if fmt is not None:
            body["response_format"] = fmt
        if draw(st.booleans()):
            body[draw(_MAX_TOKEN_KEYS)] = draw(_MAX_TOKENS)
        if draw(st.booleans()):
            body["stop"] = draw(_STOPS)
        if draw(st.booleans()):
            body["n"] = draw(_NS)
        if draw(st.booleans()):
            body["temperature"] = draw(_TEMPERATURES)
        if draw(st.booleans()):
            body["seed"] = draw(_REQUEST_SEEDS)
        return body

    return requests()

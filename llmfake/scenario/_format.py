"""The scenario format, declared once: pydantic models of the document users write.

Each model's keys, their docstrings, their kinds of value (``_values``) and the rules between
keys are the one declaration of the format: validation runs through these models, the published
JSON Schema (``_schema``) is generated from them, the docstrings becoming its descriptions, and
``build`` compiles a valid document into the engine's objects (``_model``).

Every mistake in a document is reported in one run, each at its path: ``_Doc`` checks for
unknown keys itself (to suggest the nearest), collects what pydantic found in the fields, then
runs the model's rules between keys (``_rules``) when its fields are valid.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from llmfake.scenario import _model as rt
from llmfake.scenario import _values as v
from llmfake.scenario._model import (
    BATCH_OUTCOMES,
    ENDPOINTS,
    FAULT_NAMES,
    FINISH_REASONS,
    JITTER_DISTRIBUTIONS,
    LIMIT_SCOPES,
    PROVIDER_NAMES,
)

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, object]

Str = Annotated[str, v.STR]
OptStr = Annotated[str | None, v.STR]  # the key may be left out, but is not null
OptBool = Annotated[bool | None, v.BOOL]
Duration = Annotated[float, v.DURATION]
OptDuration = Annotated[float | None, v.DURATION]
OptCount = Annotated[int | None, v.whole(0)]
Limit = Annotated[int | None, v.whole(1, null=True)]


def _schema_rules(schema: dict[str, Any], cls: type) -> None:
    rules = getattr(cls, "_schema_rules", None)
    if rules is not None:
        rules(schema)


class _Doc(BaseModel):
    """Closed objects whose every mistake is reported, at its path, with what is allowed."""

    # The keys' docstrings are read only when the JSON Schema is asked for (``_schema``):
    # pydantic's use_attribute_docstrings reads this module's source at every import (~0.1 s
    # of every server's start).
    model_config = ConfigDict(extra="forbid", json_schema_extra=_schema_rules)

    _say: ClassVar[dict[tuple[str, str], tuple[Loc, str]]] = {}
    """Messages for pydantic's own errors on a key: (error type, key) to (where, message)."""

    @classmethod
    def allowed(cls) -> list[str]:
        return [f.alias or name for name, f in cls.model_fields.items()]

    @model_validator(mode="wrap")
    @classmethod
    def _read(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
              ) -> Any:
        if isinstance(data, cls):
            return data
        keys = cls.allowed()
        if not isinstance(data, Mapping):
            raise v.problem(f"expected a mapping with keys {', '.join(keys)}, got {v.kind(data)}")
        order = {key: i for i, key in enumerate(data)}
        problems: list[Problem] = [
            ((str(key),), f"unknown key {key!r}{v.hint(key, keys)}; allowed keys: "
                          f"{', '.join(keys)}", value)
            for key, value in data.items() if key not in keys]
        doc = None
        try:
            doc = handler({k: x for k, x in data.items() if k in keys})
        except ValidationError as exc:
            problems += [cls._problem(e["type"], e["loc"], e["msg"], e["input"])
                         for e in exc.errors(include_url=False)]
        if doc is not None:
            problems += doc._rules(info.context or {})
        # In the document's order; what concerns the whole object (a key it lacks) last.
        problems.sort(key=lambda p: order.get(p[0][0], -1) if p[0] else len(order))
        v.fail(problems, cls.__name__)
        return doc

    @classmethod
    def _problem(cls, kind: str, loc: Loc, message: str, value: object) -> Problem:
        if kind == "llmfake":
            return loc, message, value
        if len(loc) == 1 and (kind, loc[0]) in cls._say:
            where, text = cls._say[kind, str(loc[0])]
            return where, text, value
        if kind == "list_type":
            return loc, f"expected a list, got {v.kind(value)}", value
        return loc, message, value

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        """Mistakes between keys, once every key is valid on its own."""
        return []


def _object(model: type[_Doc], shorthand: Callable[[Any], Any] | None = None,
            also: Any = None) -> BeforeValidator:
    """An optional key holding ``model`` (not null), or ``also``, which ``shorthand`` turns
    into the model's mapping."""

    def before(value: Any) -> Any:
        if value is None:
            raise v.problem(f"expected a mapping with keys {', '.join(model.allowed())}, got null")
        if shorthand is not None and not isinstance(value, Mapping | _Doc):
            return shorthand(value)
        return value

    return BeforeValidator(before, json_schema_input_type=model if also is None else also | model)


class Jitter(_Doc):
    """Jitter drawn from a distribution."""

    distribution: Annotated[str, v.choice(JITTER_DISTRIBUTIONS, "jitter distribution")] = (
        "uniform")
    """uniform: within +-spread; normal: spread is the standard deviation; lognormal: spread is
    sigma (a long tail)."""
    spread: Annotated[float, v.fraction(10)] = 0.1
    """The spread, 0 to 10 (or a percentage)."""


_FLAT_JITTER = v.fraction(1)


def _jitter(value: Any) -> float | Jitter:
    return (Jitter.model_validate(value) if isinstance(value, Mapping)
            else float(_FLAT_JITTER.check(value)))


class Latency(_Doc):
    """When the bytes of a response leave the server."""

    ttft: Duration = 0.0
    """Time from the request's arrival to the first token."""
    per_token: Duration = 0.0
    """Time between two streamed tokens; a non-streamed body waits for all of them."""
    jitter: Annotated[float | Jitter, PlainValidator(
        _jitter, json_schema_input_type=Annotated[float, _FLAT_JITTER] | Jitter)] = 0.0
    """Relative spread of every delay: 0.1 or 10% for +-10% (uniform), or {distribution:
    uniform|normal|lognormal, spread: ...}; drawn from the seed."""
    tokens_per_chunk: Annotated[int, v.whole(1, 100_000)] = 1
    """Tokens a stream sends per chunk."""

    def build(self) -> rt.Latency:
        j = self.jitter
        spread, law = (j.spread, j.distribution) if isinstance(j, Jitter) else (j, "uniform")
        return rt.Latency(self.ttft, self.per_token, spread, law, self.tokens_per_chunk)


class Drip(_Doc):
    """How fault drip trickles the response out."""

    size: Annotated[int, v.whole(1, 1 << 20)] = Field(rt.Drip.bytes, alias="bytes")
    """Bytes sent at a time (default 16)."""
    every: Duration = rt.Drip.every
    """Time between two sends (default 50ms)."""

    def build(self) -> rt.Drip:
        return rt.Drip(self.size, self.every)


class Limits(_Doc):
    """Provider-side limits, counted per tenant."""

    requests_per_minute: Limit = None
    """Requests a minute before 429 (null: unlimited)."""
    tokens_per_minute: Limit = None
    """Prompt plus completion tokens a minute before 429 (null: unlimited)."""
    max_concurrent: Limit = None
    """Requests in flight at once before 429 (null: unlimited)."""
    max_request_bytes: Annotated[int, v.SIZE] = rt.Limits.max_request_bytes
    """A request body over this many bytes gets 413 (a number, or a size such as 10MB)."""
    by: Annotated[str, v.choice(LIMIT_SCOPES, "limit scope")] = "tenant"
    """What the limits are counted per: tenant (default), api_key, model or global (the whole
    server)."""
    quota_requests: Limit = None
    """Requests allowed in all before 429 insufficient_quota for good (null: unlimited)."""
    quota_tokens: Limit = None
    """Tokens allowed in all before 429 insufficient_quota for good (null: unlimited)."""

    def build(self) -> rt.Limits:
        return rt.Limits(self.requests_per_minute, self.tokens_per_minute, self.max_concurrent,
                         self.max_request_bytes, self.by, self.quota_requests, self.quota_tokens)


class Capacity(_Doc):
    """A provider under load: requests are generated in a fixed number of slots; the others
    wait in a queue (the wait counts in their time to first token), and a full queue answers
    the provider's own overload error. Counted per tenant, and across instances sharing a
    state backend."""

    _say = {("missing", "slots"): ((), "a capacity block needs 'slots', the requests "
                                       "generated at once, e.g. 'capacity: {slots: 4, "
                                       "queue: 16}'")}

    slots: Annotated[int, v.whole(1, 1_000_000)]
    """Requests generated at once; the next ones wait for a slot."""
    queue: Annotated[int | None, v.whole(0, 1_000_000, null=True)] = None
    """Requests that may wait for a slot; one more gets the overload error (0: none wait;
    null, the default: any number)."""
    prefill: Duration = 0.0
    """Time per prompt token before the first token (a 1000-token prompt at 0.1ms: 100ms more
    time to first token)."""
    slowdown: Annotated[float, v.number(0, 1000)] = 0.0
    """How much slower each token comes as slots fill: the per-token latency times 1 +
    slowdown x (busy - 1) / (slots - 1), busy counting this request when it gets its slot (1:
    twice as slow with every slot busy)."""
    error: Annotated[str | int, v.ERROR] = "overloaded"
    """The error a request gets when the queue is full: an error name or a status (default
    overloaded: OpenAI 503, Anthropic 529 overloaded_error, Gemini 503 UNAVAILABLE, Ollama
    503, Bedrock ModelNotReadyException)."""
    retry_after: OptDuration = None
    """Seconds sent as retry-after with that error (default: none, as providers send none)."""

    def build(self) -> rt.Capacity:
        name, status = v.error_name(self.error)
        return rt.Capacity(self.slots, self.queue, self.prefill, self.slowdown,
                           rt.ErrorSpec(name, status, retry_after=self.retry_after))


class Generate(_Doc):
    """Seeded generated text."""

    sentences: Annotated[int | None, v.whole(1, 1000)] = None
    """How many sentences (default: 1 to 3, drawn from the seed)."""
    words: Annotated[int | None, v.whole(1, 100_000)] = None
    """Exactly this many words instead of sentences."""


class Embedding(_Doc):
    """The vectors an embeddings request gets."""

    dimensions: Annotated[int | None, v.whole(1, 65536)] = None
    """Length of the vectors (default: the model's usual size)."""


class ToolCall(_Doc):
    """A tool call the fake model makes."""

    _say = {("missing", "name"): ((), "a tool call needs a 'name', such as "
                                      "{name: get_weather, arguments: {city: Paris}}")}

    name: Str
    """The function's name."""
    arguments: Annotated[Any, v.ARGUMENTS] = None
    """An object, a JSON string sent as is, or null to generate them from the tool's parameter
    schema."""
    id: OptStr = None
    """The call id (default: a deterministic one)."""


class CallTool(_Doc):
    """A tool call that fits the request: a tool it offers, called with arguments generated
    valid under that tool's parameter schema. A string is short for {tool: ...}."""

    tool: Str = "first"
    """Which offered tool: first, next (the one after the tool whose result came back last,
    so successive turns walk the offered tools in order), seeded (drawn from the seed) or a
    tool's name. A request that offers no such tool gets the reply's text instead."""
    count: Annotated[int, v.whole(1, 128)] = 1
    """Calls in the one turn (parallel tool calls): first and next take the offered tools in
    order from there, wrapping around; seeded draws each; a name calls that tool each time."""
    loop: Annotated[bool, v.BOOL] = False
    """Call tools in a request that sends tool results back too. By default the agent loop
    ends: after a tool result the reply is text (the reply's text, else generated text)."""

    def build(self) -> rt.CallTool:
        return rt.CallTool(self.tool, self.count, self.loop)


class Reply(_Doc):
    """What the model answers: an object, or a string for fixed text. With nothing set, seeded
    generated text."""

    text: OptStr = None
    """Fixed text."""
    echo: Annotated[bool, v.BOOL] = False
    """Answer with the last user message."""
    generate: Annotated[Generate | None, _object(Generate, lambda g: {} if g is True else g,
                                                  also=Literal[True])] = None
    """Seeded generated text: true, or how much."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Tool calls to make instead of (or after) text."""
    json_value: Annotated[Any, v.JSON] = Field(None, alias="json")
    """A JSON value to answer with, serialised as the message content."""
    json_schema: Annotated[Mapping[str, Any] | None, v.SCHEMA_OBJECT] = None
    """Generate JSON that validates against this schema."""
    embedding: Annotated[Embedding | None, _object(Embedding)] = None
    """For embeddings requests."""
    finish_reason: Annotated[str | None, v.choice(FINISH_REASONS, "finish reason",
                                                  null=True)] = None
    """Override the finish reason."""
    call_tool: Annotated[CallTool | None, _object(
        CallTool, lambda name: {"tool": name}, also=Str)] = None
    """Call a tool the request offers, with arguments generated from its parameter schema: a
    tool (first, next, seeded or a name) or {tool, count, loop}."""

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        if self.call_tool is not None and self.tool_calls:
            return [(("call_tool",), "a reply has either 'tool_calls' (written out) or "
                                     "'call_tool' (fitted to the request), not both", None)]
        return []

    def build(self) -> rt.Reply:
        g = self.generate
        return rt.Reply(
            text=self.text, echo=self.echo,
            generate=None if g is None else rt.Generate(g.sentences, g.words),
            tool_calls=tuple(rt.ToolCallSpec(t.name, t.arguments, t.id) for t in self.tool_calls),
            json=self.json_value, json_schema=self.json_schema,
            embedding_dimensions=self.embedding.dimensions if self.embedding else None,
            finish_reason=self.finish_reason,
            call_tool=self.call_tool.build() if self.call_tool else None)


_REPLY = _object(Reply, lambda x: {"text": x} if isinstance(x, str) else x, also=Str)

GOES_WITH = {"retry_after": "error", "should_retry": "error", "message": "error",
             "status": "error", "after_chunks": "fault", "after_bytes": "fault",
             "duration": "fault", "drip": "fault"}
"""Keys that only mean something beside another."""


class _Outcome(_Doc):
    """The keys of a step, which rules and chaos entries take too."""

    reply: Annotated[Reply | None, _REPLY] = None
    """The reply (also the content a stream fault cuts short)."""
    error: Annotated[str | int | None, v.ERROR] = None
    """An HTTP error instead of a reply: an error name or a status 400-599."""
    fault: Annotated[str | None, v.choice(FAULT_NAMES, "fault")] = None
    """A transport-level fault, struck while sending the reply."""
    retry_after: OptDuration = None
    """With 'error': seconds sent as retry-after (and retry-after-ms)."""
    should_retry: OptBool = None
    """With 'error': sent as x-should-retry, which the official SDKs obey over the status."""
    message: OptStr = None
    """With 'error': the error message instead of the provider's usual text."""
    status: Annotated[int | None, v.whole(400, 599)] = None
    """With 'error': the HTTP status to send instead of the provider's own."""
    after_chunks: OptCount = None
    """With 'fault': how many chunks go out before the fault strikes."""
    after_bytes: OptCount = None
    """With 'fault': how many bytes of a non-streamed body go out."""
    duration: OptDuration = None
    """With 'fault' hang, stall or slow_headers: how long (default: until the client gives
    up)."""
    drip: Annotated[Drip | None, _object(Drip)] = None
    """With 'fault: drip': {bytes: 16, every: 50ms}, how the response trickles out."""
    latency: Annotated[Latency | None, _object(Latency)] = None
    """Latency for this outcome alone."""
    headers: Annotated[dict[str, str] | None, v.HEADERS] = None
    """Extra response headers (x-should-retry: "false"...)."""

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        given = self.model_fields_set
        event = self.fault == "error_event"
        out: list[Problem] = []
        if self.error is not None and self.fault is not None and not event:
            out.append((("error",), f"a step has either an 'error' or a '{self.fault}' fault, "
                        "not both ('error' goes with a fault only for error_event); for a slow "
                        "error give the step a 'latency'", self.error))
        for key, partner in GOES_WITH.items():
            if key in given and partner not in given:
                such = "an error such as 'error: rate_limit'" if partner == "error" else (
                    "a fault such as 'fault: disconnect'")
                out.append(((key,), f"{key!r} goes with {partner!r}; add {such}", None))
        if self.drip is not None and self.fault not in (None, "drip"):
            out.append((("drip",), f"'drip' goes with 'fault: drip', not '{self.fault}'", None))
        if self.error is not None and self.reply is not None and not event:
            out.append((("reply",), "a step has either an 'error' or a 'reply', not both", None))
        return out

    @staticmethod
    def _schema_rules(schema: dict[str, Any]) -> None:
        schema["dependentRequired"] = {key: [partner] for key, partner in GOES_WITH.items()}
        schema["allOf"] = [
            {"if": {"required": ["error", "reply"]},
             "then": {"required": ["fault"], "properties": {"fault": {"const": "error_event"}}}},
            {"if": {"required": ["error", "fault"]},
             "then": {"properties": {"fault": {"const": "error_event"}}}},
        ]

    def step(self, latency: bool = True) -> rt.Step:
        """The engine's step for these keys (without ``latency``: a rule's own)."""
        error = None
        if self.error is not None:
            name, status = v.error_name(self.error)
            error = rt.ErrorSpec(name, self.status if self.status is not None else status,
                                 self.message, self.retry_after, self.should_retry)
        fault = None
        if self.fault is not None:
            event = self.fault == "error_event"
            fault = rt.FaultSpec(self.fault, self.after_chunks, self.after_bytes, self.duration,
                                 (error or rt.ErrorSpec("server_error")) if event else None,
                                 self.drip.build() if self.drip else None)
            error = None if event else error
        return rt.Step(reply=self.reply.build() if self.reply else None, error=error,
                       fault=fault,
                       latency=self.latency.build() if latency and self.latency else None,
                       headers=self.headers or {})


class Step(_Outcome):
    """One outcome: a reply, an error or a fault, with optional extras."""


class _ChaosKeys(_Doc):
    probability: Annotated[float, v.number(0, 1)]
    """Chance from 0 to 1."""


class Chaos(_Outcome, _ChaosKeys):
    """A random outcome drawn from the seed for each request the rule matches."""

    _say = {("missing", "probability"): ((), "a chaos entry needs a 'probability' from 0 to 1, "
                                             "such as {probability: 0.05, error: server_error}")}

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        if self.error is None and self.fault is None:
            return [((), "a chaos entry needs an 'error' or a 'fault', such as {probability: "
                         "0.05, error: server_error} or {probability: 0.02, fault: reset}", None)]
        return super()._rules(context)

    @staticmethod
    def _schema_rules(schema: dict[str, Any]) -> None:
        _Outcome._schema_rules(schema)
        schema["allOf"].append({"anyOf": [{"required": ["error"]}, {"required": ["fault"]}]})

    def build(self) -> rt.Chaos:
        return rt.Chaos(self.probability, self.step())


class ToolResult(_Doc):
    """What a tool result the request sends back must be like; every given key must hold for
    the same result."""

    name: OptStr = None
    """A glob on the tool's name (get_weather, search_*)."""
    contains: OptStr = None
    """A case-insensitive substring of the result's content."""
    regex: Annotated[str | None, v.REGEX] = None
    """A regular expression searched in the result's content."""
    id: OptStr = None
    """A glob on the id of the tool call the result answers."""

    def build(self) -> rt.ResultMatch:
        return rt.ResultMatch(self.name, self.contains,
                              None if self.regex is None else re.compile(self.regex), self.id)


def _tool_result(value: Any) -> bool | ToolResult:
    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping | ToolResult):
        return ToolResult.model_validate(value)
    raise v.problem("expected true or false, or a mapping with keys "
                    f"{', '.join(ToolResult.allowed())}, got {v.kind(value)}")


class Match(_Doc):
    """Which requests a rule applies to; every given field must match."""

    endpoint: Annotated[tuple[str, ...], v.one_or_many(ENDPOINTS, "endpoint")] = ()
    """Endpoint names (chat, responses, completions, embeddings, models, count_tokens); empty
    matches any."""
    provider: Annotated[tuple[str, ...], v.one_or_many(PROVIDER_NAMES, "provider")] = ()
    """Provider names (openai, azure, anthropic, gemini, ollama); empty matches any."""
    model: OptStr = None
    """A glob on the model name (gpt-4o*)."""
    contains: OptStr = None
    """A case-insensitive substring of the last user message."""
    header: Annotated[dict[str, str], v.HEADERS] = Field(default_factory=dict)
    """Header name to a glob its value must match."""
    stream: OptBool = None
    """Match only streamed (true) or only non-streamed (false) requests."""
    tool_result: Annotated[bool | ToolResult | None, PlainValidator(
        _tool_result, json_schema_input_type=bool | ToolResult)] = None
    """Match only requests answering a tool call (true: a tool result comes after the last
    assistant message) or only others (false); or a mapping: one of those results has this
    tool name, content or call id."""
    turn: Annotated[int | None, v.whole(0, 10_000)] = None
    """Match only requests whose conversation already holds this many assistant turns (0:
    the first request of an agent loop; 2: after two model turns)."""
    tool_offered: Annotated[tuple[str, ...], v.NAMES] = ()
    """Match only requests that offer a tool by each of these names (globs; "*": any tool)."""
    after: OptDuration = None
    """Match only from this long after the scenario was put in force for the tenant (times
    time_scale)."""
    before: OptDuration = None
    """Match only until this long after the scenario was put in force (exclusive, times
    time_scale); later than 'after'."""

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        if self.after is not None and self.before is not None and self.before <= self.after:
            # An empty window would make the rule dead without a word: say so instead.
            return [(("before",), f"the window ends before it starts: 'before' "
                                  f"({self.before:g}s) must be later than 'after' "
                                  f"({self.after:g}s)", self.before)]
        return []

    def build(self) -> rt.Match:
        result = self.tool_result
        turns = None
        if self.turn is not None or self.tool_offered or isinstance(result, ToolResult):
            turns = rt.TurnMatch(self.turn, result.build() if isinstance(result, ToolResult)
                                 else None, self.tool_offered)
        return rt.Match(self.endpoint, self.provider, self.model, self.contains, self.header,
                        self.stream, None if result is None else bool(result), self.after,
                        self.before, turns)


class _RuleKeys(_Doc):
    name: OptStr = None
    """A label shown in the journal and the log."""
    match: Match = Field(default_factory=Match)
    """Which requests (default: all)."""
    script: list[Step] = Field(default_factory=list, min_length=1)
    """The Nth request this rule matches gets the Nth step."""
    then: Annotated[rt.Then, v.choice(("last", "cycle", "default"), "'then'")] = "last"
    """After the script: repeat the last step, cycle, or fall through to the defaults."""
    chaos: list[Chaos] = Field(default_factory=list)
    """Random outcomes that pre-empt the rule's own."""


class Rule(_Outcome, _RuleKeys):
    """A match, and what the requests it matches get."""

    _say = {("too_short", "script"): (("script",), "a script needs at least one step, such as "
                                      "[{error: rate_limit}, {reply: ok}]; for one outcome, drop "
                                      "'script' and give the step's keys on the rule")}

    latency: Annotated[Latency | None, _object(Latency)] = None
    """Latency for the requests this rule matches."""

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        out = super()._rules(context)
        if not self.match.tool_result:
            return out
        # The rule only sees requests that send tool results back, where a call_tool reply
        # without loop ends the loop: it would never call, which is surely not what was meant.
        steps = [((), self), *((("script", i), s) for i, s in enumerate(self.script))]
        for where, step in steps:
            fit = step.reply.call_tool if step.reply is not None else None
            if fit is not None and not fit.loop:
                out.append(((*where, "reply", "call_tool"), "this rule matches tool results, "
                            "after which call_tool answers with text (the loop ends); add "
                            "'loop: true' to call a tool again", None))
        return out

    def build(self) -> rt.Rule:
        return rt.Rule(match=self.match.build(), step=self.step(latency=False),
                       script=tuple(s.step() for s in self.script), then=self.then,
                       chaos=tuple(c.build() for c in self.chaos),
                       latency=self.latency.build() if self.latency else None, name=self.name)


class AwsKeys(_Doc):
    """An AWS key pair that Bedrock requests must be signed with (SigV4, in any region)."""

    access_key_id: Str
    """The access key id (``AKIA...``); a request signed with another gets 403
    UnrecognizedClientException."""
    secret_access_key: Str
    """The secret key; a signature made with another gets 403 InvalidSignatureException."""
    session_token: OptStr = None
    """When set, requests must also carry it as ``X-Amz-Security-Token`` (temporary
    credentials)."""

    def build(self) -> rt.AwsKeys:
        return rt.AwsKeys(self.access_key_id, self.secret_access_key, self.session_token)


class Auth(_Doc):
    """API-key checks."""

    required: Annotated[bool, v.BOOL] = False
    """Answer 401 when a request carries no API key (default: true when keys are given)."""
    keys: list[Str] = Field(default_factory=list)
    """When not empty, answer 401 to any key not in this list."""
    aws: Annotated[AwsKeys | None, _object(AwsKeys)] = None
    """An AWS key pair: Bedrock requests must carry a valid SigV4 signature made with it, or
    get AWS's 403 (InvalidSignatureException, UnrecognizedClientException,
    MissingAuthenticationTokenException)."""

    def build(self) -> rt.Auth:
        given = "required" in self.model_fields_set
        return rt.Auth(self.required if given else bool(self.keys), tuple(self.keys),
                       self.aws.build() if self.aws is not None else None)


def _under(file: Path, dirs: Sequence[Path]) -> bool:
    """Whether ``file``, links resolved, is inside one of ``dirs``."""
    try:
        real = Path(os.path.realpath(file))
        return any(real.is_relative_to(os.path.realpath(d)) for d in dirs)
    except (OSError, ValueError):
        return False


class Cassette(_Doc):
    """A recorded session (a cassette file) replayed for the requests no rule answers
    otherwise: a path, or an object."""

    _say = {("missing", "path"): (("path",), "a cassette needs 'path', the cassette file to "
                                             "replay, e.g. 'cassette: {path: chat.yaml}'")}
    _loaded: Any = PrivateAttr(None)

    path: Str
    """The cassette file, relative to the scenario file's folder."""
    replay_speed: Annotated[float, v.number(0.0, 1e6)] = 1.0
    """1: the recorded pace; 2: twice as fast; 0: no delays."""
    strict: Annotated[bool, v.BOOL] = True
    """An unmatched request gets a 500 naming the nearest recording (default true); false: the
    scenario's reply answers it."""
    ignore: list[Str] = Field(default_factory=lambda: list(rt.CassetteSpec.ignore))
    """Top-level request-body fields not compared when matching (default: metadata, seed,
    stream_options, user)."""

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        from llmfake.record._cassette import CassetteError, load

        file = Path(self.path)
        if not file.is_absolute():
            origin = Path(context.get("source", ""))
            with contextlib.suppress(OSError, ValueError):
                if origin.is_file():
                    file = origin.parent / file
        dirs = context.get("cassette_dirs")
        if dirs is not None and not _under(file, dirs):
            # said before anything touches the file: the answer must not tell whether it exists
            return [(("path",), "a scenario sent over HTTP may name only cassettes under the "
                     "server's working directory or its startup scenario's folder (or the "
                     "folders LLMFAKE_CASSETTE_DIRS lists)", self.path)]
        try:
            self._loaded = load(file)
        except CassetteError as exc:
            fix = (" (record it first: llmfake record --upstream URL --cassette FILE)"
                   if not file.exists() else "")
            return [(("path",), f"{exc}{fix}", self.path)]
        self.path = str(file)
        return []

    def build(self) -> rt.CassetteSpec:
        return rt.CassetteSpec(self.path, self.replay_speed, self.strict,
                               tuple(sorted(set(self.ignore))), self._loaded)


class Batch(_Doc):
    """How OpenAI batches (the Batch API) run: how long each phase lasts, times time_scale,
    and how the batch ends; and how much a tenant may store through the Files API."""

    outcome: Annotated[str, v.choice(BATCH_OUTCOMES, "batch outcome")] = rt.BatchSpec.outcome
    """How batches end: completed, failed (validation fails, with an enqueued-token-limit
    error), expired (the window runs out) or cancelled (by someone else)."""
    validating: Duration = rt.BatchSpec.validating
    """How long a batch stays validating (default 0.5s)."""
    in_progress: Duration = rt.BatchSpec.in_progress
    """How long a batch stays in_progress; its lines finish evenly across it (default 1s)."""
    finalizing: Duration = rt.BatchSpec.finalizing
    """How long a batch stays finalizing, or cancelling (default 0.5s)."""
    progress: Annotated[float, v.fraction(1)] = rt.BatchSpec.progress
    """With outcome expired or cancelled: the share of the lines answered before the end
    (default 0%); the rest go to the error file."""
    max_files: Annotated[int, v.whole(1, 1_000_000)] = rt.BatchSpec.max_files
    """Files a tenant may hold at once (default 100); an upload past it gets 400."""
    max_storage: Annotated[int, v.SIZE] = rt.BatchSpec.max_storage
    """Bytes a tenant's files may hold together (default 100MB); an upload past it gets 400."""

    def _rules(self, context: Mapping[str, Any]) -> list[Problem]:
        if "progress" in self.model_fields_set and self.outcome not in ("expired", "cancelled"):
            return [(("progress",), f"'progress' is how far an expired or cancelled batch got; "
                                    f"with outcome {self.outcome!r} it means nothing: set "
                                    "'outcome: expired' or 'outcome: cancelled', or drop it",
                     self.progress)]
        return []

    @staticmethod
    def _schema_rules(schema: dict[str, Any]) -> None:
        schema["if"] = {"required": ["progress"]}
        schema["then"] = {"required": ["outcome"], "properties": {
            "outcome": {"enum": ["expired", "cancelled"]}}}

    def build(self) -> rt.BatchSpec:
        return rt.BatchSpec(self.outcome, self.validating, self.in_progress, self.finalizing,
                            self.progress, self.max_files, self.max_storage)


class Scenario(_Doc):
    """Everything the fake does: the defaults, the rules, the limits."""

    name: Str = "unnamed"
    """A label."""
    description: Str = ""
    """What the scenario is for."""
    seed: Annotated[int, v.whole(0, 2**63 - 1)] = 0
    """Every random draw (jitter, chaos, generated text, ids) follows from it."""
    freeze_time: Annotated[float | None, v.MOMENT] = None
    """When set, created timestamps are this moment, so bodies are byte-identical: true, an epoch
    second or an ISO 8601 date-time from 1970 on."""
    time_scale: Annotated[float, v.number(1e-6, 1e6)] = 1.0
    """Multiplies every configured delay, Retry-After and rate-limit window: 0.01 runs a slow
    scenario 100 times faster."""
    latency: Latency = Field(default_factory=Latency)
    """Default latency."""
    limits: Limits = Field(default_factory=Limits)
    """Rate, concurrency, quota and size limits."""
    reply: Annotated[Reply, _REPLY] = Field(default_factory=lambda: Reply.model_validate({}))
    """The reply for requests no rule decides."""
    rules: list[Rule] = Field(default_factory=list)
    """First match wins."""
    chaos: list[Chaos] = Field(default_factory=list)
    """Random outcomes for every request, drawn before the rules."""
    auth: Auth = Field(default_factory=Auth)
    """Which API keys may call."""
    models: list[Str] = Field(default_factory=list)
    """Model ids /v1/models lists; when set, other ids get 404 there."""
    strict: Annotated[bool, v.BOOL] = False
    """Every request must be decided by a rule: the pytest plugin fails a test whose client sent
    one only the defaults answered."""
    cassette: Annotated[Cassette | None, _object(
        Cassette, lambda path: {"path": str(path) if isinstance(path, Path) else path},
        also=Str)] = None
    """A recorded session replayed for the requests no rule answers otherwise."""
    capacity: Annotated[Capacity | None, _object(Capacity)] = None
    """Slots, a waiting queue, prefill time and slow-down under load (default: none, every
    request is served at once)."""
    batch: Batch = Field(default_factory=Batch)
    """How OpenAI batches run and end, and the Files API's storage bounds."""

    def build(self, source: str, raw: Mapping[str, Any]) -> rt.Scenario:
        return rt.Scenario(
            name=self.name, description=self.description, seed=self.seed,
            freeze_time=self.freeze_time, time_scale=self.time_scale,
            latency=self.latency.build(), limits=self.limits.build(), reply=self.reply.build(),
            rules=tuple(r.build() for r in self.rules),
            chaos=tuple(c.build() for c in self.chaos), auth=self.auth.build(),
            models=tuple(self.models), strict=self.strict,
            cassette=self.cassette.build() if self.cassette else None,
            capacity=self.capacity.build() if self.capacity else None,
            batch=self.batch.build(), source=source, raw=raw)

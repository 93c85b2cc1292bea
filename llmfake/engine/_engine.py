"""The engine: decides what each ``Call`` gets. It owns all state (per tenant) and all randomness.

Every random draw comes from ``random.Random`` seeded with a string made of the scenario's seed,
a purpose and a per-tenant ordinal. The tenant's *name* is not part of it, so the same scenario
and the same requests give the same bytes in any tenant, whatever runs beside them.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmfake._bounds import bound_tenants
from llmfake.engine._call import Call
from llmfake.engine._compiled import PLAIN_CALL, PlainReply, compile_plain, created_now
from llmfake.engine._draws import ALNUM as _ALNUM
from llmfake.engine._draws import ids as seeded_ids
from llmfake.engine._draws import seeded
from llmfake.engine._jsonschema import instance_from_schema
from llmfake.engine._limits import Limiter
from llmfake.engine._match import first_rule
from llmfake.engine._plan import Choice, Plan, Timing, ToolCall, Usage
from llmfake.engine._state import Ask, Reservation, reserve_local
from llmfake.engine._text import (
    count_tokens,
    cut,
    embedding,
    generated,
    prompt_tokens,
)
from llmfake.engine._turns import fitted_calls
from llmfake.journal import JOURNAL_LIMIT, Journal
from llmfake.scenario._model import (
    CassetteSpec,
    ErrorSpec,
    FaultSpec,
    Latency,
    Limits,
    Reply,
    Rule,
    Scenario,
    Step,
)

if TYPE_CHECKING:
    from llmfake.engine._redis import RedisState
    from llmfake.record._match import Matcher

_EMPTY_REPLY = Reply()
_NO_LATENCY = Latency()
_DEFAULT_DIMENSIONS = {"text-embedding-3-large": 3072}
DEFAULT_EMBEDDING_DIMENSIONS = 1536


@dataclass
class TenantState:
    """What one tenant has: its scenario, counters and journal."""

    name: str
    """The tenant's name (``default`` for un-prefixed paths)."""
    scenario: Scenario
    """The scenario in force."""
    journal: Journal = field(default_factory=Journal)
    """Its exchanges."""
    ordinal: int = 0
    """Requests decided so far."""
    unmatched: list[str] = field(default_factory=list)
    """Why each request its cassette had no recording for went unmatched."""
    rule_matches: dict[int, int] = field(default_factory=dict)
    """Requests each rule has matched (seeds its chaos draws)."""
    script_pos: dict[int, int] = field(default_factory=dict)
    """Script steps each rule has used."""
    limiter: Limiter | None = None
    """Its rate-limit buckets (when the scenario sets limits)."""
    matcher: Matcher | None = None
    """Which recorded interactions it has replayed (when the scenario has a cassette)."""
    matcher_spec: CassetteSpec | None = None
    """The cassette ``matcher`` was made for."""
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    """The monotonic clock ``since`` and time-window matches read (the limiter's and the
    event loop's: ``time.monotonic``)."""
    since: float = field(init=False, default=0.0)
    """When the scenario was put in force (creation, ``set_scenario``, ``reset``): the zero
    of the ``after``/``before`` time windows of its rules."""
    version: str = "0"
    """The version of the scenario in force, as a shared state backend counts them (a PUT or
    a reset on any instance makes a new one)."""
    resources: dict[str, Any] = field(default_factory=dict)
    """Stateful resources its requests made (OpenAI files and batches), gone on reset."""
    plain_of: Scenario | None = field(default=None, repr=False)
    """The scenario ``plain`` was compiled from."""
    plain: PlainReply | None = field(default=None, repr=False)
    """Its scenario compiled for plain requests (``Engine.plain``)."""

    def __post_init__(self) -> None:
        # assert_all_consumed() on the journal needs the script positions.
        self.journal.attach(self)
        self.since = self.clock()

    def reset(self) -> None:
        """Forget counters and the journal, and restart the scenario's clock; keep the
        scenario."""
        self.since = self.clock()
        self.local_reset()

    def local_reset(self) -> None:
        """Forget counters and the journal."""
        self.journal.clear()
        self.ordinal = 0
        self.unmatched.clear()
        self.rule_matches.clear()
        self.script_pos.clear()
        self.limiter = None
        self.matcher = None
        self.resources.clear()


class Engine:
    """Decides plans for every tenant of one server."""

    def __init__(self, scenario: Scenario, *, clock: Callable[[], float] = time.monotonic,
                 journal_size: int = JOURNAL_LIMIT, shared: RedisState | None = None) -> None:
        self.base = scenario
        self.shared = shared
        """The shared state backend (None: ``memory``, this engine's own dicts)."""
        self.clock = clock
        """The monotonic clock of the tenants' time windows (a fake one in unit tests)."""
        self.journal_size = journal_size
        """Exchanges each tenant's journal keeps: a ring, the oldest dropped first, so a server
        under load for hours holds a bounded amount of memory."""
        self.tenants: dict[str, TenantState] = {}
        self._global_limiters: dict[Limits, Limiter] = {}

    def tenant(self, name: str) -> TenantState:
        """The state of tenant ``name``, created with the base scenario on first use."""
        state = self.tenants.get(name)
        if state is None:
            bound_tenants(self.tenants)  # forget idle ones past MAX_TENANTS (issue 19)
            state = self.tenants[name] = TenantState(name, self.base, clock=self.clock,
                                                     journal=Journal(self.journal_size))
        return state

    def drop(self, name: str) -> None:
        """Forget tenant ``name`` altogether (its state, journal and limits)."""
        self.tenants.pop(name, None)
        if self.shared is not None:
            self.shared.forget(name)

    def set_scenario(self, name: str, scenario: Scenario) -> None:
        """Put ``scenario`` in force for tenant ``name`` and reset its counters and journal."""
        state = self.tenant(name)
        state.scenario = scenario
        state.reset()

    def reserve(self, state: TenantState) -> tuple[int, str, str]:
        """Take the tenant's next ordinal: (ordinal, uid, request id), all seeded."""
        ordinal = state.ordinal
        state.ordinal += 1
        return (ordinal, *self.ids(state.scenario, ordinal))

    @staticmethod
    def ids(sc: Scenario, ordinal: int) -> tuple[str, str]:
        """The uid and request id of request ``ordinal`` (seeded)."""
        return seeded_ids(sc.seed, ordinal)

    def plain(self, state: TenantState) -> PlainReply | None:
        """``state``'s scenario compiled for plain requests (``engine._compiled``); None when
        it has no plain reply or the state is shared (each request is reserved in Redis)."""
        if self.shared is not None:
            return None
        sc = state.scenario
        if state.plain_of is not sc:
            state.plain_of, state.plain = sc, compile_plain(sc)
        return state.plain

    def decide_plain(self, state: TenantState, plain: PlainReply) -> tuple[int, str, str, Choice]:
        """Decide a plain request to ``state`` (``plain``: its compiled scenario), advancing
        its counters as ``decide`` does: (ordinal, uid, request id, choice)."""
        ordinal, uid, request_id = self.reserve(state)
        choice = plain.choice or first_choice(plain.scenario, plain.reply, PLAIN_CALL, ordinal,
                                              plain.latency.tokens_per_chunk)
        return ordinal, uid, request_id, choice

    def plan_plain(self, state: TenantState, plain: PlainReply, call: Call, prompt: int
                   ) -> Plan:
        """The plan ``decide`` makes for ``call``, a plain request to ``state`` (``plain``: its
        compiled scenario) of ``prompt`` tokens, without deciding again what compiling did."""
        ordinal, uid, request_id, choice = self.decide_plain(state, plain)
        plan = Plan(call, ordinal, uid, request_id, plain.created(),
                    timing=Timing(plain.latency, f"{plain.scenario.seed}:timing:{ordinal}"))
        plan.choices = (choice,)
        plan.usage = Usage(prompt, choice.token_count)
        return plan

    def limiter(self, state: TenantState) -> Limiter | None:
        """The limiter counting ``state``'s requests (shared by all tenants for by: global)."""
        sc = state.scenario
        if not sc.limits.active:
            return None
        if sc.limits.by == "global":
            shared = self._global_limiters.get(sc.limits)
            if shared is None:
                shared = self._global_limiters[sc.limits] = Limiter(sc.limits, sc.time_scale)
            return shared
        if state.limiter is None or state.limiter.limits is not sc.limits:
            state.limiter = Limiter(sc.limits, sc.time_scale)
        return state.limiter

    def finish(self, plan: Plan) -> None:
        """The response of ``plan`` is over: free its concurrency slot."""
        if plan.limit_key is not None and self.shared is None:
            limiter = self.limiter(self.tenant(plan.call.tenant))
            if limiter is not None:
                limiter.release(plan.limit_key)

    def matcher(self, state: TenantState) -> Matcher | None:
        """The matcher replaying ``state``'s cassette (None when the scenario has none)."""
        spec = state.scenario.cassette
        if spec is None:
            return None
        if state.matcher is None or state.matcher_spec is not spec:
            from llmfake.record._match import Matcher

            state.matcher = Matcher(spec.cassette.interactions, ignore=spec.ignore)
            state.matcher_spec = spec
        return state.matcher

    def ask(self, state: TenantState, call: Call) -> tuple[Ask, int]:
        """What ``call`` asks of the state (worked out from the call alone), and its prompt
        tokens."""
        sc = state.scenario
        prompt = (sum(count_tokens(t) for t in call.inputs) if call.endpoint == "embeddings"
                  else prompt_tokens([m.text for m in call.messages]))
        # Each rule's match compiled once (engine._match); the clock is read only for windows.
        rule = (first_rule(sc.rules, call, state.clock, state.since, sc.time_scale)
                if sc.rules else -1)
        limited = sc.limits.active and call.endpoint not in ("models", "count_tokens")
        return Ask(_check_auth(sc, call) is None, limited, prompt + (call.max_tokens or 0),
                   rule), prompt

    def decide(self, call: Call, route: tuple[str, str] | None = None,
               reserved: tuple[Reservation, Ask, int] | None = None) -> Plan:
        """Decide what ``call`` gets, advancing the tenant's counters. ``route`` (method, path)
        lets a scenario's cassette find the recorded interaction for the request.
        ``reserved`` (reservation, ask, prompt tokens) is what a shared state backend answered
        for the call; without it the tenant's own counters are used."""
        state = self.tenant(call.tenant)
        sc = state.scenario
        limiter = None
        if reserved is None:
            ask, prompt = self.ask(state, call)
            if ask.limited:
                limiter = self.limiter(state)
            res = reserve_local(state, ask, limiter, call)
        else:
            res, ask, prompt = reserved
        ordinal = res.ordinal
        uid, request_id = self.ids(sc, ordinal)
        base: dict[str, Any] = {
            "call": call,
            "ordinal": ordinal,
            "uid": uid,
            "request_id": request_id,
            "created": created_now(sc),
        }
        timing_seed = f"{sc.seed}:timing:{ordinal}"

        if not ask.auth_ok:
            return Plan(**base, error=ErrorSpec("auth"), source="auth",
                        timing=Timing(_NO_LATENCY, timing_seed))
        admission = res.admission
        if admission is not None and admission.error is not None:
            return Plan(**base, error=admission.error, timing=Timing(_NO_LATENCY, timing_seed),
                        rate_limit=admission.state, source=f"limit {admission.reason}")
        rate_limit = limit_key = None
        if admission is not None:
            rate_limit, limit_key = admission.state, admission.key

        step, rule, source = _select(sc, ask.rule, res)
        scale = sc.time_scale
        headers = step.headers
        if step.error is not None:
            # An error answers at once unless its own step asks to be slow: a 429 that took
            # the model's ttft to arrive would be unlike any provider.
            return Plan(**base, error=_scaled_error(step.error, scale),
                        timing=Timing(_scaled_latency(step.latency or Latency(), scale),
                                      timing_seed),
                        headers=headers, source=source, rate_limit=rate_limit,
                        limit_key=limit_key)
        latency = step.latency or (rule.latency if rule else None) or sc.latency
        timing = Timing(_scaled_latency(latency, scale), timing_seed)
        fault = _scaled_fault(step.fault, scale)
        if fault is not None and fault.name == "error_event":
            fault = dataclasses.replace(fault, error=fault.error or ErrorSpec("server_error"))
            if not call.stream:  # no stream to carry the error event: the error is the answer
                return Plan(**base, error=fault.error, fault=fault,
                            timing=Timing(_NO_LATENCY, timing_seed), headers=headers,
                            source=source, rate_limit=rate_limit, limit_key=limit_key)
        reply = step.reply
        if reply is None and rule is not None and rule.step.reply is not None:
            reply = rule.step.reply
        if sc.cassette is not None and (reply is None or reply == _EMPTY_REPLY):
            replayed = self._replay(state, call, route, base, timing_seed, step, source,
                                    {"rate_limit": rate_limit, "limit_key": limit_key})
            if replayed is not None:
                return replayed
        if reply is None:
            reply = sc.reply
        plan = Plan(call, ordinal, uid, request_id, base["created"], timing=timing,
                    headers=headers, fault=fault, source=source, rate_limit=rate_limit,
                    limit_key=limit_key)
        endpoint = call.endpoint
        if endpoint == "count_tokens":
            plan.usage = Usage(prompt)
            return plan
        if endpoint == "models":
            if call.model and sc.models and call.model not in sc.models:
                plan.fault, plan.error = None, ErrorSpec("not_found")
            else:
                plan.models = sc.models
            return plan
        if endpoint == "embeddings":
            dims = (reply.embedding_dimensions or call.dimensions
                    or _DEFAULT_DIMENSIONS.get(call.model, DEFAULT_EMBEDDING_DIMENSIONS))
            plan.embeddings = tuple(embedding(text, dims) for text in call.inputs)
            plan.usage = Usage(prompt)
            return plan
        per_chunk = latency.tokens_per_chunk
        if call.n <= 1:
            choices: tuple[Choice, ...] = (first_choice(sc, reply, call, ordinal, per_chunk),)
        else:
            rng = seeded(f"{sc.seed}:content:{ordinal}")
            choices = tuple(_choice(reply, call, rng, i, per_chunk) for i in range(call.n))
        completion = 0
        for c in choices:
            completion += c.token_count
            for t in c.tool_calls:
                completion += count_tokens(t.name + t.arguments)
        if admission is not None and call.max_tokens is None and completion:
            # The reply, as providers count it: charged now here, by a shared backend when the
            # response is over.
            if limiter is not None:
                limiter.charge(admission.key, completion)
            else:
                res.charge = completion
        plan.choices = choices
        plan.usage = Usage(prompt, completion)
        return plan

    def _replay(self, state: TenantState, call: Call, route: tuple[str, str] | None,
                base: dict[str, Any], timing_seed: str, step: Step, source: str,
                limits: dict[str, Any]) -> Plan | None:
        """The recorded response for ``call`` with the step's fault overlaid; an unmatched
        request gets a non-retryable 500 naming the nearest recording (strict cassettes) or
        None (the scenario's reply answers it)."""
        sc = state.scenario
        spec = sc.cassette
        matcher = self.matcher(state)
        if spec is None or matcher is None:
            return None
        method, path = route if route is not None else ("POST", "")
        key = matcher.key_of_json(method, path, call.body or None)
        index = matcher.find_key(key)
        instant = Timing(Latency(), timing_seed)
        where = source if source != "default" else "cassette"
        if index is None:
            if not spec.strict:
                return None
            problem = matcher.explain_key(key)
            state.unmatched.append(problem)
            return Plan(**base, timing=instant, source=f"{where} unmatched", **limits,
                        error=ErrorSpec("server_error", should_retry=False,
                                        message=f"llmfake: {problem} (cassette {spec.path})"))
        speed = spec.replay_speed
        factor = 0.0 if speed == 0 else sc.time_scale / speed
        return Plan(**base, timing=instant, headers=step.headers,
                    fault=_scaled_fault(step.fault, sc.time_scale), source=where, **limits,
                    recorded=matcher.interactions[index], replay_factor=factor)


def first_choice(sc: Scenario, reply: Reply, call: Call, ordinal: int, per_chunk: int
                 ) -> Choice:
    """The choice of a one-choice ``reply`` to request ``ordinal``."""
    # Seeding a Random from a string costs ~5 us, and a fixed text reply draws nothing:
    # make it only when the reply may draw (draws are per ordinal, so this changes no byte).
    rng = seeded(f"{sc.seed}:content:{ordinal}") if _draws(reply, call) else _NO_DRAWS
    return _choice(reply, call, rng, 0, per_chunk)


def _select(sc: Scenario, index: int, res: Reservation) -> tuple[Step, Rule | None, str]:
    """The step the reservation's draws and cursor give (rule ``index`` matched; -1: none)."""
    if res.chaos >= 0:
        return sc.chaos[res.chaos].step, None, f"chaos {res.chaos}"
    if index < 0:
        return sc.default_step, None, "default"
    rule = sc.rules[index]
    if res.rule_chaos >= 0:
        return (rule.chaos[res.rule_chaos].step, rule,
                f"rule {index} chaos {res.rule_chaos}")
    if not rule.script:
        return rule.step, rule, f"rule {index}"
    pos = res.position
    n = len(rule.script)
    if pos < n:
        return rule.script[pos], rule, f"rule {index} step {pos}"
    if rule.then == "cycle":
        return rule.script[pos % n], rule, f"rule {index} step {pos % n}"
    if rule.then == "last":
        return rule.script[-1], rule, f"rule {index} step {n - 1}"
    return sc.default_step, None, f"rule {index} then default"


class _NoDraws(random.Random):
    """The content rng of a reply that draws nothing (see ``_draws``); a draw is a bug."""

    def random(self) -> float:
        raise AssertionError("llmfake: a reply drew from the rng _draws() said it never uses")

    def getrandbits(self, k: int, /) -> int:
        raise AssertionError("llmfake: a reply drew from the rng _draws() said it never uses")


_NO_DRAWS = _NoDraws(0)


def _draws(reply: Reply, call: Call) -> bool:
    """Whether ``_choice`` may draw from the content rng for ``reply``: everything but a fixed
    text (or JSON) with no tool calls, no schema, and a single choice."""
    return not ((reply.text is not None or reply.json is not None) and not reply.tool_calls
                and reply.call_tool is None and call.forced_tool is None
                and reply.json_schema is None and call.response_schema is None
                and not call.response_json and call.n <= 1)


def _check_auth(sc: Scenario, call: Call) -> ErrorSpec | None:
    if not sc.auth.required and not sc.auth.keys:
        return None
    if not call.api_key or (sc.auth.keys and call.api_key not in sc.auth.keys):
        return ErrorSpec("auth")
    return None


def _tool_schema(call: Call, name: str) -> Mapping[str, Any] | None:
    for tool in call.tools:
        if tool.name == name:
            return tool.parameters
    return None


def _tool_calls(reply: Reply, call: Call, rng: random.Random) -> tuple[ToolCall, ...]:
    if not reply.tool_calls and reply.call_tool is None and call.forced_tool is None:
        return ()  # most replies: nothing to build
    specs: list[tuple[str, Any, str | None]] = [
        (t.name, t.arguments, t.id) for t in reply.tool_calls]
    if not specs and reply.call_tool is not None:
        specs = [(name, None, None) for name in fitted_calls(reply.call_tool, call, rng)]
    if not specs and call.forced_tool is not None and call.tools:
        name = call.tools[0].name if call.forced_tool == "*" else call.forced_tool
        specs = [(name, None, None)]
    out = []
    for name, args, call_id in specs:
        if args is None:
            schema = _tool_schema(call, name) or {"type": "object", "properties": {}}
            args = instance_from_schema(schema, rng)
        text = args if isinstance(args, str) else json.dumps(args, separators=(",", ":"))
        out.append(ToolCall(call_id or "call_" + "".join(rng.choice(_ALNUM) for _ in range(24)),
                            name, text))
    return tuple(out)


def _content_text(reply: Reply, call: Call, rng: random.Random
                  ) -> tuple[str, tuple[str, ...] | None]:
    """The reply's text, and its tokens where they come for free (generated text)."""
    if reply.json is not None:
        return json.dumps(reply.json), None
    schema = reply.json_schema or call.response_schema
    if schema is not None or call.response_json:
        if reply.text is not None and _is_json(reply.text):
            return reply.text, None
        if schema is None:
            schema = {"type": "object", "properties": {"answer": {"type": "string"}},
                      "required": ["answer"]}
        return json.dumps(instance_from_schema(schema, rng)), None
    if reply.text is not None:
        return reply.text, None
    if reply.echo:
        return call.last_user_text, None
    gen = reply.generate
    return generated(rng, sentences=gen.sentences if gen else None,
                     words=gen.words if gen else None)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _choice(reply: Reply, call: Call, rng: random.Random, index: int, per_chunk: int = 1
            ) -> Choice:
    if index:
        rng = seeded(f"{rng.random()}:{index}")
    tool_calls = _tool_calls(reply, call, rng)
    # A forced tool_choice makes the real API answer with the call alone, whatever text the
    # scenario would otherwise give.
    if tool_calls and (reply.text is None or not reply.tool_calls):
        return Choice(None, (), tool_calls, reply.finish_reason or "tool_calls")
    content, known = _content_text(reply, call, rng)
    text, tokens, limited, stopped = cut(content, call.stop, call.max_tokens, known)
    finish = "tool_calls" if tool_calls else ("length" if limited else "stop")
    count = len(tokens)
    if per_chunk > 1:
        tokens = tuple("".join(tokens[i:i + per_chunk]) for i in range(0, count, per_chunk))
    return Choice(text, tokens, tool_calls, reply.finish_reason or finish, count, stopped)


def _scaled_latency(latency: Latency, scale: float) -> Latency:
    if scale == 1.0:
        return latency
    return dataclasses.replace(latency, ttft=latency.ttft * scale,
                               per_token=latency.per_token * scale)


def _scaled_error(error: ErrorSpec, scale: float) -> ErrorSpec:
    if scale == 1.0 or error.retry_after is None:
        return error
    return dataclasses.replace(error, retry_after=error.retry_after * scale)


def _scaled_fault(fault: FaultSpec | None, scale: float) -> FaultSpec | None:
    if fault is None or scale == 1.0:
        return fault
    return dataclasses.replace(
        fault, duration=None if fault.duration is None else fault.duration * scale,
        error=None if fault.error is None else _scaled_error(fault.error, scale),
        drip=fault.drip and dataclasses.replace(fault.drip, every=fault.drip.every * scale))

"""Plain requests on the compiled path (``engine._compiled``, ``server._plain``) leave behind
exactly what the general path leaves: the same bytes, journal entry and kept response.

Each request goes to two tenants of one server over real sockets. One has the scenario under
test, which compiles, so its plain requests take the compiled path. The other has the same
scenario plus a rule that matches nothing: a scenario with rules never compiles, so every
request there takes the general path (parse, ``Engine.decide``, render), and the rule changes
no byte. Both tenants count from ordinal 0, and ids depend on the seed and the ordinal alone.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmfake
from llmfake._header_block import head_block
from llmfake.engine._plan import Plan
from llmfake.providers import Event
from llmfake.ui._kept import kept

CHAT = "/v1/chat/completions"
_NEVER = {"match": {"model": "no-such-model-ever"}, "reply": {"text": "never sent"}}
_TIMES = ("started", "duration", "ended")

SCENARIOS: dict[str, dict[str, Any]] = {
    "generated": {"seed": 7},
    "fixed": {"seed": 3, "reply": {"text": "Hello there, plain path."}},
    "json": {"reply": {"json": {"answer": 42, "words": ["a", "b"]}}},
    "latency": {"reply": {"text": "one two three"},
                "latency": {"ttft": "5ms", "per_token": "1ms", "tokens_per_chunk": 2}},
    "scaled": {"time_scale": 0.5, "reply": {"generate": {"words": 9}},
               "latency": {"ttft": "4ms"}},
    "finish": {"reply": {"text": "cut short", "finish_reason": "length"}},
}

PLAIN_BODIES: list[dict[str, Any]] = [
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say something."}]},
    {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "héllo 🌍", "name": "ana"}]},
    {"model": "m", "messages": [{"content": ""}], "temperature": 0.2, "top_p": 1,
     "stream": False, "n": 1, "logprobs": False, "user": "u-1", "seed": 5,
     "metadata": {"k": "v"}, "store": False},
    # streams: decided on the compiled path, their events rendered the general way
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Stream it."}],
     "stream": True},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "With usage."}],
     "stream": True, "stream_options": {"include_usage": True}, "temperature": 1},
]
GENERAL_BODIES: list[Any] = [
    # not plain: the compiled path hands them on, and the general path answers them
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stop": ["two"]},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text",
                                                                   "text": "parts"}]}]},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "n": 2},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "logprobs": True},
    # refused: the same 400 on both
    {"model": "gpt-4o", "messages": []},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "n": True},
    {"model": 5, "messages": [{"role": "user", "content": "x"}]},
    {"messages": [{"role": "user", "content": "x"}]},
    ["not", "an", "object"],
    "not json at all",
]


@pytest.fixture(scope="module")
def server() -> Iterator[llmfake.Server]:
    with llmfake.serve() as srv:
        yield srv


class Pair:
    """Two tenants of one server with the same scenario, one compiled and one not."""

    def __init__(self, server: llmfake.Server, name: str, scenario: dict[str, Any]) -> None:
        self.server = server
        sc = {"name": name, "freeze_time": 1_700_000_000, **scenario}
        self.plain, self.general = f"plain-{name}", f"general-{name}"
        server.use(sc, self.plain)
        server.use({**sc, "rules": [_NEVER]}, self.general)

    def send(self, body: Any, headers: dict[str, str] | None = None
             ) -> tuple[tuple[int, list[tuple[str, str]], bytes], ...]:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        out = []
        for tenant in (self.plain, self.general):
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=10)
            conn.request("POST", f"/t/{tenant}{CHAT}", raw,
                         {"content-type": "application/json", "authorization": "Bearer sk-p",
                          **(headers or {})})
            resp = conn.getresponse()
            out.append((resp.status, [(k, v) for k, v in resp.getheaders() if k != "date"],
                        resp.read()))
            conn.close()
        return tuple(out)

    def check_same(self) -> None:
        """Both journals and kept responses hold the same, the tenant and times aside."""
        plain = list(self.server.journal(self.plain))
        general = list(self.server.journal(self.general))
        assert len(plain) == len(general) > 0
        for p, g in zip(plain, general, strict=True):
            pj, gj = p.to_json(), g.to_json()
            for data in (pj, gj):
                data.pop("tenant")
                for name in _TIMES:
                    data.pop(name)
                # A stream's writes: how they group depends on how late the loop woke (two
                # chunks due 1 ms apart go in one write when it woke late for the first), so
                # the chunks written and when the last was planned. Each event's due is
                # compared with the kept events below.
                sent = data.pop("sent")
                data["chunks_written"] = sum(chunks for _, _, chunks in sent)
                data["last_planned"] = sent[-1][1] if sent else None
            assert pj == gj
            pk, gk = kept(p), kept(g)
            assert pk is not None and gk is not None
            # the rendered response: status, headers, body, tokens, text, a stream's events
            assert dataclasses.replace(pk[1], events=None, head=None) == dataclasses.replace(
                gk[1], events=None, head=None)
            if pk[1].head is not None:  # the block written beforehand is the headers' own
                assert pk[1].head == head_block(pk[1].headers)
            assert _events(pk[1].events) == _events(gk[1].events)
            plan, general_plan = pk[0], gk[0]
            if plan is None or general_plan is None:  # refused before the engine
                assert plan is general_plan is None
                continue
            if isinstance(plan, Plan):  # a stream keeps its whole plan
                assert isinstance(general_plan, Plan)
                assert dataclasses.replace(plan, call=None) == dataclasses.replace(  # type: ignore[arg-type]
                    general_plan, call=None)
                assert dataclasses.replace(plan.call, tenant="") == dataclasses.replace(
                    general_plan.call, tenant="")
                continue
            for name in ("fault", "rate_limit", "latency", "seed", "recorded"):
                assert getattr(plan, name) == getattr(general_plan, name), name

    def compiled(self, body: Any) -> bool:
        """Whether the plain tenant takes ``body`` on the compiled path."""
        state = self.server.tenant(self.plain)
        plain = self.server.engine.plain(state)
        answer = None if plain is None else plain.routes.get(("POST", CHAT))
        return answer is not None and answer.shape(body) is not None


def _events(events: Sequence[Event] | None) -> list[tuple[bytes, int, bool]] | None:
    return None if events is None else [(e.data, e.due, e.chunk) for e in events]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_plain_requests_get_the_bytes_of_the_general_path(server: llmfake.Server,
                                                          name: str) -> None:
    pair = Pair(server, name, SCENARIOS[name])
    for body in PLAIN_BODIES:
        plain, general = pair.send(body)
        assert plain == general
        assert plain[0] == 200
        assert pair.compiled(body)
    # a retry of the same body (its attempt inferred from the journal) and a client's count
    pair.send(PLAIN_BODIES[0], {"x-stainless-retry-count": "1"})
    pair.check_same()
    assert server.tenant(pair.general).plain is None  # its rule keeps it on the general path


@pytest.mark.parametrize("body", GENERAL_BODIES, ids=range(len(GENERAL_BODIES)))
def test_what_is_not_plain_goes_the_general_way(server: llmfake.Server, body: Any) -> None:
    pair = Pair(server, f"general-{GENERAL_BODIES.index(body)}", SCENARIOS["fixed"])
    plain, general = pair.send(body)
    assert plain == general
    assert not pair.compiled(body)
    pair.check_same()


def test_a_scenario_that_depends_on_more_than_the_prompt_does_not_compile(
        server: llmfake.Server) -> None:
    for extra in ({"rules": [_NEVER]}, {"limits": {"requests_per_minute": 100}},
                  {"auth": {"required": True}}, {"chaos": [{"probability": 0.0,
                                                             "error": "server_error"}]},
                  {"latency": {"ttft": "1ms", "jitter": 0.5}}, {"reply": {"echo": True}},
                  {"reply": {"tool_calls": [{"name": "f", "arguments": {}}]}}):
        server.use({"name": "not-plain", **extra}, "not-plain")
        assert server.engine.plain(server.tenant("not-plain")) is None, extra


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=_text, texts=st.lists(_text, min_size=1, max_size=4),
       temperature=st.none() | st.floats(0, 2))
def test_any_plain_prompt_gets_the_same_answer(server: llmfake.Server, model: str,
                                               texts: list[str],
                                               temperature: float | None) -> None:
    pair = Pair(server, "prompts", SCENARIOS["generated"])
    body: dict[str, Any] = {"model": model,
                            "messages": [{"role": "user", "content": t} for t in texts]}
    if temperature is not None:
        body["temperature"] = temperature
    plain, general = pair.send(body)
    assert plain == general
    assert pair.compiled(body)
    pair.check_same()

"""The fast paths give the bytes the plain ones give (no timing here: speed is benchmarks/')."""

from __future__ import annotations

import json
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmfake
from llmfake._header_block import _checked_block, head_block
from llmfake.engine._call import Call, Message
from llmfake.engine._engine import _ALNUM, Engine
from llmfake.engine._plan import Choice
from llmfake.engine._text import _TOKEN, count_tokens, tokenize
from llmfake.journal import Exchange, Journal
from llmfake.providers import _base
from llmfake.providers._base import Event, LazyEvents, dumps, pretty, strike_index
from llmfake.providers.openai import _chat_schedule, _plain_schedule, render_chat
from llmfake.scenario._load import load_scenario

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _stdlib(value: object) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_pretty_writes_what_the_stdlib_writes(value):
    try:
        expected = _stdlib(value)
    except UnicodeEncodeError:  # a lone surrogate: both refuse it
        with pytest.raises(UnicodeEncodeError):
            pretty(value)
        return
    assert pretty(value) == expected


def test_pretty_without_orjson(monkeypatch):
    monkeypatch.setattr(_base, "_orjson", None)
    value = {"a": [1, 2.5e-07, None, True], "b": {"c": "é\n"}}
    assert pretty(value) == _stdlib(value)


def test_pretty_no_floats_vouched_but_odd_keys_fall_back():
    assert pretty({1: "x"}, no_floats=True) == _stdlib({1: "x"})
    assert pretty({"n": 2**70}, no_floats=True) == _stdlib({"n": 2**70})


def _plan(scenario: dict, body: dict | None = None, n: int = 1):
    engine = Engine(load_scenario(scenario))
    call = Call(provider="openai", endpoint="chat", model="gpt-4o",
                messages=(Message("user", "hi"),), stream=True, n=n, body=body or {})
    return engine.decide(call)


@pytest.mark.parametrize("scenario", [
    {"reply": {"text": 'Hé "quoted" \\ back\nslash\u2028 ünï 😀 \t tab'}},
    {"reply": {"generate": {"words": 30}}},
    {"reply": {"tool_calls": [{"name": "f", "arguments": {"a": 1}}]}},
    {"reply": {"text": "x y", "tool_calls": [{"name": "f", "arguments": {"a": 1}}]}},
])
@pytest.mark.parametrize("body", [{}, {"logprobs": True, "top_logprobs": 2},
                                  {"stream_options": {"include_usage": True}}])
@pytest.mark.parametrize("n", [1, 2])
def test_templated_chat_chunks_are_what_dumps_writes(scenario, body, n):
    events = render_chat(_plan(scenario, body, n)).events
    assert isinstance(events, LazyEvents)
    for index, event in enumerate(events):
        assert event.data.startswith(b"data: ") and event.data.endswith(b"\n\n")
        payload = event.data[6:-2].decode()
        if payload != "[DONE]":
            assert payload == dumps(json.loads(payload))
        assert events.meta(index) == (event.due, event.chunk)
        assert events.data(index) == event.data == events[index].data
    assert [e.data for e in events[1:3]] == [events[1].data, events[2].data]


def test_strike_index_counts_lazy_events_without_rendering():
    rendered: list[int] = []

    def render(spec: int) -> bytes:
        rendered.append(spec)
        return b"x"

    lazy = LazyEvents([0, 0, 1, 2], [False, True, True, False], [0, 1, 2, 3], render)
    eager = tuple(Event(b"x", due, chunk) for due, chunk, _ in
                  [(0, False, 0), (0, True, 1), (1, True, 2), (2, False, 3)])
    for after in (None, 0, 1, 2, 5):
        assert strike_index(lazy, after) == strike_index(eager, after)
    assert rendered == []


def test_reserve_draws_the_ids_choice_would():
    engine = Engine(load_scenario({"seed": 42}))
    state = engine.tenant("default")
    for ordinal in range(300):
        _, uid, request_id = engine.reserve(state)
        ids = random.Random(f"42:ids:{ordinal}")
        assert uid == "".join(ids.choice(_ALNUM) for _ in range(29))
        assert request_id == f"req_{ids.getrandbits(128):032x}"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "éü😀", max_size=300))
def test_cached_tokenizer_agrees_with_the_regex(text):
    assert tokenize(text) == tuple(_TOKEN.findall(text))
    assert count_tokens(text) == sum(1 for _ in _TOKEN.finditer(text))


def test_same_seed_same_bytes_with_and_without_the_content_rng():
    # A fixed text reply skips seeding the content rng; the bytes must not depend on it.
    a = render_chat(_plan({"seed": 3, "reply": {"text": "fixed reply"}}))
    b = render_chat(_plan({"seed": 3, "reply": {"text": "fixed reply"}}))
    assert b"".join(e.data for e in a.events or ()) == b"".join(e.data for e in b.events or ())


def _ex(seq: int, started: float, key: str, status: int = 200) -> Exchange:
    return Exchange(seq=seq, tenant="t", method="POST", path="/", status=status,
                    completed=True, started=started, ended=started + 0.01, body_key=key)


def test_journal_is_a_ring_and_its_retry_index_forgets_dropped_exchanges():
    journal = Journal(limit=3)
    assert journal.limit == 3
    for i in range(5):
        journal.add(_ex(i, float(i), f"k{i}", status=500))
    assert [e.seq for e in journal] == [2, 3, 4] and journal.dropped == 2
    # k0 fell out of the ring: an identical request is a first try, not a retry.
    again = _ex(5, 5.0, "k0")
    journal.add(again)
    assert journal.infer_attempt(again) == 0
    retry = _ex(6, 6.0, "k4")
    journal.add(retry)
    assert journal.infer_attempt(retry) == 1
    assert journal.infer_attempt(retry) == 1  # asking twice gives the same answer


def test_journal_retry_index_with_keys_set_after_add():
    journal = Journal()
    first = Exchange(seq=0, tenant="t", method="POST", path="/", started=0.0)
    journal.add(first)
    first.body_key, first.status, first.completed, first.ended = "k", 500, True, 0.1
    assert journal.infer_attempt(first) == 0
    second = Exchange(seq=1, tenant="t", method="POST", path="/", started=1.0)
    journal.add(second)
    second.body_key = "k"
    assert journal.infer_attempt(second) == 1
    journal.clear()
    third = _ex(2, 2.0, "k")
    journal.add(third)
    assert journal.infer_attempt(third) == 0


def test_server_journal_size():

    server = llmfake.serve({"reply": {"text": "x"}}, journal_size=2)
    assert server.journal().limit == 2
    with pytest.raises(ValueError, match="journal_size"):
        llmfake.serve(journal_size=0)


def test_seeded_is_random_random_of_the_same_text():
    from llmfake.engine._draws import seeded

    for text in ("0:content:0", "7:ids:3", "é" * 300):
        fast, plain = seeded(text), random.Random(text)
        assert fast.getstate() == plain.getstate()
        assert fast.gauss(0.0, 1.0) == plain.gauss(0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**64), st.integers(min_value=0, max_value=10**9))
def test_batched_ids_are_the_choice_draws(seed, ordinal):
    from llmfake.engine._draws import _slow_ids, ids

    assert ids(seed, ordinal) == _slow_ids(seed, ordinal)


def test_ids_drawn_in_several_threads_at_once_are_each_their_own():
    # One generator per thread is reseeded for every request: two servers' loops (threads of
    # one process) must never reseed each other's between a seed and its draw.
    import sys
    import threading

    from llmfake.engine._draws import _slow_ids, ids

    expected = {n: _slow_ids(n % 3, n) for n in range(600)}
    wrong: list[int] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython can
    try:
        def draw(start: int) -> None:
            wrong.extend(n for n in range(start, 600, 4) if ids(n % 3, n) != expected[n])

        threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=971),
       st.integers(min_value=0, max_value=60))
def test_batched_draws_take_what_successive_draws_take(seed, n, count):
    from llmfake.engine._draws import below

    plain, batched = random.Random(seed), random.Random(seed)
    expected = [plain.choice(range(n)) for _ in range(count)]
    assert below(batched.getrandbits, n, count) == expected
    assert batched.random() == plain.random()  # nothing drawn past what was used


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.none() | st.integers(1, 5),
       st.none() | st.integers(1, 80))
def test_generated_tokens_are_what_the_tokenizer_gives(seed, sentences, words):
    from llmfake.engine._text import generated, generated_text

    text, tokens = generated(random.Random(seed), sentences=sentences, words=words)
    assert tokens == tuple(_TOKEN.findall(text))
    assert text == generated_text(random.Random(seed), sentences=sentences, words=words)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_dumps_writes_what_the_stdlib_writes(value):
    try:
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except UnicodeEncodeError:
        return
    assert dumps(value) == expected


@pytest.mark.parametrize("scenario", [
    {"reply": {"text": 'Hé "quoted" \\ back\nslash\u2028 ünï 😀 \t tab \x01'}},
    {"reply": {"generate": {"words": 30}}},
    {"reply": {"text": "cut here"}, "seed": 3},
])
@pytest.mark.parametrize("model", ["gpt-4o", 'odd "model" é'])
def test_templated_chat_body_is_what_pretty_writes(scenario, model):
    plan = _plan(scenario)
    plan.call.stream = False
    plan.call.model = model
    body = render_chat(plan).body
    parsed = json.loads(body)
    assert pretty(parsed) == body
    assert parsed["choices"][0]["message"]["content"] == plan.choices[0].text
    assert parsed["model"] == model and parsed["id"] == f"chatcmpl-{plan.uid}"
    assert parsed["usage"]["total_tokens"] == plan.usage.total_tokens


@pytest.mark.parametrize("scenario", [
    {"reply": {"text": 'Hé "quoted" \\ back\nslash\u2028 ünï 😀 \t tab'}},
    {"reply": {"tool_calls": [{"name": "f", "arguments": {"a": 1}}]}},
])
@pytest.mark.parametrize("body", [{}, {"logprobs": True},
                                  {"stream_options": {"include_usage": True}}])
@pytest.mark.parametrize("n", [1, 2])
def test_a_run_of_chunks_is_the_chunks_joined(scenario, body, n):
    events = render_chat(_plan(scenario, body, n)).events
    assert isinstance(events, LazyEvents)
    whole = b"".join(events.data(i) for i in range(len(events)))
    assert events.payload(0, len(events)) == whole
    assert events.payload(1, 4) == b"".join(events.data(i) for i in range(1, 4))


HEADER_TEXT = st.text(st.sampled_from("abc-: \r\n\u00e9"), max_size=6)


@given(st.dictionaries(HEADER_TEXT | st.sampled_from(["Content-Length", "date", "x-request-id"]),
                       HEADER_TEXT, max_size=5))
def test_header_block_fast_path_is_the_checked_one(headers):
    try:
        expected: bytes | type[ValueError] = _checked_block(headers)
    except ValueError:
        expected = ValueError
    if expected is ValueError:
        with pytest.raises(ValueError, match="line break"):
            head_block(headers)
    else:
        assert head_block(headers) == expected
        assert head_block(headers) == expected  # the names' verdict, cached, says the same


def test_header_block_drops_framing_and_refuses_line_breaks():
    assert head_block({"X-A": "1", "Content-Length": "9", "date": "x"}) == b"X-A: 1\r\n"
    for bad in ({"x-a": "1\r\nx-b: 2"}, {"x-a\nx-b": "2"}, {"x-a": "\r"}):
        with pytest.raises(ValueError, match="line break"):
            head_block(bad)


@given(st.lists(st.text(max_size=4), max_size=6), st.booleans(),
       st.sampled_from(["stop", "length", "content_filter"]), st.booleans())
def test_a_plain_streams_schedule_is_the_general_one(tokens, has_text, finish, usage):
    choice = Choice("".join(tokens) if has_text else None, tuple(tokens), finish=finish)
    plan = _plan({"reply": "x"}, {}, 1)
    plan.choices = (choice,)
    assert _plain_schedule(choice, usage) == _chat_schedule(plan, False, usage)

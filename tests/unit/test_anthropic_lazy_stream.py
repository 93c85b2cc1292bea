"""An Anthropic Messages stream rendered lazily is the stream the dict builder writes up front.

``render_messages`` answers a stream with events rendered as the wire reaches them
(``_anthropic_stream``); ``_render_messages`` builds the same events from dicts, all at once,
and stays callable as the reference. For plans the real engine makes from requests the real
parser reads (texts with quotes, backslashes, control characters, emoji, U+2028; empty texts;
stop sequences and max_tokens cutting them; tool calls; odd models), the two must give the same
bytes, ``due`` values and content flags, event by event and run by run, and the same
``Rendered`` around them. Strings the eager builder refuses (a lone surrogate) it keeps
refusing: the lazy path stands aside for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from llmfake.engine._engine import Engine
from llmfake.engine._plan import Plan
from llmfake.providers import _base, anthropic
from llmfake.providers._anthropic_stream import general_schedule, stream_events
from llmfake.providers._base import Event, Incoming, LazyEvents, Rendered
from llmfake.scenario._load import load_scenario

TRICKY = '"\\/<>&\u2028\u2029\x00\x01\x08\x0c\x1f\x7f\n\r\t é中😀\U0010ffff @@x@@ %s %%'
TEXTS = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=TRICKY + "ab .", max_size=80),
    st.sampled_from(["", " ", "Hello there.", 'say "hi"\\n', "line\nbreak", TRICKY]),
)
ODD_TEXTS = st.one_of(  # now and then a lone surrogate, which both builders must refuse
    TEXTS, TEXTS, TEXTS, TEXTS,
    st.builds(lambda a, s, b: a + s + b, TEXTS, st.sampled_from(["\ud800", "\udfff"]), TEXTS))
MODELS = st.one_of(st.sampled_from(["claude-sonnet-4-5", 'odd "model" é\\', ""]),
                   st.text(alphabet=TRICKY + "ab", max_size=12))
ARGUMENTS = st.one_of(st.dictionaries(st.text(alphabet=TRICKY + "k", max_size=5),
                                      st.integers() | TEXTS | st.booleans(), max_size=3),
                      st.just({}))


def _plan(reply: dict[str, Any], *, model: str = "claude-sonnet-4-5", max_tokens: int = 1024,
          stop: list[str] | None = None, latency: dict[str, Any] | None = None,
          seed: int = 0) -> Plan:
    """A plan as a server makes it: the request through the parser, decided by the engine."""
    scenario: dict[str, Any] = {"seed": seed, "reply": reply}
    if latency is not None:
        scenario["latency"] = latency
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "stream": True,
                            "messages": [{"role": "user", "content": "Say hello"}]}
    if stop is not None:
        body["stop_sequences"] = stop
    inc = Incoming("POST", "/v1/messages", {}, {},
                   {"x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01",
                    "content-type": "application/json"}, body)
    return Engine(load_scenario(scenario)).decide(anthropic.parse_messages(inc))


def _assert_same_stream(plan: Plan, ranges: Sequence[tuple[int, int]] = ()) -> LazyEvents:
    eager = anthropic._render_messages(plan)
    lazy = anthropic.render_messages(plan)
    assert isinstance(eager.events, tuple)
    events = lazy.events
    assert isinstance(events, LazyEvents)
    assert (lazy.status, dict(lazy.headers), lazy.body, lazy.tokens, lazy.text) == (
        eager.status, dict(eager.headers), eager.body, eager.tokens, eager.text)
    expected: tuple[Event, ...] = eager.events
    assert len(events) == len(expected)
    dues, chunks = events.schedule()
    assert list(dues) == [e.due for e in expected]
    assert list(chunks) == [e.chunk for e in expected]
    for i, one in enumerate(expected):
        assert events.data(i) == one.data, i
        assert events.meta(i) == (one.due, one.chunk)
        assert events[i] == one
    assert list(events) == list(expected)
    assert events.payload(0, len(events)) == b"".join(e.data for e in expected)
    for start, stop in ranges:
        assert events.payload(start, stop) == b"".join(e.data for e in expected[start:stop])
        assert events.data_range(start, stop) == [e.data for e in expected[start:stop]]
    assert lazy == eager  # as a Rendered, the lazy stream equals the tuple of its events
    return events


@st.composite
def replies(draw: Any) -> dict[str, Any]:
    """A scenario's reply: mostly a text (fixed or generated), a tool call now and then."""
    kind = draw(st.sampled_from(["text"] * 8 + ["generate"] * 2 + ["tools", "text+tools"]))
    reply: dict[str, Any] = {}
    if kind == "generate":
        reply["generate"] = {"words": draw(st.integers(1, 60))}
    if kind in ("text", "text+tools"):
        reply["text"] = draw(ODD_TEXTS)
    if kind in ("tools", "text+tools"):
        reply["tool_calls"] = [
            {"name": draw(st.text(alphabet=TRICKY + "fn_", min_size=1, max_size=8)),
             "arguments": draw(ARGUMENTS)}
            for _ in range(draw(st.integers(1, 3)))]
    if draw(st.integers(0, 9)) == 0:
        reply["finish_reason"] = draw(st.sampled_from(["stop", "length", "content_filter",
                                                       "tool_calls"]))
    return reply


@settings(max_examples=300, deadline=None)
@given(replies(), MODELS, st.data())
def test_the_lazy_stream_is_the_eager_one(reply, model, data):
    text = reply.get("text") or ""
    stop: list[str] | None = None
    if text and data.draw(st.booleans()):  # a stop sequence from the text cuts it there
        at = data.draw(st.integers(0, len(text) - 1))
        stop = [text[at:at + data.draw(st.integers(1, 4))], *data.draw(st.lists(TEXTS,
                                                                                 max_size=2))]
    max_tokens = data.draw(st.sampled_from([1024, 1024, 1024, 0, 1, 2, 5, 17]))
    latency = data.draw(st.sampled_from([None, {"tokens_per_chunk": 3}]))
    plan = _plan(reply, model=model, max_tokens=max_tokens, stop=stop, latency=latency,
                 seed=data.draw(st.integers(0, 2**32)))
    try:
        n = len(anthropic._render_messages(plan).events or ())
    except UnicodeEncodeError:
        event("refused")
        with pytest.raises(UnicodeEncodeError):
            anthropic.render_messages(plan)
        return
    choice = plan.choices[0]
    event("tool_use" if choice.tool_calls else "text" if choice.text else "no block")
    event(f"finish: {choice.finish}, stop sequence: {choice.stop_sequence is not None}")
    bounds = st.integers(0, n)
    ranges = data.draw(st.lists(st.tuples(bounds, bounds).map(sorted).map(tuple), max_size=5))
    _assert_same_stream(plan, ranges)


def test_a_text_block():
    plan = _plan({"text": 'Hé "quoted" \\ back\nslash\u2028 ünï 😀 \t tab \x01'})
    _assert_same_stream(plan, [(0, 3), (3, 10), (5, 6)])
    assert plan.choices[0].tokens and not plan.choices[0].tool_calls


def test_a_text_block_cut_by_a_stop_sequence_and_by_max_tokens():
    stopped = _plan({"text": "one two three four"}, stop=["three"])
    assert stopped.choices[0].stop_sequence == "three"
    _assert_same_stream(stopped, [(2, 5)])
    cut = _plan({"text": "one two three four"}, max_tokens=2)
    assert cut.choices[0].finish == "length"
    _assert_same_stream(cut, [(2, 5)])


@pytest.mark.parametrize("text", ["", None])
def test_no_block(text):
    # An empty text (max_tokens 0 too) opens no block: message_start, the ping, the end.
    plan = _plan({} if text is None else {"text": text}, max_tokens=0 if text is None else 9)
    assert len(_assert_same_stream(plan)) == 4


def test_a_tool_use_block():
    plan = _plan({"tool_calls": [{"name": "get_weather",
                                  "arguments": {"city": 'Par"is', "units": ["c", "é"]}}]})
    assert plan.choices[0].tool_calls and not plan.choices[0].text
    _assert_same_stream(plan, [(0, 4), (2, 6)])


def test_text_and_tool_use_blocks():
    plan = _plan({"text": "Let me check.", "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_time", "arguments": {"zone": "Europe/Paris \\ 😀"}}]})
    assert plan.choices[0].text and len(plan.choices[0].tool_calls) == 2
    _assert_same_stream(plan, [(0, 7), (7, 15), (4, 20)])


def test_a_text_streams_schedule_is_the_general_one():
    plan = _plan({"text": "A few words, then a stop."})
    choice = plan.choices[0]
    events = anthropic.render_messages(plan).events
    assert isinstance(events, LazyEvents)
    dues, chunks = events.schedule()
    general = general_schedule(choice, ())
    assert (dues, chunks) == general[:2]
    assert tuple(events._specs) == general[2]  # type: ignore[attr-defined]


def test_streams_of_one_length_share_their_schedule():
    # The pacer caches its offsets per schedule: equal schedules should be one object.
    a = anthropic.render_messages(_plan({"text": "one two three"})).events
    b = anthropic.render_messages(_plan({"text": "four five six"})).events
    assert isinstance(a, LazyEvents) and isinstance(b, LazyEvents)
    assert a.schedule()[0] is b.schedule()[0] and a.schedule()[1] is b.schedule()[1]


@pytest.mark.parametrize("where", ["model", "text", "stop", "tool"])
def test_a_lone_surrogate_is_refused_as_before(where):
    # "stop": the text is cut before its surrogate, which only the reported sequence carries.
    reply: dict[str, Any] = {"text": "fine \ud800 text" if where in ("text", "stop") else "ok"}
    if where == "tool":
        reply = {"tool_calls": [{"name": "f", "arguments": {"k": "\udfff"}}]}
    plan = _plan(reply, model="claude-\udc80" if where == "model" else "claude",
                 stop=["\ud800"] if where == "stop" else None)
    choice = plan.choices[0]
    if where == "stop":
        assert choice.stop_sequence == "\ud800" and choice.text == "fine "
    tools = tuple((anthropic._tool_id(t.id), t.name, tuple(anthropic._fragments(t)))
                  for t in choice.tool_calls)
    assert stream_events(plan, choice, *anthropic._stop_reason(choice), tools) is None
    with pytest.raises(UnicodeEncodeError):
        anthropic._render_messages(plan)
    with pytest.raises(UnicodeEncodeError):
        anthropic.render_messages(plan)


@pytest.mark.parametrize("reply", [{"text": TRICKY},
                                   {"text": TRICKY, "tool_calls": [{"name": "f",
                                                                    "arguments": {"a": TRICKY}}]}])
def test_without_orjson(reply, monkeypatch):
    # The templates were cut from what dumps writes with orjson; the stdlib writes the same.
    monkeypatch.setattr(_base, "_orjson", None)
    _assert_same_stream(_plan(reply, model=TRICKY), [(1, 9)])


def test_the_rendered_lazy_stream_is_no_tuple_but_compares_as_one():
    rendered = anthropic.render_messages(_plan({"text": "hi there"}))
    assert isinstance(rendered, Rendered) and not isinstance(rendered.events, tuple)
    assert rendered.events == tuple(rendered.events or ())
    assert rendered.events != tuple(rendered.events or ())[:-1]
    assert rendered.events != "not events"

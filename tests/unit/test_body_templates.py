"""The templated replies of Anthropic, Gemini and Ollama are the bytes their dict paths write.

Each provider fills its commonest non-streamed reply (one text block, one text candidate, a
text chat or generate line) into a body written once with slots, and renders everything else
through dicts and an encoder. Users pin the bytes of a seed, so the two must never differ: for
random plans (texts with quotes, backslashes, control characters, ``<>&``, U+2028, emoji and
lone surrogates; odd models; token counts; stop reasons; latencies) the template's answer is
compared with the general function the template bypasses, which stays callable for this test.
Plans the template does not take (streams, tool calls, several candidates) must fall through
unchanged. That the official SDKs parse these bodies is tests/sdk's part.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmfake.engine._call import Call, Message
from llmfake.engine._plan import Choice, Plan, Timing, ToolCall, Usage
from llmfake.engine._text import tokenize
from llmfake.providers import _base, anthropic, gemini, ollama
from llmfake.providers._base import Rendered, Template
from llmfake.scenario._model import Latency

TRICKY = '"\\/<>&\u2028\u2029\x00\x01\x08\x0c\x1f\x7f\n\r\t é中😀\U0010ffff @@x@@ %s %%'
TEXTS = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=TRICKY + "ab ", max_size=60),
    # A lone surrogate: every encoder refuses it, and both paths must refuse it alike.
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=10),
              st.sampled_from(["\ud800", "\udfff", "\udc80"]), st.text(max_size=10)),
)
MODELS = st.one_of(st.sampled_from(["gpt-4o", "claude-sonnet-4-6", "gemini-2.5-flash",
                                    "llama3.2:latest", ""]), TEXTS)
COUNTS = st.one_of(st.integers(0, 5000), st.integers(0, 2**70))
FINISHES = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "other"])
TOOL = ToolCall("call_" + "a" * 24, "get_weather", '{"city": "Paris"}')


@st.composite
def plans(draw: Any, provider: str, endpoint: str) -> Plan:
    """A plan as the engine makes them, its fields drawn wide: mostly the templated shape (not
    streamed, one choice, text, no tool calls), the other shapes now and then."""
    text = draw(st.one_of(TEXTS, st.none()))
    tokens = draw(st.one_of(st.just(tokenize(text or "")),
                            st.lists(st.sampled_from(["", "a", " b"]), max_size=8)
                            .map(tuple)))
    choice = Choice(text, tuple(tokens),
                    tool_calls=draw(st.sampled_from([(), (), (), (TOOL,)])),
                    finish=draw(FINISHES),
                    stop_sequence=draw(st.one_of(st.none(), TEXTS)))
    choices = draw(st.sampled_from([(choice,)] * 6 + [(), (choice, Choice("second"))]))
    prompt = draw(st.one_of(TEXTS, st.just("")))
    call = Call(provider=provider, endpoint=endpoint, model=draw(MODELS),
                messages=(Message("user", prompt),) if prompt or draw(st.booleans()) else (),
                stream=draw(st.sampled_from([False] * 5 + [True])),
                body={"prompt": prompt} if endpoint == "generate" else {},
                wire={"version": "v1beta", "query": {}})
    latency = draw(st.one_of(st.just(Latency()), st.builds(
        Latency, ttft=st.floats(0, 2), per_token=st.floats(0, 0.1), jitter=st.floats(0, 0.5))))
    return Plan(call, 0, draw(st.text("ABCxyz0189", min_size=29, max_size=29)),
                "req_" + "0" * 32, draw(st.integers(0, 4_000_000_000)), choices=choices,
                usage=Usage(draw(COUNTS), draw(COUNTS)),
                timing=Timing(latency, draw(st.text("0123:abc", max_size=8))))


def _wire(rendered: Rendered) -> tuple[Any, ...]:
    return (rendered.status, dict(rendered.headers), rendered.body, rendered.events,
            rendered.tokens, rendered.text)


def _refused(plan: Plan, general: Any) -> type[BaseException] | None:
    try:
        general(plan)
    except (TypeError, ValueError) as exc:
        return type(exc)
    return None


def _check(plan: Plan, templated: Rendered | None, general: Any, render: Any,
           simple: bool) -> None:
    """``templated`` is what ``general`` writes (None exactly where it may not be taken), and
    the public ``render`` answers as ``general`` does, refusals included."""
    refused = _refused(plan, general)
    if refused is not None:  # a lone surrogate: the template stands aside, the refusal stays
        assert templated is None
        with pytest.raises(refused):
            render(plan)
        return
    assert (templated is not None) == simple
    expected = _wire(general(plan))
    if templated is not None:
        assert _wire(templated) == expected
    assert _wire(render(plan)) == expected


@settings(max_examples=400, deadline=None)
@given(plans("anthropic", "messages"))
def test_anthropic_text_message_is_the_dict_paths_bytes(plan):
    choice = plan.choices[0] if plan.choices else None
    simple = (not plan.call.stream and choice is not None and bool(choice.text)
              and not choice.tool_calls)
    _check(plan, anthropic._templated_message(plan), anthropic._render_messages,
           anthropic.render_messages, simple)


@settings(max_examples=400, deadline=None)
@given(plans("gemini", "generate"))
def test_gemini_text_candidate_is_the_dict_paths_bytes(plan):
    simple = (not plan.call.stream and len(plan.choices) == 1
              and not plan.choices[0].tool_calls)
    _check(plan, gemini._templated_generate(plan), gemini._render_generate,
           gemini.render_generate, simple)


@settings(max_examples=400, deadline=None)
@given(plans("ollama", "chat"), st.booleans())
def test_ollama_text_reply_is_the_dict_paths_bytes(plan, chat):
    call = plan.call
    if not chat:
        plan.call = call = Call("ollama", "generate", call.model, call.messages, call.stream,
                                body={"prompt": call.messages[0].text if call.messages else ""})
    simple = (not call.stream and bool(plan.choices)
              and bool(call.messages if chat else call.body.get("prompt"))
              and not (chat and plan.choices[0].tool_calls))
    render = ollama.render_chat if chat else ollama.render_generate
    _check(plan, ollama._templated_reply(plan, chat), lambda p: ollama._reply(p, chat), render,
           simple)


@settings(max_examples=200, deadline=None)
@given(TEXTS, TEXTS)
def test_ollama_context_ids_are_the_crc_of_each_token(prompt, text):
    # The ids are memoised per token; asked twice, the second answer comes from the memo.
    call, choice = Call("ollama", "generate", "m", (Message("user", prompt),)), Choice(text)
    try:
        expected = [zlib.crc32(t.encode()) % 128_000 + 1 for t in tokenize(prompt + text)]
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            ollama._context(call, choice)
        return
    assert ollama._context(call, choice) == expected
    assert ollama._context(call, choice) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4_000_000_000), st.floats(0, 100))
def test_ollama_timestamps_are_formatted_as_before(seconds, offset):
    # Each whole second is formatted once and memoised: the text must not change.
    whole, frac = divmod(seconds * 1_000_000_000 + round(offset * 1e9), 1_000_000_000)
    base = dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    expected = base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"
    assert ollama.timestamp(seconds, offset) == expected
    assert ollama.timestamp(seconds, offset) == expected


@pytest.mark.parametrize("orjson", [True, False])
@pytest.mark.parametrize("text", ["plain", TRICKY, ""])
def test_ollama_strings_are_what_go_json_writes(text, orjson, monkeypatch):
    # _go_string goes through json_bytes (orjson); go_json through the stdlib's encoder.
    if not orjson:
        monkeypatch.setattr(_base, "_orjson", None)
    assert ollama._go_string(text) == ollama.go_json(text)


def test_templates_without_orjson(monkeypatch):
    # orjson is a dependency, but the encoders fall back to the stdlib without it: so must the
    # templates' slot values.
    monkeypatch.setattr(_base, "_orjson", None)
    choice = Choice(TRICKY, tokenize(TRICKY), finish="length")
    for provider, endpoint, templated, general in [
        ("anthropic", "messages", anthropic._templated_message, anthropic._render_messages),
        ("gemini", "generate", gemini._templated_generate, gemini._render_generate),
        ("ollama", "chat", lambda p: ollama._templated_reply(p, True),
         lambda p: ollama._reply(p, True)),
        ("ollama", "generate", lambda p: ollama._templated_reply(p, False),
         lambda p: ollama._reply(p, False)),
    ]:
        call = Call(provider, endpoint, TRICKY, (Message("user", TRICKY),),
                    body={"prompt": TRICKY})
        plan = Plan(call, 0, "a" * 29, "req_" + "0" * 32, 1_700_000_000, choices=(choice,),
                    usage=Usage(12, 2**70))
        filled = templated(plan)
        assert filled is not None
        assert _wire(filled) == _wire(general(plan))


def test_a_compact_template_is_dumps_and_a_pretty_one_pretty():
    skeleton = {"a": "@@x@@", "b": [1, {"c": "@@y@@"}], "d": None, "e": "%"}
    filled = {"a": 'q"\\é', "b": [1, {"c": 7}], "d": None, "e": "%"}
    x, y = _base.json_bytes('q"\\é'), b"7"
    assert Template(skeleton, compact=True).fill(x, y) == _base.dumps(filled).encode()
    assert Template(skeleton).fill(x, y) == _base.pretty(filled)


@pytest.mark.parametrize("values", [[], [1], [1, 128_000, 2**63 - 1]])
def test_json_ints_writes_the_stdlibs_compact_bytes(values, monkeypatch):
    expected = json.dumps(values, separators=(",", ":")).encode()
    assert _base.json_ints(values) == expected
    monkeypatch.setattr(_base, "_orjson", None)
    assert _base.json_ints(values) == expected

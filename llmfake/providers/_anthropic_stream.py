"""Anthropic's Messages event stream, each event rendered when the wire reaches it.

``anthropic._events`` builds a stream's events from dicts, every one ``dumps``-ed before the
first write: ~55 encodings for a 50-token reply, paid at request set-up, which a burst of
concurrent streams pays again in first-byte lateness. Here a stream is a schedule of specs
(tuples of strings and numbers, which the cyclic collector stops walking after one look) that
``LazyEvents`` renders as the pacer writes them, through templates cut from what ``dumps``
writes for the same events: the same bytes, due values and content flags, in the same order
(tests/unit/test_anthropic_lazy_stream.py holds the two builders to that).

``anthropic._events`` stays the reference, and the path for strings a template would write
where the eager builder refuses them (a lone surrogate: ``json.encoder`` writes it as is, and
only the final UTF-8 encoding fails).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llmfake.engine._plan import Choice, Plan
from llmfake.providers._base import LazyEvents, dumps, join_run, json_str

Spec = str | tuple[Any, ...]
"""An event to render: a str is a token of the text block; a tuple starts with its kind."""
Schedule = tuple[Sequence[int], Sequence[bool], Sequence[Spec]]
"""A stream's events as ``LazyEvents`` takes them: dues, whether each is content, specs."""
Tool = tuple[str, str, tuple[str, ...]]
"""A tool_use block: its id, the tool's name, the ``partial_json`` fragments of its input."""


def _text(name: str, data: Mapping[str, Any]) -> str:
    # The formula of anthropic._event: the templates are cut from what it writes.
    return f"event: {name}\ndata: {dumps({'type': name, **data})}\n\n"


def _format(name: str, data: Mapping[str, Any]) -> str:
    """Event ``name`` as a %-format: each ``"@@slot@@"`` string of ``data`` becomes ``%s``,
    to be filled with the JSON of the slot's value."""
    return re.sub(r'"@@\w+@@"', "%s", _text(name, data).replace("%", "%%"))


_TEXT_BEFORE, _TEXT_AFTER = _text(
    "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "@@"}}
).split('"@@"')
_JSON_DELTA = _format("content_block_delta", {
    "index": "@@index@@", "delta": {"type": "input_json_delta", "partial_json": "@@json@@"}})
_TOOL_START = _format("content_block_start", {
    "index": "@@index@@",
    "content_block": {"type": "tool_use", "id": "@@id@@", "name": "@@name@@", "input": {}}})
_BLOCK_STOP = _format("content_block_stop", {"index": "@@index@@"})
_MESSAGE_START = _format("message_start", {"message": {
    "id": "@@id@@", "type": "message", "role": "assistant", "model": "@@model@@",
    "content": [], "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": "@@input@@", "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0,
              "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
              "output_tokens": 1, "service_tier": "standard"}}})
_MESSAGE_DELTA = _format("message_delta", {
    "delta": {"stop_reason": "@@reason@@", "stop_sequence": "@@sequence@@"},
    "usage": {"input_tokens": "@@input@@", "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0, "output_tokens": "@@output@@"}})

# Specs shared by every stream: no per-stream objects for the framing.
_START: Spec = ("start",)
_END: Spec = ("end",)
_PING: Spec = ("raw", 'event: ping\ndata: {"type": "ping"}\n\n')  # the real API's spacing
_TEXT_OPEN: Spec = ("raw", _text("content_block_start",
                                 {"index": 0, "content_block": {"type": "text", "text": ""}}))
_TEXT_CLOSE: Spec = ("raw", _text("content_block_stop", {"index": 0}))
_STOP: Spec = ("raw", _text("message_stop", {}))


class _Renderer:
    """Renders the events of one stream. A class, not closures: a closure is a function and a
    cell per name it keeps, each an object the cyclic collector walks while the stream lasts."""

    __slots__ = ("plan", "reason", "sequence")

    def __init__(self, plan: Plan, reason: str, sequence: str | None) -> None:
        self.plan = plan
        self.reason = reason
        self.sequence = sequence

    def render(self, spec: Spec) -> str:
        """One event's text."""
        if type(spec) is str:
            return _TEXT_BEFORE + json_str(spec) + _TEXT_AFTER
        kind = spec[0]
        if kind == "raw":
            text: str = spec[1]
            return text
        if kind == "json":
            return _JSON_DELTA % (spec[1], json_str(spec[2]))
        plan = self.plan
        if kind == "start":
            return _MESSAGE_START % (json_str("msg_" + plan.uid), json_str(plan.call.model),
                                     plan.usage.prompt_tokens)
        if kind == "end":
            seq, u = self.sequence, plan.usage
            return _MESSAGE_DELTA % (json_str(self.reason),
                                     "null" if seq is None else json_str(seq),
                                     u.prompt_tokens, u.completion_tokens)
        if kind == "tool":
            return _TOOL_START % (spec[1], json_str(spec[2]), json_str(spec[3]))
        return _BLOCK_STOP % spec[1]  # "stop"

    def render_bytes(self, spec: Spec) -> bytes:
        """One event's bytes."""
        return self.render(spec).encode()

    def render_run(self, specs: Sequence[Spec]) -> bytes:
        """A run of events in one join and one encode: text deltas are most of a stream."""
        return join_run(specs, _TEXT_BEFORE, _TEXT_AFTER, self.render)


class MessageEvents(LazyEvents):
    """A Messages stream's ``LazyEvents``, equal to any sequence of the same events (as the
    tuple the eager builder gives would be), so that two ``Rendered`` compare by their bytes."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))


def stream_events(plan: Plan, choice: Choice, reason: str, sequence: str | None,
                  tools: tuple[Tool, ...]) -> MessageEvents | None:
    """The events of ``choice``'s stream (a text block when it has text, then ``tools``),
    ending with ``reason`` and ``sequence``: what ``anthropic._events`` gives, rendered as
    sent. None when a string would not encode (a lone surrogate), for the eager builder to
    refuse it as it always has, at set-up."""
    tokens = choice.tokens if choice.text else ()
    strings: Iterable[str] = (plan.uid, plan.call.model, sequence or "", *tokens)
    if tools:
        strings = (*strings, *(s for block_id, name, fragments in tools
                               for s in (block_id, name, *fragments)))
    try:
        "".join(strings).encode()
    except UnicodeEncodeError:
        return None
    if tools or not choice.text:
        dues, chunks, specs = general_schedule(choice, tools)
    else:  # a reply of one text block: most streams
        dues, chunks = _text_shape(len(tokens))
        specs = (_START, _TEXT_OPEN, _PING, *tokens, _TEXT_CLOSE, _END, _STOP)
    renderer = _Renderer(plan, reason, sequence)
    return MessageEvents(dues, chunks, specs, renderer.render_bytes, renderer.render_run)


@functools.lru_cache(maxsize=256)
def _text_shape(n: int) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """The dues and content flags of a stream of one text block of ``n`` tokens: one pair of
    tuples per length, which the pacer's cache then finds by identity."""
    last = max(n - 1, 0)
    return ((0, 0, 0, *range(n), last, last, last),
            (True, True, False, *(True,) * n, True, True, True))


def general_schedule(choice: Choice, tools: tuple[Tool, ...]) -> Schedule:
    """Any stream's schedule, event by event as ``anthropic._events`` yields them: a text
    block opens with its first token's slot, a tool_use block takes a slot of its own, then one
    per fragment; the ping follows the first block's opening (or ``message_start``)."""
    dues: list[int] = [0]
    chunks: list[bool] = [True]
    specs: list[Spec] = [_START]
    due = index = 0
    if choice.text:
        n = len(choice.tokens)
        specs += (_TEXT_OPEN, _PING, *choice.tokens, _TEXT_CLOSE)
        dues += (0, 0, *range(n), max(n - 1, 0))
        chunks += (True, False, *(True,) * n, True)
        due, index = n, 1
    for block_id, name, fragments in tools:
        specs.append(("tool", index, block_id, name))
        dues.append(due)
        chunks.append(True)
        if index == 0:
            specs.append(_PING)
            dues.append(0)
            chunks.append(False)
        due += 1
        specs += [("json", index, fragment) for fragment in fragments]
        dues += range(due, due + len(fragments))
        chunks += (True,) * len(fragments)
        due += len(fragments)
        specs.append(("stop", index))
        dues.append(max(due - 1, 0))
        chunks.append(True)
        index += 1
    if index == 0:
        specs.append(_PING)
        dues.append(0)
        chunks.append(False)
    last = max(due - 1, 0)
    specs += (_END, _STOP)
    dues += (last, last)
    chunks += (True, True)
    return tuple(dues), tuple(chunks), tuple(specs)

"""OpenAI chat completions on the compiled path (``engine._compiled``): a plain request's
completion filled into bytes written beforehand.

A request is plain when its body is a model and messages of text, with at most fields that
change nothing in the reply (sampling settings, ``user``, ``metadata``, ``stream`` and its
options, ``n: 1``...). A plain stream is only decided on the compiled path: its events are
rendered the general way. Anything else, including every request ``parse_chat`` would refuse,
goes the general way, which says what is wrong with it.
"""

from __future__ import annotations

from typing import Any

from llmfake._header_block import head_block
from llmfake.engine._compiled import PLAIN_CALL, PlainReply
from llmfake.engine._plan import Choice, Plan, Timing
from llmfake.engine._text import prompt_tokens
from llmfake.providers._base import Rendered, json_bytes, wrong_type
from llmfake.providers._openai_common import CHAT_FIELDS, JSON_TYPE, base_headers
from llmfake.providers.openai import simple_chat

_INERT = frozenset({
    "model", "messages", "temperature", "top_p", "presence_penalty", "frequency_penalty",
    "seed", "user", "store", "metadata", "service_tier", "stream", "stream_options", "n",
    "logprobs",
})
"""The fields a plain request may have: besides its model and messages, none changes the reply
(``n`` and ``logprobs`` only at their defaults)."""
_MESSAGE_KEYS = frozenset({"role", "content", "name"})


class PlainChat:
    """The chat completion of one scenario's plain reply: its headers made once, its body a
    template with slots for what changes per request (ids, time, model, usage, and the text
    when it is generated)."""

    __slots__ = ("_content", "_finish", "_head", "_headers")

    def __init__(self, plain: PlainReply) -> None:
        fixed = plain.choice
        # Raises for a lone surrogate, which parse_chat's path refuses in its own way.
        self._content = None if fixed is None else json_bytes(fixed.text or "")
        self._finish = None if fixed is None else json_bytes(fixed.finish)
        specimen = Plan(PLAIN_CALL, 0, "", "", 0, timing=Timing(plain.latency))
        self._headers = {**base_headers(specimen), "content-type": JSON_TYPE}
        # The same block with slots for the two values that change per request.
        slots = {**self._headers, "x-request-id": "\x00", "openai-processing-ms": "\x01"}
        block = head_block(slots).replace(b"%", b"%%")
        self._head = block.replace(b"\x00", b"%b").replace(b"\x01", b"%b")

    @classmethod
    def compile(cls, plain: PlainReply) -> PlainChat | None:
        """The completion of ``plain``, or None when its text cannot be written as JSON."""
        try:
            return cls(plain)
        except (TypeError, ValueError):
            return None

    def shape(self, body: Any) -> tuple[str, bytes, int, bool] | None:
        """See ``PlainRoute.shape``."""
        if type(body) is not dict:
            return None
        model, messages = body.get("model"), body.get("messages")
        if type(model) is not str or type(messages) is not list or not messages:
            return None
        if len(body) > 2 and not _inert(body):
            return None
        texts = []
        for m in messages:
            if type(m) is not dict or not m.keys() <= _MESSAGE_KEYS:
                return None
            content, role = m.get("content"), m.get("role")
            if type(content) is not str or (role is not None and type(role) is not str):
                return None
            texts.append(content)
        try:
            model_json = json_bytes(model)
        except (TypeError, ValueError):  # a lone surrogate: the general path says so
            return None
        return model, model_json, prompt_tokens(texts), body.get("stream") is True

    def render(self, uid: str, request_id: str, created: int, model: bytes, prompt: int,
               choice: Choice, due: float) -> Rendered:
        """See ``PlainRoute.render``."""
        text = choice.text or ""
        content = self._content or json_bytes(text)
        finish = self._finish or json_bytes(choice.finish)
        body = simple_chat(uid, created, model, content, finish, prompt, choice.token_count)
        ms = str(int(due * 1000))
        headers = {**self._headers, "x-request-id": request_id, "openai-processing-ms": ms}
        return Rendered(200, headers, body, tokens=len(choice.tokens), text=text,
                        head=self._head % (request_id.encode(), ms.encode()))


def _inert(body: dict[str, Any]) -> bool:
    """Whether the fields besides model and messages leave the reply as it is (and are of
    their kinds: a wrong one is the general path's 400)."""
    if not body.keys() <= _INERT or wrong_type(body, CHAT_FIELDS) is not None:
        return False
    n = body.get("n")
    return body.get("logprobs") is not True and (n is None or (type(n) is int and n == 1))

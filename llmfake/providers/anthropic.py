"""Anthropic: messages, count_tokens and models.

The anthropic SDK 2.x sends its key as ``Authorization: Bearer`` and ``anthropic-version:
2026-10-21``; versions below 2.0 (and raw-HTTP users, as the docs say) send ``x-api-key`` and
``anthropic-version: 2023-06-01``: both are accepted. Errors are ``{"type": "error", "error":
{"type", "message"}, "request_id"}``, and the SDK keeps the whole body as ``e.body``.

Pure, like every provider: a request becomes a ``Call``, a ``Plan`` becomes bytes. The SDK
appends ``/v1/...`` to its base URL itself, so only ``/v1`` paths exist. ``GET /v1/models`` is
OpenAI's path too: the ``anthropic-version`` header every Anthropic client sends tells them apart.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from llmfake.engine._call import Call, Message, ToolResult, ToolSpec
from llmfake.engine._plan import Choice, Plan, ToolCall
from llmfake.engine._text import tokenize
from llmfake.providers._anthropic_stream import Tool, stream_events
from llmfake.providers._base import (
    Event,
    Incoming,
    InvalidRequest,
    ProviderSpec,
    Rendered,
    Route,
    Template,
    check_call_schemas,
    dumps,
    json_bytes,
    wrong_type,
)
from llmfake.scenario._model import ErrorSpec

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"
ORGANIZATION_ID = "11cfa4e0-0000-4000-8000-000000000000"
MODELS = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-opus-4-8",
          "claude-sonnet-4-6", "claude-haiku-4-5-20251001")
"""What ``GET /v1/models`` lists when the scenario names no models: ids the 2.14 SDK knows and
does not warn about as deprecated."""

# (status, error.type, message) by error name, from Anthropic's error docs (529 is
# overloaded_error, 413 request_too_large from the
# Cloudflare proxy in front of it, other 4xx invalid_request_error) and
# the SDK's status-to-exception table. Anthropic has no quota error:
# an empty credit balance is a 400 (seen in many public bug reports), which the SDK won't retry.
_ERRORS: Mapping[str, tuple[int, str, str]] = {
    "bad_request": (400, "invalid_request_error", "Invalid request: llmfake was told so."),
    "context_length": (400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 "
                                                     "maximum"),
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "permission": (403, "permission_error", "Your API key does not have permission to use the "
                                            "specified resource."),
    "not_found": (404, "not_found_error", "Not found"),
    "conflict": (409, "conflict_error", "The request conflicts with the resource's state."),
    "request_too_large": (413, "request_too_large", "Request exceeds the maximum size"),
    "rate_limit": (429, "rate_limit_error", "This request would exceed your organization's rate "
                                            "limit. Please try again later."),
    "quota": (400, "invalid_request_error", "Your credit balance is too low to access the "
              "Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."),
    "server_error": (500, "api_error", "Internal server error"),
    "bad_gateway": (502, "api_error", "Bad gateway"),
    "unavailable": (503, "api_error", "Service unavailable"),
    "timeout": (504, "timeout_error", "Request timed out"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
}
_STATUS_TYPES = {status: etype for status, etype, _ in _ERRORS.values() if status != 400}
_STATUS_TYPES[400] = "invalid_request_error"
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                 "content_filter": "refusal"}
_LINES = ("haiku", "sonnet", "opus", "fable", "mythos")


# --- requests --------------------------------------------------------------------------------

_FIELDS = {"stream": "boolean", "temperature": "number", "top_p": "number", "top_k": "integer",
           "metadata": "object", "tool_choice": "object", "thinking": "object",
           "output_config": "object", "output_format": "object", "service_tier": "string",
           "container": "string", "mcp_servers": "array"}
"""Message fields and their JSON kinds, as the SDK's ``MessageCreateParams`` types them
(``model``, ``max_tokens``, ``messages``, ``system``, ``stop_sequences`` and ``tools`` are
checked where they are read)."""
_KIND_WORDS = {"boolean": "a valid boolean", "number": "a valid number",
               "integer": "a valid integer", "object": "a valid dictionary",
               "string": "a valid string", "array": "a valid list"}


def _field(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str, *,
           required: bool = False) -> Any:
    """``body[key]`` checked against ``kind`` (None when absent), or the API's 400."""
    value = body.get(key)
    if value is None and required:
        raise InvalidRequest(f"{key}: Field required")
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InvalidRequest(f"{key}: Input should be {what}")
    return value


def _text(content: Any) -> str:
    """The text a content string or block list stands for; images and thinking count nothing."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, Mapping):
            continue
        kind, source = block.get("type"), block.get("source")
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif kind == "tool_use":
            parts.append(f"{block.get('name', '')}{dumps(block.get('input', {}))}")
        elif kind == "tool_result":
            parts.append(_text(block.get("content", "")))
        elif kind == "document" and isinstance(source, Mapping):
            parts.append(source["data"] if source.get("type") == "text"
                         and isinstance(source.get("data"), str) else _text(source.get("content")))
    return "\n".join(p for p in parts if p)


def _is_result(block: Any) -> bool:
    return isinstance(block, Mapping) and block.get("type") == "tool_result"


def _messages(body: Mapping[str, Any]) -> tuple[Message, ...]:
    raw = _field(body, "messages", list, "a valid list", required=True)
    if not raw:
        raise InvalidRequest("messages: at least one message is required")
    system = _text(_field(body, "system", (str, list), "a valid string or list"))
    out = [Message("system", system)] if system else []
    for i, m in enumerate(raw):
        if not isinstance(m, Mapping):
            raise InvalidRequest(f"messages.{i}: Input should be a valid dictionary")
        role = str(m.get("role", "user"))
        if m.get("role") is not None and role not in ("user", "assistant"):
            raise InvalidRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = _field(m, "content", (str, list), "a valid string or list") or ""
        if role == "user" and isinstance(content, list) and any(map(_is_result, content)):
            # Tool results become "tool" messages, as in OpenAI's format, so a rule's
            # `contains` keeps matching the user's question and not the tool's output.
            out += [_result(b) for b in content if _is_result(b)]
            rest = _text([b for b in content if not _is_result(b)])
            out += [Message("user", rest)] if rest else []
        else:
            calls = tuple((_id(b.get("id")), str(b.get("name", ""))) for b in content
                          if isinstance(b, Mapping) and b.get("type") == "tool_use"
                          ) if isinstance(content, list) else ()
            out.append(Message(role, _text(content), calls))
    return tuple(out)


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _result(block: Mapping[str, Any]) -> Message:
    text = _text(block.get("content", ""))
    return Message("tool", text, results=(ToolResult(text, _id(block.get("tool_use_id"))),))


def _tools(body: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    raw = _field(body, "tools", list, "a valid list") or []
    for i, t in enumerate(raw):
        if not isinstance(t, Mapping):
            raise InvalidRequest(f"tools.{i}: Input should be a valid dictionary")
        if not isinstance(t.get("name"), str):
            raise InvalidRequest(f"tools.{i}.name: Field required" if t.get("name") is None
                                 else f"tools.{i}.name: Input should be a valid string")
    # Server tools (bash_20250124, web_search_...) carry a type and run on Anthropic's side.
    return tuple(ToolSpec(t["name"], t.get("input_schema")
                          if isinstance(t.get("input_schema"), Mapping) else None)
                 for t in raw if isinstance(t, Mapping) and isinstance(t.get("name"), str)
                 and t.get("type", "custom") in ("custom", None))


def _forced_tool(choice: Any) -> str | None:
    if isinstance(choice, Mapping):
        if choice.get("type") == "any":
            return "*"
        if choice.get("type") == "tool" and isinstance(choice.get("name"), str):
            return str(choice["name"])
    return None


def _schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    # Structured outputs: output_config.format (GA) or output_format (the earlier beta).
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else body.get("output_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return schema if isinstance(schema, Mapping) else {"type": "object"}
    return None


def _call(inc: Incoming, endpoint: str, model: str, **fields: Any) -> Call:
    # 2.x SDKs send the key as a Bearer token, older ones and raw HTTP users as x-api-key.
    key = inc.headers.get("x-api-key")
    auth = inc.headers.get("authorization", "")
    if not key and auth[:7].lower() == "bearer ":
        key = auth[7:].strip()
    return Call(provider="anthropic", endpoint=endpoint, model=model, api_key=key or None,
                headers=inc.headers, tenant=inc.tenant, **fields)


def _body(inc: Incoming) -> Mapping[str, Any]:
    if not isinstance(inc.body, Mapping):
        raise InvalidRequest("The request body is not a valid JSON object.")
    return inc.body


def parse_messages(inc: Incoming) -> Call:
    """``POST /v1/messages`` to a ``Call``."""
    body = _body(inc)
    model = _field(body, "model", str, "a valid string", required=True)
    bad = wrong_type(body, _FIELDS)
    if bad is not None:
        raise InvalidRequest(f"{bad[0]}: Input should be {_KIND_WORDS[bad[1]]}")
    max_tokens = _field(body, "max_tokens", int, "a valid integer", required=True)
    if max_tokens < 0:  # 0 is documented: it warms the prompt cache without generating
        raise InvalidRequest("max_tokens: Input should be greater than or equal to 0")
    stop = _field(body, "stop_sequences", list, "a valid list") or []
    if not all(isinstance(s, str) for s in stop):
        raise InvalidRequest("stop_sequences: Input should be a valid list of strings")
    schema = _schema(body)
    call = _call(inc, "chat", model, messages=_messages(body), stream=body.get("stream") is True,
                 max_tokens=max_tokens, stop=tuple(stop), tools=_tools(body),
                 forced_tool=_forced_tool(body.get("tool_choice")), response_schema=schema,
                 response_json=schema is not None, body=body)
    where = "output_config" if isinstance(body.get("output_config"), Mapping) else "output_format"
    return check_call_schemas(
        call,
        lambda problem: InvalidRequest(f"{where}.format.schema: JSON schema is invalid: "
                                       f"{problem}"),
        lambda name, problem: InvalidRequest(f"tools: input_schema of tool '{name}': JSON "
                                             f"schema is invalid: {problem}"))


def parse_count_tokens(inc: Incoming) -> Call:
    """``POST /v1/messages/count_tokens`` to a ``Call`` (no ``max_tokens`` there)."""
    body = _body(inc)
    model = _field(body, "model", str, "a valid string", required=True)
    return _call(inc, "count_tokens", model, messages=_messages(body), tools=_tools(body),
                 body=body)


def parse_models(inc: Incoming) -> Call:
    """``GET /v1/models`` and ``/v1/models/{model}``; the query (paging) travels as wire data."""
    return _call(inc, "models", inc.params.get("model", ""), wire=dict(inc.query))


# --- responses -------------------------------------------------------------------------------

def _base_headers(request_id: str, content_type: str = JSON_TYPE) -> dict[str, str]:
    return {"content-type": content_type, "request-id": request_id,
            "anthropic-organization-id": ORGANIZATION_ID}


def _tool_id(call_id: str) -> str:
    # Real ids are toolu_01 plus 22 characters; the engine's call_ ids have 24 to draw from.
    return "toolu_01" + call_id[5:27] if call_id.startswith("call_") else call_id


def _input(tool: ToolCall) -> dict[str, Any]:
    """The call's arguments as the object Anthropic sends (anything but an object becomes {})."""
    try:
        value = json.loads(tool.arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _fragments(tool: ToolCall) -> list[str]:
    # The real stream opens with an empty partial_json, then a few tokens per delta.
    toks = tokenize(dumps(_input(tool)))
    return ["", *("".join(toks[i:i + 4]) for i in range(0, len(toks), 4))]


def _choice(plan: Plan) -> Choice:
    return plan.choices[0] if plan.choices else Choice("")


def _stop_reason(choice: Choice) -> tuple[str, str | None]:
    seq = choice.stop_sequence
    if choice.finish == "stop" and isinstance(seq, str):
        return "stop_sequence", seq
    return _STOP_REASONS.get(choice.finish, "end_turn"), None


def _usage(plan: Plan, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": plan.usage.prompt_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens, "service_tier": "standard"}


def _message(plan: Plan, *, started: bool) -> dict[str, Any]:
    """The message object: complete, or as ``message_start`` opens it (no content yet)."""
    choice = _choice(plan)
    reason, seq = (None, None) if started else _stop_reason(choice)
    content: list[dict[str, Any]] = []
    if not started:
        if choice.text:
            content.append({"type": "text", "text": choice.text})
        content += [{"type": "tool_use", "id": _tool_id(t.id), "name": t.name, "input": _input(t)}
                    for t in choice.tool_calls]
    return {"id": f"msg_{plan.uid}", "type": "message", "role": "assistant",
            "model": plan.call.model, "content": content, "stop_reason": reason,
            "stop_sequence": seq,
            "usage": _usage(plan, 1 if started else plan.usage.completion_tokens)}


_Block = tuple[dict[str, Any], list[dict[str, Any]], int]


def _blocks(choice: Choice) -> list[_Block]:
    """The streamed blocks: (opening block, deltas, token slots the opening takes).

    A text block opens with its first token (at the ttft, as OpenAI's first chunk); a tool_use
    block opens a slot of its own, then one slot per ``input_json_delta`` fragment.
    """
    out: list[_Block] = []
    if choice.text:
        out.append(({"type": "text", "text": ""},
                    [{"type": "text_delta", "text": t} for t in choice.tokens], 0))
    for t in choice.tool_calls:
        out.append(({"type": "tool_use", "id": _tool_id(t.id), "name": t.name, "input": {}},
                    [{"type": "input_json_delta", "partial_json": p} for p in _fragments(t)], 1))
    return out


def render_messages(plan: Plan) -> Rendered:
    """A message, or its event stream."""
    fast = _streamed(plan) if plan.call.stream else _templated_message(plan)
    return fast if fast is not None else _render_messages(plan)


def _streamed(plan: Plan) -> Rendered | None:
    """The event stream ``_render_messages`` builds, its events rendered as the wire reaches
    them (see ``_anthropic_stream``). None for a string the eager builder refuses (a lone
    surrogate), for it to refuse the same way."""
    choice = _choice(plan)
    tools: tuple[Tool, ...] = tuple((_tool_id(t.id), t.name, tuple(_fragments(t)))
                                    for t in choice.tool_calls) if choice.tool_calls else ()
    events = stream_events(plan, choice, *_stop_reason(choice), tools)
    if events is None:
        return None
    # The slots of _blocks: a text block's tokens, a tool_use block's opening and fragments.
    slots = (len(choice.tokens) if choice.text else 0) + sum(1 + len(f) for *_, f in tools)
    headers = _base_headers(plan.request_id, SSE_TYPE)
    headers["cache-control"] = "no-cache"
    return Rendered(200, headers, events=events, tokens=slots, text=choice.text)


_TEXT_MESSAGE = Template({
    "id": "@@id@@", "type": "message", "role": "assistant", "model": "@@model@@",
    "content": [{"type": "text", "text": "@@text@@"}], "stop_reason": "@@reason@@",
    "stop_sequence": "@@sequence@@",
    "usage": {"input_tokens": "@@input@@", "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0,
              "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
              "output_tokens": "@@output@@", "service_tier": "standard"},
}, compact=True)
"""``_message`` of a reply that is one text block (most of them), written without a dict."""


def _templated_message(plan: Plan) -> Rendered | None:
    """A non-streamed reply of one text block, filled into ``_TEXT_MESSAGE``: the bytes
    ``_render_messages`` writes, for a fraction of the cost. None for anything else (a stream,
    tool use, no text) and for text a JSON encoder refuses (a lone surrogate), which the
    general path then refuses the same way."""
    if plan.call.stream or not plan.choices:
        return None
    choice = plan.choices[0]
    text = choice.text
    if not text or choice.tool_calls:
        return None
    reason, seq = _stop_reason(choice)
    u = plan.usage
    try:
        body = _TEXT_MESSAGE.fill(
            json_bytes("msg_" + plan.uid), json_bytes(plan.call.model), json_bytes(text),
            json_bytes(reason), b"null" if seq is None else json_bytes(seq),
            b"%d" % u.prompt_tokens, b"%d" % u.completion_tokens)
    except (TypeError, ValueError):
        return None
    # A text block's stream is one delta per token: that many slots (see ``_blocks``).
    return Rendered(200, _base_headers(plan.request_id), body, tokens=len(choice.tokens),
                    text=text)


def _render_messages(plan: Plan) -> Rendered:
    """Any message or event stream, built as dicts and encoded up front (``render_messages``
    skips it for the commonest reply and for streams it can render lazily)."""
    choice = _choice(plan)
    slots = sum(lead + len(deltas) for _, deltas, lead in _blocks(choice))
    if not plan.call.stream:
        return Rendered(200, _base_headers(plan.request_id),
                        dumps(_message(plan, started=False)).encode(), tokens=slots,
                        text=choice.text)
    headers = {**_base_headers(plan.request_id, SSE_TYPE), "cache-control": "no-cache"}
    return Rendered(200, headers, events=tuple(_events(plan, slots)), tokens=slots,
                    text=choice.text)


def _event(name: str, data: Mapping[str, Any], due: int) -> Event:
    return Event(f"event: {name}\ndata: {dumps({'type': name, **data})}\n\n".encode(), due)


def _events(plan: Plan, slots: int) -> Iterator[Event]:
    choice = _choice(plan)
    yield _event("message_start", {"message": _message(plan, started=True)}, 0)
    # The real API pings once, right after the first block opens; it is no content chunk.
    ping = Event(b'event: ping\ndata: {"type": "ping"}\n\n', 0, chunk=False)
    blocks, due = _blocks(choice), 0
    for index, (block, deltas, lead) in enumerate(blocks):
        yield _event("content_block_start", {"index": index, "content_block": block}, due)
        if index == 0:
            yield ping
        due += lead
        for delta in deltas:
            yield _event("content_block_delta", {"index": index, "delta": delta}, due)
            due += 1
        yield _event("content_block_stop", {"index": index}, max(due - 1, 0))
    if not blocks:
        yield ping
    last, (reason, seq), u = max(slots - 1, 0), _stop_reason(choice), plan.usage
    usage = {"input_tokens": u.prompt_tokens, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0, "output_tokens": u.completion_tokens}  # cumulative
    yield _event("message_delta", {"delta": {"stop_reason": reason, "stop_sequence": seq},
                                   "usage": usage}, last)
    yield _event("message_stop", {}, last)


def render_count_tokens(plan: Plan) -> Rendered:
    """``{"input_tokens": N}``."""
    return Rendered(200, _base_headers(plan.request_id),
                    dumps({"input_tokens": plan.usage.prompt_tokens}).encode())


def _model_info(model_id: str) -> dict[str, Any]:
    date = re.search(r"-(\d{4})(\d{2})(\d{2})$", model_id)
    words = re.sub(r"-\d{8}$", "", model_id).split("-")
    name: list[str] = []
    for word in words:  # claude-3-5-haiku: Claude 3.5 Haiku; claude-sonnet-4-6: Claude Sonnet 4.6
        if word.isdigit() and name and name[-1][-1:].isdigit():
            name[-1] += "." + word
        else:
            name.append(word.capitalize())
    return {"type": "model", "id": model_id, "display_name": " ".join(name),
            "created_at": (f"{date[1]}-{date[2]}-{date[3]}T00:00:00Z" if date
                           else "2025-01-01T00:00:00Z"),
            "lifecycle": "active", "deprecated_at": None, "retires_at": None,
            "line": next((line for line in _LINES if line in words), None),
            "max_input_tokens": 200_000, "max_tokens": 64_000}


def render_models(plan: Plan) -> Rendered:
    """One model, or a page of the list (``limit``, ``after_id``: what the SDK's pager sends)."""
    headers = _base_headers(plan.request_id)
    if plan.call.model:
        return Rendered(200, headers, dumps(_model_info(plan.call.model)).encode())
    # The engine's default list is OpenAI's; Anthropic clients get Claude ids instead.
    ids = list(plan.models or MODELS)
    limit = str(plan.call.wire.get("limit", "20"))
    size = min(max(int(limit), 1), 1000) if limit.isdigit() else 20
    after = plan.call.wire.get("after_id")
    pool = ids[ids.index(after) + 1:] if after in ids else ids
    page = pool[:size]
    body = {"data": [_model_info(m) for m in page], "has_more": len(pool) > size,
            "first_id": page[0] if page else None, "last_id": page[-1] if page else None}
    return Rendered(200, headers, dumps(body).encode())


# --- errors and headers ----------------------------------------------------------------------

def _error_body(etype: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype, "message": message},
            "request_id": request_id}


def _error(spec: ErrorSpec, call: Call | None) -> tuple[int, str, str]:
    status, etype, message = _ERRORS.get(spec.name, _ERRORS["server_error"])
    if spec.name == "auth" and call is not None and not call.api_key:
        message = "x-api-key header is required"
    if spec.name == "not_found" and call is not None and call.model:
        message = f"model: {call.model}"
    hit = spec.limit_hit  # set when the scenario's own limits refused the request
    if hit is not None and hit.kind in ("requests", "tokens"):
        message = (f"This request would exceed the rate limit for your organization of "
                   f"{hit.limit:,} {hit.kind} per minute. For details, refer to: https://docs."
                   "claude.com/en/api/rate-limits. You can see the response headers for current "
                   "usage. Please reduce the prompt length or the maximum tokens requested, or "
                   "try again later.")
    elif hit is not None and hit.kind == "concurrency":
        message = ("Number of concurrent connections has exceeded your rate limit. Please try "
                   "again later.")
    return spec.status or status, etype, spec.message if spec.message is not None else message


def render_error(spec: ErrorSpec, request_id: str, call: Call | None) -> Rendered:
    """An Anthropic error response, with ``retry-after`` and ``retry-after-ms`` when asked."""
    status, etype, message = _error(spec, call)
    headers = _base_headers(request_id)
    if spec.retry_after is not None:
        headers["retry-after"] = str(math.ceil(spec.retry_after))
        headers["retry-after-ms"] = f"{spec.retry_after * 1000:g}"
    return Rendered(status, headers, dumps(_error_body(etype, message, request_id)).encode())


def render_invalid(exc: InvalidRequest, request_id: str) -> Rendered:
    """An Anthropic error response for a request it rejects."""
    etype = _STATUS_TYPES.get(exc.status,
                              "api_error" if exc.status >= 500 else "invalid_request_error")
    body = _error_body(etype, exc.message, request_id)
    return Rendered(exc.status, _base_headers(request_id), dumps(body).encode())


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """``event: error`` mid-stream: the SDK raises ``APIStatusError`` (status 200), no retry."""
    _, etype, message = _error(spec, plan.call)
    body = dumps(_error_body(etype, message, plan.request_id))
    return f"event: error\ndata: {body}\n\n".encode()


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(math.ceil(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_headers(plan: Plan) -> dict[str, str]:
    """``anthropic-ratelimit-*`` from the plan's rate-limit state; resets are RFC 3339 times."""
    rl = plan.rate_limit
    out: dict[str, str] = {}
    if rl is None:
        return out
    buckets: list[tuple[str, int, int, float]] = []
    if rl.requests_limit is not None:
        buckets.append(("requests", rl.requests_limit, rl.requests_remaining, rl.requests_reset))
    if rl.tokens_limit is not None:  # one token bucket here; input/output mirror it
        buckets += [(kind, rl.tokens_limit, rl.tokens_remaining, rl.tokens_reset)
                    for kind in ("tokens", "input-tokens", "output-tokens")]
    for kind, limit, remaining, reset in buckets:
        out[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
        out[f"anthropic-ratelimit-{kind}-remaining"] = str(max(remaining, 0))
        out[f"anthropic-ratelimit-{kind}-reset"] = _rfc3339(rl.now + reset)
    return out


def _claim(path: str, headers: Mapping[str, str]) -> int:
    return 2 if path.startswith("/v1/messages") or "anthropic-version" in headers else 0


def _is_content(payload: Mapping[str, Any]) -> bool:
    # *_delta events count: content_block_delta (text, tool input) and message_delta (the stop
    # reason); message_start, pings, content_block_start/_stop and message_stop are framing.
    kind = payload.get("type")
    return not isinstance(kind, str) or kind.endswith("_delta")


PROVIDER = ProviderSpec(
    name="anthropic",
    routes=(
        Route("POST", "/v1/messages", "anthropic", "chat", parse_messages, render_messages),
        Route("POST", "/v1/messages/count_tokens", "anthropic", "count_tokens",
              parse_count_tokens, render_count_tokens),
        *(Route("GET", path, "anthropic", "models", parse_models, render_models,
                accepts=lambda headers: "anthropic-version" in headers)
          for path in ("/v1/models", "/v1/models/{model}")),
    ),
    error=render_error,
    invalid=render_invalid,
    stream_error=stream_error,
    headers=rate_limit_headers,
    claim=_claim,
    is_content=_is_content,
    env={"ANTHROPIC_BASE_URL": "{url}", "ANTHROPIC_API_KEY": "sk-ant-llmfake"},
    key_variables=("ANTHROPIC_API_KEY",),
    upstream="https://api.anthropic.com",
    hosts=("api.anthropic.com",),
)
"""Anthropic: its routes, errors, headers and where its clients and its real API are."""

"""OpenAI responses API: ``POST /v1/responses``.

The request's ``input`` is a string or a list of items (``{role, content}``, typed ``message``
items with ``input_text`` parts, ``function_call_output``); function tools are flat
(``{type: "function", name, parameters}``), unlike chat's nested ``function`` object.

A request becomes a ``Call``; a ``Plan`` becomes a response object or its typed event stream
(``event:`` lines, increasing ``sequence_number``, no ``[DONE]``). Everything is pure and every
id derives from ``plan.uid``, so the same scenario gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmfake.engine._call import Call, Message, ToolResult
from llmfake.engine._plan import Choice, Plan
from llmfake.engine._text import tokenize
from llmfake.providers._base import (
    Event,
    Incoming,
    InvalidRequest,
    Rendered,
    check_call_schemas,
    dumps,
    pretty,
    strike_index,
)
from llmfake.providers._openai_common import (
    JSON_TYPE,
    RESPONSES_FIELDS,
    SSE_TYPE,
    base_headers,
    body_object,
    check_types,
    content_text,
    error_object,
    forced_tool,
    function_tools,
    make_call,
    opt_int,
    require_model,
    schema_errors,
)
from llmfake.scenario._model import ErrorSpec

# Why a response stopped early, by the engine's finish reason.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


# --- request ---------------------------------------------------------------------------------

PROMPT_MODEL = "gpt-4o"
"""The model a response names when the request names none (a stored prompt's model is not
known to the fake); rules see it as the call's model."""


def parse(inc: Incoming) -> Call:
    """``POST /v1/responses`` to a ``Call``.

    Fields the fake has no use for (``reasoning``, ``store``, ``previous_response_id``,
    ``include``, ``background``...) are accepted and only echoed back.
    """
    body = body_object(inc)
    # `model` is optional here (a stored `prompt` carries one): its absence gets a default.
    model = PROMPT_MODEL if body.get("model") is None else require_model(body)
    check_types(body, RESPONSES_FIELDS)
    messages: list[Message] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        messages.append(Message("system", instructions))
    messages.extend(_input_messages(body.get("input")))
    raw_tools = body.get("tools")
    # Only function tools produce function_call items; built-in tools are echoed, not called.
    tools = function_tools(raw_tools, flat=True)
    schema, wants_json = _text_format(body.get("text"))
    # Checked here so that rendering, which echoes them, cannot fail.
    opt_int(body, "max_tool_calls")
    opt_int(body, "top_logprobs", maximum=20)
    return check_call_schemas(make_call(
        inc, "openai", "responses", model,
        messages=tuple(messages),
        stream=body.get("stream") is True,
        max_tokens=opt_int(body, "max_output_tokens"),
        tools=tools,
        forced_tool=forced_tool(body.get("tool_choice")),
        response_schema=schema,
        response_json=wants_json,
    ), *schema_errors(body, "text.format.schema"))


def _input_messages(raw: Any) -> Iterator[Message]:
    if raw is None:
        return
    if isinstance(raw, str):
        yield Message("user", raw)
        return
    if not isinstance(raw, list):
        raise InvalidRequest("Invalid type for 'input': expected one of a string or an array "
                             "of input items.", param="input", code="invalid_type")
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidRequest(f"Invalid type for 'input[{index}]': expected an object.",
                                 param=f"input[{index}]", code="invalid_type")
        kind = item.get("type", "message")
        if kind == "message":
            yield Message(str(item.get("role", "user")), content_text(item.get("content")))
        elif kind == "function_call_output":
            text = content_text(item.get("output"))
            call_id = item.get("call_id")
            yield Message("tool", text, results=(
                ToolResult(text, call_id if isinstance(call_id, str) else None),))
        elif kind == "function_call":
            name, call_id = str(item.get("name", "")), item.get("call_id")
            # Each call is an item of its own: consecutive ones are one turn (engine._turns).
            yield Message("assistant", f"{name}{item.get('arguments', '')}",
                          calls=((call_id if isinstance(call_id, str) else None, name),))
        # Reasoning items, item references, built-in tool calls...: nothing to read.


def _text_format(text: Any) -> tuple[Mapping[str, Any] | None, bool]:
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if not isinstance(fmt, Mapping):
        return None, False
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return (schema if isinstance(schema, Mapping) else {"type": "object"}), True
    return None, fmt.get("type") == "json_object"


# --- response object -------------------------------------------------------------------------

def _choice(plan: Plan) -> Choice:
    return plan.choices[0] if plan.choices else Choice("")


def _fragments(arguments: str) -> list[str]:
    """Arguments cut into a few pieces, as the real stream sends them."""
    toks = tokenize(arguments)
    return ["".join(toks[i:i + 4]) for i in range(0, len(toks), 4)] or [""]


def _token_count(choice: Choice) -> int:
    """Token deadlines: one per text token, one per call header and argument fragment."""
    return len(choice.tokens) + sum(1 + len(_fragments(t.arguments)) for t in choice.tool_calls)


def _msg_id(plan: Plan) -> str:
    return f"msg_{plan.uid}"


def _fc_id(plan: Plan, index: int) -> str:
    return f"fc_{plan.uid}{index:02d}"


def _message_item(plan: Plan, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    return {"id": _msg_id(plan), "type": "message", "status": status,
            "content": [part] if status != "in_progress" else [], "role": "assistant"}


def _call_item(plan: Plan, index: int, status: str) -> dict[str, Any]:
    call = _choice(plan).tool_calls[index]
    return {"id": _fc_id(plan, index), "type": "function_call", "status": status,
            "arguments": call.arguments if status != "in_progress" else "",
            "call_id": call.id, "name": call.name}


def _status(choice: Choice) -> str:
    return "incomplete" if choice.finish in _INCOMPLETE else "completed"


def _output(plan: Plan) -> list[dict[str, Any]]:
    choice = _choice(plan)
    items = []
    if choice.text is not None:
        items.append(_message_item(plan, choice.text, _status(choice)))
    items.extend(_call_item(plan, i, "completed") for i in range(len(choice.tool_calls)))
    return items


def _usage(plan: Plan) -> dict[str, Any]:
    u = plan.usage
    # cache_write_tokens is required by the SDK's model (3.x), so strict validation needs it.
    return {"input_tokens": u.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": u.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.total_tokens}


def _echo_tool(tool: Any) -> Any:
    # The API echoes function tools normalised (strict defaults to true); others as sent.
    if isinstance(tool, Mapping) and tool.get("type") == "function":
        return {"type": "function", "name": tool.get("name"),
                "description": tool.get("description"), "parameters": tool.get("parameters"),
                "strict": tool.get("strict", True)}
    return tool


def _number(body: Mapping[str, Any], key: str, default: float) -> float:
    value = body.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


def _str_or_none(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def _conversation(body: Mapping[str, Any]) -> dict[str, Any] | None:
    # Sent as an id or as {"id": ...}; the response always carries the object.
    conv = body.get("conversation")
    if isinstance(conv, Mapping) and isinstance(conv.get("id"), str):
        return {"id": conv["id"]}
    return {"id": conv} if isinstance(conv, str) else None


def _response(plan: Plan, *, final: bool) -> dict[str, Any]:
    """The response object; ``final=False`` gives the in-progress one a stream opens with."""
    body = plan.call.body
    choice = _choice(plan)
    status = _status(choice) if final else "in_progress"
    reason = _INCOMPLETE.get(choice.finish) if final else None
    done_at = plan.created + int(plan.timing.total(_token_count(choice)))
    reasoning = body.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, Mapping) else {}
    text = body.get("text")
    text = text if isinstance(text, Mapping) else {}
    fmt = text.get("format")
    text_out: dict[str, Any] = {"format": fmt if isinstance(fmt, Mapping) else {"type": "text"}}
    if isinstance(text.get("verbosity"), str):
        text_out["verbosity"] = text["verbosity"]
    tool_choice = body.get("tool_choice")
    if not (isinstance(tool_choice, Mapping) or tool_choice in ("none", "auto", "required")):
        tool_choice = "auto"
    tools = body.get("tools")
    metadata = body.get("metadata")
    tier = body.get("service_tier")
    truncation = body.get("truncation")
    return {
        "id": f"resp_{plan.uid}",
        "object": "response",
        "created_at": plan.created,
        "status": status,
        "background": body.get("background") is True,
        "completed_at": done_at if status == "completed" else None,
        "conversation": _conversation(body),
        "error": None,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": _str_or_none(body, "instructions"),
        "max_output_tokens": plan.call.max_tokens,
        "max_tool_calls": opt_int(body, "max_tool_calls"),
        "model": plan.call.model,
        "output": _output(plan) if final else [],
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": _str_or_none(body, "previous_response_id"),
        "prompt_cache_key": _str_or_none(body, "prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": _str_or_none(body, "safety_identifier"),
        "service_tier": tier if tier in ("flex", "scale", "priority") else "default",
        "store": body.get("store") is not False,
        "temperature": _number(body, "temperature", 1.0),
        "text": text_out,
        "tool_choice": tool_choice,
        "tools": [_echo_tool(t) for t in tools] if isinstance(tools, list) else [],
        "top_logprobs": opt_int(body, "top_logprobs") or 0,
        "top_p": _number(body, "top_p", 1.0),
        "truncation": truncation if truncation in ("auto", "disabled") else "disabled",
        "usage": _usage(plan) if final else None,
        "user": _str_or_none(body, "user"),
        "metadata": metadata if isinstance(metadata, Mapping) else {},
    }


# --- rendering -------------------------------------------------------------------------------

def render(plan: Plan) -> Rendered:
    """A response object, or its typed event stream when the request asked for one."""
    choice = _choice(plan)
    tokens = _token_count(choice)
    headers = base_headers(plan)
    if not plan.call.stream:
        return Rendered(200, {**headers, "content-type": JSON_TYPE},
                        pretty(_response(plan, final=True)), tokens=tokens, text=choice.text)
    return Rendered(200, {**headers, "content-type": SSE_TYPE, "cache-control": "no-cache"},
                    events=tuple(_events(plan)), tokens=tokens, text=choice.text)


def _frame(kind: str, seq: int, fields: Mapping[str, Any]) -> bytes:
    data = dumps({"type": kind, "sequence_number": seq, **fields})
    return f"event: {kind}\ndata: {data}\n\n".encode()


def _events(plan: Plan) -> Iterator[Event]:
    choice = _choice(plan)
    seq = 0

    def event(kind: str, due: int, **fields: Any) -> Event:
        nonlocal seq
        seq += 1
        return Event(_frame(kind, seq - 1, fields), due, kind.endswith(".delta"))

    # Lifecycle events leave at the ttft with the first token, as the real API's do.
    opening = _response(plan, final=False)
    yield event("response.created", 0, response=opening)
    yield event("response.in_progress", 0, response=opening)
    index = 0
    due = 0
    if choice.text is not None:
        item_id = _msg_id(plan)
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        yield event("response.output_item.added", 0, output_index=index,
                    item=_message_item(plan, "", "in_progress"))
        yield event("response.content_part.added", 0, **where,
                    part={"type": "output_text", "annotations": [], "logprobs": [],
                          "text": ""})
        for due, token in enumerate(choice.tokens):
            yield event("response.output_text.delta", due, **where, delta=token, logprobs=[])
        due = max(len(choice.tokens) - 1, 0)
        yield event("response.output_text.done", due, **where, text=choice.text, logprobs=[])
        yield event("response.content_part.done", due, **where,
                    part={"type": "output_text", "annotations": [], "logprobs": [],
                          "text": choice.text})
        yield event("response.output_item.done", due, output_index=index,
                    item=_message_item(plan, choice.text, _status(choice)))
        index += 1
        due = len(choice.tokens)
    for i, call in enumerate(choice.tool_calls):
        where = {"item_id": _fc_id(plan, i), "output_index": index}
        yield event("response.output_item.added", due, output_index=index,
                    item=_call_item(plan, i, "in_progress"))
        for piece in _fragments(call.arguments):
            due += 1
            yield event("response.function_call_arguments.delta", due, **where, delta=piece)
        yield event("response.function_call_arguments.done", due, **where, name=call.name,
                    arguments=call.arguments)
        yield event("response.output_item.done", due, output_index=index,
                    item=_call_item(plan, i, "completed"))
        index += 1
        due += 1
    last = max(_token_count(choice) - 1, 0)
    final = "response.incomplete" if _status(choice) == "incomplete" else "response.completed"
    yield event(final, last, response=_response(plan, final=True))


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """The ``response.failed`` event a responses stream ends with when it fails midway.

    It carries the response with ``status: failed`` and ``error: {code, message}``, as when the
    model fails; the ``responses.stream()`` helper then raises for want of
    ``response.completed``. Its ``sequence_number`` continues the stream where the fault struck.
    """
    _, obj = error_object(spec, plan.call)
    fault = plan.fault
    events = tuple(_events(plan))
    seq = strike_index(events, fault.after_chunks if fault is not None else None)
    response = _response(plan, final=False)
    code = "rate_limit_exceeded" if spec.name == "rate_limit" else "server_error"
    response.update(status="failed", error={"code": code, "message": obj["message"]})
    return _frame("response.failed", seq, {"response": response})

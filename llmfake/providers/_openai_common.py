"""OpenAI pieces shared by chat, completions, embeddings, models and responses."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from llmfake._duration import go_duration
from llmfake.engine._call import Call, Message, ToolResult, ToolSpec
from llmfake.engine._plan import Plan
from llmfake.journal import mask
from llmfake.providers._base import (
    Incoming,
    InvalidRequest,
    Rendered,
    dumps,
    pretty,
    wrong_type,
)
from llmfake.scenario._model import ErrorSpec

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"

# (status, type, code, message) by error name. The body is always {"error": {"message", "type",
# "param", "code"}} (all four keys, param and code may be null); the SDK picks its exception by
# status alone, so both 429s (rate limit, quota) are retried, and a 429's type names the limit's
# dimension (requests or tokens), not a class. Messages are the API's, from its spec, its
# error-codes guide and recorded responses.
_ERRORS: Mapping[str, tuple[int, str, str | None, str]] = {
    "bad_request": (400, "invalid_request_error", None,
                    "Invalid request: the fake was told to reject this request."),
    "context_length": (400, "invalid_request_error", "context_length_exceeded",
                       "This model's maximum context length is 128000 tokens. However, your "
                       "messages resulted in 130000 tokens. Please reduce the length of the "
                       "messages."),
    "auth": (401, "invalid_request_error", "invalid_api_key",
             "Incorrect API key provided. You can find your API key at "
             "https://platform.openai.com/account/api-keys."),
    "permission": (403, "request_forbidden", "unsupported_country_region_territory",
                   "Country, region, or territory not supported"),
    "not_found": (404, "invalid_request_error", "model_not_found",
                  "The model does not exist or you do not have access to it."),
    "request_too_large": (413, "invalid_request_error", "request_too_large",
                          "Request too large."),
    "rate_limit": (429, "requests", "rate_limit_exceeded",
                   "Rate limit reached for requests. Please try again later. Visit "
                   "https://platform.openai.com/account/rate-limits to learn more."),
    "quota": (429, "insufficient_quota", "insufficient_quota",
              "You exceeded your current quota, please check your plan and billing details. "
              "For more information on this error, read the docs: "
              "https://platform.openai.com/docs/guides/error-codes/api-errors."),
    "conflict": (409, "invalid_request_error", "conflict",
                 "Another request is already in progress for this resource. Try again later."),
    "server_error": (500, "server_error", None,
                     "The server had an error while processing your request. Sorry about that!"),
    "bad_gateway": (502, "server_error", "bad_gateway", "Bad gateway."),
    "unavailable": (503, "server_error", None,
                    "The server is overloaded or not ready yet."),
    "overloaded": (503, "server_error", None,
                   "The engine is currently overloaded, please try again later."),
    "timeout": (504, "server_error", "timeout", "Request timed out."),
}


def base_headers(plan: Plan) -> dict[str, str]:
    """Headers every OpenAI response of ``plan`` carries."""
    return {
        "x-request-id": plan.request_id,
        "openai-version": "2020-10-01",
        "openai-organization": "llmfake",
        "openai-project": "proj_llmfake",
        "openai-processing-ms": str(int(plan.timing.total(_token_count(plan)) * 1000)),
        "access-control-expose-headers": "X-Request-ID",
    }


def _token_count(plan: Plan) -> int:
    choices = plan.choices
    if len(choices) == 1:
        return len(choices[0].tokens)
    return max((len(c.tokens) for c in choices), default=1)


def error_object(spec: ErrorSpec, call: Call | None) -> tuple[int, dict[str, Any]]:
    """The status and ``error`` object OpenAI sends for ``spec``."""
    status, etype, code, message = _ERRORS.get(spec.name, _ERRORS["server_error"])
    if spec.name == "auth" and call is not None:
        if not call.api_key:
            code = None
            message = ("You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                       "YOUR_KEY), or as the password field (with blank username) if you're "
                       "accessing the API from your browser and are prompted for a username and "
                       "password. You can obtain an API key from "
                       "https://platform.openai.com/account/api-keys.")
        else:
            message = (f"Incorrect API key provided: {mask(call.api_key)}. You can find your "
                       "API key at https://platform.openai.com/account/api-keys.")
    if spec.name == "not_found" and call is not None and call.model:
        message = f"The model `{call.model}` does not exist or you do not have access to it."
    hit = spec.limit_hit
    if hit is not None and hit.kind in ("requests", "tokens"):
        etype = hit.kind  # OpenAI names the limit's dimension in the type
        unit = "requests per min (RPM)" if hit.kind == "requests" else "tokens per min (TPM)"
        model = call.model if call is not None and call.model else "requests"
        message = (f"Rate limit reached for {model} in organization org-llmfake on {unit}: "
                   f"Limit {hit.limit}, Used {hit.limit}, Requested {hit.requested}. Please "
                   f"try again in {_wait(spec.retry_after or 0)}. Visit "
                   "https://platform.openai.com/account/rate-limits to learn more.")
    elif hit is not None and hit.kind == "concurrency":
        message = (f"Too many concurrent requests: the limit is {hit.limit} at once. Please "
                   "try again once a request has finished.")
    elif spec.name == "rate_limit" and call is not None:
        wait = 1.0 if spec.retry_after is None else spec.retry_after  # the wait it was given
        message = (f"Rate limit reached for {call.model or 'requests'} in organization "
                   "org-llmfake on requests per min (RPM): Limit 60, Used 60, Requested 1. "
                   f"Please try again in {_wait(wait)}. Visit "
                   "https://platform.openai.com/account/rate-limits to learn more.")
    if spec.message is not None:
        message = spec.message
    return spec.status or status, {"message": message, "type": etype, "param": None, "code": code}


def _wait(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms" if seconds < 1 else f"{seconds:.3g}s"


def rate_headers(plan: Plan) -> dict[str, str]:
    """``x-ratelimit-*`` headers from the plan's rate-limit state (resets as Go durations)."""
    state = plan.rate_limit
    if state is None:
        return {}
    out: dict[str, str] = {}
    if state.requests_limit is not None:
        out["x-ratelimit-limit-requests"] = str(state.requests_limit)
        out["x-ratelimit-remaining-requests"] = str(state.requests_remaining)
        out["x-ratelimit-reset-requests"] = go_duration(state.requests_reset)
    if state.tokens_limit is not None:
        out["x-ratelimit-limit-tokens"] = str(state.tokens_limit)
        out["x-ratelimit-remaining-tokens"] = str(state.tokens_remaining)
        out["x-ratelimit-reset-tokens"] = go_duration(state.tokens_reset)
    return out


def retry_headers(spec: ErrorSpec) -> dict[str, str]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms`` for ``spec``."""
    if spec.retry_after is None:
        return {}
    ms = spec.retry_after * 1000
    return {"retry-after": str(math.ceil(spec.retry_after)), "retry-after-ms": f"{ms:g}"}


def render_error(spec: ErrorSpec, request_id: str, call: Call | None) -> Rendered:
    """An OpenAI error response."""
    status, obj = error_object(spec, call)
    headers = {"content-type": JSON_TYPE, "x-request-id": request_id,
               "openai-version": "2020-10-01", **retry_headers(spec)}
    return Rendered(status, headers, pretty({"error": obj}))


def render_invalid(exc: InvalidRequest, request_id: str) -> Rendered:
    """An OpenAI error response for a request it rejects."""
    etype = "server_error" if exc.status >= 500 else "invalid_request_error"
    body = {"error": {"message": exc.message, "type": etype, "param": exc.param,
                      "code": exc.code}}
    headers = {"content-type": JSON_TYPE, "x-request-id": request_id,
               "openai-version": "2020-10-01"}
    return Rendered(exc.status, headers, pretty(body))


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """An error inside a chat or completions stream: the SDK raises ``APIError``."""
    _, obj = error_object(spec, plan.call)
    return f"data: {dumps({'error': obj})}\n\n".encode()


def api_key(inc: Incoming) -> str | None:
    """The key from ``Authorization: Bearer`` (or Azure's ``api-key``)."""
    auth = inc.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return inc.headers.get("api-key") or None


def body_object(inc: Incoming) -> Mapping[str, Any]:
    """The JSON body, which must be an object."""
    if not isinstance(inc.body, dict):
        raise InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON. If you have trouble figuring out how to fix "
            "this, please contact us through our help center at help.openai.com.)")
    return inc.body


def require_model(body: Mapping[str, Any]) -> str:
    """The ``model`` field, or OpenAI's 400."""
    model = body.get("model")
    if model is None:
        raise InvalidRequest("you must provide a model parameter")
    if not isinstance(model, str):
        raise InvalidRequest(f"Invalid type for 'model': expected a string, but got "
                             f"{_json_type(model)} instead.", param="model",
                             code="invalid_type")
    return model


def opt_int(body: Mapping[str, Any], key: str, *, minimum: int = 0,
            maximum: int | None = None) -> int | None:
    """An optional integer field, or OpenAI's 400."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"Invalid type for '{key}': expected an integer, but got "
                             f"{_json_type(value)} instead.", param=key, code="invalid_type")
    if value < minimum or (maximum is not None and value > maximum):
        raise InvalidRequest(f"Invalid '{key}': integer out of range.", param=key,
                             code="integer_out_of_range" if value > minimum else
                             "integer_below_min_value")
    return value


def schema_errors(body: Mapping[str, Any], where: str) -> tuple[
        Callable[[str], InvalidRequest], Callable[[str, str], InvalidRequest]]:
    """OpenAI's 400s for a response format's schema (``where`` names its field) and a function
    tool's parameters that llmfake refuses (see ``engine._schema_check``)."""
    def response(problem: str) -> InvalidRequest:
        # chat: response_format.json_schema.name; responses: text.format.name
        fmt: Any = body.get("response_format") if where == "response_format" else body.get("text")
        for key in (("json_schema",) if where == "response_format" else ("format",)):
            fmt = fmt.get(key) if isinstance(fmt, Mapping) else None
        name = fmt.get("name", "response") if isinstance(fmt, Mapping) else "response"
        return InvalidRequest(f"Invalid schema for response_format '{name}': {problem}.",
                              param=where)

    def tool(name: str, problem: str) -> InvalidRequest:
        return InvalidRequest(f"Invalid schema for function '{name}': {problem}.",
                              param="tools", code="invalid_function_parameters")

    return response, tool


def stop_list(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``stop`` field as a tuple."""
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise InvalidRequest("Invalid type for 'stop': expected a string or an array of strings.",
                         param="stop", code="invalid_type")


def content_text(content: Any) -> str:
    """Text of a message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                text = part.get("text", part.get("refusal"))
                if isinstance(text, str):
                    parts.append(text)
        return "\n".join(parts)
    return ""


def function_tools(tools: Any, *, flat: bool) -> tuple[ToolSpec, ...]:
    """Function tools (nested ``function`` for chat, flat for responses); others are skipped.
    A tool that is not an object, or a function tool without a string name, is OpenAI's 400."""
    if not isinstance(tools, list):
        return ()
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise InvalidRequest(f"Invalid type for 'tools[{i}]': expected an object, but got "
                                 f"{_json_type(tool)} instead.", param=f"tools[{i}]",
                                 code="invalid_type")
        kind = tool.get("type", "function")
        if flat and kind != "function":
            continue  # built-in tools (web search, file search...) are echoed, not called
        fn = tool if flat else tool.get("function", tool.get("custom"))
        nest = "custom" if kind == "custom" else "function"
        where = f"tools[{i}]" if flat else f"tools[{i}].{nest}"
        if not flat and not isinstance(fn, Mapping):
            raise InvalidRequest(f"Missing required parameter: '{where}'.", param=where,
                                 code="missing_required_parameter")
        name = fn.get("name")
        if not isinstance(name, str):
            raise InvalidRequest(f"Missing required parameter: '{where}.name'." if name is None
                                 else f"Invalid type for '{where}.name': expected a string, "
                                 f"but got {_json_type(name)} instead.", param=f"{where}.name",
                                 code="missing_required_parameter" if name is None
                                 else "invalid_type")
        params = fn.get("parameters")
        out.append(ToolSpec(name, params if isinstance(params, Mapping) else None))
    return tuple(out)


_KIND_WORDS = {"boolean": "a boolean", "integer": "an integer", "number": "a decimal",
               "string": "a string", "array": "an array", "object": "an object",
               "string|object": "one of a string or an object",
               "string|array": "one of a string or an array"}

CHAT_FIELDS = {
    "stream": "boolean", "tools": "array", "temperature": "number", "top_p": "number",
    "presence_penalty": "number", "frequency_penalty": "number", "seed": "integer",
    "logprobs": "boolean", "top_logprobs": "integer", "user": "string", "store": "boolean",
    "parallel_tool_calls": "boolean", "metadata": "object", "stream_options": "object",
    "response_format": "object", "tool_choice": "string|object", "logit_bias": "object",
    "modalities": "array", "reasoning_effort": "string", "service_tier": "string",
    "prediction": "object", "audio": "object", "functions": "array",
    "function_call": "string|object", "web_search_options": "object",
}
"""Chat completions fields and their JSON kinds, as the SDK's ``CompletionCreateParams``
types them (the integer fields with bounds are checked by ``opt_int``)."""

RESPONSES_FIELDS = {
    "stream": "boolean", "tools": "array", "temperature": "number", "top_p": "number",
    "instructions": "string", "text": "object", "tool_choice": "string|object",
    "previous_response_id": "string", "store": "boolean", "parallel_tool_calls": "boolean",
    "metadata": "object", "reasoning": "object", "include": "array", "background": "boolean",
    "truncation": "string", "user": "string", "service_tier": "string",
    "stream_options": "object", "prompt": "object", "conversation": "string|object",
}
"""Responses fields and their JSON kinds (the SDK's ``ResponseCreateParams``)."""

EMBEDDINGS_FIELDS = {"user": "string", "encoding_format": "string"}
"""Embeddings fields and their JSON kinds, besides ``input``, ``model`` and ``dimensions``."""


def check_types(body: Mapping[str, Any], fields: Mapping[str, str]) -> None:
    """OpenAI's 400 for the first field of ``body`` of the wrong JSON kind (see
    ``_base.wrong_type``): ``Invalid type for 'stream': expected a boolean, but got a string
    instead.``"""
    bad = wrong_type(body, fields)
    if bad is not None:
        key, kind = bad
        raise InvalidRequest(f"Invalid type for '{key}': expected {_KIND_WORDS[kind]}, but got "
                             f"{_json_type(body[key])} instead.", param=key, code="invalid_type")


def forced_tool(choice: Any) -> str | None:
    """The tool a ``tool_choice`` forces: a name, ``*`` for any, or None."""
    if choice == "required":
        return "*"
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return str(fn["name"])
        if isinstance(choice.get("name"), str):
            return str(choice["name"])
        if choice.get("type") == "allowed_tools" and choice.get("mode") == "required":
            return "*"
    return None


def messages_of(raw: Any) -> tuple[Message, ...]:
    """Chat messages as ``Message`` (unknown shapes count as empty text)."""
    out: list[Message] = []
    for m in raw:
        if not isinstance(m, dict):
            raise InvalidRequest("Invalid type for 'messages[]': expected an object.",
                                 param="messages", code="invalid_type")
        _check_message(m, len(out))
        text = content_text(m.get("content"))
        calls = m.get("tool_calls")
        made: list[tuple[str | None, str]] = []
        if isinstance(calls, list):
            for c in calls:
                fn = c.get("function") if isinstance(c, Mapping) else None
                if isinstance(fn, Mapping):
                    text += f"{fn.get('name', '')}{fn.get('arguments', '')}"
                    made.append((_str(c.get("id")), str(fn.get("name", ""))))
        role = str(m.get("role", "user"))
        # Legacy role "function" results carry the name, and no id.
        results = (ToolResult(text, _str(m.get("tool_call_id")), _str(m.get("name")))
                   if role in ("tool", "function") else None)
        out.append(Message(role, text, tuple(made), (results,) if results else ()))
    return tuple(out)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _check_message(m: Mapping[str, Any], i: int) -> None:
    role, content = m.get("role"), m.get("content")
    if role is not None and not isinstance(role, str):
        raise InvalidRequest(f"Invalid type for 'messages[{i}].role': expected a string, but "
                             f"got {_json_type(role)} instead.", param=f"messages[{i}].role",
                             code="invalid_type")
    if content is not None and not isinstance(content, (str, list)):
        raise InvalidRequest(f"Invalid type for 'messages[{i}].content': expected one of a "
                             f"string or an array of objects, but got {_json_type(content)} "
                             "instead.", param=f"messages[{i}].content", code="invalid_type")


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    if value is None:
        return "null"
    return "a string"


def make_call(inc: Incoming, provider: str, endpoint: str, model: str,
              **fields: Any) -> Call:
    """A ``Call`` with the fields every OpenAI endpoint shares filled in."""
    return Call(provider=provider, endpoint=endpoint, model=model, api_key=api_key(inc),
                headers=inc.headers, tenant=inc.tenant,
                body=inc.body if isinstance(inc.body, dict) else {}, **fields)


def is_content(payload: Mapping[str, Any]) -> bool:
    """Whether a recorded stream event carries content: a chat or legacy completion chunk with
    text, a tool-call fragment or a refusal, or a responses API ``*.delta`` event (its other
    events, like a chat chunk with only a role or usage, are framing)."""
    kind = payload.get("type")
    if isinstance(kind, str):
        return kind.endswith(".delta")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return True  # not a shape this knows: count it, so faults can strike it
    for choice in choices:
        if not isinstance(choice, Mapping):
            continue
        delta = choice.get("delta")
        if isinstance(delta, Mapping) and (delta.get("content") or delta.get("tool_calls")
                                           or delta.get("refusal")):
            return True
        if choice.get("text"):
            return True
    return False

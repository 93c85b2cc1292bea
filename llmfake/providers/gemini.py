"""Google Gemini (generativelanguage): generateContent and its stream, countTokens, embeddings and
models, under both ``/v1`` and ``/v1beta``.

google-genai 3.x calls ``/v1``, 2.x and most hand-written clients ``/v1beta``; the SDK sends the
key as ``x-goog-api-key`` (and ``x-goog-api-client``), hand-written clients often as ``?key=``.
A stream is ``:streamGenerateContent?alt=sse`` (SSE), or a JSON array without ``alt=sse``.

Pure like every provider: a request becomes a ``Call``, a ``Plan`` becomes bytes. Protobuf JSON
takes lowerCamel and snake_case field names alike, so every field is read under both spellings.

Sizes are bounded as the API bounds them: ``batchEmbedContents`` takes at most 100 requests
(``* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch``), an
embedding's ``outputDimensionality`` is at most the model's own size (3072 for
gemini-embedding-001, 768 for text-embedding-004 and embedding-001), and ``candidateCount``
is 1 to 8 (0 is protobuf's "unset", one candidate).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from llmfake.engine._call import Call, Message, ToolResult, ToolSpec
from llmfake.engine._plan import Choice, Plan
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
    pretty,
    strike_index,
)
from llmfake.scenario._model import ERROR_STATUS, ErrorSpec

JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream"
MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
          "gemini-embedding-001")
"""What ``GET models`` lists when the scenario names no models."""

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP",
           "content_filter": "SAFETY"}
_ROLES = {"model": "assistant", "function": "tool"}
_TYPE = "type.googleapis.com/google.rpc."
# HTTP status to google.rpc code name, for statuses a scenario forces.
_CANONICAL = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
              500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE",
              504: "DEADLINE_EXCEEDED"}
# (status, google.rpc code, message) by error name, after Google's troubleshooting page. The body
# is {"error": {"code", "message", "status", "details"?}}; the SDK raises ClientError for 4xx and
# ServerError for 5xx, and inside a stream a {"error": ...} chunk raises by its code.
_ERRORS: Mapping[str, tuple[int, str, str]] = {
    "bad_request": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "context_length": (400, "INVALID_ARGUMENT", "The input token count (1048577) exceeds the "
                       "maximum number of tokens allowed (1048576)."),
    "auth": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    "permission": (403, "PERMISSION_DENIED", "The caller does not have permission"),
    "not_found": (404, "NOT_FOUND", "Requested entity was not found."),
    "conflict": (409, "ABORTED", "The operation was aborted."),
    "request_too_large": (413, "INVALID_ARGUMENT",
                          "Request payload size exceeds the limit: 20971520 bytes."),
    "rate_limit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    "quota": (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your "
              "plan and billing details. For more information on this error, head to: "
              "https://ai.google.dev/gemini-api/docs/rate-limits."),
    "server_error": (500, "INTERNAL", "An internal error has occurred. Please retry or report "
                     "in https://developers.generativeai.google/guide/troubleshooting"),
    "bad_gateway": (502, "UNAVAILABLE", "Bad Gateway"),
    "unavailable": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "timeout": (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
           "Please use API Key or other form of API consumer identity to call this API.")
_METHODS = {"chat": "generateContent", "embeddings": "embedContent",
            "count_tokens": "countTokens", "models": "get"}


# --- reading requests ------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)


@functools.lru_cache(maxsize=256)
def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _get(obj: Any, name: str) -> Any:
    """Field ``name`` (lowerCamel) of a JSON object, or of its snake_case spelling."""
    if not isinstance(obj, Mapping):
        return None
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(obj: Any, name: str, where: str) -> int | None:
    """An int32 field; protobuf JSON also takes it as a string or a whole float."""
    value = _get(obj, name)
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()):
        raise InvalidRequest(f"Invalid value at '{where}' (TYPE_INT32), {dumps(value)}")
    return int(value)


_PB = "type.googleapis.com/google.ai.generativelanguage.v1beta."
_REQUEST_FIELDS = {
    "generationConfig": ("GenerationConfig", False), "systemInstruction": ("Content", False),
    "toolConfig": ("ToolConfig", False), "tools": ("Tool", True),
    "safetySettings": ("SafetySetting", True), "cachedContent": ("TYPE_STRING", False),
}
_CONFIG_FIELDS = {
    "temperature": ("TYPE_FLOAT", False), "topP": ("TYPE_FLOAT", False),
    "presencePenalty": ("TYPE_FLOAT", False), "frequencyPenalty": ("TYPE_FLOAT", False),
    "topK": ("TYPE_INT32", False), "seed": ("TYPE_INT32", False),
    "responseMimeType": ("TYPE_STRING", False), "responseLogprobs": ("TYPE_BOOL", False),
    "stopSequences": ("TYPE_STRING", True), "responseSchema": ("Schema", False),
}
"""Fields of a generateContent request and of its ``generationConfig``, with their protobuf
types (a message name, or ``TYPE_*``) and whether they are repeated: what google-genai's
types allow. Both spellings (``topP``, ``top_p``) are read, as the API does."""


def _check_fields(obj: Mapping[str, Any], fields: Mapping[str, tuple[str, bool]],
                  where: str) -> None:
    """The API's 400 for the first field of ``obj`` of the wrong JSON kind: ``Invalid value
    at 'generation_config.temperature' (TYPE_FLOAT), "hot"``. Protobuf JSON also takes numbers
    as strings (``"0.5"``), and a repeated string field here takes a lone string."""
    for key, value in obj.items():
        spec = fields.get(_camel(key))
        if spec is None or value is None:
            continue
        kind, repeated = spec
        if repeated and isinstance(value, list):
            continue  # items: checked where they are read
        if (repeated and kind != "TYPE_STRING") or not _fits(value, kind):
            label = kind if kind.startswith("TYPE_") else _PB + kind
            raise InvalidRequest(f"Invalid value at '{where}{_snake(_camel(key))}' ({label}), "
                                 f"{dumps(value)}")


def _fits(value: Any, kind: str) -> bool:
    if kind == "TYPE_BOOL":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "TYPE_STRING":
        return isinstance(value, str)
    if kind in ("TYPE_FLOAT", "TYPE_INT32"):
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return False
            return kind == "TYPE_FLOAT" or number.is_integer()
        return isinstance(value, (int, float)) and (kind == "TYPE_FLOAT"
                                                     or float(value).is_integer())
    return isinstance(value, Mapping)


def _body(inc: Incoming) -> Mapping[str, Any]:
    if inc.body is None:
        return {}
    if not isinstance(inc.body, Mapping):
        raise InvalidRequest("Invalid JSON payload received. Unexpected token.")
    return inc.body


def _text_of(content: Any) -> str:
    """A Content's text: its text parts, and function calls and responses as JSON (so they
    count as tokens); inline data, files and unknown parts are left out."""
    if isinstance(content, str):
        return content
    out = []
    for part in _list(_get(content, "parts")):
        text = _get(part, "text")
        if isinstance(text, str):
            out.append(text)
            continue
        for kind in ("functionCall", "functionResponse"):
            value = _get(part, kind)
            if value is not None:
                out.append(dumps(value))
    return "\n".join(out)


def _function_parts(content: Mapping[str, Any]
                    ) -> tuple[tuple[tuple[str | None, str], ...], tuple[ToolResult, ...]]:
    """The function calls and the function responses among a Content's parts."""
    calls, results = [], []
    for part in _list(_get(content, "parts")):
        call, response = _get(part, "functionCall"), _get(part, "functionResponse")
        if isinstance(call, Mapping):
            calls.append((_opt_str(_get(call, "id")), str(_get(call, "name") or "")))
        if isinstance(response, Mapping):
            body = _get(response, "response")
            results.append(ToolResult(body if isinstance(body, str) else dumps(body),
                                      _opt_str(_get(response, "id")),
                                      _opt_str(_get(response, "name"))))
    return tuple(calls), tuple(results)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _messages(body: Mapping[str, Any], request: str) -> tuple[Message, ...]:
    contents = _get(body, "contents")
    if not isinstance(contents, list) or not contents:
        raise InvalidRequest(f"* {request}.contents: contents is not specified\n")
    out = []
    system = _get(body, "systemInstruction")
    if system is not None:
        out.append(Message("system", _text_of(system)))
    for i, content in enumerate(contents):
        if not isinstance(content, Mapping):
            raise InvalidRequest(f"Invalid value at 'contents[{i}]' (type.googleapis.com/google."
                                 f"ai.generativelanguage.v1beta.Content), {dumps(content)}")
        role = _get(content, "role")
        name = _ROLES.get(role, "user") if isinstance(role, str) else "user"
        if any(isinstance(p, Mapping) and _get(p, "functionResponse") is not None
               for p in _list(_get(content, "parts"))):
            name = "tool"  # google-genai sends function results as role "user"
        out.append(Message(name, _text_of(content), *_function_parts(content)))
    return tuple(out)


def _schema(value: Any) -> Any:
    """Gemini's OpenAPI-style schema as JSON Schema: ``"OBJECT"`` becomes ``"object"``,
    snake_case keywords lowerCamel and int64 strings (``"3"``) numbers."""
    if isinstance(value, list):
        return [_schema(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for raw_key, v in value.items():
        key = _camel(raw_key)
        if key == "type" and isinstance(v, str):
            if v.upper() != "TYPE_UNSPECIFIED":
                out[key] = v.lower()
        elif key == "properties" and isinstance(v, Mapping):
            out[key] = {name: _schema(s) for name, s in v.items()}
        elif key in ("items", "anyOf"):
            out[key] = _schema(v)
        elif isinstance(v, str) and key.startswith(("min", "max")) and v.isdigit():
            out[key] = int(v)
        else:
            out[key] = v
    return out


def _tools(body: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    out = []
    for i, tool in enumerate(_list(_get(body, "tools"))):
        decls = _get(tool, "functionDeclarations")
        if not isinstance(tool, Mapping) or (decls is not None and not isinstance(decls, list)):
            bad, at = (tool, f"tools[{i}]") if not isinstance(tool, Mapping) else (
                decls, f"tools[{i}].function_declarations")
            kind = "Tool" if at.endswith("]") else "FunctionDeclaration"
            raise InvalidRequest(f"Invalid value at '{at}' ({_PB}{kind}), {dumps(bad)}")
        for j, decl in enumerate(_list(decls)):
            name = _get(decl, "name")
            if not isinstance(decl, Mapping) or not isinstance(name, str) or not name:
                raise InvalidRequest(f"* GenerateContentRequest.tools[{i}].function_declarations"
                                     f"[{j}].name: Name cannot be empty.\n")
            schema = _get(decl, "parametersJsonSchema")
            if not isinstance(schema, Mapping):
                schema = _schema(_get(decl, "parameters"))
            out.append(ToolSpec(name, schema if isinstance(schema, Mapping) else None))
    return tuple(out)


def _forced(body: Mapping[str, Any]) -> str | None:
    """Mode ANY forces a call: of the first allowed function, else of any (``*``)."""
    config = _get(_get(body, "toolConfig"), "functionCallingConfig")
    mode = _get(config, "mode")
    if mode != 2 and not (isinstance(mode, str) and mode.upper() == "ANY"):
        return None
    names = [n for n in _list(_get(config, "allowedFunctionNames")) if isinstance(n, str)]
    return names[0] if names else "*"


def _call(inc: Incoming, endpoint: str, **fields: Any) -> Call:
    body = inc.body if isinstance(inc.body, Mapping) else {}
    key = inc.headers.get("x-goog-api-key") or inc.query.get("key") or None
    wire = {"version": inc.path.split("/")[1], "method": inc.path.rpartition(":")[2],
            "query": {k: v for k, v in inc.query.items() if k != "key"}}
    return Call(provider="gemini", endpoint=endpoint, model=inc.params.get("model", ""),
                api_key=key, headers=inc.headers, tenant=inc.tenant,
                body=body, wire=wire, **fields)


def parse_generate(inc: Incoming) -> Call:
    """``:generateContent`` and ``:streamGenerateContent`` to a ``Call``."""
    body = _body(inc)
    _check_fields(body, _REQUEST_FIELDS, "")
    gen = _get(body, "generationConfig")
    where = "generation_config."
    if isinstance(gen, Mapping):
        _check_fields(gen, _CONFIG_FIELDS, where)
    max_tokens = _int(gen, "maxOutputTokens", where + "max_output_tokens")
    stop = _get(gen, "stopSequences")
    schema = _get(gen, "responseJsonSchema")
    if not isinstance(schema, Mapping):
        schema = _schema(_get(gen, "responseSchema"))
    call = _call(
        inc, "chat",
        messages=_messages(body, "GenerateContentRequest"),
        stream=inc.path.endswith(":streamGenerateContent"),
        # Zero is protobuf's "unset": the model's own limit applies.
        max_tokens=max_tokens if max_tokens and max_tokens > 0 else None,
        stop=(stop,) if isinstance(stop, str) else tuple(s for s in _list(stop)
                                                         if isinstance(s, str)),
        n=_candidates(_int(gen, "candidateCount", where + "candidate_count"), where),
        tools=_tools(body),
        forced_tool=_forced(body),
        response_schema=schema if isinstance(schema, Mapping) else None,
        response_json=(_get(gen, "responseMimeType") == "application/json"
                       or isinstance(schema, Mapping)),
    )
    return check_call_schemas(
        call,
        lambda problem: InvalidRequest(f"* GenerateContentRequest.{where}response_schema: "
                                       f"{problem}\n"),
        lambda name, problem: InvalidRequest(
            f"* GenerateContentRequest.tools.function_declarations[{name}].parameters: "
            f"{problem}\n"))


MAX_CANDIDATES = 8
"""The most candidates one generateContent request may ask for."""
MAX_BATCH = 100
"""The most requests in one batchEmbedContents."""


def _candidates(count: int | None, where: str) -> int:
    if not count:
        return 1
    if not 1 <= count <= MAX_CANDIDATES:
        raise InvalidRequest(f"* GenerateContentRequest.{where}candidate_count: must be in the "
                             f"range [1, {MAX_CANDIDATES}], got {count}\n")
    return count


def parse_count(inc: Incoming) -> Call:
    """``:countTokens`` (``contents``, or a whole ``generateContentRequest``) to a ``Call``."""
    body = _body(inc)
    inner = _get(body, "generateContentRequest")
    source = inner if isinstance(inner, Mapping) else body
    return _call(inc, "count_tokens", messages=_messages(source, "CountTokensRequest"))


def parse_embed(inc: Incoming) -> Call:
    """``:embedContent`` and ``:batchEmbedContents`` (what the SDK uses) to a ``Call``."""
    body = _body(inc)
    if inc.path.endswith(":batchEmbedContents"):
        requests = _get(body, "requests")
        if not isinstance(requests, list) or not requests:
            raise InvalidRequest("* BatchEmbedContentsRequest.requests: requests is not "
                                 "specified\n")
        if len(requests) > MAX_BATCH:
            raise InvalidRequest(f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} "
                                 "requests can be in one batch\n")
        first = requests[0]
    else:
        if _get(body, "content") is None:
            raise InvalidRequest("* EmbedContentRequest.content: content is not specified\n")
        requests, first = [body], body
    dims = _int(first, "outputDimensionality", "output_dimensionality")
    model = inc.params.get("model", "")
    # Without outputDimensionality each model has its own size, which the engine cannot know.
    default = 768 if model in ("text-embedding-004", "embedding-001") else 3072
    if dims is not None and (dims < 0 or dims > default):
        raise InvalidRequest(f"* EmbedContentRequest.output_dimensionality: must be between 1 "
                             f"and {default} for models/{model}, got {dims}\n")
    return _call(inc, "embeddings", inputs=tuple(_text_of(_get(r, "content")) for r in requests),
                 dimensions=dims if dims and dims > 0 else default)


def parse_models(inc: Incoming) -> Call:
    """``GET models`` and ``GET models/{model}`` to a ``Call``."""
    return _call(inc, "models")


# --- rendering -------------------------------------------------------------------------------

def _headers(plan: Plan, tokens: int, content_type: str = JSON_TYPE) -> dict[str, str]:
    ms = int(plan.timing.total(tokens) * 1000)
    return {"content-type": content_type, "server-timing": f"gfet4t7; dur={ms}"}


def _usage(plan: Plan, final: bool = True) -> dict[str, Any]:
    """``usageMetadata``; stream chunks before the last carry the prompt count only."""
    prompt = plan.usage.prompt_tokens
    out: dict[str, Any] = {"promptTokenCount": prompt}
    if final:
        out["candidatesTokenCount"] = plan.usage.completion_tokens
    out["totalTokenCount"] = prompt + (plan.usage.completion_tokens if final else 0)
    out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    return out


def _args(arguments: str) -> dict[str, Any]:
    # Gemini's args is a Struct: a scenario's JSON string that is no object cannot be sent.
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _parts(choice: Choice, stream: bool) -> list[dict[str, Any]]:
    """The parts of a candidate; streamed, one text part per token (each part one chunk)."""
    texts = list(choice.tokens) if stream else [choice.text or ""]
    parts: list[dict[str, Any]] = [{"text": t} for t in texts if t]
    parts += [{"functionCall": {"name": t.name, "args": _args(t.arguments)}}
              for t in choice.tool_calls]
    return parts or [{"text": ""}]


def render_generate(plan: Plan) -> Rendered:
    """A GenerateContentResponse, or its stream: SSE with ``alt=sse``, else a JSON array."""
    templated = _templated_generate(plan)
    return templated if templated is not None else _render_generate(plan)


_TEXT_RESPONSE = Template({
    "candidates": [{"content": {"parts": [{"text": "@@text@@"}], "role": "model"},
                    "finishReason": "@@finish@@", "index": 0}],
    "usageMetadata": {"promptTokenCount": "@@prompt@@", "candidatesTokenCount": "@@output@@",
                      "totalTokenCount": "@@total@@",
                      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": "@@prompt2@@"}]},
    "modelVersion": "@@model@@", "responseId": "@@id@@",
})
"""The response of one candidate with text only (most of them), written without a dict."""


def _templated_generate(plan: Plan) -> Rendered | None:
    """A non-streamed response of one text-only candidate, filled into ``_TEXT_RESPONSE``: the
    bytes ``_render_generate`` writes, for a fraction of the cost. None for anything else (a
    stream, several candidates, function calls) and for text a JSON encoder refuses (a lone
    surrogate), which the general path then refuses the same way."""
    if plan.call.stream or len(plan.choices) != 1:
        return None
    choice = plan.choices[0]
    if choice.tool_calls:
        return None
    u = plan.usage
    prompt = b"%d" % u.prompt_tokens
    try:
        body = _TEXT_RESPONSE.fill(
            json_bytes(choice.text or ""), json_bytes(_FINISH.get(choice.finish, "OTHER")),
            prompt, b"%d" % u.completion_tokens, b"%d" % u.total_tokens, prompt,
            json_bytes(plan.call.model), json_bytes(plan.uid))
    except (TypeError, ValueError):
        return None
    # As many stream chunks as non-empty tokens, one at least (see ``_parts``).
    tokens = len(choice.tokens) - choice.tokens.count("") or 1
    return Rendered(200, _headers(plan, tokens), body, tokens=tokens, text=choice.text)


def _render_generate(plan: Plan) -> Rendered:
    """Any response or stream, built as dicts (``render_generate`` skips it for the commonest
    response)."""
    call = plan.call
    steps = [_parts(c, True) for c in plan.choices]
    tokens = max((len(s) for s in steps), default=0)
    text = plan.choices[0].text if plan.choices else None
    if not call.stream:
        candidates = [{"content": {"parts": _parts(c, False), "role": "model"},
                       "finishReason": _FINISH.get(c.finish, "OTHER"), "index": i}
                      for i, c in enumerate(plan.choices)]
        body = {"candidates": candidates, "usageMetadata": _usage(plan),
                "modelVersion": call.model, "responseId": plan.uid}
        return Rendered(200, _headers(plan, tokens), pretty(body), tokens=tokens, text=text)
    sse = _wire(call)["query"].get("alt") == "sse"
    headers = _headers(plan, tokens, SSE_TYPE if sse else JSON_TYPE)
    return Rendered(200, headers, events=tuple(_events(plan, steps, sse)), tokens=tokens,
                    text=text)


def _events(plan: Plan, steps: list[list[dict[str, Any]]], sse: bool) -> Iterator[Event]:
    last = max(len(s) for s in steps) - 1
    for step in range(last + 1):
        candidates = []
        for i, (choice, parts) in enumerate(zip(plan.choices, steps, strict=True)):
            if step < len(parts):
                cand: dict[str, Any] = {"content": {"parts": [parts[step]], "role": "model"}}
                if step == len(parts) - 1:
                    cand["finishReason"] = _FINISH.get(choice.finish, "OTHER")
                cand["index"] = i
                candidates.append(cand)
        data = dumps({"candidates": candidates, "usageMetadata": _usage(plan, step == last),
                      "modelVersion": plan.call.model, "responseId": plan.uid})
        if sse:
            yield Event(f"data: {data}\r\n\r\n".encode(), step)
        else:  # each element brings its separator, so an error element can follow any of them
            yield Event(("[" if step == 0 else ",\r\n").encode() + data.encode(), step)
    if not sse:
        yield Event(b"\r\n]", last, chunk=False)


def render_count(plan: Plan) -> Rendered:
    """A CountTokensResponse."""
    n = plan.usage.prompt_tokens
    details = [{"modality": "TEXT", "tokenCount": n}]
    return Rendered(200, _headers(plan, 0), pretty({"totalTokens": n,
                                                    "promptTokensDetails": details}))


def render_embed(plan: Plan) -> Rendered:
    """``{"embedding": ...}`` for embedContent, ``{"embeddings": [...]}`` for the batch."""
    vectors = [{"values": list(vec)} for vec in plan.embeddings]
    batch = _wire(plan.call)["method"] == "batchEmbedContents"
    body = {"embeddings": vectors} if batch else {"embedding": vectors[0] if vectors else {}}
    return Rendered(200, _headers(plan, 0), dumps(body).encode("utf-8"))


def _model(model_id: str) -> dict[str, Any]:
    bare = model_id.removeprefix("models/")
    name = " ".join(w.capitalize() for w in bare.split("-"))
    out: dict[str, Any] = {"name": f"models/{bare}", "version": "001", "displayName": name,
                           "description": f"{name}, served by llmfake."}
    if "embedding" in bare:
        return {**out, "inputTokenLimit": 2048, "outputTokenLimit": 1,
                "supportedGenerationMethods": ["embedContent", "countTextTokens",
                                               "countTokens", "asyncBatchEmbedContent"]}
    return {**out, "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens",
                                           "createCachedContent", "batchGenerateContent"],
            "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True}


def render_models(plan: Plan) -> Rendered:
    """A model, or a page of the model list (``pageSize``, ``pageToken``)."""
    headers = _headers(plan, 0)
    if plan.call.model:
        return Rendered(200, headers, pretty(_model(plan.call.model)))
    models = plan.models or MODELS
    query = _wire(plan.call)["query"]
    size, token = query.get("pageSize", ""), query.get("pageToken", "")
    start = int(token) if token.isdigit() else 0
    end = start + (min(int(size), 1000) if size.isdigit() and int(size) > 0 else 50)
    body: dict[str, Any] = {"models": [_model(m) for m in models[start:end]]}
    if end < len(models):
        body["nextPageToken"] = str(end)
    return Rendered(200, headers, pretty(body))


def _wire(call: Call) -> Mapping[str, Any]:
    return call.wire or {"version": "v1beta", "method": "", "query": {}}


# --- errors ----------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    """A protobuf Duration in JSON, in whole seconds rounded up as the service sends them
    (``19s``; clients parse it as an integer), or ``0.500s`` below a second."""
    return f"{math.ceil(seconds)}s" if seconds >= 1 else f"{seconds:.3f}s"


def error_object(spec: ErrorSpec, call: Call | None) -> dict[str, Any]:
    """The ``error`` object Gemini sends for ``spec``: code, message, status, details."""
    default = ERROR_STATUS.get(spec.name, 500)  # a name this table does not know yet
    code, status, message = _ERRORS.get(spec.name) or (
        default, _CANONICAL.get(default, "INTERNAL" if default >= 500 else "INVALID_ARGUMENT"),
        "The fake was told to fail this request.")
    details: list[dict[str, Any]] = []
    if spec.name == "auth" and call is not None and not call.api_key:
        code, status, message = 403, "PERMISSION_DENIED", _NO_KEY
    elif spec.name == "auth":
        details = [{"@type": _TYPE + "ErrorInfo", "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"}},
                   {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": message}]
    if spec.name == "not_found" and call is not None and call.model:
        message = (f"models/{call.model} is not found for API version "
                   f"{_wire(call)['version']}, or is not supported for "
                   f"{_METHODS.get(call.endpoint, 'generateContent')}. Call ListModels to see "
                   "the list of available models and their supported methods.")
    if spec.name == "quota":
        model = call.model if call is not None else "gemini-2.5-flash"
        details.append({"@type": _TYPE + "QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": model},
            "quotaValue": "250"}]})
    if spec.retry_after is not None:
        details.append({"@type": _TYPE + "RetryInfo",
                        "retryDelay": _duration(spec.retry_after)})
    if spec.status is not None and spec.status != code:
        code, status = spec.status, _CANONICAL.get(spec.status, status)
    if spec.message is not None:
        message = spec.message
    out: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        out["details"] = details
    return out


def render_error(spec: ErrorSpec, request_id: str, call: Call | None) -> Rendered:
    """A Gemini error response (``retry-after`` too when the scenario sets one)."""
    obj = error_object(spec, call)
    headers = {"content-type": JSON_TYPE}
    if spec.retry_after is not None:
        headers["retry-after"] = str(math.ceil(spec.retry_after))
    return Rendered(obj["code"], headers, pretty({"error": obj}))


def render_invalid(exc: InvalidRequest, request_id: str) -> Rendered:
    """A Gemini error response for a request it rejects."""
    status = _CANONICAL.get(exc.status, "INTERNAL" if exc.status >= 500 else "INVALID_ARGUMENT")
    body = {"error": {"code": exc.status, "message": exc.message, "status": status}}
    return Rendered(exc.status, {"content-type": JSON_TYPE}, pretty(body))


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """An error chunk: the SDK raises ``ClientError``/``ServerError`` by its ``code``."""
    # The SDK spots an error chunk by its JSON starting with '{"error":'.
    data = dumps({"error": error_object(spec, plan.call)})
    if _wire(plan.call)["query"].get("alt") == "sse":
        return f"data: {data}\r\n\r\n".encode()
    # In a JSON array the error is the next element, or the first when nothing went out yet.
    # (Past the closing bracket, when after_chunks outnumbers the chunks, it cannot be mended.)
    events = tuple(_events(plan, [_parts(c, True) for c in plan.choices], False))
    started = strike_index(events, plan.fault.after_chunks if plan.fault else None) > 0
    return (",\r\n" if started else "[").encode() + data.encode() + b"\r\n]"


def _accepts(headers: Mapping[str, str]) -> bool:
    # GET /v1/models is OpenAI's too: the google-genai SDK always sends these headers.
    return "x-goog-api-key" in headers or "x-goog-api-client" in headers


def _routes() -> tuple[Route, ...]:
    table = [
        ("POST", "/models/{model}:generateContent", "chat", parse_generate, render_generate),
        ("POST", "/models/{model}:streamGenerateContent", "chat", parse_generate,
         render_generate),
        ("POST", "/models/{model}:countTokens", "count_tokens", parse_count, render_count),
        ("POST", "/models/{model}:embedContent", "embeddings", parse_embed, render_embed),
        ("POST", "/models/{model}:batchEmbedContents", "embeddings", parse_embed, render_embed),
        ("GET", "/models", "models", parse_models, render_models),
        ("GET", "/models/{model}", "models", parse_models, render_models),
    ]
    return tuple(Route(method, version + path, "gemini", endpoint, parse, render,
                       _accepts if version == "/v1" and method == "GET" else None)
                 for version in ("/v1beta", "/v1")
                 for method, path, endpoint, parse, render in table)


def _claim(path: str, headers: Mapping[str, str]) -> int:
    if (path.startswith("/v1beta/") or ":" in path.rsplit("/", 1)[-1]
            or "x-goog-api-key" in headers):
        return 3
    return 0


PROVIDER = ProviderSpec(
    name="gemini",
    routes=_routes(),
    error=render_error,
    invalid=render_invalid,
    stream_error=stream_error,
    claim=_claim,
    # is_content: every chunk of a Gemini stream carries parts, so every one counts.
    env={"GOOGLE_GEMINI_BASE_URL": "{url}", "GEMINI_API_KEY": "llmfake"},
    key_variables=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    upstream="https://generativelanguage.googleapis.com",
    hosts=("generativelanguage.googleapis.com",),
)
"""Gemini: its routes, errors and where its clients and its real API are."""

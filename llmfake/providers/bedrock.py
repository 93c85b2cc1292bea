"""Amazon Bedrock runtime: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream,
CountTokens.

The paths are ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke``,
``/invoke-with-response-stream`` and ``/count-tokens`` (botocore's ``bedrock-runtime`` service
model, protocol rest-json, signing name ``bedrock``). botocore percent-encodes the model id
(``:`` as ``%3A``); ``anthropic.AnthropicBedrock`` leaves ``:`` as is: both are decoded here.

Auth: requests are signed with SigV4 (``Authorization: AWS4-HMAC-SHA256 Credential=<access key
id>/<date>/<region>/bedrock/aws4_request, ...``) or carry a Bedrock API key as a Bearer token.
The access key id (or the token) is the call's key, so ``auth.keys`` and ``limits`` by key work.
Signatures are accepted as they come, unless the scenario gives a key pair (``auth.aws``): then
every request must be signed with it (``llmfake.providers._sigv4``), in any region, for the
service ``bedrock``, or it gets AWS's 403 before anything else is looked at (a Bearer API key
is refused as an unknown key).

InvokeModel bodies are the model family's own: Anthropic's messages body (``anthropic_version:
bedrock-2023-05-31``, no ``model``, no ``stream``), Meta Llama (``prompt``, ``max_gen_len``) and
Amazon Titan Text (``inputText``, ``textGenerationConfig``), chosen by the model id. Token counts
go in ``x-amzn-bedrock-input-token-count`` / ``-output-token-count`` headers; streamed, each
``chunk`` event's payload is ``{"bytes": <base64 of the family's JSON chunk>}`` and the last chunk
carries ``amazon-bedrock-invocationMetrics``.

Streams are AWS event-stream binary frames (``llmfake.providers._eventstream``). ConverseStream
sends ``messageStart``, ``contentBlockStart`` (tool use only: text blocks open with their first
delta), ``contentBlockDelta``, ``contentBlockStop``, ``messageStop`` and ``metadata``.

Errors are ``{"message": ...}`` with the error's name in ``x-amzn-ErrorType`` (``<Name>:http://
internal.amazon.com/coral/com.amazon.bedrock/``), which botocore reads as ``Error.Code``; the
statuses are the service model's (ThrottlingException 429, ModelNotReadyException 429,
ModelTimeoutException 408, ServiceUnavailableException 503, ValidationException 400, ...).
botocore's standard and adaptive retry modes retry ThrottlingException (a throttling code, which
adaptive mode also feeds to its client-side rate limiter), ModelNotReadyException (modeled as
retryable) and 500/502/503/504, not 408 or other 4xx.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import llmfake.providers.anthropic as anthropic
from llmfake.engine._call import Call, Message, ToolSpec
from llmfake.engine._plan import Choice, Plan
from llmfake.providers import _eventstream as es
from llmfake.providers import _sigv4 as sigv4
from llmfake.providers._base import (
    Event,
    Incoming,
    InvalidRequest,
    ProviderSpec,
    Rendered,
    Route,
    dumps,
)
from llmfake.scenario._model import Auth, ErrorSpec

JSON_TYPE = "application/json"
_CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_ANTHROPIC_VERSION = "bedrock-2023-05-31"

# (status, x-amzn-ErrorType, message) by neutral error name; statuses from the service model.
_ERRORS: Mapping[str, tuple[int, str, str]] = {
    "bad_request": (400, "ValidationException", "Malformed input request, please reformat your "
                                                "input and try again."),
    "context_length": (400, "ValidationException", "Input is too long for requested model."),
    "auth": (403, "UnrecognizedClientException", "The security token included in the request "
                                                 "is invalid."),
    "permission": (403, "AccessDeniedException", "You don't have access to the model with the "
                                                 "specified model ID."),
    "not_found": (404, "ResourceNotFoundException", "Could not resolve the foundation model from "
                                                    "the provided model identifier."),
    "conflict": (400, "ConflictException", "The request conflicts with the resource's state."),
    "timeout": (408, "ModelTimeoutException", "Model has timed out in processing the request. "
                                              "Try your request again."),
    "request_too_large": (400, "ValidationException", "Input is too long for requested model."),
    "rate_limit": (429, "ThrottlingException", "Too many requests, please wait before trying "
                                               "again."),
    "quota": (400, "ServiceQuotaExceededException", "Your request exceeded a service quota. "
                                                    "Request a quota increase."),
    "server_error": (500, "InternalServerException", "The server encountered an internal error "
                                                     "while processing the request."),
    "bad_gateway": (424, "ModelErrorException", "The model returned an error while processing "
                                                "the request."),
    "unavailable": (503, "ServiceUnavailableException", "Bedrock is unable to process your "
                                                        "request."),
    "overloaded": (429, "ModelNotReadyException", "Model is not ready to serve inference "
                                                  "requests. The AWS SDK will automatically "
                                                  "retry the operation."),
}
_BY_STATUS = {408: "timeout", 400: "bad_request", 401: "auth", 403: "permission",
              404: "not_found", 413: "request_too_large", 424: "bad_gateway", 429: "rate_limit",
              500: "server_error", 502: "bad_gateway", 503: "unavailable", 504: "timeout"}
# The members of the response-stream unions an error inside a stream is sent as.
_STREAM_MEMBERS = {"ValidationException": "validationException",
                   "ThrottlingException": "throttlingException",
                   "ModelTimeoutException": "modelTimeoutException",
                   "ServiceUnavailableException": "serviceUnavailableException",
                   "InternalServerException": "internalServerException"}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                 "content_filter": "content_filtered"}
_LLAMA_STOPS = {"length": "length"}
_TITAN_STOPS = {"length": "LENGTH", "content_filter": "CONTENT_FILTERED"}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


# --- requests --------------------------------------------------------------------------------

def _family(model: str) -> str:
    """The InvokeModel body family of a model id, inference profile or ARN."""
    base = model.rsplit("/", 1)[-1]
    for prefix, family in (("anthropic.", "anthropic"), ("meta.", "llama"),
                           ("amazon.titan-text", "titan")):
        if base.startswith(prefix) or f".{prefix}" in base:
            return family
    return ""


def _key(inc: Incoming) -> str | None:
    auth = inc.headers.get("authorization", "")
    if auth.startswith("AWS4-HMAC-SHA256"):
        found = _CREDENTIAL.search(auth)
        return found.group(1) if found else None
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def verify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
           auth: Auth) -> InvalidRequest | None:
    """AWS's refusal of a request not signed with the scenario's key pair, if it gives one."""
    keys = auth.aws
    if keys is None:
        return None
    refusal = sigv4.verify(method, path, query, headers, body, service="bedrock",
                           access_key_id=keys.access_key_id,
                           secret_access_key=keys.secret_access_key,
                           session_token=keys.session_token)
    if refusal is None:
        return None
    return InvalidRequest(refusal.message, status=403, code=refusal.error_type, kind="auth")


def _body(inc: Incoming) -> Mapping[str, Any]:
    if not isinstance(inc.body, Mapping):
        raise InvalidRequest("Malformed input request, please reformat your input and try again.")
    return inc.body


def _model(inc: Incoming) -> str:
    return urllib.parse.unquote(inc.params.get("model", ""))


def _call(inc: Incoming, model: str, *, stream: bool, family: str, **fields: Any) -> Call:
    return Call(provider="bedrock", endpoint="chat", model=model, api_key=_key(inc),
                headers=inc.headers, tenant=inc.tenant, stream=stream, body=_body(inc),
                wire={"family": family}, **fields)


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest(f"1 validation error detected: Value '{value}' at '{name}' failed to "
                             "satisfy constraint: Member must have value greater than or equal "
                             "to 1")
    return value


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InvalidRequest(f"{name} must be a list of strings")
    return tuple(value)


def _block_text(block: Mapping[str, Any]) -> str:
    if isinstance(block.get("text"), str):
        return str(block["text"])
    if isinstance(block.get("json"), (Mapping, list)):
        return dumps(block["json"])
    use = block.get("toolUse")
    if isinstance(use, Mapping):
        return f"{use.get('name', '')}{dumps(use.get('input', {}))}"
    result = block.get("toolResult")
    if isinstance(result, Mapping):
        return _blocks_text(result.get("content"))
    return ""


def _blocks_text(blocks: Any) -> str:
    parts = [_block_text(b) for b in blocks if isinstance(b, Mapping)] if isinstance(
        blocks, list) else []
    return "\n".join(p for p in parts if p)


def _converse_messages(body: Mapping[str, Any]) -> tuple[Message, ...]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("A conversation must start with a user message. Try again with a "
                             "conversation that starts with a user message.")
    out = [Message("system", _blocks_text(body.get("system")))] if body.get("system") else []
    for m in raw:
        if not isinstance(m, Mapping) or m.get("role") not in ("user", "assistant") \
                or not isinstance(m.get("content"), list):
            raise InvalidRequest("Malformed input request: each message needs a role (user or "
                                 "assistant) and a content list.")
        content = [b for b in m["content"] if isinstance(b, Mapping)]
        results = [b for b in content if "toolResult" in b]
        if m["role"] == "user" and results:
            # As for Anthropic: tool results are "tool" messages, so `contains` sees the user.
            out += [Message("tool", _block_text(b)) for b in results]
            rest = _blocks_text([b for b in content if "toolResult" not in b])
            out += [Message("user", rest)] if rest else []
        else:
            out.append(Message(str(m["role"]), _blocks_text(content)))
    return tuple(out)


def _converse_tools(body: Mapping[str, Any]) -> tuple[tuple[ToolSpec, ...], str | None]:
    config = body.get("toolConfig")
    if not isinstance(config, Mapping):
        return (), None
    tools: list[ToolSpec] = []
    for t in config.get("tools") or ():
        spec = t.get("toolSpec") if isinstance(t, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            schema = spec.get("inputSchema")
            params = schema.get("json") if isinstance(schema, Mapping) else None
            tools.append(ToolSpec(spec["name"], params if isinstance(params, Mapping) else None))
    choice, forced = config.get("toolChoice"), None
    if isinstance(choice, Mapping):
        if "any" in choice:
            forced = "*"
        elif isinstance(choice.get("tool"), Mapping):
            forced = str(choice["tool"].get("name", "")) or None
    return tuple(tools), forced


def _parse_converse(inc: Incoming, stream: bool) -> Call:
    body = _body(inc)
    config = body.get("inferenceConfig") or {}
    if not isinstance(config, Mapping):
        raise InvalidRequest("inferenceConfig must be an object")
    tools, forced = _converse_tools(body)
    return _call(inc, _model(inc), stream=stream, family="converse",
                 messages=_converse_messages(body),
                 max_tokens=_int(config.get("maxTokens"), "inferenceConfig.maxTokens"),
                 stop=_strings(config.get("stopSequences"), "inferenceConfig.stopSequences"),
                 tools=tools, forced_tool=forced)


def parse_converse(inc: Incoming) -> Call:
    """``POST /model/{modelId}/converse`` to a ``Call``."""
    return _parse_converse(inc, False)


def parse_converse_stream(inc: Incoming) -> Call:
    """``POST /model/{modelId}/converse-stream`` to a ``Call``."""
    return _parse_converse(inc, True)


def _parse_invoke(inc: Incoming, stream: bool) -> Call:
    body, model = _body(inc), _model(inc)
    family = _family(model)
    if family == "anthropic":
        if "anthropic_version" not in body:
            raise InvalidRequest("Malformed input request: #: required key [anthropic_version] "
                                 "not found, please reformat your input and try again.")
        for extra in ("model", "stream"):
            if extra in body:
                raise InvalidRequest(f"Malformed input request: #: extraneous key [{extra}] is "
                                     "not permitted, please reformat your input and try again.")
        # Anthropic's own parser checks the messages body; its errors keep their wording.
        parsed = anthropic.parse_messages(Incoming(inc.method, inc.path, {}, inc.query,
                                                   inc.headers, {**body, "model": model}))
        return _call(inc, model, stream=stream, family=family, messages=parsed.messages,
                     max_tokens=parsed.max_tokens, stop=parsed.stop, tools=parsed.tools,
                     forced_tool=parsed.forced_tool, response_schema=parsed.response_schema,
                     response_json=parsed.response_json)
    if family == "llama":
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise InvalidRequest("Malformed input request: #: required key [prompt] not found, "
                                 "please reformat your input and try again.")
        return _call(inc, model, stream=stream, family=family, messages=(Message("user", prompt),),
                     max_tokens=_int(body.get("max_gen_len"), "max_gen_len"))
    if family == "titan":
        text = body.get("inputText")
        if not isinstance(text, str):
            raise InvalidRequest("Malformed input request: #: required key [inputText] not "
                                 "found, please reformat your input and try again.")
        config = body.get("textGenerationConfig") or {}
        config = config if isinstance(config, Mapping) else {}
        return _call(inc, model, stream=stream, family=family, messages=(Message("user", text),),
                     max_tokens=_int(config.get("maxTokenCount"), "maxTokenCount"),
                     stop=_strings(config.get("stopSequences"), "stopSequences"))
    raise InvalidRequest("The provided model identifier is invalid.")


def parse_invoke(inc: Incoming) -> Call:
    """``POST /model/{modelId}/invoke`` to a ``Call``."""
    return _parse_invoke(inc, False)


def parse_invoke_stream(inc: Incoming) -> Call:
    """``POST /model/{modelId}/invoke-with-response-stream`` to a ``Call``."""
    return _parse_invoke(inc, True)


def parse_count_tokens(inc: Incoming) -> Call:
    """``POST /model/{modelId}/count-tokens``: ``{"input": {"converse": {...}}}`` (Converse's
    messages, system and toolConfig) or ``{"input": {"invokeModel": {"body": <base64 of an
    InvokeModel body>}}}``, counted as that request would be."""
    given = _body(inc).get("input")
    if not isinstance(given, Mapping) or len(given) != 1 or not (
            isinstance(given.get("converse"), Mapping)
            or isinstance(given.get("invokeModel"), Mapping)):
        raise InvalidRequest("1 validation error detected: Value at 'input' failed to satisfy "
                             "constraint: Member must have exactly one of converse or "
                             "invokeModel set")
    if "converse" in given:
        call = _parse_converse(dataclasses.replace(inc, body=given["converse"]), False)
    else:
        try:
            body = json.loads(base64.b64decode(str(given["invokeModel"].get("body", "")),
                                               validate=True))
        except (binascii.Error, ValueError):
            raise InvalidRequest("Malformed input request, please reformat your input and try "
                                 "again.") from None
        call = _parse_invoke(dataclasses.replace(inc, body=body), False)
    return dataclasses.replace(call, endpoint="count_tokens", body=_body(inc))


# --- responses -------------------------------------------------------------------------------

def _request_id(request_id: str) -> str:
    """AWS request ids are UUIDs: the engine's 32 hex digits, grouped as one."""
    h = request_id[-32:]
    if len(h) == 32 and all(c in "0123456789abcdef" for c in h):
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return request_id


def _headers(plan: Plan, content_type: str = JSON_TYPE) -> dict[str, str]:
    return {"content-type": content_type, "x-amzn-RequestId": _request_id(plan.request_id)}


def _choice(plan: Plan) -> Choice:
    return plan.choices[0] if plan.choices else Choice("")


def _latency_ms(plan: Plan, tokens: int) -> int:
    return round(plan.timing.total(tokens) * 1000)


def _tool_use_id(call_id: str) -> str:
    return "tooluse_" + call_id[5:27] if call_id.startswith("call_") else call_id


def _stop_reason(choice: Choice) -> str:
    if choice.finish == "stop" and choice.stop_sequence is not None:
        return "stop_sequence"
    return _STOP_REASONS.get(choice.finish, "end_turn")


def _usage(plan: Plan) -> dict[str, int]:
    u = plan.usage
    return {"inputTokens": u.prompt_tokens, "outputTokens": u.completion_tokens,
            "totalTokens": u.total_tokens}


def _slots(choice: Choice) -> int:
    return len(choice.tokens) + sum(1 + len(_fragments(t.arguments)) for t in choice.tool_calls)


def _fragments(arguments: str) -> list[str]:
    text = arguments or "{}"
    return [text[i:i + 16] for i in range(0, len(text), 16)]


def render_converse(plan: Plan) -> Rendered:
    """A Converse response, or a ConverseStream event stream."""
    choice = _choice(plan)
    slots = _slots(choice)
    if plan.call.stream:
        return Rendered(200, _headers(plan, es.CONTENT_TYPE),
                        events=tuple(_converse_events(plan, slots)), tokens=slots,
                        text=choice.text)
    content: list[dict[str, Any]] = [{"text": choice.text}] if choice.text else []
    content += [{"toolUse": {"toolUseId": _tool_use_id(t.id), "name": t.name,
                             "input": json.loads(t.arguments or "{}")}}
                for t in choice.tool_calls]
    body = {"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": _stop_reason(choice), "usage": _usage(plan),
            "metrics": {"latencyMs": _latency_ms(plan, slots)}}
    return Rendered(200, _headers(plan), dumps(body).encode(), tokens=slots, text=choice.text)


def _converse_events(plan: Plan, slots: int) -> Iterator[Event]:
    choice = _choice(plan)

    def ev(kind: str, payload: Mapping[str, Any], due: int, chunk: bool = False) -> Event:
        return Event(es.event(kind, dumps(payload).encode()), due, chunk)

    yield ev("messageStart", {"role": "assistant"}, 0)
    index, due = 0, 0
    if choice.text:
        for token in choice.tokens:
            yield ev("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}},
                     due, True)
            due += 1
        yield ev("contentBlockStop", {"contentBlockIndex": 0}, max(due - 1, 0))
        index = 1
    for t in choice.tool_calls:
        start = {"toolUse": {"toolUseId": _tool_use_id(t.id), "name": t.name}}
        yield ev("contentBlockStart", {"contentBlockIndex": index, "start": start}, due)
        due += 1
        for fragment in _fragments(t.arguments):
            yield ev("contentBlockDelta", {"contentBlockIndex": index,
                                           "delta": {"toolUse": {"input": fragment}}}, due, True)
            due += 1
        yield ev("contentBlockStop", {"contentBlockIndex": index}, due - 1)
        index += 1
    last = max(slots - 1, 0)
    yield ev("messageStop", {"stopReason": _stop_reason(choice)}, last)
    yield ev("metadata", {"usage": _usage(plan),
                          "metrics": {"latencyMs": _latency_ms(plan, slots)}}, last)


def _bedrock_model_name(model: str) -> str:
    """What Anthropic's body on Bedrock says its model is: the id without region prefix,
    vendor or version (``us.anthropic.claude-sonnet-4-6-v1:0``: ``claude-sonnet-4-6``)."""
    base = model.rsplit("/", 1)[-1]
    base = base.split("anthropic.", 1)[-1]
    return re.sub(r"-v\d+(:\d+)?$", "", base)


def _metrics(plan: Plan, slots: int) -> dict[str, int]:
    u = plan.usage
    return {"inputTokenCount": u.prompt_tokens, "outputTokenCount": u.completion_tokens,
            "invocationLatency": _latency_ms(plan, slots),
            "firstByteLatency": round(plan.timing.total(0) * 1000)}


def _family_chunks(plan: Plan) -> tuple[dict[str, Any] | None, list[tuple[dict[str, Any], int,
                                                                          bool]]]:
    """The family's non-streamed body (None for a stream) or its stream chunks."""
    choice, family, u = _choice(plan), plan.call.wire.get("family"), plan.usage
    text = choice.text or ""
    if family == "llama":
        stop = _LLAMA_STOPS.get(choice.finish, "stop")
        if not plan.call.stream:
            return {"generation": text, "prompt_token_count": u.prompt_tokens,
                    "generation_token_count": u.completion_tokens, "stop_reason": stop}, []
        toks = choice.tokens or ("",)
        return None, [({"generation": tok, "prompt_token_count": u.prompt_tokens if i == 0
                        else None, "generation_token_count": i + 1,
                        "stop_reason": stop if i == len(toks) - 1 else None}, i, bool(tok))
                      for i, tok in enumerate(toks)]
    reason = _TITAN_STOPS.get(choice.finish, "FINISH")
    if not plan.call.stream:
        return {"inputTextTokenCount": u.prompt_tokens, "results": [
            {"tokenCount": u.completion_tokens, "outputText": text,
             "completionReason": reason}]}, []
    toks = choice.tokens or ("",)
    return None, [({"outputText": tok, "index": 0, "totalOutputTextTokenCount": i + 1,
                    "completionReason": reason if i == len(toks) - 1 else None,
                    "inputTextTokenCount": u.prompt_tokens if i == 0 else None}, i, bool(tok))
                  for i, tok in enumerate(toks)]


def _chunk(payload: Mapping[str, Any], due: int, content: bool) -> Event:
    data = base64.b64encode(dumps(payload).encode()).decode()
    return Event(es.event("chunk", dumps({"bytes": data}).encode()), due, content)


def render_count_tokens(plan: Plan) -> Rendered:
    """``{"inputTokens": N}``."""
    return Rendered(200, _headers(plan), dumps({"inputTokens": plan.usage.prompt_tokens}
                                               ).encode())


def render_invoke(plan: Plan) -> Rendered:
    """The model family's body, or its chunks in an event stream."""
    choice, family, u = _choice(plan), plan.call.wire.get("family"), plan.usage
    if family == "anthropic":
        model = _bedrock_model_name(plan.call.model)
        sse = anthropic.render_messages(plan)
        slots = sse.tokens
        if sse.events is None:
            message = {**json.loads(sse.body), "model": model}
            del message["usage"]["service_tier"]
            body = dumps(message).encode()
            chunks: list[tuple[dict[str, Any], int, bool]] = []
        else:
            chunks = []
            for event in sse.events:  # the SSE events' JSON, ping left out as Bedrock does
                data = json.loads(event.data.decode().split("data: ", 1)[1])
                if data["type"] == "ping":
                    continue
                if data["type"] == "message_start":
                    data["message"]["model"] = model
                    del data["message"]["usage"]["service_tier"]
                chunks.append((data, event.due, event.chunk))
    else:
        slots = len(choice.tokens)
        whole, chunks = _family_chunks(plan)
        body = dumps(whole).encode() if whole is not None else b""
    if chunks:
        payload, due, content = chunks[-1]
        chunks[-1] = ({**payload, "amazon-bedrock-invocationMetrics": _metrics(plan, slots)},
                      due, content)
        return Rendered(200, _headers(plan, es.CONTENT_TYPE),
                        events=tuple(_chunk(*c) for c in chunks), tokens=slots, text=choice.text)
    headers = {**_headers(plan), "x-amzn-bedrock-input-token-count": str(u.prompt_tokens),
               "x-amzn-bedrock-output-token-count": str(u.completion_tokens),
               "x-amzn-bedrock-invocation-latency": str(_latency_ms(plan, slots))}
    return Rendered(200, headers, body, tokens=slots, text=choice.text)


# --- errors ----------------------------------------------------------------------------------

def _error(spec: ErrorSpec, call: Call | None) -> tuple[int, str, str]:
    name = spec.name if spec.name in _ERRORS else _BY_STATUS.get(spec.status or 500,
                                                                 "server_error")
    status, etype, message = _ERRORS[name]
    if spec.name == "not_found" and call is not None and call.model:
        message = "The provided model identifier is invalid."
    hit = spec.limit_hit
    if hit is not None and hit.kind == "tokens":
        message = "Too many tokens, please wait before trying again."
    return spec.status or status, etype, spec.message if spec.message is not None else message


def _error_response(status: int, etype: str, message: str, request_id: str) -> Rendered:
    headers = {"content-type": JSON_TYPE, "x-amzn-RequestId": _request_id(request_id),
               "x-amzn-ErrorType": etype + _CORAL}
    return Rendered(status, headers, dumps({"message": message}).encode())


def render_error(spec: ErrorSpec, request_id: str, call: Call | None) -> Rendered:
    """A Bedrock error: ``{"message"}``, its name in ``x-amzn-ErrorType``."""
    rendered = _error_response(*_error(spec, call), request_id)
    if spec.retry_after is None:
        return rendered
    # Bedrock sends no retry-after; a scenario may still ask for one.
    headers = {**rendered.headers, "retry-after": str(math.ceil(spec.retry_after))}
    return Rendered(rendered.status, headers, rendered.body)


def render_invalid(exc: InvalidRequest, request_id: str) -> Rendered:
    """A request Bedrock rejects: ValidationException, or the error its status stands for."""
    if exc.kind == "auth" and exc.code:  # a refused signature names AWS's own error
        etype = exc.code
    elif exc.status == 400:
        etype = "ValidationException"
    elif exc.status == 404:
        etype = "UnknownOperationException"
    else:
        etype = _ERRORS[_BY_STATUS.get(exc.status, "server_error")][1]
    return _error_response(exc.status, etype, exc.message, request_id)


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """An exception message inside the event stream (botocore raises ``EventStreamError``)."""
    status, etype, message = _error(spec, plan.call)
    member = _STREAM_MEMBERS.get(etype)
    if member is None:  # other errors come as the stream's generic model error
        return es.exception("modelStreamErrorException", dumps(
            {"message": message, "originalStatusCode": status, "originalMessage": message}
        ).encode())
    return es.exception(member, dumps({"message": message}).encode())


def _claim(path: str, headers: Mapping[str, str]) -> int:
    if path.startswith("/model/") or headers.get("authorization", "").startswith(
            "AWS4-HMAC-SHA256"):
        return 4
    return 0


def _is_content(payload: Mapping[str, Any]) -> bool:
    return "delta" in payload or "bytes" in payload


_ROUTES = (("converse", parse_converse, render_converse),
           ("converse-stream", parse_converse_stream, render_converse),
           ("invoke", parse_invoke, render_invoke),
           ("invoke-with-response-stream", parse_invoke_stream, render_invoke))

_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-central-1", "eu-west-1",
            "eu-west-2", "eu-west-3", "eu-north-1", "ap-northeast-1", "ap-northeast-2",
            "ap-south-1", "ap-southeast-1", "ap-southeast-2", "sa-east-1")

PROVIDER = ProviderSpec(
    name="bedrock",
    routes=(*(Route("POST", f"/model/{{model}}/{action}", "bedrock", "chat", parse, render)
              for action, parse, render in _ROUTES),
            Route("POST", "/model/{model}/count-tokens", "bedrock", "count_tokens",
                  parse_count_tokens, render_count_tokens)),
    error=render_error,
    invalid=render_invalid,
    stream_error=stream_error,
    claim=_claim,
    is_content=_is_content,
    env={"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "{url}", "ANTHROPIC_BEDROCK_BASE_URL": "{url}",
         "AWS_ACCESS_KEY_ID": "AKIDLLMFAKE", "AWS_SECRET_ACCESS_KEY": "llmfake-secret",
         "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"},
    key_variables=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                   "AWS_BEARER_TOKEN_BEDROCK"),
    upstream="https://bedrock-runtime.us-east-1.amazonaws.com",
    hosts=tuple(f"bedrock-runtime.{region}.amazonaws.com" for region in _REGIONS),
    verify=verify,
)
"""Amazon Bedrock runtime: its routes, errors and where its clients and its real API are."""

"""Ollama's native API: chat, generate, embed, tags, show, ps and version.

The shapes follow ollama/ollama's API docs (``docs/api.md``) and ``server/routes.go``.

Ollama streams unless asked not to, as NDJSON: one JSON object a line, the last one ``done``
with the counts and the durations in nanoseconds. Errors are ``{"error": "<text>"}``, sent as a
line of their own once a stream has started. Ollama's OpenAI-compatible ``/v1/...`` routes are
the OpenAI provider's.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import re
import zlib
from collections.abc import Mapping
from typing import Any

from llmfake.engine._call import Call, Message, ToolResult
from llmfake.engine._engine import DEFAULT_EMBEDDING_DIMENSIONS
from llmfake.engine._plan import Choice, Plan
from llmfake.engine._text import tokenize
from llmfake.providers._base import (
    Event,
    Incoming,
    InvalidRequest,
    ProviderSpec,
    Rendered,
    Route,
    Template,
    check_call_schemas,
    json_bytes,
    json_ints,
)
from llmfake.providers._openai_common import function_tools
from llmfake.scenario._model import ErrorSpec

VERSION = "0.12.6"
"""What ``GET /api/version`` answers."""
MODELS = ("llama3.2:latest", "qwen3:8b", "nomic-embed-text:latest")
"""What ``/api/tags`` lists when the scenario names no models (any model name is served)."""

NDJSON_TYPE = "application/x-ndjson"
JSON_TYPE = "application/json; charset=utf-8"
_BUSY = "server busy, please try again.  maximum pending requests exceeded"  # two spaces, as Go's

# (status, message) by error name, in the words of ollama's server/routes.go and sched.go.
_ERRORS: Mapping[str, tuple[int, str]] = {
    "bad_request": (400, "invalid request"),
    "context_length": (400, "input length exceeds the context length"),
    "auth": (401, "unauthorized"),
    "permission": (403, "forbidden"),
    "not_found": (404, "model not found, try pulling it first"),
    "conflict": (409, "conflict: the model is busy, try again later"),
    "request_too_large": (413, "http: request body too large"),
    "rate_limit": (429, "too many requests, please try again later"),
    "quota": (429, "you've reached your usage limit, please upgrade to continue"),
    "server_error": (500, "an error was encountered while running the model"),
    "bad_gateway": (502, "remote model is unavailable"),
    "unavailable": (503, _BUSY),
    "overloaded": (503, _BUSY),  # Ollama has no 529: a full queue is its overload
    "timeout": (500, "timed out waiting for llama runner to start"),
}


def go_json(value: object) -> bytes:
    """JSON as Go's ``encoding/json`` writes it: compact, with ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def timestamp(seconds: int, offset: float = 0.0) -> str:
    """RFC 3339 in UTC with nanoseconds, trailing zeros trimmed as Go's ``RFC3339Nano`` does."""
    # integer nanoseconds: a float sum of epoch seconds and the offset would blur the digits
    whole, frac = divmod(seconds * 1_000_000_000 + round(offset * 1e9), 1_000_000_000)
    return _second(whole) + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


@functools.lru_cache(maxsize=256)
def _second(whole: int) -> str:
    # Formatting a datetime is ~4 us, most of a non-streamed reply's cost; the lines of a reply
    # and the replies of a busy second share a few whole seconds.
    return dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


# --- requests ----------------------------------------------------------------------------------

def _get(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], struct: str,
         go_type: str) -> Any:
    """``body[key]`` when absent or of ``kind``; else gin's binding error, word for word."""
    value = body.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)) \
            or (kind is bool and isinstance(value, bool)):
        return value
    got = ("bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float))
           else "array" if isinstance(value, list) else "object" if isinstance(value, Mapping)
           else "string")
    raise InvalidRequest(f"json: cannot unmarshal {got} into Go struct field {struct}.{key} of "
                         f"type {go_type}")


_GENERATE_FIELDS = (("suffix", str, "string"), ("template", str, "string"),
                    ("raw", bool, "bool"), ("images", list, "[]api.ImageData"),
                    ("context", list, "[]int"))
"""GenerateRequest fields read only to check them, with Go's type names."""
_OPTIONS = {"temperature": "float32", "top_p": "float32", "min_p": "float32",
            "typical_p": "float32", "repeat_penalty": "float32", "presence_penalty": "float32",
            "frequency_penalty": "float32", "top_k": "integer", "num_ctx": "integer",
            "seed": "integer", "repeat_last_n": "integer", "num_keep": "integer",
            "num_batch": "integer", "num_gpu": "integer", "num_thread": "integer",
            "use_mmap": "boolean"}
"""Model options and the types Ollama converts them to when the model runs (a mismatch is a
500 there, as ``num_predict``'s is)."""
_OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "float32": (int, float), "integer": (int, float), "boolean": bool}


def _body(inc: Incoming, struct: str) -> tuple[Mapping[str, Any], str]:
    """The body and its ``model`` (``model is required`` when there is none)."""
    if inc.body is None:
        raise InvalidRequest("missing request body")
    if not isinstance(inc.body, Mapping):
        raise InvalidRequest("invalid character in request body: expected a JSON object")
    model = _get(inc.body, "model", str, struct, "string")
    if not model and struct == "ShowRequest":  # /api/show still takes the deprecated ``name``
        model = _get(inc.body, "name", str, struct, "string")
    if not model:
        raise InvalidRequest("model is required")
    return inc.body, model


def _common(body: Mapping[str, Any], struct: str) -> dict[str, Any]:
    """``stream`` (on by default), ``options.num_predict``/``stop`` and ``format``. Ollama
    checks options and format only once the model runs, so bad ones get a 500, as there."""
    stream = _get(body, "stream", bool, struct, "bool")
    opts = _get(body, "options", Mapping, struct, "map[string]interface {}") or {}
    for key, value in opts.items():
        kind = _OPTIONS.get(key)
        if kind is not None and value is not None and (isinstance(value, bool) != (
                kind == "boolean") or not isinstance(value, _OPTION_TYPES[kind])):
            raise InvalidRequest(f'option "{key}" must be of type {kind}', status=500)
    limit, stop = opts.get("num_predict"), opts.get("stop") or []
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))):
        raise InvalidRequest('option "num_predict" must be of type integer', status=500)
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise InvalidRequest('option "stop" must be of an array of strings', status=500)
    fmt = body.get("format")
    if fmt not in (None, "", "json") and not isinstance(fmt, Mapping):
        raise InvalidRequest(f'invalid format: {json.dumps(fmt)}; expected "json" or a valid '
                             "JSON schema", status=500)
    return {"stream": stream is not False,
            # -1 is "no limit" and -2 "fill the context": neither cuts the reply
            "max_tokens": int(limit) if limit is not None and limit >= 0 else None,
            "stop": tuple(stop), "response_json": fmt not in (None, ""),
            "response_schema": fmt if isinstance(fmt, Mapping) else None}


def _messages(raw: Any) -> tuple[Message, ...]:
    out = []
    for m in raw or ():
        if not isinstance(m, Mapping):
            raise InvalidRequest("json: cannot unmarshal string into Go struct field "
                                 "ChatRequest.messages of type api.Message")
        text = _get(m, "content", str, "Message", "string") or ""
        _get(m, "role", str, "Message", "string")
        calls: list[tuple[str | None, str]] = []
        for call in m.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(fn, Mapping):  # counted as prompt tokens, as the template renders them
                text += f"{fn.get('name', '')}{json.dumps(fn.get('arguments', {}))}"
                calls.append((_opt_str(call.get("id")), str(fn.get("name", ""))))
        role = str(m.get("role", "user"))
        # A result names its tool (tool_name) in recent clients; it has no call id.
        results = ((ToolResult(text, _opt_str(m.get("tool_call_id")),
                               _opt_str(m.get("tool_name"))),) if role == "tool" else ())
        out.append(Message(role, text, tuple(calls), results))
    return tuple(out)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _call(inc: Incoming, endpoint: str, model: str, **fields: Any) -> Call:
    auth = inc.headers.get("authorization", "")  # sent when OLLAMA_API_KEY is set
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    return Call(provider="ollama", endpoint=endpoint, model=model, api_key=key or None,
                headers=inc.headers, tenant=inc.tenant,
                body=inc.body if isinstance(inc.body, Mapping) else {}, **fields)


def parse_chat(inc: Incoming) -> Call:
    """``POST /api/chat`` to a ``Call`` (no messages: the model is only loaded)."""
    body, model = _body(inc, "ChatRequest")
    raw = _get(body, "messages", list, "ChatRequest", "[]api.Message")
    tools = _get(body, "tools", list, "ChatRequest", "api.Tools") or []
    for tool in tools:
        _get({"tools": tool}, "tools", Mapping, "ChatRequest", "api.Tool")
    # a function without a name decodes to an empty one: nothing a reply can call
    named = [t for t in tools if isinstance(fn := t.get("function"), Mapping)
             and isinstance(fn.get("name"), str)]
    return _schemas_checked(_call(inc, "chat", model, messages=_messages(raw),
                                  **_common(body, "ChatRequest"),
                                  tools=function_tools(named, flat=False)))


def _schemas_checked(call: Call) -> Call:
    # Ollama turns a format schema into a grammar when the model runs, and a schema it cannot
    # use fails there with a 500 (like a format of the wrong type, in _common).
    return check_call_schemas(
        call,
        lambda problem: InvalidRequest(f"invalid format: {problem}; expected \"json\" or a "
                                       "valid JSON schema", status=500),
        lambda name, problem: InvalidRequest(f"invalid tool {name}: {problem}", status=500))


def parse_generate(inc: Incoming) -> Call:
    """``POST /api/generate`` to a ``Call`` (no prompt: the model is only loaded)."""
    body, model = _body(inc, "GenerateRequest")
    prompt, system = (_get(body, key, str, "GenerateRequest", "string") or ""
                      for key in ("prompt", "system"))
    # accepted and checked as Go decodes them; they do not shape replies
    for key, kind, go_type in _GENERATE_FIELDS:
        _get(body, key, kind, "GenerateRequest", go_type)
    if body.get("raw") is True and (system or body.get("template") or body.get("context")):
        raise InvalidRequest("raw mode does not support template, system, or context")
    messages = ((Message("system", system),) if system else ()) + (
        (Message("user", prompt),) if prompt else ())
    return _schemas_checked(_call(inc, "completions", model, messages=messages,
                                  **_common(body, "GenerateRequest")))


def _embed(inc: Incoming, struct: str, key: str, many: bool) -> Call:
    body, model = _body(inc, struct)
    raw = body.get(key)
    if raw is None or isinstance(raw, str):
        inputs: tuple[str, ...] = (raw,) if raw else ()  # nothing to embed: the model loads
    elif many and isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        inputs = tuple(raw)
    else:
        raise InvalidRequest("invalid input type")
    dims = _get(body, "dimensions", int, struct, "int")
    # Ollama cuts each vector to ``dimensions`` and cannot make one longer than the model's own:
    # a larger value gets the model's size (the fake's default for an unknown model).
    longest = DEFAULT_EMBEDDING_DIMENSIONS
    return _call(inc, "embeddings", model, inputs=inputs,
                 dimensions=dims if dims and 0 < dims <= longest else None)


def parse_embed(inc: Incoming) -> Call:
    """``POST /api/embed`` (``input``: a string or a list of strings) to a ``Call``."""
    return _embed(inc, "EmbedRequest", "input", many=True)


def parse_embeddings(inc: Incoming) -> Call:
    """The legacy ``POST /api/embeddings`` (one ``prompt``) to a ``Call``."""
    return _embed(inc, "EmbeddingRequest", "prompt", many=False)


def parse_models(inc: Incoming) -> Call:
    """``GET /api/tags``, ``/api/ps``, ``/api/version`` and ``POST /api/show`` to a ``Call``."""
    return _call(inc, "models", _body(inc, "ShowRequest")[1] if inc.method == "POST" else "")


# --- replies -----------------------------------------------------------------------------------

def _json(body: object) -> Rendered:
    return Rendered(200, {"content-type": JSON_TYPE}, go_json(body))


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    # Ollama sends an object; arguments a scenario wrote as something else are kept, wrapped.
    return value if isinstance(value, dict) else {"arguments": raw}


def _fields(content: Any, reason: str | None) -> dict[str, Any]:
    """The fields after ``created_at`` in the order of Go's structs: chat puts ``done_reason``
    before ``done``, generate after it; only the last line has one."""
    why = {"done_reason": reason} if reason else {}
    if isinstance(content, dict):
        return {"message": content, **why, "done": reason is not None}
    return {"response": content, "done": reason is not None, **why}


def _reply(plan: Plan, chat: bool) -> Rendered:
    """A chat or generate reply: NDJSON lines, or one object with ``stream: false``."""
    call = plan.call
    choice = plan.choices[0] if plan.choices else Choice("")

    def content(text: str, calls: list[dict[str, Any]] | None = None) -> Any:
        if not chat:
            return text
        return {"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})}

    if not (call.messages if chat else call.body.get("prompt")):
        # Nothing to generate: Ollama loads the model and answers at once, even to a stream.
        unload = call.body.get("keep_alive") in (0, "0", "0s", "0m")
        return _json({"model": call.model, "created_at": timestamp(plan.created),
                      **_fields(content(""), "unload" if unload else "load")})
    calls = [{"id": t.id, "function": {"index": i, "name": t.name,
                                       "arguments": _arguments(t.arguments)}}
             for i, t in enumerate(choice.tool_calls)] if chat else []
    steps = len(choice.tokens) + (1 if calls else 0)
    deadlines = plan.timing.deadlines(max(steps, 1))
    last = len(deadlines) - 1

    def line(due: int, body: Any, reason: str | None = None) -> dict[str, Any]:
        return {"model": call.model, "created_at": timestamp(plan.created, deadlines[due]),
                **_fields(body, reason)}

    def final(body: Any) -> dict[str, Any]:
        # Ollama knows only stop and length: a tool call or a filter ends a reply as a stop.
        out = line(last, body, "length" if choice.finish == "length" else "stop")
        if not chat:  # token ids a client may send back as ``context``
            out["context"] = _context(call, choice)
        # The schedule is the model's time: until the first chunk it was reading the prompt.
        first_s, total_s = deadlines[0], plan.timing.total(steps)
        return {**out, "total_duration": _ns(total_s), "load_duration": 0,
                "prompt_eval_count": plan.usage.prompt_tokens,
                "prompt_eval_duration": _ns(first_s), "eval_count": plan.usage.completion_tokens,
                "eval_duration": _ns(total_s - first_s)}

    if not call.stream:
        body = go_json(final(content(choice.text or "", calls)))
        return Rendered(200, {"content-type": JSON_TYPE}, body, tokens=steps, text=choice.text)
    events = [Event(go_json(line(i, content(tok))) + b"\n", i)
              for i, tok in enumerate(choice.tokens)]
    if calls:  # every call in one line with empty content, after any text
        at = len(choice.tokens)
        events.append(Event(go_json(line(at, content("", calls))) + b"\n", at))
    events.append(Event(go_json(final(content(""))) + b"\n", last, chunk=False))  # framing
    return Rendered(200, {"content-type": NDJSON_TYPE}, events=tuple(events), tokens=steps,
                    text=choice.text)


def _context(call: Call, choice: Choice) -> list[int]:
    """The token ids a generate reply sends, which a client may send back as ``context``."""
    prompt = "".join(m.text for m in call.messages)
    known = _TOKEN_IDS.get  # ids are >= 1: a miss is the only falsy answer
    return [known(t) or _token_id(t) for t in tokenize(prompt + (choice.text or ""))]


_TOKEN_IDS: dict[str, int] = {}
"""Token ids already computed: a reply's words come from a list of ~1,000, and an encode plus a
CRC per token was most of a generate reply's cost."""


def _token_id(token: str) -> int:
    n = zlib.crc32(token.encode()) % 128_000 + 1
    if len(_TOKEN_IDS) < 65_536:
        _TOKEN_IDS[token] = n
    return n


def render_chat(plan: Plan) -> Rendered:
    """An ``/api/chat`` reply: NDJSON lines, or one object with ``stream: false``."""
    templated = _templated_reply(plan, chat=True)
    return templated if templated is not None else _reply(plan, chat=True)


def render_generate(plan: Plan) -> Rendered:
    """An ``/api/generate`` reply: NDJSON lines, or one object with ``stream: false``."""
    templated = _templated_reply(plan, chat=False)
    return templated if templated is not None else _reply(plan, chat=False)


# The last line of a reply, as ``_reply``'s ``final`` builds it for text without tool calls.
_DURATIONS = {"total_duration": "@@total@@", "load_duration": 0,
              "prompt_eval_count": "@@prompt@@", "prompt_eval_duration": "@@prompt_ns@@",
              "eval_count": "@@output@@", "eval_duration": "@@output_ns@@"}
_CHAT_REPLY = Template({
    "model": "@@model@@", "created_at": "@@at@@",
    "message": {"role": "assistant", "content": "@@text@@"}, "done_reason": "@@reason@@",
    "done": True, **_DURATIONS}, compact=True)
_GENERATE_REPLY = Template({
    "model": "@@model@@", "created_at": "@@at@@", "response": "@@text@@", "done": True,
    "done_reason": "@@reason@@", "context": "@@context@@", **_DURATIONS}, compact=True)
_GO_ESCAPES = tuple((char.encode(), f"\\u{ord(char):04x}".encode()) for char in "<>&\u2028\u2029")


def _go_string(value: str) -> bytes:
    """A string as ``go_json`` writes it (``dumps``'s bytes, then Go's extra escapes)."""
    out = json_bytes(value)
    for char, escaped in _GO_ESCAPES:  # a replace finding nothing is cheaper than `in` first
        out = out.replace(char, escaped)
    return out


def _templated_reply(plan: Plan, chat: bool) -> Rendered | None:
    """A non-streamed reply of text (no tool calls), filled into ``_CHAT_REPLY`` or
    ``_GENERATE_REPLY``: the bytes ``_reply`` writes, for a fraction of the cost. None for
    anything else (a stream, tool calls, nothing to generate) and for text a JSON encoder
    refuses (a lone surrogate), which ``_reply`` then refuses the same way."""
    call = plan.call
    if call.stream or not plan.choices or not (call.messages if chat else
                                               call.body.get("prompt")):
        return None
    choice = plan.choices[0]
    if chat and choice.tool_calls:  # generate leaves tool calls out
        return None
    steps = len(choice.tokens)
    deadlines = plan.timing.deadlines(max(steps, 1))
    first_s, total_s = deadlines[0], plan.timing.total(steps)
    u = plan.usage
    try:
        head = (_go_string(call.model), _go_string(timestamp(plan.created, deadlines[-1])),
                _go_string(choice.text or ""),
                b'"length"' if choice.finish == "length" else b'"stop"')
        tail = (b"%d" % _ns(total_s), b"%d" % u.prompt_tokens, b"%d" % _ns(first_s),
                b"%d" % u.completion_tokens, b"%d" % _ns(total_s - first_s))
        if chat:
            body = _CHAT_REPLY.fill(*head, *tail)
        else:
            body = _GENERATE_REPLY.fill(*head, json_ints(_context(call, choice)), *tail)
    except (TypeError, ValueError):
        return None
    return Rendered(200, {"content-type": JSON_TYPE}, body, tokens=steps, text=choice.text)


def _vectors(plan: Plan) -> list[list[float]]:
    # 9 significant digits: the vectors are float32, as Ollama's are
    return [list(vec) for vec in plan.embeddings]


def render_embed(plan: Plan) -> Rendered:
    """An ``/api/embed`` answer: one vector per input."""
    return _json({"model": plan.call.model, "embeddings": _vectors(plan),
                  "total_duration": _ns(plan.timing.total(0)), "load_duration": 0,
                  "prompt_eval_count": plan.usage.prompt_tokens})


def render_embeddings(plan: Plan) -> Rendered:
    """A legacy ``/api/embeddings`` answer: one vector (empty for an empty prompt)."""
    return _json({"embedding": (_vectors(plan) or [[]])[0]})


# --- models ------------------------------------------------------------------------------------

def _entry(plan: Plan, name: str) -> dict[str, Any]:
    letters = re.match(r"[a-z]+", name.lower())
    family = letters.group(0) if letters else "llama"
    crc = zlib.crc32(name.encode())  # sizes and digests made up, but stable per name
    details = {"parent_model": "", "format": "gguf", "family": family, "families": [family],
               "parameter_size": f"{1 + crc % 140 / 10:.1f}B", "quantization_level": "Q4_K_M"}
    return {"name": name, "model": name, "modified_at": timestamp(plan.created),
            "size": crc * 3 % 9_000_000_000 + 250_000_000,
            "digest": hashlib.sha256(name.encode()).hexdigest(), "details": details}


def _models(plan: Plan) -> list[dict[str, Any]]:
    return [_entry(plan, m) for m in plan.models or MODELS]


def render_tags(plan: Plan) -> Rendered:
    """``/api/tags``: the local models."""
    return _json({"models": _models(plan)})


def render_ps(plan: Plan) -> Rendered:
    """``/api/ps``: every model, as if loaded with the default 5 minute keep-alive."""
    expires = timestamp(plan.created + 300)
    return _json({"models": [
        {**{k: v for k, v in m.items() if k != "modified_at"}, "expires_at": expires,
         "size_vram": m["size"], "context_length": 4096} for m in _models(plan)]})


def render_show(plan: Plan) -> Rendered:
    """``/api/show``: one model's details, template and capabilities."""
    entry = _entry(plan, plan.call.model)
    family = entry["details"]["family"]
    return _json({
        "modelfile": f'# Modelfile generated by "ollama show"\nFROM {plan.call.model}\n',
        "parameters": 'stop                           "<|eot_id|>"',
        "template": "{{ .Prompt }}", "details": entry["details"],
        "model_info": {"general.architecture": family, f"{family}.context_length": 131072},
        "capabilities": ["embedding"] if "embed" in plan.call.model else ["completion", "tools"],
        "modified_at": entry["modified_at"],
    })


def render_version(plan: Plan) -> Rendered:
    """``/api/version``."""
    return _json({"version": VERSION})


# --- errors ------------------------------------------------------------------------------------

def _error_text(spec: ErrorSpec, call: Call | None) -> tuple[int, str]:
    status, message = _ERRORS.get(spec.name, _ERRORS["server_error"])
    if spec.name == "not_found" and call is not None and call.model:
        quoted = json.dumps(call.model, ensure_ascii=False)  # Go's %q
        message = f"model {quoted} not found, try pulling it first"
    return spec.status or status, message if spec.message is None else spec.message


def render_error(spec: ErrorSpec, request_id: str, call: Call | None) -> Rendered:
    """An Ollama error: ``{"error": "..."}`` with the status Ollama uses for it."""
    status, message = _error_text(spec, call)
    headers = {"content-type": JSON_TYPE}
    if spec.retry_after is not None:  # Ollama sends none; a scenario that asks for one gets it
        headers["retry-after"] = str(math.ceil(spec.retry_after))
    return Rendered(status, headers, go_json({"error": message}))


def render_invalid(exc: InvalidRequest, request_id: str) -> Rendered:
    """A request Ollama rejects."""
    return Rendered(exc.status, {"content-type": JSON_TYPE}, go_json({"error": exc.message}))


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """The line an interrupted stream ends with; the ollama client raises ``ResponseError``."""
    return go_json({"error": _error_text(spec, plan.call)[1]}) + b"\n"


def _claim(path: str, headers: Mapping[str, str]) -> int:
    return 4 if path.startswith("/api/") else 0


def _is_content(payload: Mapping[str, Any]) -> bool:
    # A line with text or tool calls; the last ("done": true, the counts) is framing.
    if "done" not in payload:
        return True  # an error line, or a shape this does not know: faults may strike it
    message = payload.get("message")
    if isinstance(message, Mapping):
        return bool(message.get("content") or message.get("tool_calls"))
    return bool(payload.get("response"))


PROVIDER = ProviderSpec(
    name="ollama",
    routes=tuple(Route(method, path, "ollama", endpoint, parse, render)
                 for method, path, endpoint, parse, render in (
        ("POST", "/api/chat", "chat", parse_chat, render_chat),
        ("POST", "/api/generate", "completions", parse_generate, render_generate),
        ("POST", "/api/embed", "embeddings", parse_embed, render_embed),
        ("POST", "/api/embeddings", "embeddings", parse_embeddings, render_embeddings),
        ("GET", "/api/tags", "models", parse_models, render_tags),
        ("GET", "/api/ps", "models", parse_models, render_ps),
        ("POST", "/api/show", "models", parse_models, render_show),
        ("GET", "/api/version", "models", parse_models, render_version),
    )),
    error=render_error,
    invalid=render_invalid,
    stream_error=stream_error,
    claim=_claim,
    is_content=_is_content,
    env={"OLLAMA_HOST": "{url}"},
    upstream="http://127.0.0.1:11434",
)
"""Ollama: its native routes, errors and where its clients and its local server are."""

"""OpenAI: chat completions, legacy completions, embeddings and models.

The shapes follow OpenAI's OpenAPI spec (``openai/openai-openapi``) and what the openai SDK
(3.x, and 2.x) sends and parses: a chat stream is SSE ``data: {chunk}`` lines ending with
``data: [DONE]``; a legacy completion's stream carries the increment in ``choices[].text`` with
``finish_reason`` null until the last chunk; ``GET /v1/models`` is
``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``.

Embeddings are bounded as the API bounds them (its reference for ``input``): at most 2048
inputs in an array, each at most 8192 tokens, 300,000 tokens summed over all inputs (beyond it
the API answers ``Requested N tokens, max 300000 tokens per request``, code
``max_tokens_per_request``), and ``dimensions`` up to 3072 (text-embedding-3-large's size, the
largest). Tokens are llmfake's estimate (``engine._text``), counted in slices that stop as
soon as a limit is passed, so a 32 MiB body costs no more than a request at the limit.

The responses API lives in ``_openai_responses``; the Files and Batch APIs, stateful resources,
in ``openai_files`` and ``openai_batch``. Everything here is pure: a request becomes a
``Call``, a ``Plan`` becomes bytes; the server does the sending and the timing.
"""

from __future__ import annotations

import base64
import functools
import random
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from llmfake.engine._call import Call, Message
from llmfake.engine._plan import Choice, Plan
from llmfake.engine._text import count_tokens, tokenize
from llmfake.providers import _openai_responses as responses
from llmfake.providers import openai_batch, openai_files
from llmfake.providers._base import (
    Event,
    Incoming,
    InvalidRequest,
    LazyEvents,
    ProviderSpec,
    Rendered,
    Route,
    Template,
    check_call_schemas,
    dumps,
    join_run,
    json_bytes,
    json_str,
    pretty,
)
from llmfake.providers._openai_common import (
    CHAT_FIELDS,
    EMBEDDINGS_FIELDS,
    JSON_TYPE,
    SSE_TYPE,
    base_headers,
    body_object,
    check_types,
    forced_tool,
    function_tools,
    is_content,
    make_call,
    messages_of,
    opt_int,
    rate_headers,
    render_error,
    render_invalid,
    require_model,
    schema_errors,
    stop_list,
    stream_error,
)
from llmfake.scenario._model import ErrorSpec

FINGERPRINT = "fp_llmfake"
DONE = b"data: [DONE]\n\n"
_DONE_TEXT = DONE.decode()
MODELS = (
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini", "o3-mini",
    "gpt-3.5-turbo-instruct", "text-embedding-3-small", "text-embedding-3-large",
)
"""What ``GET /v1/models`` lists when the scenario names no models (any model id is served)."""


# --- chat completions ------------------------------------------------------------------------

def parse_chat(inc: Incoming) -> Call:
    """``POST /v1/chat/completions`` to a ``Call``."""
    body = body_object(inc)
    model = require_model(body)
    check_types(body, CHAT_FIELDS)
    raw = body.get("messages")
    if raw is None:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages",
                             code="missing_required_parameter")
    if not isinstance(raw, list):
        raise InvalidRequest("Invalid type for 'messages': expected an array of objects.",
                             param="messages", code="invalid_type")
    if not raw:
        raise InvalidRequest("Invalid 'messages': empty array. Expected an array with minimum "
                             "length 1, but got an empty array instead.", param="messages",
                             code="empty_array")
    max_tokens = opt_int(body, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens")
    schema, wants_json = _response_format(body.get("response_format"))
    call = make_call(
        inc, "openai", "chat", model,
        messages=messages_of(raw),
        stream=body.get("stream") is True,
        max_tokens=max_tokens,
        stop=stop_list(body),
        n=opt_int(body, "n", minimum=1, maximum=128) or 1,
        tools=function_tools(body.get("tools"), flat=False),
        forced_tool=forced_tool(body.get("tool_choice")),
        response_schema=schema,
        response_json=wants_json,
    )
    if schema is None and not call.tools:
        return call  # nothing to check (the error builders cost more than the check)
    return check_call_schemas(call, *schema_errors(body, "response_format"))


def _response_format(fmt: Any) -> tuple[Mapping[str, Any] | None, bool]:
    if not isinstance(fmt, dict):
        return None, False
    if not isinstance(fmt.get("type"), str):
        raise InvalidRequest("Missing required parameter: 'response_format.type'.",
                             param="response_format.type", code="missing_required_parameter")
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return (schema if isinstance(schema, Mapping) else {"type": "object"}), True
    return None, fmt.get("type") == "json_object"


def _usage(plan: Plan) -> dict[str, Any]:
    u = plan.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def _message(choice: Choice) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": choice.text, "refusal": None,
                           "annotations": []}
    if choice.tool_calls:
        msg["tool_calls"] = [{"id": t.id, "type": "function",
                              "function": {"name": t.name, "arguments": t.arguments}}
                             for t in choice.tool_calls]
    return msg


def _logprobs(plan: Plan, index: int, tokens: tuple[str, ...], start: int = 0
              ) -> dict[str, Any] | None:
    """Seeded log probabilities for ``tokens`` when the request asked for them."""
    body = plan.call.body
    if body.get("logprobs") is not True:
        return None
    top = body.get("top_logprobs")
    top_n = top if isinstance(top, int) and not isinstance(top, bool) else 0
    content = []
    for pos, token in enumerate(tokens, start):
        rng = random.Random(f"{plan.uid}:{index}:{pos}")
        best = -round(rng.random() ** 3 * 2, 8)
        alternatives = [{"token": token, "logprob": best, "bytes": list(token.encode())}]
        logprob = best
        for _ in range(1, top_n):
            logprob = round(logprob - rng.random() * 3, 8)
            alt = rng.choice(_ALTERNATIVES)
            alternatives.append({"token": alt, "logprob": logprob, "bytes": list(alt.encode())})
        content.append({"token": token, "logprob": best, "bytes": list(token.encode()),
                        "top_logprobs": alternatives[:top_n]})
    return {"content": content, "refusal": None}


_ALTERNATIVES = (" the", " a", ",", ".", " and", " to", " of", " in", " is", " it")


def _stream_len(choice: Choice) -> int:
    return len(choice.tokens) + sum(1 + len(_fragments(t.arguments)) for t in choice.tool_calls)


def _fragments(arguments: str) -> list[str]:
    """Tool-call arguments cut into a few pieces, as the real stream sends them."""
    toks = tokenize(arguments)
    return ["".join(toks[i:i + 4]) for i in range(0, len(toks), 4)] or [""]


def render_chat(plan: Plan) -> Rendered:
    """A chat completion, or its chunk stream."""
    call = plan.call
    headers = base_headers(plan)
    choices = plan.choices
    tokens = (_stream_len(choices[0]) if len(choices) == 1 else
              max((_stream_len(c) for c in choices), default=0))
    text = choices[0].text if choices else None
    if not call.stream:
        if len(plan.choices) == 1 and text is not None:
            choice = plan.choices[0]
            if not choice.tool_calls and call.body.get("logprobs") is not True:
                try:
                    return Rendered(200, {**headers, "content-type": JSON_TYPE},
                                    _simple_chat(plan, text, choice.finish), tokens=tokens,
                                    text=text)
                except (TypeError, ValueError):  # a lone surrogate: the general path says so
                    pass
        body = {
            "id": f"chatcmpl-{plan.uid}",
            "object": "chat.completion",
            "created": plan.created,
            "model": call.model,
            "choices": [{"index": i, "message": _message(c),
                         "logprobs": _logprobs(plan, i, c.tokens),
                         "finish_reason": c.finish} for i, c in enumerate(plan.choices)],
            "usage": _usage(plan),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
        # Only log probabilities are floats in a chat completion.
        return Rendered(200, {**headers, "content-type": JSON_TYPE},
                        pretty(body, no_floats=call.body.get("logprobs") is not True),
                        tokens=tokens, text=text)
    return Rendered(200, {**headers, "content-type": SSE_TYPE, "cache-control": "no-cache"},
                    events=_chat_events(plan), tokens=tokens, text=text)


_SIMPLE_CHAT = Template({
    "id": "@@id@@", "object": "chat.completion", "created": "@@created@@", "model": "@@model@@",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "@@content@@",
                                         "refusal": None, "annotations": []},
                 "logprobs": None, "finish_reason": "@@finish@@"}],
    "usage": {"prompt_tokens": "@@prompt@@", "completion_tokens": "@@completion@@",
              "total_tokens": "@@total@@",
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}},
    "service_tier": "default", "system_fingerprint": FINGERPRINT,
})
"""A completion of one choice with text only: most of them, written without a dict."""


def _simple_chat(plan: Plan, text: str, finish: str) -> bytes:
    u = plan.usage
    return simple_chat(plan.uid, plan.created, json_bytes(plan.call.model), json_bytes(text),
                       json_bytes(finish), u.prompt_tokens, u.completion_tokens)


def simple_chat(uid: str, created: int, model: bytes, content: bytes, finish: bytes,
                prompt: int, completion: int) -> bytes:
    """A completion of one choice with text only (``model``, ``content`` and ``finish`` as
    JSON)."""
    return _SIMPLE_CHAT.fill(b'"chatcmpl-%s"' % uid.encode(), b"%d" % created, model, content,
                             finish, b"%d" % prompt, b"%d" % completion,
                             b"%d" % (prompt + completion))


class _ChatChunks:
    """Renders the chunks of one chat stream, each when the wire reaches it. A class, not
    closures: a closure is a function and a cell per name it keeps, each an object the cyclic
    collector walks for as long as the stream lasts."""

    __slots__ = ("content_post", "head", "plan", "pres", "tail")

    def __init__(self, plan: Plan, include_usage: bool) -> None:
        call = plan.call
        self.plan = plan
        self.head = (f'data: {{"id":"chatcmpl-{plan.uid}","object":"chat.completion.chunk",'
                     f'"created":{plan.created},"model":{dumps(call.model)},'
                     f'"service_tier":"default","system_fingerprint":"{FINGERPRINT}",'
                     '"choices":')
        self.tail = ',"usage":null}\n\n' if include_usage else "}\n\n"
        # A content token is most of a stream: its chunk is a template around the token's JSON
        # string (json's C string encoder), the bytes dumps() would give for the whole chunk.
        self.pres = tuple(f'{self.head}[{{"index":{i},"delta":{{"content":'
                          for i in range(len(plan.choices)))
        self.content_post = '},"logprobs":null,"finish_reason":null}]' + self.tail

    def render(self, spec: str | tuple[Any, ...]) -> str:
        """One event's text."""
        if isinstance(spec, str):  # a token of the only choice
            return self.pres[0] + json_str(spec) + self.content_post
        kind = spec[0]
        if kind == "content":
            index: int = spec[1]
            token: str = spec[2]
            return self.pres[index] + json_str(token) + self.content_post
        if kind == "choice":  # the choices' JSON, written out beforehand
            return f"{self.head}{spec[1]}{self.tail}"
        if kind == "delta":
            _, i, step, delta = spec
            content = delta.get("content")
            logprobs = (_logprobs(self.plan, i, (content,), step)
                        if isinstance(content, str) else None)
            choices = [{"index": i, "delta": delta, "logprobs": logprobs,
                        "finish_reason": None}]
            return f"{self.head}{dumps(choices)}{self.tail}"
        if kind == "usage":
            return f'{self.head}[],"usage":{dumps(_usage(self.plan))}}}\n\n'
        return _DONE_TEXT

    def render_bytes(self, spec: str | tuple[Any, ...]) -> bytes:
        """One event's bytes."""
        return self.render(spec).encode()

    def render_run(self, specs: Sequence[str | tuple[Any, ...]]) -> bytes:
        """A run of events in one join and one encode: content chunks are most of a stream."""
        return join_run(specs, self.pres[0], self.content_post, self.render)


def _chat_events(plan: Plan) -> LazyEvents:
    """The chunk stream, each chunk rendered when the wire reaches it (see ``LazyEvents``)."""
    wants_logprobs = plan.call.body.get("logprobs") is True
    include_usage = _include_usage(plan.call)
    choices = plan.choices
    if len(choices) == 1 and not wants_logprobs and not choices[0].tool_calls:
        schedule = _plain_schedule(choices[0], include_usage)  # most streams
    else:
        schedule = _chat_schedule(plan, wants_logprobs, include_usage)
    renderer = _ChatChunks(plan, include_usage)
    return LazyEvents(*schedule, renderer.render_bytes, renderer.render_run)


Schedule = tuple[tuple[int, ...], tuple[bool, ...], tuple[str | tuple[Any, ...], ...]]
"""A stream's events as ``LazyEvents`` takes them: dues, whether each is content, specs.
Tuples: of strings and numbers only, the collector stops walking them after one look."""


def _opening(i: int, c: Choice) -> tuple[str, str]:
    # What dumps() writes for the first chunk's choices, without its cost.
    content = '""' if c.text is not None else "null"
    return ("choice", f'[{{"index":{i},"delta":{{"role":"assistant","content":{content},'
                      '"refusal":null},"logprobs":null,"finish_reason":null}]')


def _closing(i: int, c: Choice) -> tuple[str, str]:
    return ("choice", f'[{{"index":{i},"delta":{{}},"logprobs":null,'
                      f'"finish_reason":{json_str(c.finish)}}}]')


def _plain_schedule(c: Choice, include_usage: bool) -> Schedule:
    """``_chat_schedule`` of one choice of plain tokens, made in a few tuple operations."""
    tokens = tuple(c.tokens)
    after: tuple[tuple[str, ...], ...] = (
        (_closing(0, c), ("usage",), ("done",)) if include_usage else (_closing(0, c), ("done",)))
    return (*_plain_shape(len(tokens), len(after)), (_opening(0, c), *tokens, *after))


@functools.lru_cache(maxsize=256)
def _plain_shape(n: int, after: int) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """The dues and content flags of an opening, ``n`` tokens and ``after`` closing events:
    one pair of tuples per length, which the pacer's cache then finds by identity."""
    return ((0, *range(n), *(max(n - 1, 0),) * after), (False, *(True,) * n, *(False,) * after))


def _chat_schedule(plan: Plan, wants_logprobs: bool, include_usage: bool) -> Schedule:
    """Every event of a chat stream: the choices' openings, their tokens (or deltas) step by
    step, their closings, the usage chunk when asked for, and ``[DONE]``."""
    dues: list[int] = []
    chunks: list[bool] = []
    specs: list[str | tuple[Any, ...]] = [_opening(i, c) for i, c in enumerate(plan.choices)]
    dues += [0] * len(specs)
    chunks += [False] * len(specs)
    per_choice: list[list[str | tuple[Any, ...]]] = []
    for i, c in enumerate(plan.choices):
        items: list[str | tuple[Any, ...]]
        if wants_logprobs:
            items = [("delta", i, step, {"content": token})
                     for step, token in enumerate(c.tokens)]
        elif len(plan.choices) == 1:
            items = list(c.tokens)  # plain tokens: most streams, rendered by the template
        else:
            items = [("content", i, token) for token in c.tokens]
        if c.tool_calls:
            items += [("delta", i, step, d) for step, d in
                      enumerate(_tool_deltas(c), len(c.tokens))]
        per_choice.append(items)
    longest = max((len(d) for d in per_choice), default=0)
    if len(per_choice) == 1:
        specs += per_choice[0]
        dues += range(len(per_choice[0]))
        chunks += [True] * len(per_choice[0])
    else:
        for step in range(longest):
            for items in per_choice:
                if step < len(items):
                    specs.append(items[step])
                    dues.append(step)
                    chunks.append(True)
    last = max(longest - 1, 0)
    specs += [_closing(i, c) for i, c in enumerate(plan.choices)]
    if include_usage:
        specs.append(("usage",))
    specs.append(("done",))
    framing = len(specs) - len(dues)
    dues += [last] * framing
    chunks += [False] * framing
    return tuple(dues), tuple(chunks), tuple(specs)


def _tool_deltas(choice: Choice) -> Iterator[dict[str, Any]]:
    for index, t in enumerate(choice.tool_calls):
        yield {"tool_calls": [{"index": index, "id": t.id, "type": "function",
                               "function": {"name": t.name, "arguments": ""}}]}
        for piece in _fragments(t.arguments):
            yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}


def _include_usage(call: Call) -> bool:
    opts = call.body.get("stream_options")
    return isinstance(opts, Mapping) and opts.get("include_usage") is True


# --- legacy completions ----------------------------------------------------------------------

def parse_completions(inc: Incoming) -> Call:
    """``POST /v1/completions`` to a ``Call`` (max_tokens defaults to 16, as the API's does)."""
    body = body_object(inc)
    model = require_model(body)
    prompt = body.get("prompt", "<|endoftext|>")
    if prompt is None:
        prompt = "<|endoftext|>"
    prompts: list[str]
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        prompts = [" ".join(map(str, prompt))]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, list) for p in prompt):
        prompts = [" ".join(map(str, p)) for p in prompt]
    else:
        raise InvalidRequest("Invalid type for 'prompt': expected a string, an array of "
                             "strings or an array of token arrays.", param="prompt",
                             code="invalid_type")
    max_tokens = opt_int(body, "max_tokens")
    n = opt_int(body, "n", minimum=1, maximum=128) or 1
    return make_call(
        inc, "openai", "completions", model,
        messages=tuple(Message("user", p) for p in prompts),
        stream=body.get("stream") is True,
        max_tokens=16 if max_tokens is None else max_tokens,
        stop=stop_list(body),
        n=n * len(prompts),
    )


def render_completions(plan: Plan) -> Rendered:
    """A text completion, or its chunk stream."""
    call = plan.call
    headers = base_headers(plan)
    tokens = max((len(c.tokens) for c in plan.choices), default=0)
    text = plan.choices[0].text if plan.choices else None
    echo = call.body.get("echo") is True
    prompt = call.messages[0].text if call.messages else ""
    usage = {"prompt_tokens": plan.usage.prompt_tokens,
             "completion_tokens": plan.usage.completion_tokens,
             "total_tokens": plan.usage.total_tokens}
    head = {"id": f"cmpl-{plan.uid}", "object": "text_completion", "created": plan.created,
            "model": call.model, "system_fingerprint": FINGERPRINT}
    if not call.stream:
        choices = [{"text": (prompt if echo else "") + (c.text or ""), "index": i,
                    "logprobs": None, "finish_reason": c.finish}
                   for i, c in enumerate(plan.choices)]
        body = {**head, "choices": choices, "usage": usage}
        return Rendered(200, {**headers, "content-type": JSON_TYPE}, pretty(body),
                        tokens=tokens, text=text)

    def chunk(choices: list[dict[str, Any]], due: int, content: bool = True) -> Event:
        return Event(f"data: {dumps({**head, 'choices': choices})}\n\n".encode(), due,
                     content)

    events: list[Event] = []
    for step in range(tokens):
        for i, c in enumerate(plan.choices):
            if step < len(c.tokens):
                piece = (prompt if echo and step == 0 else "") + c.tokens[step]
                events.append(chunk([{"text": piece, "index": i, "logprobs": None,
                                      "finish_reason": None}], step))
    last = max(tokens - 1, 0)
    for i, c in enumerate(plan.choices):
        events.append(chunk([{"text": "", "index": i, "logprobs": None,
                              "finish_reason": c.finish}], last, False))
    if _include_usage(call):
        events.append(Event(f"data: {dumps({**head, 'choices': [], 'usage': usage})}\n\n"
                            .encode(), last, False))
    events.append(Event(DONE, last, False))
    return Rendered(200, {**headers, "content-type": SSE_TYPE, "cache-control": "no-cache"},
                    events=tuple(events), tokens=tokens, text=text)


# --- embeddings ------------------------------------------------------------------------------

def parse_embeddings(inc: Incoming) -> Call:
    """``POST /v1/embeddings`` to a ``Call``."""
    body = body_object(inc)
    model = require_model(body)
    check_types(body, EMBEDDINGS_FIELDS)
    raw = body.get("input")
    if raw is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input",
                             code="missing_required_parameter")
    inputs: list[str]
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(x, int) and not isinstance(x, bool)
                                               for x in raw):
        inputs = [" ".join(map(str, raw))]
    elif isinstance(raw, list) and raw and all(isinstance(x, list) for x in raw):
        inputs = [" ".join(map(str, x)) for x in raw]
    else:
        raise InvalidRequest("'$.input' is invalid. Please check the API reference: "
                             "https://platform.openai.com/docs/api-reference.", param="input")
    _check_embedding_inputs(inputs, raw)
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise InvalidRequest(f"Invalid value for 'encoding_format': {fmt!r}. Supported values "
                             "are: 'float' and 'base64'.", param="encoding_format",
                             code="invalid_value")
    return make_call(inc, "openai", "embeddings", model, inputs=tuple(inputs),
                     dimensions=opt_int(body, "dimensions", minimum=1,
                                        maximum=MAX_EMBEDDING_DIMENSIONS))


MAX_EMBEDDING_INPUTS = 2048
"""Inputs in one embeddings request."""
MAX_EMBEDDING_INPUT_TOKENS = 8192
"""Tokens in one embeddings input."""
MAX_EMBEDDING_TOKENS = 300_000
"""Tokens summed over one embeddings request's inputs."""
MAX_EMBEDDING_DIMENSIONS = 3072
"""The largest ``dimensions`` (text-embedding-3-large's own size)."""
_SLICE = 65_536


def _tokens_past(text: str, limit: int) -> int:
    """``text``'s tokens, counted slice by slice and no further than just past ``limit``."""
    total = 0
    for start in range(0, len(text), _SLICE):
        total += count_tokens(text[start:start + _SLICE])
        if total > limit:
            break
    return total


def _check_embedding_inputs(inputs: list[str], raw: Any) -> None:
    if isinstance(raw, list) and len(raw) > MAX_EMBEDDING_INPUTS:
        raise InvalidRequest(f"'$.input' is invalid: an array of at most {MAX_EMBEDDING_INPUTS}"
                             f" items is allowed, but got {len(raw)}. Please check the API "
                             "reference: https://platform.openai.com/docs/api-reference.",
                             param="input")
    total = 0
    for text in inputs:
        # a token is at least a character: short texts need no counting
        tokens = (len(text) if len(text) <= MAX_EMBEDDING_INPUT_TOKENS
                  else _tokens_past(text, MAX_EMBEDDING_INPUT_TOKENS))
        if tokens > MAX_EMBEDDING_INPUT_TOKENS:
            raise InvalidRequest(
                f"This model's maximum context length is {MAX_EMBEDDING_INPUT_TOKENS} tokens, "
                f"however you requested {tokens} tokens ({tokens} in your prompt; 0 for the "
                "completion). Please reduce your prompt; or completion length.", param="input")
        total += tokens
    if total > MAX_EMBEDDING_TOKENS:
        counted = 0  # the character bound said maybe: count for real, stopping past the limit
        for text in inputs:
            counted += _tokens_past(text, MAX_EMBEDDING_TOKENS - counted)
            if counted > MAX_EMBEDDING_TOKENS:
                raise InvalidRequest(f"Requested {counted} tokens, max {MAX_EMBEDDING_TOKENS} "
                                     "tokens per request", param="input",
                                     code="max_tokens_per_request")


def _encode(vector: tuple[float, ...], fmt: str) -> Any:
    if fmt == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector  # already float32 values in their shortest form (engine._embedding)


def render_embeddings(plan: Plan) -> Rendered:
    """An embeddings list, in float or base64 encoding as asked."""
    fmt = str(plan.call.body.get("encoding_format", "float"))
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _encode(v, fmt)}
                 for i, v in enumerate(plan.embeddings)],
        "model": plan.call.model,
        "usage": {"prompt_tokens": plan.usage.prompt_tokens,
                  "total_tokens": plan.usage.prompt_tokens},
    }
    # orjson: 2048 vectors of 3072 floats take the stdlib ~3 s to write, orjson ~0.3 s
    return Rendered(200, {**base_headers(plan), "content-type": JSON_TYPE}, orjson.dumps(body))


# --- models ----------------------------------------------------------------------------------

def parse_models(inc: Incoming) -> Call:
    """``GET /v1/models`` and ``GET /v1/models/{model}`` to a ``Call``."""
    return make_call(inc, "openai", "models", inc.params.get("model", ""))


def _model(model_id: str) -> dict[str, Any]:
    owner = "openai" if model_id.startswith(("gpt", "o1", "o3", "o4", "text-")) else "system"
    return {"id": model_id, "object": "model", "created": 1_686_935_002, "owned_by": owner}


def render_models(plan: Plan) -> Rendered:
    """The model list, or one model."""
    headers = {**base_headers(plan), "content-type": JSON_TYPE}
    if plan.call.model:
        return Rendered(200, headers, pretty(_model(plan.call.model)))
    body = {"object": "list", "data": [_model(m) for m in plan.models or MODELS]}
    return Rendered(200, headers, pretty(body))


def _routes() -> tuple[Route, ...]:
    table = [
        ("POST", "/chat/completions", "chat", parse_chat, render_chat),
        ("POST", "/completions", "completions", parse_completions, render_completions),
        ("POST", "/embeddings", "embeddings", parse_embeddings, render_embeddings),
        ("POST", "/responses", "responses", responses.parse, responses.render),
        ("GET", "/models", "models", parse_models, render_models),
        ("GET", "/models/{model}", "models", parse_models, render_models),
    ]
    # The SDK appends paths to its base URL, so a base without /v1 must work as well.
    from llmfake.providers._openai_plain import PlainChat  # it imports this module

    return tuple(Route(method, prefix + path, "openai", endpoint, parse, render,
                       plain=PlainChat.compile if endpoint == "chat" else None)
                 for prefix in ("/v1", "")
                 for method, path, endpoint, parse, render in table)


def _stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    if plan.call.endpoint == "responses":
        return responses.stream_error(spec, plan)
    return stream_error(spec, plan)


def _claim(path: str, headers: Mapping[str, str]) -> int:
    return 1  # the catch-all: most clients of unknown kind speak OpenAI's format


PROVIDER = ProviderSpec(
    name="openai",
    routes=_routes() + openai_files.ROUTES + openai_batch.ROUTES,
    error=render_error,
    invalid=render_invalid,
    stream_error=_stream_error,
    headers=rate_headers,
    claim=_claim,
    is_content=is_content,
    base_path="/v1",
    env={"OPENAI_BASE_URL": "{url}", "OPENAI_API_KEY": "sk-llmfake"},
    key_variables=("OPENAI_API_KEY",),
    upstream="https://api.openai.com",
    hosts=("api.openai.com",),
)
"""OpenAI: its routes, errors, headers and where its clients and its real API are."""

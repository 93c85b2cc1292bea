"""The JSON Schema (draft 2020-12) of the scenario format, for editors and other tools.

``_load`` stays the one place that validates a scenario (its errors name the file, the field and
the fix); this schema publishes the same format so that editors can complete and check it. A
property test keeps the two in step. Descriptions are short copies of the field docstrings in
``_model``. What JSON Schema cannot say is left to the loader: ``1.0`` passes as an ``integer``
here, a string ``freeze_time`` such as ``2025-02-30`` matches the pattern but is no date, and
a match's ``before`` must be later than its ``after`` (JSON Schema cannot compare two values).
Where the two differ otherwise the schema is the stricter: its patterns take ASCII digits only,
and it asks for ``error`` beside ``status``, ``message`` and ``retry_after``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from llmfake.scenario._model import (
    ENDPOINTS,
    ERROR_STATUS,
    FAULTS,
    JITTER_DISTRIBUTIONS,
    LIMIT_SCOPES,
    PROVIDERS,
)

SCHEMA_ID = "https://llmfake.dev/schema/scenario.json"

ERROR_NAMES: dict[str, str] = {
    "bad_request": "400: the request is invalid.",
    "context_length": "400: the prompt is over the model's context length.",
    "auth": "401: missing or wrong API key.",
    "permission": "403: the key may not use this resource.",
    "not_found": "404: no such model.",
    "conflict": "409: a conflicting request is in progress.",
    "request_too_large": "413: the request body is too large.",
    "rate_limit": "429: rate limit reached; retry after a while.",
    "quota": "429: quota or credit used up; retrying does not help.",
    "server_error": "500: internal server error.",
    "bad_gateway": "502: bad gateway between the provider's front end and the model.",
    "unavailable": "503: the service is unavailable.",
    "timeout": "504: the provider timed out.",
    "overloaded": "529 (Anthropic), 503 (OpenAI): the provider is overloaded.",
}
"""Error names and what each stands for; ``ERROR_STATUS`` in ``_model`` has the same keys."""

FAULT_NAMES: dict[str, str] = {
    "reset": "Drop the connection (TCP RST) at the first-token time, before any byte.",
    "hang": "Say nothing; drop the connection after 'duration' (default: a day).",
    "empty": "Close the connection cleanly without answering.",
    "disconnect": "Drop the connection after 'after_chunks' chunks (default: half).",
    "stall": "Stop after 'after_chunks' chunks; wait 'duration' (default: a day), then drop.",
    "error_event": "Send the step's error as an event inside the stream, then end it.",
    "malformed": "Send half a chunk (or half the body) as if complete: broken JSON.",
    "truncate": "Send 'after_bytes' of the body (or half a chunk), then drop.",
    "slow_headers": "Wait 'duration' (default 10s) before sending the response headers.",
}
"""Fault names and what each does; the keys are ``FAULTS``."""

_NUM = r"(?:[0-9]|\.[0-9])+"
_UNIT = r"(?:ms|us|µs|s|m|h)"
DURATION_PATTERN = (
    rf"^\s*(?:{_NUM}(?:\s*{_UNIT} *|\s+))*{_NUM}\s*{_UNIT}?\s*$"
)
"""``120ms``, ``2s``, ``1.5``, ``1m30s``: number-unit parts as ``parse_duration`` reads them,
written so that a failed match does not backtrack catastrophically."""

PERCENT_PATTERN = (
    r"^\s*\+?0*(?:100(?:\.0*)?|[0-9]{1,2}(?:\.[0-9]*)?|\.[0-9]+)[^\S\x1c-\x1f]*%\s*$"
)
"""``10%``: a percentage from 0 to 100 (``float`` rejects the separators U+001C-U+001F, which
``str.strip`` would take, between the number and the sign)."""

SPREAD_PERCENT_PATTERN = (
    r"^\s*\+?0*(?:1000(?:\.0*)?|[0-9]{1,3}(?:\.[0-9]*)?|\.[0-9]+)[^\S\x1c-\x1f]*%\s*$"
)
"""A jitter ``spread`` as a percentage, from 0 to 1000 (the loader takes spreads up to 10)."""

STATUS_PATTERN = r"^0*[45][0-9]{2}$"
"""An HTTP status from 400 to 599, written as digits."""

SIZE_PATTERN = r"^\s*[0-9]+(?:\.[0-9]+)?\s*(?:[bB]|[kKmMgG][iI]?[bB])?\s*$"
"""``512kb``, ``10MiB``: a size as ``parse_size`` reads it (units in any case)."""

ISO_PATTERN = (
    r"^(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{3}(?:[0-9]{3})?)?)?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$"
)
"""An ISO 8601 date or date-time as ``datetime.fromisoformat`` reads it on Python 3.10."""


def _d(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a ``description``."""
    return {"description": text, **schema}


def _obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


def _int(minimum: int, maximum: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        out["maximum"] = maximum
    return out


def _names(names: Iterable[str], descriptions: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"const": name, "description": descriptions.get(name, name)} for name in names]


def _one_or_many(names: tuple[str, ...]) -> dict[str, Any]:
    return {"anyOf": [{"enum": list(names)}, {"type": "array", "items": {"enum": list(names)}}]}


_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_DURATION = {"$ref": "#/$defs/duration"}
_HEADERS = {
    "type": "object",
    "propertyNames": {"minLength": 1},
    "additionalProperties": {"type": ["string", "number"]},
}


def _step_properties() -> dict[str, Any]:
    """The keys of a step (``STEP_KEYS``), shared by steps, rules and chaos entries."""
    return {
        "reply": _d("The reply (also the content a stream fault cuts short).",
                    {"$ref": "#/$defs/reply"}),
        "error": _d("An HTTP error instead of a reply: an error name or a status 400-599.",
                    {"anyOf": [*_names(ERROR_STATUS, ERROR_NAMES), _int(400, 599),
                               {"type": "string", "pattern": STATUS_PATTERN}]}),
        "status": _d("With 'error': the HTTP status to send instead of the provider's own.",
                     _int(400, 599)),
        "message": _d("With 'error': the error message instead of the provider's usual text.",
                      _STRING),
        "retry_after": _d("With 'error': seconds sent as retry-after (and retry-after-ms).",
                          _DURATION),
        "should_retry": _d("With 'error': sent as x-should-retry, which the official SDKs "
                           "obey over the status.", {"type": "boolean"}),
        "fault": _d("A transport-level fault, struck while sending the reply.",
                    {"anyOf": _names(FAULTS, FAULT_NAMES)}),
        "after_chunks": _d("With 'fault': how many chunks go out before the fault strikes.",
                           _int(0)),
        "after_bytes": _d("With 'fault': how many bytes of a non-streamed body go out.",
                          _int(0)),
        "duration": _d("With 'fault' hang, stall or slow_headers: how long "
                       "(default: until the client gives up).", _DURATION),
        "latency": _d("Latency for this outcome alone.", {"$ref": "#/$defs/latency"}),
        "headers": _d('Extra response headers (x-should-retry: "false"...).', _HEADERS),
    }


_STEP_RULES: dict[str, Any] = {
    "dependentRequired": {
        "status": ["error"], "message": ["error"], "retry_after": ["error"],
        "should_retry": ["error"],
        "after_chunks": ["fault"], "after_bytes": ["fault"], "duration": ["fault"],
    },
    "allOf": [
        {"if": {"required": ["error", "reply"]},
         "then": {"required": ["fault"], "properties": {"fault": {"const": "error_event"}}}},
        {"if": {"required": ["error", "fault"]},
         "then": {"properties": {"fault": {"const": "error_event"}}}},
    ],
}
"""A step has an error or a reply, not both, and an error goes with a fault only inside an
error_event fault; the error's and the fault's parameters only go with them."""


def _defs() -> dict[str, Any]:
    step = _step_properties()
    rule_step = {k: v for k, v in step.items() if k != "latency"}
    return {
        "duration": {
            "description": "Seconds as a number, or a string such as 120ms, 2s, 1.5 or 1m30s.",
            "anyOf": [{"type": "number", "minimum": 0},
                      {"type": "string", "pattern": DURATION_PATTERN}],
        },
        "latency": _d("When the bytes of a response leave the server.", _obj({
            "ttft": _d("Time from the request's arrival to the first token.", _DURATION),
            "per_token": _d("Time between two streamed tokens; a non-streamed body waits "
                            "for all of them.", _DURATION),
            "jitter": _d("Relative spread of every delay: 0.1 or 10% for +-10% (uniform), or "
                         "{distribution: uniform|normal|lognormal, spread: ...}; drawn from the "
                         "seed.", {"anyOf": [
                             {"type": "number", "minimum": 0, "maximum": 1},
                             {"type": "string", "pattern": PERCENT_PATTERN},
                             _obj({
                                 "distribution": _d("uniform: within +-spread; normal: spread is "
                                                    "the standard deviation; lognormal: spread "
                                                    "is sigma (a long tail).",
                                                    {"enum": list(JITTER_DISTRIBUTIONS)}),
                                 "spread": _d("The spread, 0 to 10 (or a percentage).",
                                              {"anyOf": [{"type": "number", "minimum": 0,
                                                          "maximum": 10},
                                                         {"type": "string",
                                                          "pattern": SPREAD_PERCENT_PATTERN}
                                                         ]}),
                             })]}),
            "tokens_per_chunk": _d("Tokens a stream sends per chunk.", _int(1, 100_000)),
        })),
        "reply": _d("What the model answers: an object, or a string for fixed text. With "
                    "nothing set, seeded generated text.", {
            "type": ["object", "string"],
            "properties": {
                "text": _d("Fixed text.", _STRING),
                "echo": _d("Answer with the last user message.", _BOOL),
                "generate": _d("Seeded generated text: true, or how much.", {"anyOf": [
                    {"const": True},
                    _obj({"sentences": _d("How many sentences (default: 1 to 3, drawn from "
                                          "the seed).", _int(1, 1000)),
                          "words": _d("Exactly this many words instead of sentences.",
                                      _int(1, 100_000))})]}),
                "tool_calls": _d("Tool calls to make instead of (or after) text.", {
                    "type": "array",
                    "items": _obj({
                        "name": _d("The function's name.", _STRING),
                        "arguments": _d("An object, a JSON string sent as is, or null to "
                                        "generate them from the tool's parameter schema.",
                                        {"type": ["object", "string", "null"]}),
                        "id": _d("The call id (default: a deterministic one).", _STRING),
                    }, required=["name"])}),
                "json": _d("A JSON value to answer with, serialised as the message content.",
                           {}),
                "json_schema": _d("Generate JSON that validates against this schema.",
                                  {"type": ["object", "null"]}),
                "embedding": _d("For embeddings requests.", _obj({
                    "dimensions": _d("Length of the vectors (default: the model's usual "
                                     "size).", _int(1, 65536))})),
                "finish_reason": _d("Override the finish reason.",
                                    {"enum": ["stop", "length", "tool_calls", "content_filter",
                                              None]}),
            },
            "additionalProperties": False,
        }),
        "match": _d("Which requests a rule applies to; every given field must match.", _obj({
            "endpoint": _d(f"Endpoint names ({', '.join(ENDPOINTS)}); empty matches any.",
                           _one_or_many(ENDPOINTS)),
            "provider": _d(f"Provider names ({', '.join(PROVIDERS)}); empty matches any.",
                           _one_or_many(PROVIDERS)),
            "model": _d("A glob on the model name (gpt-4o*).", _STRING),
            "contains": _d("A case-insensitive substring of the last user message.", _STRING),
            "header": _d("Header name to a glob its value must match.", _HEADERS),
            "stream": _d("Match only streamed (true) or only non-streamed (false) requests.",
                         _BOOL),
            "tool_result": _d("Match only requests answering a tool call (true: a tool result "
                              "comes after the last assistant message) or only others (false).",
                              _BOOL),
            "after": _d("Match only from this long after the scenario was put in force for "
                        "the tenant (times time_scale).", _DURATION),
            "before": _d("Match only until this long after the scenario was put in force "
                         "(exclusive, times time_scale); later than 'after'.", _DURATION),
        })),
        "step": _d("One outcome: a reply, an error or a fault, with optional extras.",
                   _obj(step, allOf=[_STEP_RULES])),
        "chaos": _d("A random outcome drawn from the seed for each request the rule matches.",
                    _obj({"probability": _d("Chance from 0 to 1.", {"type": "number",
                                                                    "minimum": 0,
                                                                    "maximum": 1}),
                          **step},
                         required=["probability"],
                         allOf=[_STEP_RULES,
                                {"anyOf": [{"required": ["error"]}, {"required": ["fault"]}]}])),
        "rule": _d("A match, and what the requests it matches get.", _obj({
            "name": _d("A label shown in the journal and the log.", _STRING),
            "match": _d("Which requests (default: all).", {"$ref": "#/$defs/match"}),
            "script": _d("The Nth request this rule matches gets the Nth step.", {
                "type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}}),
            "then": _d("After the script: repeat the last step, cycle, or fall through to the "
                       "defaults.", {"enum": ["last", "cycle", "default"]}),
            "chaos": _d("Random outcomes that pre-empt the rule's own.", {
                "type": "array", "items": {"$ref": "#/$defs/chaos"}}),
            "latency": _d("Latency for the requests this rule matches.",
                          {"$ref": "#/$defs/latency"}),
            **rule_step,
        }, allOf=[_STEP_RULES])),
    }


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario document (a fresh copy on each call)."""
    return copy.deepcopy({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "llmfake scenario",
        "description": "Everything the fake does: the defaults, the rules, the limits.",
        **_obj({
            "name": _d("A label.", _STRING),
            "description": _d("What the scenario is for.", _STRING),
            "seed": _d("Every random draw (jitter, chaos, generated text, ids) follows from it.",
                       _int(0, 2**63 - 1)),
            "freeze_time": _d("When set, created timestamps are this moment, so bodies are "
                              "byte-identical: true, an epoch second or an ISO 8601 date-time "
                              "from 1970 on.",
                              {"anyOf": [{"type": ["boolean", "null"]},
                                         {"type": "number", "minimum": 0,
                                          "maximum": 253_402_300_799},
                                         {"type": "string", "pattern": ISO_PATTERN}]}),
            "time_scale": _d("Multiplies every configured delay, Retry-After and rate-limit "
                             "window: 0.01 runs a slow scenario 100 times faster.",
                             {"type": "number", "minimum": 1e-6, "maximum": 1e6}),
            "latency": _d("Default latency.", {"$ref": "#/$defs/latency"}),
            "limits": _d("Provider-side limits, counted per tenant.", _obj({
                "requests_per_minute": _d("Requests a minute before 429 (null: unlimited).",
                                          {"type": ["integer", "null"], "minimum": 1}),
                "tokens_per_minute": _d("Prompt plus completion tokens a minute before 429 "
                                        "(null: unlimited).",
                                        {"type": ["integer", "null"], "minimum": 1}),
                "max_concurrent": _d("Requests in flight at once before 429 (null: "
                                     "unlimited).", {"type": ["integer", "null"], "minimum": 1}),
                "max_request_bytes": _d("A request body over this many bytes gets 413 "
                                        "(a number, or a size such as 10MB).",
                                        {"anyOf": [_int(0), {"type": "string",
                                                             "pattern": SIZE_PATTERN}]}),
                "by": _d("What the limits are counted per: tenant (default), api_key, model or "
                         "global (the whole server).", {"enum": list(LIMIT_SCOPES)}),
                "quota_requests": _d("Requests allowed in all before 429 insufficient_quota "
                                     "for good (null: unlimited).",
                                     {"type": ["integer", "null"], "minimum": 1}),
                "quota_tokens": _d("Tokens allowed in all before 429 insufficient_quota for "
                                   "good (null: unlimited).",
                                   {"type": ["integer", "null"], "minimum": 1}),
            })),
            "reply": _d("The reply for requests no rule decides.", {"$ref": "#/$defs/reply"}),
            "rules": _d("First match wins.", {"type": "array",
                                              "items": {"$ref": "#/$defs/rule"}}),
            "chaos": _d("Random outcomes for every request, drawn before the rules.",
                        {"type": "array", "items": {"$ref": "#/$defs/chaos"}}),
            "auth": _d("API-key checks.", _obj({
                "required": _d("Answer 401 when a request carries no API key (default: true "
                               "when keys are given).", _BOOL),
                "keys": _d("When not empty, answer 401 to any key not in this list.",
                           {"type": "array", "items": _STRING}),
            })),
            "models": _d("Model ids /v1/models lists; when set, other ids get 404 there.",
                         {"type": "array", "items": _STRING}),
            "strict": _d("Every request must be decided by a rule: the pytest plugin fails a "
                         "test whose client sent one only the defaults answered.", _BOOL),
            "cassette": _d("A recorded session (a cassette file) replayed for the requests no "
                           "rule answers otherwise: a path, or an object.", {"anyOf": [
                               _STRING, _obj({
                                   "path": _d("The cassette file, relative to the scenario "
                                              "file's folder.", _STRING),
                                   "replay_speed": _d("1: the recorded pace; 2: twice as fast; "
                                                      "0: no delays.",
                                                      {"type": "number", "minimum": 0,
                                                       "maximum": 1e6}),
                                   "strict": _d("An unmatched request gets a 500 naming the "
                                                "nearest recording (default true); false: the "
                                                "scenario's reply answers it.", _BOOL),
                                   "ignore": _d("Top-level request-body fields not compared "
                                                "when matching (default: metadata, seed, "
                                                "stream_options, user).",
                                                {"type": "array", "items": _STRING}),
                               }, required=["path"])]}),
        }),
        "$defs": _defs(),
    })

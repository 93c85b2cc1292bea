"""Python builders for scenario steps and rules.

Each returns the plain dict a YAML file would hold, validated at once, so a mistake fails on the
line that made it and the result can be sent to the control API or written to a file as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmfake.scenario._load import parse_step

Step = dict[str, Any]


def _drop_none(d: Mapping[str, Any]) -> Step:
    return {k: v for k, v in d.items() if v is not None}


def reply(
    text: str | None = None,
    *,
    echo: bool | None = None,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    json: Any = None,
    json_schema: Mapping[str, Any] | None = None,
    words: int | None = None,
    sentences: int | None = None,
    embedding_dimensions: int | None = None,
    finish_reason: str | None = None,
    latency: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Step:
    """A reply step: ``reply("hi")``, ``reply(tool_calls=[{"name": "f", "arguments": {}}])``,
    ``reply(words=50)`` for seeded generated text."""
    generate = _drop_none({"words": words, "sentences": sentences}) or None
    body = _drop_none({
        "text": text, "echo": echo, "tool_calls": list(tool_calls) if tool_calls else None,
        "json": json, "json_schema": json_schema, "generate": generate,
        "embedding": ({"dimensions": embedding_dimensions}
                      if embedding_dimensions is not None else None),
        "finish_reason": finish_reason,
    })
    step = _drop_none({"reply": body, "latency": latency, "headers": headers})
    parse_step(step, "llmfake.reply()")
    return step


def error(
    kind: str | int,
    *,
    retry_after: float | str | None = None,
    should_retry: bool | None = None,
    message: str | None = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    latency: Mapping[str, Any] | None = None,
) -> Step:
    """An error step: ``error("rate_limit", retry_after="2s")``, ``error(503)``,
    ``error(500, should_retry=False)``."""
    step = _drop_none({"error": kind, "retry_after": retry_after, "should_retry": should_retry,
                       "message": message, "status": status, "headers": headers,
                       "latency": latency})
    parse_step(step, "llmfake.error()")
    return step


def fault(
    kind: str,
    *,
    after_chunks: int | None = None,
    after_bytes: int | None = None,
    duration: float | str | None = None,
    error: str | int | None = None,
    reply: Mapping[str, Any] | str | None = None,
    latency: Mapping[str, Any] | None = None,
    drip: Mapping[str, Any] | None = None,
) -> Step:
    """A fault step: ``fault("disconnect", after_chunks=3)``, ``fault("reset")``,
    ``fault("drip", drip={"bytes": 16, "every": "50ms"})``."""
    step = _drop_none({"fault": kind, "after_chunks": after_chunks, "after_bytes": after_bytes,
                       "duration": duration, "error": error, "reply": reply, "latency": latency,
                       "drip": drip})
    parse_step(step, "llmfake.fault()")
    return step

"""OpenAI responses API (PROTOCOLS.md 2.1). Placeholder until completed."""

from __future__ import annotations

from llmfake.engine._call import Call, Message
from llmfake.engine._plan import Plan
from llmfake.providers._base import Incoming, Rendered, pretty
from llmfake.providers._openai_common import (
    JSON_TYPE,
    base_headers,
    body_object,
    make_call,
)


def parse(inc: Incoming) -> Call:
    """``POST /v1/responses`` to a ``Call``."""
    body = body_object(inc)
    text = body.get("input", "")
    return make_call(inc, "openai", "responses", str(body.get("model", "")),
                     messages=(Message("user", str(text)),))


def render(plan: Plan) -> Rendered:
    """A response object."""
    text = plan.choices[0].text if plan.choices else ""
    body = {"id": f"resp_{plan.uid}", "object": "response", "created_at": plan.created,
            "status": "completed", "model": plan.call.model,
            "output": [{"type": "message", "id": f"msg_{plan.uid}", "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    return Rendered(200, {**base_headers(plan), "content-type": JSON_TYPE}, pretty(body))

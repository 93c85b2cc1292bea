"""Replaying a recorded interaction: its status, headers and body or stream chunks, on the
recorded schedule (offsets from the request's arrival, scaled by ``Plan.replay_factor``).

Recorded chunks become ``Event``s, so the scenario's faults strike them exactly as they strike
generated streams; each is flagged as content or framing (by the provider's ``is_content``), so
``after_chunks: 3`` means "after three chunks that carried content", whatever the provider's
framing events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from llmfake.engine._plan import Plan
from llmfake.providers import spec_of
from llmfake.providers._base import Event, ProviderSpec, Rendered

__all__ = ["Replay", "is_content", "render"]

# Hop-by-hop and body-encoding headers describe the recorded connection, not this one; a
# redacted set-cookie would plant a cookie named after the placeholder in the client's jar.
_DROP = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection",
                   "keep-alive", "date", "server", "set-cookie"})


class Replay:
    """What the wire needs to replay a plan: the response and when each part is due."""

    __slots__ = ("deadlines", "headers_at", "rendered")

    def __init__(self, rendered: Rendered, deadlines: tuple[float, ...], headers_at: float
                 ) -> None:
        self.rendered = rendered
        self.deadlines = deadlines
        """Seconds from arrival: one per stream event, or one for a buffered body."""
        self.headers_at = headers_at
        """Seconds from arrival until the status and headers go out."""


def render(plan: Plan, extra_headers: Mapping[str, str]) -> Replay:
    """The recorded response of ``plan`` (which must have ``recorded``) ready for the wire."""
    interaction = plan.recorded
    assert interaction is not None
    response = interaction.response
    factor = plan.replay_factor
    headers: dict[str, str] = {}
    for name, values in response.headers.items():
        if name.lower() not in _DROP and values:
            headers[name] = values[-1]
    headers.update(extra_headers)
    headers_at = max(response.headers_at, 0.0) * factor
    if response.chunks is None:
        rendered = Rendered(response.status, headers, response.content, text=response.body)
        return Replay(rendered, (headers_at,), headers_at)
    provider = spec_of(plan.call.provider)
    events = tuple(Event(c.content, i, is_content(c.data, provider))
                   for i, c in enumerate(response.chunks))
    # Offsets are absolute, so a slow write never pushes later chunks back; a chunk recorded
    # before the headers (clock skew in a hand-edited file) goes out with them.
    deadlines = tuple(max(c.offset * factor, headers_at) for c in response.chunks) or (
        headers_at,)
    rendered = Rendered(response.status, headers, events=events, tokens=len(events))
    return Replay(rendered, deadlines, headers_at)


def is_content(data: str, provider: ProviderSpec) -> bool:
    """Whether a recorded SSE event or NDJSON line carries content (text, a tool-call fragment)
    rather than framing (a comment, ``[DONE]``, or what ``provider.is_content`` calls framing:
    a role delta, message_start, a ping, usage)."""
    payload = _payload(data)
    if payload is None:
        return False
    try:
        value = json.loads(payload)
    except ValueError:
        return True  # not JSON: count it, so faults can strike it
    if not isinstance(value, dict):
        return True
    return provider.is_content(value)


def _payload(data: str) -> str | None:
    """The JSON an event carries: its ``data:`` lines joined, or an NDJSON line; None for an
    event with no data (a comment, a keep-alive) and for ``[DONE]``."""
    text = data.strip()
    if not text:
        return None
    if text.startswith("{") or text.startswith("["):
        return text
    lines = [line[5:].lstrip() for line in text.splitlines() if line.startswith("data:")]
    if not lines:
        return None
    payload = "\n".join(lines)
    return None if payload.strip() == "[DONE]" else payload

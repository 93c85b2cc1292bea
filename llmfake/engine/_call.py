"""``Call``: a request, with the provider's wire format taken away."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Message:
    """One message of the conversation, its content flattened to text."""

    role: str
    """``system``, ``developer``, ``user``, ``assistant`` or ``tool``."""
    text: str
    """Text parts joined; non-text parts (images, audio) are left out."""
    calls: tuple[tuple[str | None, str], ...] = ()
    """An assistant message's tool calls: (call id, or None where the provider has none; the
    function's name)."""
    results: tuple[ToolResult, ...] = ()
    """A tool message's results (one, or several where the provider sends them together)."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned, as the client sends it back to the model."""

    content: str
    """The result as text (JSON for structured results)."""
    call_id: str | None = None
    """The id of the call it answers, where the provider has ids."""
    name: str | None = None
    """The tool's name where the request says it; else ``llmfake.engine._turns`` finds it from
    the call it answers."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the client offers the model."""

    name: str
    """The function's name."""
    parameters: Mapping[str, Any] | None = None
    """Its JSON Schema, used to generate arguments when the scenario gives none."""


# Not frozen: a frozen dataclass costs a setattr call per field to make, and one is made per
# request. The engine fills it in as it decides; nothing changes it after.
@dataclass(slots=True)
class Call:
    """A provider-neutral request: what the engine decides on."""

    provider: str
    """``openai``, ``azure``, ``anthropic``, ``gemini`` or ``ollama``."""
    endpoint: str
    """``chat``, ``responses``, ``completions``, ``embeddings`` or ``models``."""
    model: str
    """The model asked for (the deployment for Azure)."""
    messages: tuple[Message, ...] = ()
    """The conversation (the prompt, for completions)."""
    stream: bool = False
    """Whether the client asked for a stream."""
    max_tokens: int | None = None
    """The completion token limit the client set, if any."""
    stop: tuple[str, ...] = ()
    """Stop sequences: the text is cut before the first one."""
    n: int = 1
    """How many choices."""
    tools: tuple[ToolSpec, ...] = ()
    """Functions offered."""
    forced_tool: str | None = None
    """A tool the client forces (``tool_choice``); ``*`` for any one of them."""
    response_schema: Mapping[str, Any] | None = None
    """The JSON Schema of a structured-output request."""
    response_json: bool = False
    """Whether the client asked for JSON (``json_object`` or a schema)."""
    inputs: tuple[str, ...] = ()
    """Embedding inputs."""
    dimensions: int | None = None
    """Embedding dimensions asked for."""
    api_key: str | None = None
    """The API key sent, if any."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Request headers, names lower-cased."""
    tenant: str = "default"
    """The tenant whose state and journal the request belongs to."""
    body: Mapping[str, Any] = field(default_factory=dict)
    """The parsed request body, as the client sent it (replay matches recordings by it)."""
    wire: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """Provider-private data its rendering needs and no other field holds (Gemini's API version
    and query, Azure's api-version); rule matching, replay and the journal never read it."""

    @property
    def last_user_text(self) -> str:
        """The text of the last user message ('' when there is none)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return ""

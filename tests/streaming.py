"""Test helper shared by test folders: timing a stream from the client's side."""

from __future__ import annotations

import time

import openai


async def seconds_to_first_content(client: openai.AsyncOpenAI, model: str = "gpt-4o") -> float:
    """Seconds from sending a streamed chat completion to its first content chunk."""
    began = time.monotonic()
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True)
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic() - began
    assert first is not None, "the stream carried no content"
    return first

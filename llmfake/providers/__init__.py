"""Providers: wire formats in and out, nothing else (no I/O, no sleeping)."""

from llmfake.providers._base import Event, Incoming, InvalidRequest, ProviderSpec, Rendered, Route
from llmfake.providers.anthropic import PROVIDER as ANTHROPIC
from llmfake.providers.azure import PROVIDER as AZURE
from llmfake.providers.gemini import PROVIDER as GEMINI
from llmfake.providers.ollama import PROVIDER as OLLAMA
from llmfake.providers.openai import PROVIDER as OPENAI

PROVIDERS: tuple[ProviderSpec, ...] = (OPENAI, ANTHROPIC, GEMINI, AZURE, OLLAMA)
"""Every provider the server speaks."""

__all__ = [
    "OPENAI",
    "PROVIDERS",
    "Event",
    "Incoming",
    "InvalidRequest",
    "ProviderSpec",
    "Rendered",
    "Route",
]

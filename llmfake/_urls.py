"""The base URL each provider's official client takes, derived from one root URL.

Shared by the server, the recording proxy and the pytest fixture's tenant, which differ only in
their root (``http://host:port``, or ``.../t/<tenant>``). Imports nothing heavy: the pytest
plugin loads it before any server exists (the provider registry is imported on first use).
"""

from __future__ import annotations


class ProviderURLs:
    """Mixin: ``base_url(provider)``, and ``openai_base_url``, ``anthropic_base_url``,
    ``gemini_base_url``, ``azure_endpoint`` and ``ollama_host`` from the subclass's ``url``."""

    @property
    def url(self) -> str:
        """The root URL every other address is derived from."""
        raise NotImplementedError

    def base_url(self, provider: str) -> str:
        """The base URL ``provider``'s official SDK takes: ``url`` plus what the SDK's base
        URL holds beyond the root (``/v1`` for OpenAI)."""
        from llmfake.providers import spec_of

        return self.url + spec_of(provider).base_path

    @property
    def openai_base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)``: ``<url>/v1``."""
        return self.base_url("openai")

    @property
    def anthropic_base_url(self) -> str:
        """For ``anthropic.Anthropic(base_url=...)`` (the SDK adds ``/v1`` itself)."""
        return self.base_url("anthropic")

    @property
    def gemini_base_url(self) -> str:
        """For google-genai's ``HttpOptions(base_url=...)``."""
        return self.base_url("gemini")

    @property
    def azure_endpoint(self) -> str:
        """For ``openai.AzureOpenAI(azure_endpoint=...)``."""
        return self.base_url("azure")

    @property
    def ollama_host(self) -> str:
        """For ``ollama.Client(host=...)``."""
        return self.base_url("ollama")

"""Providers: wire formats in and out, nothing else (no I/O, no sleeping).

A provider is one module building one ``ProviderSpec`` and one line in ``REGISTRY``; what the
server, the recording proxy, the pytest plugin and ``intercept`` need to know about providers is
derived from the registry by the functions below.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmfake.providers._base import (
    Event,
    Incoming,
    InvalidRequest,
    PlainRoute,
    ProviderSpec,
    Rendered,
    Route,
)
from llmfake.providers.anthropic import PROVIDER as ANTHROPIC
from llmfake.providers.azure import PROVIDER as AZURE
from llmfake.providers.bedrock import PROVIDER as BEDROCK
from llmfake.providers.gemini import PROVIDER as GEMINI
from llmfake.providers.ollama import PROVIDER as OLLAMA
from llmfake.providers.openai import PROVIDER as OPENAI
from llmfake.providers.vertex import PROVIDER as VERTEX

REGISTRY: tuple[ProviderSpec, ...] = (OPENAI, ANTHROPIC, GEMINI, AZURE, OLLAMA, BEDROCK,
                                       VERTEX)
"""Every provider the server speaks. Order matters where two claim the same thing: routes of
the same path are tried in this order, ties between ``claim`` ranks go to the earlier one, and
``client_env`` lists the variables in this order."""

_BY_NAME = {spec.name: spec for spec in REGISTRY}


def spec_of(name: str) -> ProviderSpec:
    """The provider called ``name``; a ``KeyError`` naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no provider {name!r}; known: {', '.join(_BY_NAME)}") from None


def owner_of(path: str, headers: Mapping[str, str]) -> ProviderSpec:
    """The provider whose client most likely sent a request no route serves (``headers`` with
    lower-cased names): the one claiming it most surely (see ``ProviderSpec.claim``)."""
    best, rank = OPENAI, 0
    for spec in REGISTRY:
        claim = spec.claim(path, headers)
        if claim > rank:
            best, rank = spec, claim
    return best


def client_env(root: str) -> dict[str, str]:
    """Environment variables that point every provider's official SDK at a fake whose root URL
    is ``root`` (``http://host:port``, or a tenant's ``.../t/<name>``), with dummy keys."""
    out: dict[str, str] = {}
    for spec in REGISTRY:
        url = root + spec.base_path
        out.update({name: value.replace("{url}", url) for name, value in spec.env.items()})
    return out


def key_variables() -> tuple[str, ...]:
    """The variables a recording test keeps from the real environment (its real keys)."""
    return tuple(name for spec in REGISTRY for name in spec.key_variables)


def default_upstreams(environ: Mapping[str, str]) -> dict[str, str]:
    """Where recording sends each provider's requests, unless told otherwise: its
    ``upstream_variable`` when ``environ`` sets it, else its ``upstream``."""
    out: dict[str, str] = {}
    for spec in REGISTRY:
        url = (environ.get(spec.upstream_variable) if spec.upstream_variable else None) or (
            spec.upstream)
        if url:
            out[spec.name] = url
    return out


__all__ = [
    "OPENAI",
    "REGISTRY",
    "Event",
    "Incoming",
    "InvalidRequest",
    "PlainRoute",
    "ProviderSpec",
    "Rendered",
    "Route",
    "client_env",
    "default_upstreams",
    "key_variables",
    "owner_of",
    "spec_of",
]

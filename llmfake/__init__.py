"""llmfake: a fake LLM API server, scenario engine and pytest plugin.

Start here::

    import llmfake
    with llmfake.serve({"reply": {"text": "hi"}}) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="test")
"""

import typing as _typing

from llmfake._version import __version__
from llmfake.errors import (
    CassetteError,
    LLMFakeError,
    NetworkBlockedError,
    ScenarioError,
    ServerError,
    StateError,
    UnmatchedRequestError,
)

if _typing.TYPE_CHECKING:
    from llmfake.scenario import (
        Scenario,
        builtin_names,
        error,
        fault,
        load_scenario,
        reply,
    )
    from llmfake.scenario._schema import schema
    from llmfake.server import Server, serve

_SCENARIO_NAMES = frozenset({"Scenario", "builtin_names", "error", "fault", "load_scenario",
                             "reply"})

__all__ = [
    "CassetteError",
    "LLMFakeError",
    "NetworkBlockedError",
    "Scenario",
    "ScenarioError",
    "Server",
    "ServerError",
    "StateError",
    "UnmatchedRequestError",
    "__version__",
    "builtin_names",
    "error",
    "fault",
    "load_scenario",
    "reply",
    "schema",
    "serve",
]


def __getattr__(name: str) -> _typing.Any:
    # Loaded on first use: the scenario format (pydantic models, ~0.2 s to build) and the
    # server. A pytest session that loads the plugin but never uses llmfake pays for neither.
    if name in _SCENARIO_NAMES:
        from llmfake import scenario

        return getattr(scenario, name)
    if name == "schema":
        from llmfake.scenario._schema import schema

        return schema
    if name in ("Server", "serve"):
        from llmfake import server

        return getattr(server, name)
    if name == "intercept":  # a callable module: llmfake.intercept(server) routes provider URLs
        import importlib

        return importlib.import_module("llmfake.intercept")
    raise AttributeError(f"module 'llmfake' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

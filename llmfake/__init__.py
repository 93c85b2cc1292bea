"""llmfake: a fake LLM API server, scenario engine and pytest plugin.

Start here::

    import llmfake
    with llmfake.serve({"reply": {"text": "hi"}}) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="test")
"""

from llmfake._version import __version__
from llmfake.errors import LLMFakeError, ScenarioError, ServerError
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

__all__ = [
    "LLMFakeError",
    "Scenario",
    "ScenarioError",
    "Server",
    "ServerError",
    "__version__",
    "builtin_names",
    "error",
    "fault",
    "load_scenario",
    "reply",
    "schema",
    "serve",
]

"""The fake server: aiohttp app, plan execution on the wire, in-process runner."""

from llmfake.server._app import create_app
from llmfake.server._runner import Server, serve

__all__ = ["Server", "create_app", "serve"]

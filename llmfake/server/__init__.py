"""The fake server: its HTTP core, plan execution on the wire, in-process runner."""

from llmfake.server._http_message import Limits
from llmfake.server._runner import Server, serve

__all__ = ["Limits", "Server", "serve"]

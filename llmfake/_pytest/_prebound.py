"""A ``Server`` that listens on a socket bound beforehand (imports aiohttp: load it lazily)."""

from __future__ import annotations

import socket
from typing import Any

from llmfake.server import Server


class PreboundServer(Server):
    """A ``Server`` on an already bound, listening socket, so its URL can be known (and shown)
    before the server starts. Stopping it closes the socket."""

    def __init__(self, sock: socket.socket, scenario: Any = None, *, seed: int | None = None
                 ) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(scenario, host=host, port=port, seed=seed)
        self._prebound = sock

    # TODO(llmfake.server): a public ``Server(sock=...)`` would make this override unneeded;
    # ``_bind`` is the one place the server creates its socket.
    def _bind(self) -> socket.socket:
        return self._prebound

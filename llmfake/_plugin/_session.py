"""The session's server: its socket bound when the URL is first asked for, the server started on
first use, stopped at the end of the session.

The report header wants the URL before any test runs, but starting the server then would make
every pytest run import aiohttp, used or not. Binding a listening socket costs microseconds, so
the header binds it and the server is later started on that very socket (no race for the port);
a session that never uses llmfake only ever holds an idle socket.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmfake._plugin._options import SessionSettings
    from llmfake.server import Server

HOST = "127.0.0.1"


class SessionServer:
    """The server slot of one pytest session (one per xdist worker: each is a session)."""

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self._sock: socket.socket | None = None
        self._server: Server | None = None
        self.served: str | None = None
        """The URL of the server once it has run (kept after it stops, for the summary)."""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: binds the socket if it is not yet."""
        return f"http://{HOST}:{self._bound().getsockname()[1]}"

    def _bound(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_server((HOST, 0), backlog=1024)
        return self._sock

    def start(self) -> Server:
        """The running server, started on the bound socket on first call."""
        if self._server is None:
            from llmfake.server import Server

            scenario = (self.settings.load(self.settings.scenario, self.settings.origin)
                        if self.settings.scenario else None)
            server = Server(scenario, seed=self.settings.seed, sock=self._bound(),
                            state=self.settings.state)
            server.start()
            self._server, self.served = server, server.url
        return self._server

    def close(self) -> None:
        """Stop the server and close the socket (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

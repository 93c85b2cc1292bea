"""A server listening on loopback, run in a thread (``with``) or in the running loop
(``async with``): what ``llmfake.serve`` (its own HTTP core) and the recording proxy (an aiohttp
app) share.

The socket is bound before the app starts (or given), so there is no race for the port and the
URL is known at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from llmfake._urls import ProviderURLs
from llmfake.errors import ServerError

if TYPE_CHECKING:
    from aiohttp import web

_Self = TypeVar("_Self", bound="Listener")


class Listener(ProviderURLs):
    """The lifecycle and address of one listening server. Subclasses provide ``make_app`` (an
    aiohttp app), or override ``_open`` and ``_close``."""

    thread_name = "llmfake"
    """The background thread's name."""

    def __init__(self, host: str, port: int, sock: socket.socket | None = None) -> None:
        if sock is not None:  # a socket bound beforehand: its address wins
            host, port = sock.getsockname()[:2]
        self._given_sock = sock
        self.host = host
        """The address listened on."""
        self._port = port
        self._runner: Any = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    def make_app(self) -> web.Application:  # pragma: no cover - overridden
        """The app to serve (called once per start)."""
        raise NotImplementedError

    # --- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._sock is None:
            raise ServerError(f"the {self.thread_name} is not started; use it in a 'with' "
                              "block first")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # --- lifecycle ----------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        if self._given_sock is not None:
            return self._given_sock
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            return socket.create_server((self.host, self._port), family=family, backlog=1024)
        except OSError as exc:
            raise ServerError(f"cannot listen on {self.host}:{self._port}: {exc.strerror}; "
                              "if the port is taken, pick another (--port, or port= in Python; "
                              "0 picks a free one); if the address is wrong, fix --host "
                              "(host=)") from None

    async def start_async(self) -> None:
        """Start in the running event loop."""
        if self._runner is not None:
            return
        self._sock = self._bind()
        try:
            self._runner = await self._open(self._sock)
        except BaseException:
            self._sock.close()
            raise
        self._loop = asyncio.get_running_loop()

    async def stop_async(self) -> None:
        """Stop (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self._close(runner)
        if self._sock is not None:
            self._sock.close()

    async def _open(self, sock: socket.socket) -> Any:
        """Serve on ``sock``; returns what ``_close`` needs."""
        from aiohttp import web

        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False,
                               shutdown_timeout=0.5)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner

    async def _close(self, runner: Any) -> None:
        await runner.cleanup()

    def start(self: _Self) -> _Self:
        """Start in a background thread with its own event loop; return when it listens."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
                self._stopped = asyncio.Event()
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self._stopped.wait())
                loop.run_until_complete(self.stop_async())
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop the background thread (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopped.set)
        thread.join(10)

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self: _Self) -> _Self:
        await self.start_async()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop_async()

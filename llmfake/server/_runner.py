"""Running the fake server in-process: in a thread (``with``) or in the running loop
(``async with``), on a socket bound before the server starts, so there is no race for the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from llmfake.engine._engine import Engine, TenantState
from llmfake.errors import ServerError
from llmfake.journal import Journal
from llmfake.scenario._load import load_scenario
from llmfake.scenario._model import Scenario
from llmfake.server._app import LogHook, create_app
from llmfake.server._arrival import StampingServer


class Server:
    """A running fake server. Use ``with llmfake.serve(...) as server`` or ``async with``.

    ``url`` is the root (``http://127.0.0.1:PORT``); each provider's base URL is a property.
    """

    def __init__(
        self,
        scenario: Scenario | Mapping[str, Any] | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        log: LogHook | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        sc = load_scenario(scenario)
        if seed is not None:
            sc = dataclasses.replace(sc, seed=seed)
        self.scenario = sc
        """The scenario every tenant starts with."""
        self.engine = Engine(sc)
        """The engine: per-tenant state, journals and scenarios."""
        if sock is not None:  # a socket bound beforehand: its address wins
            host, port = sock.getsockname()[:2]
        self._given_sock = sock
        self.host = host
        self._port = port
        self._log = log
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    # --- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._sock is None:
            raise ServerError("the server is not started; use it in a 'with' block first")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The OpenAI base URL (``.../v1``), for ``OpenAI(base_url=...)``."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic base URL, for ``Anthropic(base_url=...)`` (the SDK adds ``/v1``)."""
        return self.url

    @property
    def gemini_base_url(self) -> str:
        """The Gemini base URL, for google-genai's ``HttpOptions(base_url=...)``."""
        return self.url

    @property
    def azure_endpoint(self) -> str:
        """The Azure OpenAI endpoint, for ``AzureOpenAI(azure_endpoint=...)``."""
        return self.url

    @property
    def ollama_host(self) -> str:
        """The Ollama host, for ``ollama.Client(host=...)``."""
        return self.url

    def env(self, tenant: str | None = None) -> dict[str, str]:
        """Environment variables that point every provider's official SDK at this server
        (at ``tenant``, when given), with dummy API keys."""
        root = self.tenant_url(tenant) if tenant else self.url
        return {
            "OPENAI_BASE_URL": f"{root}/v1",
            "OPENAI_API_KEY": "sk-llmfake",
            "ANTHROPIC_BASE_URL": root,
            "ANTHROPIC_API_KEY": "sk-ant-llmfake",
            "GOOGLE_GEMINI_BASE_URL": root,
            "GEMINI_API_KEY": "llmfake",
            "AZURE_OPENAI_ENDPOINT": root,
            "AZURE_OPENAI_API_KEY": "llmfake",
            "OPENAI_API_VERSION": "2024-10-21",
            "OLLAMA_HOST": root,
        }

    def tenant_url(self, tenant: str) -> str:
        """The root URL of ``tenant`` (``.../t/{tenant}``): its own scenario, state, journal."""
        return f"{self.url}/t/{tenant}"

    # --- state --------------------------------------------------------------------------------

    def tenant(self, name: str = "default") -> TenantState:
        """The state of tenant ``name``."""
        return self.engine.tenant(name)

    def journal(self, tenant: str = "default") -> Journal:
        """The journal of ``tenant``."""
        return self.engine.tenant(tenant).journal

    def use(self, scenario: Scenario | Mapping[str, Any] | str, tenant: str = "default") -> None:
        """Put ``scenario`` in force for ``tenant`` and reset its state."""
        sc = load_scenario(scenario)
        self._call_in_loop(self.engine.set_scenario, tenant, sc)

    def reset(self, tenant: str = "default") -> None:
        """Forget ``tenant``'s counters and journal."""
        self._call_in_loop(self.engine.tenant(tenant).reset)

    def _call_in_loop(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or self._thread is None or not loop.is_running():
            fn(*args)
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn(*args)
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        done.wait(10)

    # --- lifecycle ----------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        if self._given_sock is not None:
            return self._given_sock
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self._port), family=family, backlog=1024,
                                        reuse_port=False)
        except OSError as exc:
            raise ServerError(f"cannot listen on {self.host}:{self._port}: {exc.strerror}; "
                              "pick another --port, or 0 for a free one") from None
        return sock

    async def start_async(self) -> None:
        """Start in the running event loop."""
        if self._runner is not None:
            return
        self._sock = self._bind()
        app = create_app(self.engine, log=self._log)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=0.5)
        try:
            await runner.setup()
            if type(runner.server) is web.Server:
                runner.server.__class__ = StampingServer
            await web.SockSite(runner, self._sock).start()
        except BaseException:
            await runner.cleanup()
            self._sock.close()
            raise
        self._runner = runner
        self._loop = asyncio.get_running_loop()

    async def stop_async(self) -> None:
        """Stop (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._sock is not None:
            self._sock.close()

    def start(self) -> Server:
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

        self._thread = threading.Thread(target=run, name="llmfake-server", daemon=True)
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

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Server:
        await self.start_async()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop_async()


def serve(
    scenario: Scenario | Mapping[str, Any] | str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    log: LogHook | None = None,
    sock: socket.socket | None = None,
) -> Server:
    """A fake server for ``scenario`` (a ``Scenario``, dict, path or built-in name).

    ``with serve(...) as server:`` runs it in a thread; ``async with serve(...) as server:`` in
    the running loop. Port 0 (the default) picks a free port; ``sock`` serves on a socket bound
    beforehand (its address is known before the server starts; stopping closes it).
    """
    return Server(scenario, host=host, port=port, seed=seed, log=log, sock=sock)

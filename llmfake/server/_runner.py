"""Running the fake server in-process: in a thread (``with``) or in the running loop
(``async with``), on a socket bound before the server starts, so there is no race for the port.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import socket
from collections.abc import Mapping
from typing import Any

from llmfake.engine._engine import Engine, TenantState
from llmfake.errors import ServerError
from llmfake.journal import JOURNAL_LIMIT, Journal
from llmfake.scenario._load import load_scenario
from llmfake.scenario._model import Scenario
from llmfake.server._app import App, LogHook
from llmfake.server._background import Listener
from llmfake.server._http import HttpServer, Limits


class Server(Listener):
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
        journal_size: int = JOURNAL_LIMIT,
        limits: Limits | None = None,
    ) -> None:
        sc = load_scenario(scenario)
        if seed is not None:
            sc = dataclasses.replace(sc, seed=seed)
        if journal_size < 1:
            raise ValueError(f"journal_size must be at least 1, not {journal_size}")
        self.scenario = sc
        """The scenario every tenant starts with."""
        self.engine = Engine(sc, journal_size=journal_size)
        """The engine: per-tenant state, journals and scenarios."""
        super().__init__(host, port, sock)
        self._log = log
        self.limits = limits or Limits()
        """The HTTP core's size ceilings and timeouts (the scenario's ``limits`` are apart)."""

    thread_name = "llmfake-server"

    async def _open(self, sock: socket.socket) -> HttpServer:
        app = App(self.engine, log=self._log)
        http = HttpServer(app, app.body_limit, self.limits)
        await http.serve(sock)
        return http

    async def _close(self, runner: HttpServer) -> None:
        await runner.close()

    # --- addresses (url, port and every provider's base URL come from Listener) ----------

    def env(self, tenant: str | None = None) -> dict[str, str]:
        """Environment variables that point every provider's official SDK at this server
        (at ``tenant``, when given), with dummy API keys."""
        root = self.tenant_url(tenant) if tenant else self.url
        from llmfake.providers import client_env

        return client_env(root)

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
        """Run ``fn(*args)`` in the server's loop and wait for it: what it raises is raised
        here, and a loop that does not get to it in time is an error, not a silent no-op."""
        loop = self._loop
        if loop is None or self._thread is None or not loop.is_running():
            fn(*args)
            return
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        loop.call_soon_threadsafe(run)
        try:
            future.result(timeout=_CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ServerError(f"the server's event loop did not run {fn.__qualname__} within "
                              f"{_CALL_TIMEOUT:g} s: it is blocked or shutting down") from None


_CALL_TIMEOUT = 10.0


def serve(
    scenario: Scenario | Mapping[str, Any] | str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    log: LogHook | None = None,
    sock: socket.socket | None = None,
    journal_size: int = JOURNAL_LIMIT,
    limits: Limits | None = None,
) -> Server:
    """A fake server for ``scenario`` (a ``Scenario``, dict, path or built-in name).

    ``with serve(...) as server:`` runs it in a thread; ``async with serve(...) as server:`` in
    the running loop. Port 0 (the default) picks a free port; ``sock`` serves on a socket bound
    beforehand (its address is known before the server starts; stopping closes it).
    ``journal_size``: exchanges each tenant's journal keeps (a ring; the oldest go first).
    ``limits``: the HTTP core's ceilings and timeouts (``llmfake.server.Limits``: target, header
    block and body sizes, header/body/idle timeouts), e.g. short timeouts to test a client's
    handling of a 408 or of an idle keep-alive connection being closed.
    """
    return Server(scenario, host=host, port=port, seed=seed, log=log, sock=sock,
                  journal_size=journal_size, limits=limits)

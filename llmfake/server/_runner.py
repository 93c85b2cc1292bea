"""Running the fake server in-process: in a thread (``with``) or in the running loop
(``async with``), on a socket bound before the server starts, so there is no race for the port.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import socket
from collections.abc import Mapping
from typing import Any

from llmfake.engine._engine import Engine, TenantState
from llmfake.engine._redis import RedisState, check_url
from llmfake.errors import ServerError
from llmfake.journal import JOURNAL_LIMIT, Journal
from llmfake.scenario._load import load_scenario
from llmfake.scenario._model import Scenario
from llmfake.server._app import App, LogHook
from llmfake.server._background import Listener
from llmfake.server._http import HttpServer
from llmfake.server._http_message import Limits
from llmfake.server._pacer import pacer


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
        state: str | None = None,
    ) -> None:
        sc = load_scenario(scenario)
        if seed is not None:
            sc = dataclasses.replace(sc, seed=seed)
        if journal_size < 1:
            raise ValueError(f"journal_size must be at least 1, not {journal_size}")
        self.scenario = sc
        """The scenario every tenant starts with."""
        self.state = state_url(state)
        """Where the state lives: ``memory`` (this process) or a Redis URL shared with every
        instance using it (``state=``, else the ``LLMFAKE_STATE`` environment variable)."""
        shared = (None if self.state == "memory"
                  else RedisState(self.state, sc, journal_size=journal_size))
        self.engine = Engine(sc, journal_size=journal_size, shared=shared)
        """The engine: per-tenant state, journals and scenarios."""
        super().__init__(host, port, sock)
        self._log = log
        self.limits = limits or Limits()
        """The HTTP core's size ceilings and timeouts (the scenario's ``limits`` are apart)."""

    thread_name = "llmfake-server"

    async def _open(self, sock: socket.socket) -> HttpServer:
        if self.engine.shared is not None:
            await self.engine.shared.connect()
        app = App(self.engine, log=self._log)
        http = HttpServer(app, app.body_limit, self.limits,
                          paced=pacer(asyncio.get_running_loop()).pacing)
        await http.serve(sock)
        return http

    @property
    def turns(self) -> int:
        """Turns of the loop that read requests so far (0 while stopped): a count that
        changes as long as requests come in."""
        runner: HttpServer | None = self._runner
        return runner.turns if runner is not None else 0

    async def _close(self, runner: HttpServer) -> None:
        await runner.close()
        if self.engine.shared is not None:
            await self.engine.shared.close()

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
        if self.engine.shared is not None:
            self._await_in_loop(self._publish, tenant, sc)

    def reset(self, tenant: str = "default") -> None:
        """Forget ``tenant``'s counters and journal."""
        self._call_in_loop(self.engine.tenant(tenant).reset)
        if self.engine.shared is not None:
            self._await_in_loop(self._publish, tenant, None)

    async def _publish(self, tenant: str, sc: Scenario | None) -> None:
        """Put ``sc`` (None: a reset) in force for ``tenant`` on every instance."""
        assert self.engine.shared is not None
        self.engine.tenant(tenant).version = await self.engine.shared.put(tenant, sc)

    def _await_in_loop(self, fn: Any, *args: Any) -> None:
        """Run the coroutine ``fn(*args)`` in the server's loop (or in a loop of its own when
        the server is not running) and wait for it."""
        loop = self._loop
        if loop is None or self._thread is None or not loop.is_running():
            shared = self.engine.shared

            async def alone() -> None:
                try:
                    await fn(*args)
                finally:
                    if shared is not None:
                        await shared.close()

            asyncio.run(alone())
            return
        future = asyncio.run_coroutine_threadsafe(fn(*args), loop)
        try:
            future.result(timeout=_CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ServerError(f"the server's event loop did not run {fn.__qualname__} within "
                              f"{_CALL_TIMEOUT:g} s: it is blocked or shutting down") from None

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
    state: str | None = None,
) -> Server:
    """A fake server for ``scenario`` (a ``Scenario``, dict, path or built-in name).

    ``with serve(...) as server:`` runs it in a thread; ``async with serve(...) as server:`` in
    the running loop. Port 0 (the default) picks a free port; ``sock`` serves on a socket bound
    beforehand (its address is known before the server starts; stopping closes it).
    ``journal_size``: exchanges each tenant's journal keeps (a ring; the oldest go first).
    ``limits``: the HTTP core's ceilings and timeouts (``llmfake.server.Limits``: target, header
    block and body sizes, header/body/idle timeouts), e.g. short timeouts to test a client's
    handling of a 408 or of an idle keep-alive connection being closed.
    ``state``: ``"memory"`` (the default: this process's own) or a Redis URL
    (``redis://HOST:PORT/DB``) that every server using it shares: tenants, scenarios, limits,
    scripts, chaos and the journal are then global (default: ``LLMFAKE_STATE``, else memory).
    """
    return Server(scenario, host=host, port=port, seed=seed, log=log, sock=sock,
                  journal_size=journal_size, limits=limits, state=state)



def state_url(state: str | None) -> str:
    """``"memory"`` or the Redis URL ``state`` (or ``LLMFAKE_STATE``) names, checked."""
    if state is None:
        state = os.environ.get("LLMFAKE_STATE", "") or "memory"
    if state == "memory":
        return state
    if state == "redis":
        raise ValueError("state 'redis' without a URL starts a private redis-server only "
                         "under `llmfake serve`; give a URL such as redis://127.0.0.1:6379/0")
    return check_url(state)

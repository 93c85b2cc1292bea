"""Test helpers: ``llmfake serve`` processes on one Redis, behind a round-robin TCP balancer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit


def serve(*args: str) -> tuple[subprocess.Popen[str], str, str]:
    """A ``llmfake serve`` child on a free port: (process, its URL, its banner)."""
    proc = subprocess.Popen([sys.executable, "-m", "llmfake", "serve", "--port", "0", "--quiet",
                             *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("export OLLAMA_HOST"):
            break
    banner = "".join(lines)
    found = re.search(r"on (http://\S+)", banner)
    assert found, banner
    return proc, found.group(1), banner


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class RoundRobin:
    """A TCP load balancer: each connection goes to the next backend in turn.

    It knows nothing of HTTP, as a layer-4 balancer: a client spreads its requests over the
    backends by opening a connection for each (no keep-alive)."""

    __test__ = False

    def __init__(self, urls: list[str]) -> None:
        self.backends = [(urlsplit(u).hostname or "", urlsplit(u).port or 80) for u in urls]
        self.connections = [0] * len(urls)
        """Connections each backend was given."""
        self._turn = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.url = f"http://127.0.0.1:{self._port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self._port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self._turn % len(self.backends)
        self._turn += 1
        self.connections[index] += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.backends[index])
        except OSError:  # a dead backend: the client sees its connection dropped
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def close(self) -> None:
        async def shut() -> None:
            self._server.close()
            # Connections still piped (a keep-alive client not closed yet) end here, not in
            # the garbage collector.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await writer.wait_closed()


@contextlib.contextmanager
def cluster(scenario: str, state: str, count: int, tmp: Path
            ) -> Iterator[tuple[RoundRobin, list[subprocess.Popen[str]], list[str]]]:
    """``count`` ``llmfake serve`` processes for the YAML ``scenario`` on the state at
    ``state``, behind a round-robin balancer: (balancer, processes, their URLs)."""
    file = tmp / "scenario.yaml"
    file.write_text(scenario)
    procs: list[subprocess.Popen[str]] = []
    balancer = None
    try:
        urls = []
        for _ in range(count):
            proc, url, _ = serve("--state", state, "--scenario", str(file))
            procs.append(proc)
            urls.append(url)
        balancer = RoundRobin(urls)
        yield balancer, procs, urls
    finally:
        if balancer is not None:
            balancer.close()
        for proc in procs:
            stop(proc)

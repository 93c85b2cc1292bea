"""A private ``redis-server``: what ``llmfake serve --state redis`` (no URL) and the test suite
start when they need a Redis no one else uses.

It listens on loopback only, on a free port, keeps its files in a temporary folder, saves
nothing (``--save '' --appendonly no``) and is stopped (and the folder removed) by ``stop()``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from llmfake.errors import StateError

INSTALL_HINT = ("redis-server is not on PATH; install it (Debian/Ubuntu: "
                "`apt-get install -y redis-server`, macOS: `brew install redis`) or give "
                "--state redis://HOST:PORT/DB for a Redis that runs elsewhere")
"""What to do when no ``redis-server`` can be found."""


def find_redis_server() -> str | None:
    """The path of ``redis-server``, or None."""
    return shutil.which("redis-server")


class RedisServer:
    """A ``redis-server`` process of our own; ``url`` is where it listens."""

    def __init__(self, executable: str | None = None, port: int = 0) -> None:
        exe = executable or find_redis_server()
        if exe is None:
            raise StateError(INSTALL_HINT)
        self.folder = Path(tempfile.mkdtemp(prefix="llmfake-redis-"))
        self.port = port
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        """The URL to give ``--state``."""
        self.process = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # Ctrl-C stops llmfake first; llmfake then stops it
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise StateError(f"redis-server exited at start-up (status "
                                 f"{self.process.returncode}) on port {self.port}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise StateError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        """Stop the process and remove its folder (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Peers run beside llmfake in the same benchmark: aimock (Node), installed from npm at a
pinned version into ``benchmarks/.peers`` (not committed) when node and npm are present.

aimock serves one catch-all fixture answering the benchmark's text, streamed ``chunk_size``
characters per SSE event (``llmock -c``).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _common import HERE, ServerProcess, server_process

AIMOCK_PACKAGE = "@copilotkit/aimock"
AIMOCK_VERSION = "1.43.0"
PEERS = HERE / ".peers"


def aimock_cli() -> tuple[Path | None, str]:
    """aimock's CLI (installing it on first use), or None and why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node and npm are not installed"
    home = PEERS / f"aimock-{AIMOCK_VERSION}"
    cli = home / "node_modules" / AIMOCK_PACKAGE / "dist" / "cli.js"
    if not cli.exists():
        home.mkdir(parents=True, exist_ok=True)
        (home / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent",
             f"{AIMOCK_PACKAGE}@{AIMOCK_VERSION}"], cwd=home, capture_output=True, text=True,
            timeout=300)
        if done.returncode != 0 or not cli.exists():
            return None, f"npm install {AIMOCK_PACKAGE}@{AIMOCK_VERSION} failed: " + (
                done.stderr.strip().splitlines() or ["?"])[-1]
    return cli, ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def aimock(text: str, cpu: int | None, chunk_size: int) -> Iterator[ServerProcess | None]:
    """aimock answering ``text`` to every chat request, pinned to ``cpu``; None when it
    cannot run here."""
    cli, _ = aimock_cli()
    if cli is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="llmfake-bench-aimock-") as tmp:
        fixtures = Path(tmp) / "fixtures.json"
        fixtures.write_text(json.dumps({"fixtures": [{"match": {},
                                                      "response": {"content": text}}]}))
        port = _free_port()
        argv = [shutil.which("node") or "node", str(cli), "--port", str(port), "--host",
                "127.0.0.1", "--fixtures", str(fixtures), "--chunk-size", str(chunk_size),
                "--log-level", "info"]
        with server_process("aimock", argv, cpu) as proc:
            yield proc

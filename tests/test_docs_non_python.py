"""docs/cookbook-non-python.md runs as written, against a real `llmfake serve` subprocess.

The page's blocks are run in order: the ```yaml block is saved as retry.yaml, the first ```sh
block starts the server (on a free port instead of 8000), every later ```sh block is a curl
command and the ```js block a Node program. A ```text block right after a command quotes what it
prints: each of its lines must occur in one line of the output, white space squeezed, ``...``
standing for any text. curl runs when it is installed; otherwise the same request is sent with
httpx (the test parses the curl options the page uses). Node runs when it is installed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cookbook-non-python.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PORT = "8000"


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def check_quoted(output: str, quoted: str, what: str) -> None:
    lines = [_squeeze(line) for line in output.splitlines()]
    for line in quoted.splitlines():
        parts = [p.strip() for p in _squeeze(line).split("...") if p.strip()]

        def fits(candidate: str, parts: list[str] = parts) -> bool:
            at = 0
            for part in parts:
                at = candidate.find(part, at)
                if at < 0:
                    return False
                at += len(part)
            return True

        assert not parts or any(fits(o) for o in lines), (
            f"the page quotes {line!r} after {what!r}, which it no longer prints:\n{output}")


def curl_with_httpx(command: str, cwd: Path) -> str:
    """What ``curl`` prints for the options this page uses, sent with httpx."""
    args = shlex.split(command.replace("\\\n", " "))
    assert args[0] == "curl", command
    method, headers, data, include, url = None, {}, None, False, ""
    it = iter(args[1:])
    for arg in it:
        if arg in ("-s", "-N"):
            continue
        if arg == "-i":
            include = True
        elif arg == "-X":
            method = next(it)
        elif arg == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data-binary"):
            value = next(it)
            data = (cwd / value[1:]).read_bytes() if value.startswith("@") else value.encode()
        elif arg.startswith("-"):
            raise AssertionError(f"the httpx stand-in for curl does not know {arg}: {command}")
        else:
            url = arg if "://" in arg else "http://" + arg
    response = httpx.request(method or ("POST" if data is not None else "GET"), url,
                             headers=headers, content=data, timeout=10)
    head = ""
    if include:
        head = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\n" + "".join(
            f"{k.decode()}: {v.decode()}\n" for k, v in response.headers.raw) + "\n"
    return head + response.text


def run_page(tmp_path: Path, *, node: bool) -> int:
    """Run the page's blocks in order (up to the Node program unless ``node``); return how many
    quoted outputs were checked."""
    items = blocks()
    server: subprocess.Popen[str] | None = None
    checked = 0
    try:
        address = ""
        for i, (kind, code) in enumerate(items):
            following = items[i + 1] if i + 1 < len(items) else ("", "")
            quoted = following[1] if following[0] == "text" else ""
            if kind == "yaml":
                (tmp_path / "retry.yaml").write_text(code, encoding="utf-8")
            elif kind == "sh" and server is None:
                args = shlex.split(code.strip())
                assert args[:2] == ["llmfake", "serve"] and f"--port {PORT}" in code, code
                args[args.index("--port") + 1] = "0"
                server = subprocess.Popen([sys.executable, "-m", "llmfake", *args[1:], "--quiet"],
                                          cwd=tmp_path, stdout=subprocess.PIPE, text=True)
                assert server.stdout is not None
                first = server.stdout.readline()
                address = re.search(r"http://([\d.]+:\d+)", first).group(1)  # type: ignore[union-attr]
            elif kind == "sh":
                command = code.replace(f"localhost:{PORT}", address)
                if shutil.which("curl"):
                    output = subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True,
                                            capture_output=True, text=True, timeout=30).stdout
                else:
                    output = curl_with_httpx(command, tmp_path)
                if quoted:
                    check_quoted(output, quoted, command)
                    checked += 1
            elif kind == "js":
                if not node:
                    break
                env_line = code.splitlines()[0]
                base = re.search(r"OPENAI_BASE_URL=(\S+)", env_line).group(1)  # type: ignore[union-attr]
                (tmp_path / "retry.mjs").write_text(code, encoding="utf-8")
                env = {**os.environ,
                       "OPENAI_BASE_URL": base.replace(f"127.0.0.1:{PORT}", address)}
                output = subprocess.run(["node", "retry.mjs"], cwd=tmp_path, env=env, check=True,
                                        capture_output=True, text=True, timeout=30).stdout
                check_quoted(output, quoted, "node retry.mjs")
                checked += 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
            if server.stdout is not None:
                server.stdout.close()
    return checked


def test_the_curl_commands_print_what_the_page_quotes(tmp_path):
    assert run_page(tmp_path, node=False) >= 5


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_node_example_retries_after_the_retry_after(tmp_path):
    assert run_page(tmp_path, node=True) >= 7


def test_the_httpx_stand_in_speaks_curl(tmp_path):
    # The fallback for machines without curl, checked against a real server here.
    import llmfake

    with llmfake.serve({"rules": [{"error": "rate_limit", "retry_after": "1s"}]}) as server:
        address = server.url.removeprefix("http://")
        output = curl_with_httpx(
            f"curl -s -i {address}/v1/chat/completions -H 'content-type: application/json' \\\n"
            """  -d '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'""",
            tmp_path)
    check_quoted(output, "HTTP/1.1 429 Too Many Requests\nretry-after: 1\n...rate_limit_exceeded",
                 "curl")

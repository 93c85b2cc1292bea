"""The README's quick start, run literally as a new user would: in a fresh copy of the project,
with only the system's ``python3`` on the PATH (no virtual environment active), the first
command, in the virtual environment the README asks for where pip refuses the system's
Python, installs llmfake and starts the server, which then answers curl's request. The second
command is what CI runs verbatim (.ci/run), so it is not run again here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SH = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def quick_start_commands() -> list[str]:
    """The ```sh blocks of the README's Quick start section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start"):]
    section = section[:section.index("\n## ", 3)]
    return [block.strip() for block in SH.findall(section)]


VENV = "python3 -m venv .venv && . .venv/bin/activate"


def test_the_quick_start_is_two_commands_and_says_how_to_run_them_in_a_venv():
    first, second, *_ = quick_start_commands()
    for command in (first, second):
        assert command.startswith("python3 -m pip install -e "), command
        assert "\n" not in command
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`{VENV}`" in text[text.index("## Quick start"):]
    assert first.endswith("python3 -m llmfake serve")
    assert second.endswith("python3 -m pytest")
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith(second)


def _system_env() -> dict[str, str]:
    """The environment of a fresh shell: no venv active, the system's python3 first."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH") and not k.startswith(
               ("PYTEST_", "OPENAI_"))}
    venv = Path(sys.prefix)
    path = [p for p in env.get("PATH", "").split(os.pathsep)
            if p and not Path(p).resolve().is_relative_to(venv.resolve())]
    base = Path(getattr(sys, "_base_executable", sys.executable)).parent
    env["PATH"] = os.pathsep.join([str(base), *path])
    return env


def test_the_first_command_installs_and_serves_from_a_fresh_copy(tmp_path):
    first = VENV + " && " + quick_start_commands()[0].replace(
        "python3 -m llmfake serve", "python3 -m llmfake serve --port 0")
    project = tmp_path / "llmfake"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(
        ".venv", ".git", "site", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache",
        ".pytest_cache", ".hypothesis", "cassettes"))
    proc = subprocess.Popen(["sh", "-c", first], cwd=project, env=_system_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 600  # pip install, from the registry or its cache
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the command ended early:\n" + "".join(seen[-40:])
            seen.append(line)
            found = re.search(r"serving scenario 'default' \(seed 0\) on (http://\S+)", line)
            url = found.group(1) if found else None
        assert url is not None, "".join(seen[-40:])
        assert (project / ".venv" / "bin" / "python3").exists()
        reply = httpx.post(url + "/v1/chat/completions", json={
            "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in that shell
        out, _ = proc.communicate(timeout=30)
    assert "llmfake: stopped" in out

"""docs/troubleshooting.md quotes messages llmfake really prints: each entry is triggered here.

Every entry of the page is a heading with an id (``### Unknown key {#unknown-key}``) followed by
a ```text block quoting what the user sees. For each id, ``TRIGGERS`` makes the error happen the
way a user would (the real CLI in a subprocess, the real loader, a real pytest session, a real
server) and each quoted line must occur in one line of what was printed, white space squeezed,
``...`` standing for any text. An entry without a trigger, or a trigger without an entry, fails
too: the page and this file move together.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

import llmfake
from llmfake.errors import ScenarioError, ServerError

PAGE = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"
ENTRY = re.compile(r"^#{2,4} [^\n]*\{#([a-z0-9-]+)\}\n(.*?)(?=^#{2,4} |\Z)",
                   re.MULTILINE | re.DOTALL)
TEXT = re.compile(r"^```text\n(.*?)^```", re.MULTILINE | re.DOTALL)


def entries() -> dict[str, list[str]]:
    """Quoted lines of each entry's ```text blocks, by the entry's id."""
    found = {}
    for m in ENTRY.finditer(PAGE.read_text(encoding="utf-8")):
        found[m.group(1)] = [line for block in TEXT.findall(m.group(2))
                             for line in block.splitlines() if line.strip()]
    return found


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def fits(candidate: str, quoted: str) -> bool:
    at = 0
    for part in (p.strip() for p in _squeeze(quoted).split("...")):
        if part:
            at = candidate.find(part, at)
            if at < 0:
                return False
            at += len(part)
    return True


# --- triggers --------------------------------------------------------------------------------


def cli(*args: str, cwd: Path, stdin: str | None = None) -> str:
    """Run ``llmfake ARGS`` as a user would; return what it printed (stdout and stderr)."""
    done = subprocess.run([sys.executable, "-m", "llmfake", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, f"llmfake {' '.join(args)} succeeded:\n{done.stdout}"
    return done.stdout + done.stderr


def validate(text: str, cwd: Path) -> str:
    (cwd / "retry.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return cli("validate", "retry.yaml", cwd=cwd)


def raised(call: Callable[[], object], kind: type[BaseException]) -> str:
    with pytest.raises(kind) as info:
        call()
    return f"{type(info.value).__module__}.{type(info.value).__qualname__}: {info.value}"


PYTEST_SESSION = '''
import openai
import pytest


def ask():
    with openai.OpenAI(max_retries=2) as client:
        return client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_steps_never_used(llmfake):
    llmfake.script(*[llmfake.error("rate_limit", retry_after="10ms")] * 3, llmfake.reply("ok"))
    with pytest.raises(openai.RateLimitError):
        ask()


def test_fewer_attempts(llmfake):
    llmfake.script(llmfake.error("rate_limit", retry_after="10ms"), llmfake.reply("ok"))
    ask()
    llmfake.journal.assert_attempts(3)


@pytest.mark.llmfake(scenario={"strict": True, "rules": [{"match": {"model": "o3"}}]})
def test_unexpected_request(llmfake):
    ask()


@pytest.mark.llmfake(scenaro="flaky.yaml")
def test_marker_typo(llmfake):
    pass


def test_no_rule_matched(llmfake):
    llmfake.use({"rules": [{"match": {"model": "gpt-4o-mini"}, "reply": "A short summary."}]})
    ask()


def test_what_the_fake_saw(llmfake):
    llmfake.use({"rules": [{"match": {"model": "gpt-4o-mini"}, "reply": "A short summary."}]})
    assert ask().choices[0].message.content == "A short summary."


async def test_async_not_supported(llmfake):
    pass
'''


_SESSIONS: dict[tuple[str, ...], str] = {}


def pytest_session(tmp_path: Path, *args: str) -> str:
    """What a pytest run of ``PYTEST_SESSION`` printed (one run per set of arguments)."""
    if args in _SESSIONS:
        return _SESSIONS[args]
    (tmp_path / "test_client.py").write_text(PYTEST_SESSION, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args,
                           "test_client.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    _SESSIONS[args] = done.stdout + done.stderr
    return _SESSIONS[args]


def recording(tmp_path: Path) -> str:
    """A test that scripts a retry, run once while recording from a stand-in upstream."""
    (tmp_path / "test_recorded.py").write_text(textwrap.dedent('''
        import openai
        import pytest

        @pytest.mark.llmfake(cassette=True)
        def test_recording_scripts(llmfake):
            llmfake.script(llmfake.error("rate_limit", retry_after="10ms"), llmfake.reply("ok"))
            with openai.OpenAI() as client:
                client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            llmfake.journal.assert_attempts(2)
        '''), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
    with llmfake.serve({"reply": "ok"}) as upstream:
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
                               "llmfake", "--llmfake-record=once",
                               f"--llmfake-upstream=openai={upstream.url}",
                               "test_recorded.py"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def port_in_use(tmp_path: Path) -> str:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        return cli("serve", "--port", str(taken.getsockname()[1]), cwd=tmp_path)


def connection_refused(tmp_path: Path) -> str:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]  # closed on leaving the block: nothing listens there
    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k",
                       max_retries=0) as client:
        return raised(lambda: client.models.list(), openai.APIConnectionError)


def wrong_key(tmp_path: Path) -> str:
    with llmfake.serve({"auth": {"keys": ["sk-test"]}}) as server, openai.OpenAI(
            base_url=server.openai_base_url, api_key="sk-other", max_retries=0) as client:
        return raised(lambda: client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]),
            openai.AuthenticationError)


def control_api(tmp_path: Path) -> str:
    with llmfake.serve() as server:
        return httpx.put(server.url + "/t/ci-42/_llmfake/scenario",
                         content="rules:\n  - {eror: rate_limit}\n").text


def control_refused(tmp_path: Path) -> str:
    with llmfake.serve() as server:
        return httpx.post(server.url + "/_llmfake/scenario", content="reply: pwned\n",
                          headers={"origin": "https://evil.example",
                                   "content-type": "text/plain"}).text


def network_blocked(tmp_path: Path) -> str:
    from llmfake.intercept import NetworkBlockedError, intercept

    with llmfake.serve() as server, intercept(server, block_network=True):
        return raised(lambda: httpx.get("https://example.com/telemetry"), NetworkBlockedError)


TRIGGERS: dict[str, Callable[[Path], str]] = {
    "unknown-key": lambda d: validate("""
        rules:
          - script:
              - {eror: rate_limit}
        """, d),
    "unknown-name": lambda d: validate("""
        rules:
          - script:
              - {error: rate-limit}
        """, d),
    "not-yaml": lambda d: validate("""
        rules:
          - script: [{error: rate_limit}, {reply: ok}
        """, d),
    "bad-value": lambda d: validate("latency: {ttft: 2 seconds}\n", d),
    "goes-with": lambda d: validate("rules:\n  - {retry_after: 2s}\n", d),
    "error-and-fault": lambda d: validate("rules:\n  - {error: rate_limit, fault: reset}\n", d),
    "empty-script": lambda d: validate("rules:\n  - {script: []}\n", d),
    "no-such-scenario": lambda d: cli("serve", "--scenario", "retyr.yaml", cwd=d),
    "helper-typo": lambda d: raised(lambda: llmfake.error("rate-limit"), ScenarioError),
    "port-in-use": port_in_use,
    "not-started": lambda d: raised(lambda: llmfake.Server().url, ServerError),
    "connection-refused": connection_refused,
    "wrong-key": wrong_key,
    "control-api": control_api,
    "control-refused": control_refused,
    "steps-never-used": lambda d: pytest_session(d, "-p", "llmfake"),
    "fewer-attempts": lambda d: pytest_session(d, "-p", "llmfake"),
    "unexpected-request": lambda d: pytest_session(d, "-p", "llmfake"),
    "marker-typo": lambda d: pytest_session(d, "-p", "llmfake"),
    "fixture-not-found": lambda d: pytest_session(d, "-p", "no:llmfake"),
    "no-rule-matched": lambda d: pytest_session(d, "-p", "llmfake"),
    "what-the-fake-saw": lambda d: pytest_session(d, "-p", "llmfake"),
    "async-not-supported": lambda d: pytest_session(d, "-p", "llmfake"),
    "recording-scripts": recording,
    "network-blocked": network_blocked,
}


def test_every_entry_has_a_trigger_and_every_trigger_an_entry():
    assert set(entries()) == set(TRIGGERS)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What each trigger printed."""
    return {name: trigger(tmp_path_factory.mktemp(name)) for name, trigger in TRIGGERS.items()}


@pytest.mark.parametrize("name", sorted(TRIGGERS))
def test_the_page_quotes_what_llmfake_prints(outputs, name):
    quoted = entries()[name]
    assert quoted, f"troubleshooting entry {name!r} quotes no message"
    printed = [_squeeze(line) for line in outputs[name].splitlines()]
    for line in quoted:
        assert any(fits(p, line) for p in printed), (
            f"troubleshooting entry {name!r} quotes {line!r}, which is no longer printed:\n"
            + outputs[name])

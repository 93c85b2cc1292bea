"""Shared fixtures: one fake server per session, a fresh tenant per test.

These stand in for the pytest plugin's fixtures until it lands; they use only llmfake's public
API and real sockets.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import socket
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openai
import pytest
import pytest_asyncio

import llmfake
import llmfake.journal

_counter = itertools.count()


@dataclass
class Fake:
    """A tenant of the session server, with helpers to script it."""

    __test__ = False

    server: llmfake.Server
    tenant: str

    @property
    def url(self) -> str:
        return self.server.tenant_url(self.tenant)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def use(self, scenario: Mapping[str, Any] | str) -> None:
        self.server.use(scenario, self.tenant)

    @property
    def journal(self) -> llmfake.journal.Journal:
        return self.server.journal(self.tenant)

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("_strict_response_validation", True)
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.base_url, api_key="sk-test-key-0123456789", **kwargs)

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("_strict_response_validation", True)
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(base_url=self.base_url, api_key="sk-test-key-0123456789",
                                  **kwargs)


@pytest.fixture(scope="session")
def server() -> Iterator[llmfake.Server]:
    with llmfake.serve() as srv:
        yield srv


@pytest.fixture
def fake(server: llmfake.Server, request: pytest.FixtureRequest) -> Fake:
    name = f"{request.node.name[:40]}-{next(_counter)}".replace("[", "-").replace("]", "")
    name = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in name)
    return Fake(server, name)


@pytest.fixture
def client(fake: Fake) -> Iterator[openai.OpenAI]:
    with fake.client() as c:
        yield c


@pytest_asyncio.fixture
async def aclient(fake: Fake) -> AsyncIterator[openai.AsyncOpenAI]:
    async with fake.async_client() as c:
        yield c


# --- nothing off this machine --------------------------------------------------------------------

_OFF_MACHINE: list[str] = []
"""Hosts off loopback this process looked up or connected to: the suite, and what it imports,
must reach nothing but the servers it starts (a library that phones home at import and
swallows the failure, as litellm does, would otherwise pass unnoticed)."""


_LOCAL_NAMES = frozenset({"", "localhost", socket.gethostname()})


def _on_this_machine(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited event in the process: the cheap test first.
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    if not _on_this_machine(host):
        _OFF_MACHINE.append(str(host))


sys.addaudithook(_audit)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Importing the test modules reached off the machine: name the hosts."""
    if _OFF_MACHINE:
        raise pytest.UsageError(f"collecting the tests tried to reach {sorted(set(_OFF_MACHINE))}")


@pytest.fixture(autouse=True)
def _stays_on_this_machine() -> Iterator[None]:
    before = len(_OFF_MACHINE)
    yield
    if len(_OFF_MACHINE) > before:
        pytest.fail(f"the test tried to reach {sorted(set(_OFF_MACHINE[before:]))}")


# --- no secret in any cassette the suite writes ------------------------------------------------

# Every secret the tests send contains SECRET (sk-live-SECRET-..., org-SECRET...); real key
# shapes are checked too, in case a test sends one.
_SECRET_SHAPES = re.compile(r"SECRET|sk-(?:proj-|ant-api\d\d-)[A-Za-z0-9_-]{20,}|AIza[\w-]{35}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan every cassette written under this run's temporary directory (tmp_path, pytester
    projects): a secret in one fails the run, whichever test wrote it."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return
    leaks = []
    scanned = 0
    for path in factory.getbasetemp().rglob("*.y*ml"):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "interactions:" not in text:
            continue
        scanned += 1
        found = _SECRET_SHAPES.search(text)
        if found:
            leaks.append(f"{path}: {found.group(0)!r}")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_sep("=", "secrets found in cassettes", red=True)
            for line in leaks:
                reporter.write_line(line)
    elif reporter is not None and scanned:
        reporter.write_line(f"secret scan: {scanned} cassette(s) written by this run, clean")

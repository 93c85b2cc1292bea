"""The framework drills: each cookbook page's ```py blocks, run unchanged as a user's suite.

A page's blocks are written into a ``pytester`` directory (a ``# file: NAME.py`` block under that
name, the others as ``test_<page>_line<N>.py``) and run in a child process with the llmfake
plugin, as tests/plugin/test_docs_examples.py runs the other pages. The child also loads
:data:`NETWORK_GUARD`: the frameworks must reach nothing but the fake, and some of them swallow
a failed call home (litellm falls back to its bundled cost map), so the guard records every
attempt and fails the test that made it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```py\n(.*?)^```", re.MULTILINE | re.DOTALL)
TEST = re.compile(r"^(?:async )?def (test_\w+)", re.MULTILINE)
HELPER = re.compile(r"\A# file: (\w+)\.py\n")
INNER_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
"""

NETWORK_GUARD = '''\
"""Refuse, and remember, every name lookup or connection to a host off this machine."""
import ipaddress
import socket

import pytest

attempts = []
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def _local(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        attempts.append(host)
        raise OSError(f"network guard: {host} is off this machine")
    return _getaddrinfo(host, *args, **kwargs)


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        attempts.append(address[0])
        raise OSError(f"network guard: {address[0]} is off this machine")
    return _connect(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect


@pytest.fixture(autouse=True)
def _no_network():
    before = len(attempts)
    yield
    assert attempts[before:] == [], f"the framework tried to reach {attempts[before:]}"
'''


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


def page_blocks(page: str) -> list[tuple[str, str]]:
    """(module name, source) of every ```py block of ``docs/<page>``."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    stem = Path(page).stem.replace("-", "_")
    found = []
    for m in BLOCK.finditer(text):
        helper = HELPER.match(m.group(1))
        line = text[:m.start()].count("\n") + 1
        found.append((helper.group(1) if helper else f"test_{stem}_line{line}", m.group(1)))
    return found


class Drill:
    """Runs test modules in a child pytest with the plugin and the network guard."""

    __test__ = False

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester

    def run_modules(self, modules: list[tuple[str, str]]) -> pytest.RunResult:
        """Write ``(name, source)`` modules and run them; the result, to check."""
        for name, source in modules:
            self.pytester.makepyfile(**{name: source})
        self.pytester.makepyfile(llmfake_network_guard=NETWORK_GUARD)
        self.pytester.makeini(INNER_INI)
        return self.pytester.runpytest_subprocess(
            "-p", "llmfake", "-p", "llmfake_network_guard", "-p", "no:cacheprovider", "-v",
            timeout=240)

    def run(self, page: str) -> pytest.RunResult:
        """Run the ```py blocks of ``docs/<page>``; every test in them must pass."""
        modules = page_blocks(page)
        tests = [t for _, source in modules for t in TEST.findall(source)]
        assert tests, f"docs/{page}: its ```py blocks hold no test"
        assert len(tests) == len(set(tests)), f"docs/{page}: a test name is used twice"
        result = self.run_modules(modules)
        result.assert_outcomes(passed=len(tests))
        return result


@pytest.fixture
def drill(pytester: pytest.Pytester) -> Drill:
    """Run a cookbook page's drills: ``drill.run("cookbook-litellm.md")``."""
    return Drill(pytester)

"""A redis-server of the tests' own, for the shared state backend.

Where none is installed the tests that need it skip, saying how to install it; with
``LLMFAKE_REQUIRE_SERVICES=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from llmfake._redis_server import INSTALL_HINT, RedisServer, find_redis_server


def _missing() -> None:
    if os.environ.get("LLMFAKE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"LLMFAKE_REQUIRE_SERVICES=1 and {INSTALL_HINT}")
    pytest.skip(INSTALL_HINT)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server (free port, temporary folder, nothing saved)."""
    if find_redis_server() is None:
        _missing()
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of a Redis database emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


def pytest_configure(config: pytest.Config) -> None:
    # pytester, for the plugin's --llmfake-state (see tests/plugin/conftest.py for why here).
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")

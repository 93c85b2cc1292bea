"""The pytest plugin (entry point ``llmfake``). Kept thin: heavy imports happen in fixtures.

The full fixture set (``llmfake``, markers, flags) arrives with the plugin issue; for now it
offers the session server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmfake.server import Server


@pytest.fixture(scope="session")
def llmfake_server() -> Iterator[Server]:
    """A fake server on a free port for the whole session, on the built-in default scenario."""
    from llmfake.server import serve

    with serve() as server:
        yield server

"""Fixtures for the raw-socket tests (the clients themselves are in ``rawhttp``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from rawhttp import QUICK, Site

import llmfake

_sites = itertools.count()


@pytest.fixture(scope="session")
def quick_server() -> Iterator[llmfake.Server]:
    """A server of its own with short timeouts (the suite's shared one keeps the defaults)."""
    with llmfake.serve(limits=QUICK) as srv:
        yield srv


@pytest.fixture
def site(quick_server: llmfake.Server) -> Iterator[Site]:
    """A fresh tenant of ``quick_server``; the connections opened to it close at the end."""
    s = Site(quick_server, f"wire-{next(_sites)}")
    yield s
    s.close()

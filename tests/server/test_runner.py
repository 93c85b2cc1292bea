"""The in-process runner: calls made into the server's loop from the test's thread."""

from __future__ import annotations

import time

import pytest

import llmfake
from llmfake.server import _runner


def test_what_a_call_into_the_loop_raises_is_raised_to_the_caller():
    with llmfake.serve() as server:
        with pytest.raises(ZeroDivisionError):
            server._call_in_loop(lambda: 1 / 0)
        server.use({"reply": "still serving"})  # the loop survived


def test_a_blocked_loop_is_an_error_not_a_silent_no_op(monkeypatch):
    monkeypatch.setattr(_runner, "_CALL_TIMEOUT", 0.2)
    with llmfake.serve() as server:
        assert server._loop is not None
        server._loop.call_soon_threadsafe(time.sleep, 1.0)  # something hogs the loop
        with pytest.raises(llmfake.ServerError, match="did not run"):
            server.use({"reply": "never in force"})

"""Exceptions raised by llmfake.

The tree::

    LLMFakeError                      base of everything llmfake raises on purpose
    ├── ScenarioError (ValueError)    a scenario file, dict or helper call is invalid
    └── ServerError (RuntimeError)    the fake server could not start or stop

Every message says where the problem is and how to fix it.
"""

from __future__ import annotations

__all__ = ["LLMFakeError", "ScenarioError", "ServerError"]


class LLMFakeError(Exception):
    """Base class of every exception llmfake raises on purpose."""


class ScenarioError(LLMFakeError, ValueError):
    """A scenario is invalid.

    ``source`` names the file (or ``<dict>``), ``path`` the field (``rules[2].script[0].error``)
    and ``problem`` what is wrong and what is allowed instead.
    """

    def __init__(self, problem: str, *, path: str = "", source: str = "<scenario>") -> None:
        self.problem = problem
        self.path = path
        self.source = source
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class ServerError(LLMFakeError, RuntimeError):
    """The fake server could not be started or stopped."""

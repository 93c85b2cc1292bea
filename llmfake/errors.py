"""Exceptions raised by llmfake.

The tree::

    LLMFakeError                            base of everything llmfake raises on purpose
    ├── ScenarioError (ValueError)          a scenario file, dict or helper call is invalid
    ├── CassetteError (ValueError)          a cassette file is invalid
    ├── UnmatchedRequestError (LookupError) replay: a request matched no recorded interaction
    ├── NetworkBlockedError                 intercept(block_network=True) refused a host
    ├── ServerError (RuntimeError)          the fake server could not start or stop
    └── StateError (ConnectionError)        the shared state (Redis) cannot be reached

The pytest plugin's assertion failures are ``AssertionError`` (pytest shows them as test
failures) and its marker and option mistakes are ``pytest.UsageError``: neither is an
``LLMFakeError``, since pytest must treat them as its own.

Every message says where the problem is and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CassetteError",
    "LLMFakeError",
    "NetworkBlockedError",
    "ScenarioError",
    "ServerError",
    "StateError",
    "UnmatchedRequestError",
]


class LLMFakeError(Exception):
    """Base class of every exception llmfake raises on purpose."""


class ScenarioError(LLMFakeError, ValueError):
    """A scenario is invalid.

    ``source`` names the file (or ``<dict>``), and ``problems`` lists every mistake found in it
    as (path, problem) pairs: the field (``rules[2].script[0].error``) and what is wrong and what
    is allowed instead. ``path`` and ``problem`` are the first of them. The message has one line
    per mistake: ``file: path: problem``.
    """

    def __init__(self, problem: str, *, path: str = "", source: str = "<scenario>",
                 problems: Sequence[tuple[str, str]] = ()) -> None:
        self.problems = list(problems) or [(path, problem)]
        self.path, self.problem = self.problems[0]
        self.source = source
        super().__init__("\n".join(f"{source}: {where}: {what}" if where else f"{source}: {what}"
                                   for where, what in self.problems))


class ServerError(LLMFakeError, RuntimeError):
    """The fake server could not be started or stopped."""


class StateError(LLMFakeError, ConnectionError):
    """The shared state (``--state redis://...``) cannot be reached. The message names its URL;
    a request that meets it gets a 503, and the next one tries again."""


class CassetteError(LLMFakeError, ValueError):
    """A cassette file is invalid. ``source`` names the file, ``index`` the interaction (or None
    when the problem is with the file as a whole)."""

    def __init__(self, problem: str, *, source: str = "<cassette>",
                 index: int | None = None) -> None:
        self.problem = problem
        self.source = source
        self.index = index
        where = source if index is None else f"{source}: interactions[{index}]"
        super().__init__(f"{where}: {problem}")


class UnmatchedRequestError(LLMFakeError, LookupError):
    """In strict mode, a request matched no recorded interaction. The message names the nearest
    recorded request and shows a diff of the two bodies; ``nearest`` is its index (or None)."""

    def __init__(self, message: str, *, nearest: int | None = None, diff: str = "") -> None:
        self.nearest = nearest
        self.diff = diff
        super().__init__(message)


class NetworkBlockedError(LLMFakeError):
    """A request to a host outside the fake was refused because ``block_network=True``.

    ``host`` is the refused host name.
    """

    def __init__(self, scheme: str, host: str, port: int | None, hosts: tuple[str, ...]) -> None:
        self.host = host
        where = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
        super().__init__(
            f"llmfake.intercept(block_network=True) refused a request to {where}: only the "
            f"intercepted hosts ({', '.join(hosts)}) and loopback are reachable. To let this host "
            f"through, pass allow_hosts=[{host!r}] to intercept(), or block_network=False."
        )

"""Exceptions raised by llmfake.

The tree::

    LLMFakeError                            base of everything llmfake raises on purpose
    ├── ScenarioError (ValueError)          a scenario file, dict or helper call is invalid
    ├── CassetteError (ValueError)          a cassette file is invalid
    ├── UnmatchedRequestError (LookupError) replay: a request matched no recorded interaction
    ├── NetworkBlockedError                 intercept(block_network=True) refused a host
    └── ServerError (RuntimeError)          the fake server could not start or stop

The pytest plugin's assertion failures are ``AssertionError`` (pytest shows them as test
failures) and its marker and option mistakes are ``pytest.UsageError``: neither is an
``LLMFakeError``, since pytest must treat them as its own.

Every message says where the problem is and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CassetteError",
    "LLMFakeError",
    "NetworkBlockedError",
    "ScenarioError",
    "ServerError",
    "UnmatchedRequestError",
]


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

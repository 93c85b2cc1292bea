"""Route code with hard-coded provider URLs into a running fake: ``intercept(server)``.

Code that posts to ``https://api.openai.com/v1/chat/completions`` itself (with ``requests``,
``httpx``, ``httpx2`` or ``aiohttp``, or through an official SDK left on its default base URL)
is tested unchanged::

    import llmfake
    import requests
    from llmfake.intercept import intercept

    def ask(prompt: str) -> str:  # the code under test, untouched
        r = requests.post("https://api.openai.com/v1/chat/completions", timeout=5,
                          headers={"Authorization": "Bearer sk-real-key"},
                          json={"model": "gpt-4o-mini",
                                "messages": [{"role": "user", "content": prompt}]})
        return r.json()["choices"][0]["message"]["content"]

    with llmfake.serve({"reply": "Hi!"}) as server, intercept(server):
        assert ask("Hello") == "Hi!"
        assert server.journal()[0].path == "/v1/chat/completions"

While a block is active, every request those libraries make to one of :data:`DEFAULT_HOSTS`
(``api.openai.com``, ``api.anthropic.com``, ``generativelanguage.googleapis.com`` and
``*.openai.azure.com``) goes to the fake instead: same method, path, query, headers and body,
over plain HTTP to the fake's address (prefixed with ``/t/<tenant>`` when a tenant is given),
with the ``Host`` header set to the fake's, and without any proxy the client was configured
with. Every other host is left alone, or refused with :class:`NetworkBlockedError` when
``block_network=True`` (loopback is always allowed, ``allow_hosts`` lets named hosts through).

How: the transports are patched, not the clients, so clients created before the block are
covered too:

- ``requests``: ``requests.adapters.HTTPAdapter.send``;
- ``httpx`` and ``httpx2``: ``HTTPTransport.handle_request`` and
  ``AsyncHTTPTransport.handle_async_request`` (a client given its own ``transport=``, such as
  a ``MockTransport`` or respx, is not touched);
- ``aiohttp``: ``aiohttp.ClientRequest.__init__`` (which sees the final URL: ``base_url``,
  ``params`` and redirects included).

Libraries that are not installed are skipped. The caller's request objects are not modified
and ``response.url`` stays the provider URL (the journal, and an ``aiohttp`` response's
``request_info.url``, show where the request really went).

The patches are **process-global**: while any block is active, requests from every thread and
every event loop are routed, to the innermost active target. Blocks nest (the inner target wins
until it exits) and may be re-entered; the original functions are put back, the very same
objects, when the last block exits, also when it exits through an exception. Running two
intercepted tests at once in one process (threads) is therefore not isolated; separate processes
(pytest-xdist) are. Other HTTP stacks (``urllib``, ``urllib3`` used directly, raw sockets, gRPC)
are neither routed nor blocked.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
import sys
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from llmfake.errors import NetworkBlockedError
from llmfake.providers import REGISTRY

__all__ = ["DEFAULT_HOSTS", "Interception", "NetworkBlockedError", "intercept"]

DEFAULT_HOSTS: tuple[str, ...] = tuple(host for spec in REGISTRY for host in spec.hosts)
"""The hosts routed into the fake by default (each provider's ``hosts``); ``*.`` matches any
subdomain."""

_TENANT = re.compile(r"[A-Za-z0-9_.~-]{1,128}\Z")
_PROXY_POOLS = frozenset({"HTTPProxy", "AsyncHTTPProxy", "SOCKSProxy", "AsyncSOCKSProxy"})




# --- one active target ----------------------------------------------------------------------


def _norm_host(host: str | None) -> str:
    return (host or "").strip("[]").rstrip(".").lower()


def _matches(host: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _Route:
    """Where intercepted requests go, and what else may pass."""

    origin: str  # "http://127.0.0.1:PORT"
    netloc: str  # "127.0.0.1:PORT", the Host header
    host: str
    prefix: str  # "" or "/t/tenant" (or a path the target URL carried)
    hosts: tuple[str, ...]
    block_network: bool
    allow_hosts: tuple[str, ...]

    def claims(self, scheme: str | None, host: str | None, port: int | None) -> bool:
        """Whether a request to this address goes to the fake. Raises when it is blocked."""
        name = _norm_host(host)
        if (scheme or "").lower() not in ("http", "https"):
            return False
        if _matches(name, self.hosts):
            return True
        if (self.block_network and not _is_loopback(name) and name != self.host
                and not _matches(name, self.allow_hosts)):
            raise NetworkBlockedError((scheme or "").lower(), name, port, self.hosts)
        return False

    def rewrite(self, path_qs: str) -> str:
        """The fake's URL for a request path (with its query)."""
        if not path_qs.startswith("/"):
            path_qs = "/" + path_qs
        return f"{self.origin}{self.prefix}{path_qs}"


_lock = threading.RLock()
_stack: list[_Route] = []
_saved: list[tuple[Any, str, Any]] = []  # (owner, attribute, the original object)


def _active() -> _Route | None:
    try:
        return _stack[-1]
    except IndexError:
        return None


# --- the patches ----------------------------------------------------------------------------


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _patch_requests() -> list[tuple[Any, str, Any]]:
    adapters = _import("requests.adapters")
    if adapters is None:
        return []
    owner = adapters.HTTPAdapter
    original = owner.__dict__["send"]

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        route = _active()
        if route is None:
            return original(self, request, *args, **kwargs)
        parts = urlsplit(request.url)
        if not route.claims(parts.scheme, parts.hostname, parts.port):
            return original(self, request, *args, **kwargs)
        routed = request.copy()
        routed.url = route.rewrite((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        if "Host" in routed.headers:
            routed.headers["Host"] = route.netloc
        # send(request, stream, timeout, verify, cert, proxies): no proxy for the fake.
        if len(args) >= 5:
            args = (*args[:4], None, *args[5:])
        else:
            kwargs["proxies"] = None
        response = original(self, routed, *args, **kwargs)
        response.request = request
        response.url = request.url
        return response

    return [(owner, "send", send)]


_wrappers: dict[str, tuple[Any, Any]] = {}


def _stream_wrappers(lib: Any) -> tuple[Any, Any]:
    """Response streams that also close the one-off transport used to bypass a proxy."""
    if lib.__name__ in _wrappers:
        return _wrappers[lib.__name__]

    class ClosingStream(lib.SyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, transport: Any) -> None:
            self._inner, self._transport = inner, transport

        def __iter__(self) -> Any:
            yield from self._inner

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._transport.close()

    class AsyncClosingStream(lib.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, transport: Any) -> None:
            self._inner, self._transport = inner, transport

        async def __aiter__(self) -> Any:
            async for chunk in self._inner:
                yield chunk

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                await self._transport.aclose()

    _wrappers[lib.__name__] = (ClosingStream, AsyncClosingStream)
    return ClosingStream, AsyncClosingStream


def _routed_httpx_request(lib: Any, request: Any, route: _Route) -> Any:
    # A shallow copy by hand: copy.copy() goes through Request.__getstate__, which drops the
    # body stream.
    routed = object.__new__(type(request))
    routed.__dict__.update(request.__dict__)
    routed.url = lib.URL(route.rewrite(request.url.raw_path.decode("ascii")))
    routed.headers = request.headers.copy()
    routed.headers["Host"] = route.netloc
    return routed


def _proxied(transport: Any) -> bool:
    return type(getattr(transport, "_pool", None)).__name__ in _PROXY_POOLS


def _patch_httpx(module: str) -> list[tuple[Any, str, Any]]:
    lib = _import(module)
    if lib is None:
        return []
    sync_owner, async_owner = lib.HTTPTransport, lib.AsyncHTTPTransport
    sync_original = sync_owner.__dict__["handle_request"]
    async_original = async_owner.__dict__["handle_async_request"]

    def handle_request(self: Any, request: Any) -> Any:
        route = _active()
        url = request.url
        if route is None or not route.claims(url.scheme, url.host, url.port):
            return sync_original(self, request)
        routed = _routed_httpx_request(lib, request, route)
        if not _proxied(self):
            return sync_original(self, routed)
        direct = sync_owner()
        try:
            response = sync_original(direct, routed)
        except BaseException:
            direct.close()
            raise
        response.stream = _stream_wrappers(lib)[0](response.stream, direct)
        return response

    async def handle_async_request(self: Any, request: Any) -> Any:
        route = _active()
        url = request.url
        if route is None or not route.claims(url.scheme, url.host, url.port):
            return await async_original(self, request)
        routed = _routed_httpx_request(lib, request, route)
        if not _proxied(self):
            return await async_original(self, routed)
        direct = async_owner()
        try:
            response = await async_original(direct, routed)
        except BaseException:
            await direct.aclose()
            raise
        response.stream = _stream_wrappers(lib)[1](response.stream, direct)
        return response

    return [(sync_owner, "handle_request", handle_request),
            (async_owner, "handle_async_request", handle_async_request)]


def _patch_aiohttp() -> list[tuple[Any, str, Any]]:
    aiohttp, yarl, multidict = _import("aiohttp"), _import("yarl"), _import("multidict")
    if aiohttp is None or yarl is None or multidict is None:
        return []
    owner = aiohttp.ClientRequest
    original = owner.__dict__["__init__"]

    def __init__(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> None:
        route = _active()
        if route is None or not route.claims(url.scheme, url.host, url.explicit_port):
            original(self, method, url, *args, **kwargs)
            return
        provider = str(url.origin())
        url = yarl.URL(route.rewrite(url.raw_path_qs), encoded=True)
        for key in ("proxy", "proxy_auth", "proxy_headers", "server_hostname"):
            if key in kwargs:
                kwargs[key] = None
        headers = kwargs.get("headers")
        if headers is not None and "Host" in headers:  # an explicit Host: the fake's instead
            headers = multidict.CIMultiDict(headers)
            headers.popall("Host")
            kwargs["headers"] = headers
        original(self, method, url, *args, **kwargs)
        # The response's url (made from original_url) stays the provider's, as with requests
        # and httpx; request_info.url shows where the request really went.
        sent = self.url
        self.original_url = yarl.URL(provider + sent.raw_path[len(route.prefix):] + (
            f"?{sent.raw_query_string}" if sent.raw_query_string else ""), encoded=True)

    return [(owner, "__init__", __init__)]


_PATCHERS: tuple[Callable[[], list[tuple[Any, str, Any]]], ...] = (
    _patch_requests,
    lambda: _patch_httpx("httpx"),
    lambda: _patch_httpx("httpx2"),
    _patch_aiohttp,
)


def _install() -> None:
    seen: set[tuple[int, str]] = set()
    for patcher in _PATCHERS:
        for owner, name, wrapper in patcher():
            if (id(owner), name) in seen:  # httpx2.alias_httpx() makes httpx the same module
                continue
            seen.add((id(owner), name))
            _saved.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, wrapper)


def _uninstall() -> None:
    while _saved:
        owner, name, original = _saved.pop()
        setattr(owner, name, original)


# --- the public context manager -------------------------------------------------------------


def _origin_and_prefix(target: Any) -> tuple[str, str, str, str]:
    url = target if isinstance(target, str) else getattr(target, "url", None)
    if not isinstance(url, str):
        raise TypeError(f"intercept() takes a llmfake.Server or a base URL string such as "
                        f"'http://127.0.0.1:8080', not {type(target).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"intercept() needs the fake's base URL, such as "
                         f"'http://127.0.0.1:8080', not {url!r}")
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin, parts.netloc, _norm_host(parts.hostname), parts.path.rstrip("/")


class Interception:
    """The context manager :func:`intercept` returns; ``with`` and ``async with`` both work.

    ``url`` is where intercepted requests go (the fake's root, with the tenant prefix).
    """

    def __init__(self, target: Any, *, tenant: str | None = None, block_network: bool = False,
                 allow_hosts: Iterable[str] = (), hosts: Iterable[str] = DEFAULT_HOSTS) -> None:
        if tenant is not None and not _TENANT.match(tenant):
            raise ValueError(f"intercept(tenant={tenant!r}): a tenant name is 1 to 128 of "
                             "A-Z a-z 0-9 _ . ~ -")
        if isinstance(hosts, str) or isinstance(allow_hosts, str):
            raise TypeError("intercept(hosts=..., allow_hosts=...) take lists of host names, "
                            "not a single string")
        self._target = target
        self._tenant = tenant
        self._block_network = block_network
        self._allow_hosts = tuple(_norm_host(h) for h in allow_hosts)
        self._hosts = tuple(_norm_host(h) for h in hosts)
        self._entered: list[_Route] = []
        if isinstance(target, str):
            self._route()  # validate now
        elif not hasattr(type(target), "url") and "url" not in getattr(target, "__dict__", {}):
            _origin_and_prefix(target)  # the TypeError; a Server's url is read on entry

    def _route(self) -> _Route:
        origin, netloc, host, prefix = _origin_and_prefix(self._target)
        if self._tenant is not None:
            prefix += f"/t/{self._tenant}"
        return _Route(origin, netloc, host, prefix, self._hosts, self._block_network,
                      self._allow_hosts)

    @property
    def url(self) -> str:
        """The root intercepted requests are sent to (``http://127.0.0.1:PORT[/t/tenant]``)."""
        route = self._route()
        return route.origin + route.prefix

    def __enter__(self) -> Interception:
        route = self._route()
        with _lock:
            if not _stack:
                try:
                    _install()
                except BaseException:
                    _uninstall()
                    raise
            _stack.append(route)
            self._entered.append(route)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with _lock:
            route = self._entered.pop()
            for i in range(len(_stack) - 1, -1, -1):  # the last one: blocks may exit out of order
                if _stack[i] is route:
                    del _stack[i]
                    break
            if not _stack:
                _uninstall()

    async def __aenter__(self) -> Interception:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def intercept(target: Any, *, tenant: str | None = None, block_network: bool = False,
              allow_hosts: Iterable[str] = (), hosts: Iterable[str] = DEFAULT_HOSTS
              ) -> Interception:
    """Route HTTP calls to the LLM providers' hosts into the fake ``target`` for a ``with`` block.

    ``target`` is a running :class:`llmfake.Server` (or anything with a ``url``) or a base URL
    string such as ``"http://127.0.0.1:8080"``. ``tenant`` sends the requests to that tenant
    (``/t/<tenant>``). ``block_network=True`` refuses requests to any other host with
    :class:`NetworkBlockedError`, except loopback and ``allow_hosts``. ``hosts`` replaces the
    routed hosts (:data:`DEFAULT_HOSTS`; ``"*.example.com"`` matches subdomains).

    Works around sync and async code alike (``with`` or ``async with``); see the module
    docstring for what is patched and the thread-safety caveat::

        with llmfake.serve({"reply": "Hi!"}) as server, intercept(server):
            requests.post("https://api.openai.com/v1/chat/completions", json=...)  # the fake
    """
    return Interception(target, tenant=tenant, block_network=block_network,
                        allow_hosts=allow_hosts, hosts=hosts)


class _CallableModule(types.ModuleType):
    """Lets ``llmfake.intercept(server)`` work although ``llmfake.intercept`` is this module
    once it is imported (the submodule and the function share the name)."""

    def __call__(self, target: Any, *, tenant: str | None = None, block_network: bool = False,
                 allow_hosts: Iterable[str] = (), hosts: Iterable[str] = DEFAULT_HOSTS
                 ) -> Interception:
        return intercept(target, tenant=tenant, block_network=block_network,
                         allow_hosts=allow_hosts, hosts=hosts)


sys.modules[__name__].__class__ = _CallableModule

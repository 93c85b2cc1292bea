"""llmfake.intercept: code with hard-coded provider URLs reaches the fake, unchanged.

No test may touch the network: an autouse guard makes any name lookup other than loopback fail
at once, so a request that escaped interception fails fast instead of reaching the provider.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import anthropic
import httpx
import httpx2
import openai
import pytest
import requests
import requests.adapters
from google import genai

import llmfake
import llmfake.intercept
from llmfake.errors import LLMFakeError, ServerError
from llmfake.intercept import DEFAULT_HOSTS, NetworkBlockedError, intercept

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
MESSAGES: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 50,
            "messages": [{"role": "user", "content": "Hello"}]}
AUTH = {"Authorization": "Bearer sk-test-0123456789"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test-0123456789", "anthropic-version": "2023-06-01"}
REPLY = "Hello from the fake."
PROVIDER_ENV = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
                "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                "GOOGLE_GENAI_USE_VERTEXAI", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "http_proxy", "https_proxy", "all_proxy")

_ids = itertools.count()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse every name lookup but loopback: an escaped request fails fast, offline."""
    real = socket.getaddrinfo
    refused: list[str] = []

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("localhost", "::1") and not name.startswith("127."):
            refused.append(name)
            raise OSError(f"test guard: no network lookups ({name})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    return refused


@pytest.fixture(scope="module")
def server() -> Iterator[llmfake.Server]:
    with llmfake.serve({"reply": "the default tenant"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def other() -> Iterator[llmfake.Server]:
    """Another loopback server, standing for any host that is not a provider's."""
    with llmfake.serve({"reply": "the other server"}) as srv:
        yield srv


@pytest.fixture
def new_tenant(server: llmfake.Server) -> Callable[..., str]:
    def make(reply: str = REPLY) -> str:
        name = f"icpt-{next(_ids)}"
        server.use({"reply": reply}, tenant=name)
        return name

    return make


@pytest.fixture
def tenant(new_tenant: Callable[..., str]) -> str:
    return new_tenant()


def patched_attributes() -> dict[str, Any]:
    """Every attribute intercept() replaces, as currently set."""
    return {
        "requests": requests.adapters.HTTPAdapter.__dict__["send"],
        "httpx": httpx.HTTPTransport.__dict__["handle_request"],
        "httpx-async": httpx.AsyncHTTPTransport.__dict__["handle_async_request"],
        "httpx2": httpx2.HTTPTransport.__dict__["handle_request"],
        "httpx2-async": httpx2.AsyncHTTPTransport.__dict__["handle_async_request"],
        "aiohttp": aiohttp.ClientRequest.__dict__["__init__"],
    }


def dead_port() -> int:
    """A loopback port nothing listens on (a proxy that would refuse every connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the code under test: hard-coded provider URLs -------------------------------------------


def ask_with_requests(prompt: str = "Hello", **kwargs: Any) -> str:
    body = {**CHAT, "messages": [{"role": "user", "content": prompt}]}
    r = requests.post(OPENAI_URL, json=body, headers=AUTH, timeout=5, **kwargs)
    r.raise_for_status()
    return str(r.json()["choices"][0]["message"]["content"])


def ask_with_httpx(client: httpx.Client) -> str:
    r = client.post(OPENAI_URL, json=CHAT, headers=AUTH)
    r.raise_for_status()
    return str(r.json()["choices"][0]["message"]["content"])


async def ask_with_aiohttp(session: aiohttp.ClientSession, url: str = ANTHROPIC_URL,
                           **kwargs: Any) -> str:
    async with session.post(url, json=MESSAGES, headers=ANTHROPIC_HEADERS, **kwargs) as r:
        r.raise_for_status()
        return str((await r.json())["content"][0]["text"])


# --- each client library --------------------------------------------------------------------


def test_requests_post_reaches_the_fake(server: llmfake.Server, tenant: str) -> None:
    with intercept(server, tenant=tenant):
        assert ask_with_requests("What is 2+2?") == REPLY
    [exchange] = server.journal(tenant)
    assert (exchange.method, exchange.path, exchange.provider) == (
        "POST", "/v1/chat/completions", "openai")
    assert exchange.body["messages"][0]["content"] == "What is 2+2?"
    assert exchange.headers["host"] == f"127.0.0.1:{server.port}"
    assert exchange.headers["authorization"] != AUTH["Authorization"]  # masked, but sent


def test_requests_response_keeps_the_provider_url(server: llmfake.Server, tenant: str) -> None:
    with intercept(server, tenant=tenant):
        prepared = requests.Request("POST", OPENAI_URL, json=CHAT, headers=AUTH).prepare()
        with requests.Session() as session:
            r = session.send(prepared, timeout=5)
    assert r.status_code == 200
    assert r.url == OPENAI_URL
    assert r.request is prepared and prepared.url == OPENAI_URL  # the caller's object untouched
    assert len(server.journal(tenant)) == 1


def test_httpx_client(server: llmfake.Server, tenant: str) -> None:
    with httpx.Client(timeout=5) as client:  # made before the block: still routed
        with intercept(server, tenant=tenant):
            assert ask_with_httpx(client) == REPLY
            r = client.get("https://api.openai.com/v1/models", headers=AUTH)
    assert r.status_code == 200
    assert str(r.url) == "https://api.openai.com/v1/models"
    assert r.request.headers["host"] == "api.openai.com"  # the caller's request untouched
    assert [e.path for e in server.journal(tenant)] == ["/v1/chat/completions", "/v1/models"]
    assert server.journal(tenant)[0].headers["host"] == f"127.0.0.1:{server.port}"


async def test_httpx_async_client(server: llmfake.Server, tenant: str) -> None:
    with intercept(server, tenant=tenant):
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.post(ANTHROPIC_URL, json=MESSAGES, headers=ANTHROPIC_HEADERS)
    assert r.status_code == 200
    assert r.json()["content"][0]["text"] == REPLY
    [exchange] = server.journal(tenant)
    assert (exchange.path, exchange.provider) == ("/v1/messages", "anthropic")


async def test_httpx2_sync_and_async(server: llmfake.Server, tenant: str) -> None:
    with intercept(server, tenant=tenant):
        with httpx2.Client(timeout=5) as client:
            r1 = client.post(OPENAI_URL, json=CHAT, headers=AUTH)
        async with httpx2.AsyncClient(timeout=5) as aclient:
            r2 = await aclient.post(ANTHROPIC_URL, json=MESSAGES, headers=ANTHROPIC_HEADERS)
    assert r1.json()["choices"][0]["message"]["content"] == REPLY
    assert r2.json()["content"][0]["text"] == REPLY
    assert [e.provider for e in server.journal(tenant)] == ["openai", "anthropic"]


async def test_aiohttp_session(server: llmfake.Server, tenant: str) -> None:
    with intercept(server, tenant=tenant):
        async with aiohttp.ClientSession() as session:
            assert await ask_with_aiohttp(session) == REPLY
            async with session.post(OPENAI_URL, json=CHAT, headers=AUTH) as r:
                assert r.status == 200
                assert str(r.url) == OPENAI_URL
                assert str(r.request_info.url).startswith(server.tenant_url(tenant))
    journal = server.journal(tenant)
    assert [(e.path, e.provider) for e in journal] == [
        ("/v1/messages", "anthropic"), ("/v1/chat/completions", "openai")]
    assert journal[0].headers["host"] == f"127.0.0.1:{server.port}"


async def test_aiohttp_base_url_params_and_explicit_host(server: llmfake.Server,
                                                         tenant: str) -> None:
    with intercept(server, tenant=tenant):
        async with aiohttp.ClientSession(base_url="https://api.openai.com") as session:
            async with session.get("/v1/models", params={"limit": "2"},
                                   headers={**AUTH, "Host": "api.openai.com"}) as r:
                assert r.status == 200
                assert str(r.url) == "https://api.openai.com/v1/models?limit=2"
    [exchange] = server.journal(tenant)
    assert exchange.path.startswith("/v1/models")
    assert exchange.headers["host"] == f"127.0.0.1:{server.port}"


# --- the official SDKs on their default base URLs -------------------------------------------


def test_openai_sdk_default_base_url(server: llmfake.Server, tenant: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy-0123456789")
    with intercept(server, tenant=tenant), openai.OpenAI(max_retries=0, timeout=5) as client:
        assert str(client.base_url) == "https://api.openai.com/v1/"
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": "Hello"}])
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
            {"role": "user", "content": "Hello"}])
        streamed = "".join(chunk.choices[0].delta.content or ""
                           for chunk in stream if chunk.choices)
    assert completion.choices[0].message.content == REPLY
    assert streamed == REPLY
    journal = server.journal(tenant)
    assert [(e.path, e.stream) for e in journal] == [("/v1/chat/completions", False),
                                                     ("/v1/chat/completions", True)]


async def test_openai_async_sdk_default_base_url(server: llmfake.Server, tenant: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy-0123456789")
    async with intercept(server, tenant=tenant):
        async with openai.AsyncOpenAI(max_retries=0, timeout=5) as client:
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=[
                {"role": "user", "content": "Hello"}])
    assert completion.choices[0].message.content == REPLY
    assert len(server.journal(tenant)) == 1


def test_anthropic_sdk_default_base_url(server: llmfake.Server, tenant: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-dummy-0123456789")
    with intercept(server, tenant=tenant), anthropic.Anthropic(max_retries=0,
                                                               timeout=5) as client:
        assert str(client.base_url) == "https://api.anthropic.com"
        message = client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=[
            {"role": "user", "content": "Hello"}])
    assert message.content[0].text == REPLY  # type: ignore[union-attr]
    [exchange] = server.journal(tenant)
    assert (exchange.path, exchange.provider) == ("/v1/messages", "anthropic")


def test_google_genai_default_host(server: llmfake.Server, tenant: str) -> None:
    with intercept(server, tenant=tenant), genai.Client(api_key="dummy-gemini-key") as client:
        response = client.models.generate_content(model="gemini-2.5-flash", contents="Hello")
    assert response.text == REPLY
    [exchange] = server.journal(tenant)
    assert exchange.provider == "gemini"
    assert exchange.path.endswith("/models/gemini-2.5-flash:generateContent")


def test_azure_openai_host_with_query(server: llmfake.Server, tenant: str) -> None:
    url = ("https://my-resource.openai.azure.com/openai/deployments/gpt-4o/chat/completions"
           "?api-version=2024-10-21")
    with intercept(server, tenant=tenant):
        r = requests.post(url, json=CHAT, headers={"api-key": "azure-key-0123456789"},
                          timeout=5)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == REPLY
    [exchange] = server.journal(tenant)
    assert exchange.provider == "azure"
    assert exchange.path == "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"


# --- what is not intercepted ----------------------------------------------------------------


def test_other_loopback_server_is_left_alone(server: llmfake.Server, other: llmfake.Server,
                                             tenant: str) -> None:
    name = f"other-{next(_ids)}"
    other.use({"reply": "the other server"}, tenant=name)
    url = other.tenant_url(name) + "/v1/chat/completions"

    async def async_clients() -> list[Any]:
        async with httpx2.AsyncClient(timeout=5) as aclient:
            r3 = await aclient.post(url, json=CHAT, headers=AUTH)
        async with aiohttp.ClientSession() as session, session.post(url, json=CHAT,
                                                                    headers=AUTH) as r4:
            return [r3.json(), await r4.json()]

    with intercept(server, tenant=tenant):
        bodies = [requests.post(url, json=CHAT, headers=AUTH, timeout=5).json()]
        with httpx.Client(timeout=5) as client:
            bodies.append(client.post(url, json=CHAT, headers=AUTH).json())
        bodies += asyncio.run(async_clients())
    assert [b["choices"][0]["message"]["content"] for b in bodies] == ["the other server"] * 4
    assert len(other.journal(name)) == 4
    assert len(server.journal(tenant)) == 0


def test_other_hosts_pass_through_untouched(server: llmfake.Server, tenant: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, Any]] = []

    def stub_send(self: Any, request: Any, **kwargs: Any) -> requests.Response:
        seen.append((request.url, kwargs.get("proxies")))
        response = requests.Response()
        response.status_code, response.url, response.request = 204, request.url, request
        response._content = b""
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", stub_send)
    proxies = {"https": "http://proxy.invalid:3128"}
    with intercept(server, tenant=tenant):
        requests.get("https://example.com/a?b=1", proxies=proxies, timeout=1)
        requests.get("https://api.openai.com/v1/models?limit=2", proxies=proxies, timeout=1)
    assert requests.adapters.HTTPAdapter.send is stub_send
    assert seen[0] == ("https://example.com/a?b=1", proxies)
    assert seen[1] == (f"{server.tenant_url(tenant)}/v1/models?limit=2", None)


def test_proxies_are_bypassed_for_the_fake(server: llmfake.Server, tenant: str) -> None:
    proxy = f"http://127.0.0.1:{dead_port()}"  # would refuse: only a bypass reaches the fake
    with intercept(server, tenant=tenant):
        assert ask_with_requests(proxies={"https": proxy, "http": proxy}) == REPLY
        with httpx.Client(proxy=proxy, timeout=5) as client:
            assert ask_with_httpx(client) == REPLY
        with httpx2.Client(proxy=proxy, timeout=5) as client2:
            r = client2.post(OPENAI_URL, json=CHAT, headers=AUTH)
            assert r.json()["choices"][0]["message"]["content"] == REPLY
    assert len(server.journal(tenant)) == 3


async def test_async_proxies_are_bypassed_for_the_fake(server: llmfake.Server,
                                                       tenant: str) -> None:
    proxy = f"http://127.0.0.1:{dead_port()}"
    with intercept(server, tenant=tenant):
        async with httpx.AsyncClient(proxy=proxy, timeout=5) as client:
            r = await client.post(OPENAI_URL, json=CHAT, headers=AUTH)
            assert r.json()["choices"][0]["message"]["content"] == REPLY
        async with aiohttp.ClientSession(proxy=proxy) as session:
            assert await ask_with_aiohttp(session, proxy=proxy) == REPLY
    assert len(server.journal(tenant)) == 2


def test_proxies_from_the_environment_are_bypassed(server: llmfake.Server, tenant: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = f"http://127.0.0.1:{dead_port()}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async def with_aiohttp() -> str:
        async with aiohttp.ClientSession(trust_env=True) as session:
            return await ask_with_aiohttp(session)

    with intercept(server, tenant=tenant):
        assert ask_with_requests() == REPLY
        with httpx.Client(timeout=5) as client:  # trust_env: mounts the proxy
            assert ask_with_httpx(client) == REPLY
        assert asyncio.run(with_aiohttp()) == REPLY
    assert len(server.journal(tenant)) == 3


# --- block_network --------------------------------------------------------------------------


def _requests_get(url: str) -> None:
    requests.get(url, timeout=1)


def _httpx_get(url: str) -> None:
    with httpx.Client(timeout=1) as client:
        client.get(url)


def _httpx2_get(url: str) -> None:
    with httpx2.Client(timeout=1) as client:
        client.get(url)


def _httpx_async_get(url: str) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(timeout=1) as client:
            await client.get(url)

    asyncio.run(go())


def _aiohttp_get(url: str) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as session, session.get(url) as r:
            await r.read()

    asyncio.run(go())


@pytest.mark.parametrize("get", [_requests_get, _httpx_get, _httpx2_get, _httpx_async_get,
                                 _aiohttp_get], ids=lambda f: f.__name__.strip("_"))
def test_block_network_refuses_other_hosts(server: llmfake.Server, tenant: str,
                                           get: Callable[[str], None],
                                           no_network: list[str]) -> None:
    with intercept(server, tenant=tenant, block_network=True):
        with pytest.raises(NetworkBlockedError) as info:
            get("https://example.com/some/path?key=secret")
        get("https://api.openai.com/v1/models")  # the providers still reach the fake
    message = str(info.value)
    assert info.value.host == "example.com"
    assert "https://example.com" in message and "secret" not in message
    assert "allow_hosts=['example.com']" in message and "block_network=False" in message
    assert isinstance(info.value, LLMFakeError)
    assert no_network == []  # refused before any lookup
    assert [e.path for e in server.journal(tenant)] == ["/v1/models"]


def test_block_network_allows_loopback_and_allow_hosts(server: llmfake.Server,
                                                       other: llmfake.Server, tenant: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with intercept(server, tenant=tenant, block_network=True):
        r = requests.get(other.url + "/_llmfake/health", timeout=5)  # loopback: allowed
        assert r.status_code == 200
        r = requests.get(f"http://localhost:{other.port}/_llmfake/health", timeout=5)
        assert r.status_code == 200
    seen: list[str] = []

    def stub_send(self: Any, request: Any, **kwargs: Any) -> requests.Response:
        seen.append(request.url)
        response = requests.Response()
        response.status_code, response.url, response.request = 204, request.url, request
        response._content = b""
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", stub_send)
    with intercept(server, tenant=tenant, block_network=True,
                   allow_hosts=["example.com", "*.example.org"]):
        requests.get("https://example.com/x", timeout=1)
        requests.get("https://api.example.org/y", timeout=1)
        with pytest.raises(NetworkBlockedError, match=r"example\.net"):
            requests.get("https://example.net/z", timeout=1)
    assert seen == ["https://example.com/x", "https://api.example.org/y"]


# --- restoring, nesting, threads ------------------------------------------------------------


def test_everything_is_restored_after_the_block(server: llmfake.Server, tenant: str) -> None:
    before = patched_attributes()
    with intercept(server, tenant=tenant):
        during = patched_attributes()
    after = patched_attributes()
    assert all(during[k] is not before[k] for k in before)
    assert all(after[k] is before[k] for k in before)
    assert requests.adapters.HTTPAdapter.send is before["requests"]
    with pytest.raises(OSError, match="test guard"):  # no longer routed: a real lookup
        requests.post(OPENAI_URL, json=CHAT, timeout=1)


def test_everything_is_restored_after_an_exception(server: llmfake.Server, tenant: str) -> None:
    before = patched_attributes()
    with pytest.raises(ZeroDivisionError), intercept(server, tenant=tenant):
        assert ask_with_requests() == REPLY
        1 / 0  # noqa: B018
    assert all(v is before[k] for k, v in patched_attributes().items())
    assert len(server.journal(tenant)) == 1


async def test_everything_is_restored_after_async_with(server: llmfake.Server,
                                                       tenant: str) -> None:
    before = patched_attributes()
    with pytest.raises(RuntimeError, match="boom"):
        async with intercept(server, tenant=tenant):
            async with httpx.AsyncClient(timeout=5) as client:
                await client.get("https://api.openai.com/v1/models", headers=AUTH)
            raise RuntimeError("boom")
    assert all(v is before[k] for k, v in patched_attributes().items())
    assert len(server.journal(tenant)) == 1


def test_nested_blocks_route_to_the_innermost(server: llmfake.Server,
                                              new_tenant: Callable[..., str]) -> None:
    outer, inner = new_tenant("outer reply"), new_tenant("inner reply")
    before = patched_attributes()
    with intercept(server, tenant=outer):
        assert ask_with_requests() == "outer reply"
        with intercept(server, tenant=inner):
            assert ask_with_requests() == "inner reply"
        assert patched_attributes()["requests"] is not before["requests"]  # still active
        assert ask_with_requests() == "outer reply"
    assert all(v is before[k] for k, v in patched_attributes().items())
    assert (len(server.journal(outer)), len(server.journal(inner))) == (2, 1)


def test_reentering_and_exiting_out_of_order(server: llmfake.Server,
                                             new_tenant: Callable[..., str]) -> None:
    a, b = new_tenant("reply a"), new_tenant("reply b")
    before = patched_attributes()
    block_a, block_b = intercept(server, tenant=a), intercept(server, tenant=b)
    with block_a, block_a:  # the same object, re-entered
        assert ask_with_requests() == "reply a"
    assert patched_attributes()["requests"] is before["requests"]
    block_a.__enter__()
    block_b.__enter__()
    block_a.__exit__(None, None, None)  # a leaves first: b stays in force
    assert ask_with_requests() == "reply b"
    block_b.__exit__(None, None, None)
    assert all(v is before[k] for k, v in patched_attributes().items())


def test_other_threads_are_routed_too(server: llmfake.Server, tenant: str) -> None:
    results: list[str] = []
    with intercept(server, tenant=tenant):
        thread = threading.Thread(target=lambda: results.append(ask_with_requests()))
        thread.start()
        thread.join(10)
    assert results == [REPLY]


# --- targets and arguments ------------------------------------------------------------------


def test_target_as_url_string(server: llmfake.Server, tenant: str) -> None:
    with intercept(server.url, tenant=tenant) as block:
        assert block.url == server.tenant_url(tenant)
        assert ask_with_requests() == REPLY
    with intercept(server.tenant_url(tenant) + "/"):  # a tenant URL works as well
        assert ask_with_requests() == REPLY
    assert len(server.journal(tenant)) == 2


def test_the_module_itself_is_callable(server: llmfake.Server, tenant: str) -> None:
    # ``llmfake.intercept`` names the submodule once imported: calling it is intercept().
    with llmfake.intercept(server, tenant=tenant) as block:  # type: ignore[operator]
        assert ask_with_requests() == REPLY
    assert block.url == server.tenant_url(tenant)
    assert len(server.journal(tenant)) == 1


def test_custom_hosts(server: llmfake.Server, tenant: str) -> None:
    with intercept(server, tenant=tenant, hosts=["llm.internal.example"]):
        r = requests.post("https://llm.internal.example/v1/chat/completions", json=CHAT,
                          headers=AUTH, timeout=5)
        assert r.json()["choices"][0]["message"]["content"] == REPLY
        with pytest.raises(OSError, match="test guard"):  # api.openai.com no longer routed
            requests.post(OPENAI_URL, json=CHAT, timeout=1)
    assert "api.openai.com" in DEFAULT_HOSTS
    assert len(server.journal(tenant)) == 1


def test_bad_arguments_are_explained(server: llmfake.Server) -> None:
    with pytest.raises(ValueError, match="tenant name"):
        intercept(server, tenant="a/b")
    with pytest.raises(ValueError, match="base URL"):
        intercept("ftp://127.0.0.1:21")
    with pytest.raises(TypeError, match=r"llmfake\.Server or a base URL"):
        intercept(42)
    with pytest.raises(TypeError, match="lists of host names"):
        intercept(server, allow_hosts="example.com")
    before = patched_attributes()
    with pytest.raises(ServerError, match="not started"), intercept(llmfake.Server()):
        pass
    assert all(v is before[k] for k, v in patched_attributes().items())

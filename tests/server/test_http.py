"""The server over raw HTTP (aiohttp client): malformed input, limits, auth, tenants, control."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

import llmfake

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def assert_openai_error(body: dict, *, code=None, param=None) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    assert body["error"]["code"] == code
    assert body["error"]["param"] == param


async def post(session, url, **kwargs):
    async with session.post(url, **kwargs) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def test_malformed_json_gets_openai_400(fake, session):
    status, headers, body = await post(session, fake.base_url + "/chat/completions",
                                       data=b"{not json", headers={
                                           "content-type": "application/json"})
    assert status == 400
    assert headers["x-request-id"].startswith("req_")
    payload = json.loads(body)
    assert_openai_error(payload)
    assert "could not parse the JSON body" in payload["error"]["message"]


@pytest.mark.parametrize(("payload", "param", "code", "words"), [
    ({"messages": [{"role": "user", "content": "x"}]}, None, None, "model"),
    ({"model": "m"}, "messages", "missing_required_parameter", "messages"),
    ({"model": "m", "messages": []}, "messages", "empty_array", "empty"),
    ({"model": "m", "messages": "hi"}, "messages", "invalid_type", "messages"),
    ({"model": 3, "messages": [{"role": "user", "content": "x"}]}, "model", "invalid_type",
     "model"),
    ({**CHAT, "n": 0}, "n", "integer_below_min_value", "n"),
    ({**CHAT, "max_tokens": "ten"}, "max_tokens", "invalid_type", "max_tokens"),
    ({**CHAT, "stop": 5}, "stop", "invalid_type", "stop"),
    ([1, 2, 3], None, None, "JSON"),
])
async def test_invalid_chat_requests(fake, session, payload, param, code, words):
    status, _, body = await post(session, fake.base_url + "/chat/completions", json=payload)
    assert status == 400
    err = json.loads(body)
    assert_openai_error(err, code=code, param=param)
    assert words in err["error"]["message"]
    assert fake.journal[-1].outcome == "invalid"


async def test_unknown_path_gets_404_in_openai_shape(fake, session):
    status, headers, body = await post(session, fake.base_url + "/chat/complete", json=CHAT)
    assert status == 404
    err = json.loads(body)
    assert_openai_error(err)
    assert err["error"]["message"] == "Invalid URL (POST /v1/chat/complete)"
    assert "x-request-id" in headers


async def test_paths_without_v1_prefix_work(fake, session):
    fake.use({"reply": "bare"})
    status, _, body = await post(session, fake.url + "/chat/completions", json=CHAT)
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "bare"


async def test_body_over_the_limit_gets_413(fake, session):
    fake.use({"limits": {"max_request_bytes": "1kb"}})
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 2000}]}
    status, _, body = await post(session, fake.base_url + "/chat/completions", json=big)
    assert status == 413
    assert_openai_error(json.loads(body), code="request_too_large")

    async def chunks():
        yield json.dumps(big).encode()[:900]
        yield json.dumps(big).encode()[900:]

    status, _, body = await post(session, fake.base_url + "/chat/completions", data=chunks(),
                                 headers={"content-type": "application/json"})
    assert status == 413
    ok, _, _ = await post(session, fake.base_url + "/chat/completions", json=CHAT)
    assert ok == 200


async def test_auth_required(fake, session):
    fake.use({"auth": {"required": True}})
    url = fake.base_url + "/chat/completions"
    status, _, body = await post(session, url, json=CHAT)
    assert status == 401
    err = json.loads(body)
    assert_openai_error(err)
    assert "didn't provide an API key" in err["error"]["message"]
    status, _, _ = await post(session, url, json=CHAT, headers={"authorization": "Bearer sk-1"})
    assert status == 200


async def test_auth_keys_mask_the_wrong_key(fake, session):
    fake.use({"auth": {"keys": ["sk-good-key-123456"]}})
    url = fake.base_url + "/chat/completions"
    status, _, body = await post(session, url, json=CHAT,
                                 headers={"authorization": "Bearer sk-wrong-key-987654"})
    assert status == 401
    err = json.loads(body)
    assert err["error"]["code"] == "invalid_api_key"
    assert "sk-wro***654" in err["error"]["message"]
    assert "sk-wrong-key-987654" not in err["error"]["message"]
    assert "sk-wrong-key-987654" not in json.dumps(fake.journal.to_json())
    status, _, _ = await post(session, url, json=CHAT,
                              headers={"authorization": "Bearer sk-good-key-123456"})
    assert status == 200


async def test_control_api(fake, session):
    async with session.get(fake.url + "/_llmfake/health") as resp:
        health = await resp.json()
    assert health["status"] == "ok"
    assert health["tenant"] == fake.tenant
    async with session.put(fake.url + "/_llmfake/scenario",
                           data="name: swapped\nreply: {text: from yaml}\n") as resp:
        assert resp.status == 200
    async with session.get(fake.url + "/_llmfake/scenario") as resp:
        current = await resp.json()
    assert current["name"] == "swapped"
    assert current["scenario"]["reply"] == {"text": "from yaml"}
    _status, _, body = await post(session, fake.base_url + "/chat/completions", json=CHAT)
    assert json.loads(body)["choices"][0]["message"]["content"] == "from yaml"
    async with session.put(fake.url + "/_llmfake/scenario",
                           json={"reply": {"text": "from json"}}) as resp:
        assert resp.status == 200
    await post(session, fake.base_url + "/chat/completions", json=CHAT)
    async with session.get(fake.url + "/_llmfake/journal") as resp:
        journal = await resp.json()
    assert [e["response_text"] for e in journal] == ["from json"]
    assert journal[0]["headers"].get("authorization") is None
    async with session.post(fake.url + "/_llmfake/reset") as resp:
        assert resp.status == 200
    async with session.get(fake.url + "/_llmfake/journal") as resp:
        assert await resp.json() == []


async def test_control_api_rejects_a_bad_scenario_and_keeps_the_old_one(fake, session):
    fake.use({"reply": "kept"})
    async with session.put(fake.url + "/_llmfake/scenario",
                           json={"rules": [{"script": [{"error": "rate-limit"}]}]}) as resp:
        assert resp.status == 400
        err = (await resp.json())["error"]
    assert err["path"] == "rules[0].script[0].error"
    assert "rate_limit" in err["message"]  # the did-you-mean hint
    _, _, body = await post(session, fake.base_url + "/chat/completions", json=CHAT)
    assert json.loads(body)["choices"][0]["message"]["content"] == "kept"
    async with session.get(fake.url + "/_llmfake/nope") as resp:
        assert resp.status == 404


async def test_tenants_are_isolated(server, session):
    server.use({"rules": [{"script": [{"error": 500}, {"reply": "a"}]}]}, "iso-a")
    server.use({"reply": "b"}, "iso-b")
    url_a = server.tenant_url("iso-a") + "/v1/chat/completions"
    url_b = server.tenant_url("iso-b") + "/v1/chat/completions"
    results = await asyncio.gather(post(session, url_b, json=CHAT), post(session, url_a,
                                                                       json=CHAT))
    assert results[0][0] == 200
    assert results[1][0] == 500
    assert len(server.journal("iso-a")) == 1
    assert len(server.journal("iso-b")) == 1
    assert (await post(session, url_a, json=CHAT))[0] == 200


async def test_secrets_are_masked_in_the_journal(fake, session):
    await post(session, fake.base_url + "/chat/completions?key=AIzaSecretValue", json=CHAT,
               headers={"authorization": "Bearer sk-live-secret-abcdef",
                        "x-api-key": "sk-ant-secret-0000000", "api-key": "azure-secret-123"})
    dumped = json.dumps(fake.journal.to_json())
    for secret in ("sk-live-secret-abcdef", "sk-ant-secret-0000000", "azure-secret-123",
                   "AIzaSecretValue"):
        assert secret not in dumped


def _freeze_scenario(seed: int) -> dict:
    return {"seed": seed, "freeze_time": "2025-01-01T00:00:00Z",
            "rules": [{"match": {"contains": "tool"},
                       "reply": {"tool_calls": [{"name": "f", "arguments": None}]}}]}


async def _exchange_bytes(session, url: str) -> list[bytes]:
    out = []
    for payload in (CHAT, {**CHAT, "stream": True, "n": 2},
                    {**CHAT, "messages": [{"role": "user", "content": "use a tool"}],
                     "tools": [{"type": "function", "function": {"name": "f", "parameters": {
                         "type": "object", "properties": {"x": {"type": "integer"}}}}}]}):
        status, headers, body = await post(session, url + "/v1/chat/completions", json=payload)
        assert status == 200
        out.append(headers["x-request-id"].encode() + b"\n" + body)
    return out


async def test_same_scenario_seed_and_requests_give_identical_bytes(server, session):
    server.use(_freeze_scenario(7), "det-1")
    server.use(_freeze_scenario(7), "det-2")
    server.use(_freeze_scenario(8), "det-3")
    server.use({"rules": [{"chaos": [{"probability": 0.5, "error": 500}]}]}, "noise")

    async def noise():
        for _ in range(10):
            await post(session, server.tenant_url("noise") + "/v1/chat/completions", json=CHAT)

    first, _, second, third = await asyncio.gather(
        _exchange_bytes(session, server.tenant_url("det-1")), noise(),
        _exchange_bytes(session, server.tenant_url("det-2")),
        _exchange_bytes(session, server.tenant_url("det-3")))
    assert first == second
    assert first != third
    created = json.loads(first[0].split(b"\n", 1)[1])["created"]
    assert created == 1735689600


async def test_plain_latency_is_applied(fake, session):
    fake.use({"latency": {"ttft": "150ms", "per_token": "20ms"}, "reply": "a b c d e f"})
    loop = asyncio.get_running_loop()
    start = loop.time()
    status, _, _ = await post(session, fake.base_url + "/chat/completions", json=CHAT)
    elapsed = loop.time() - start
    assert status == 200
    assert 0.15 + 5 * 0.02 - 0.01 <= elapsed < 1.5
    start = loop.time()
    async with session.post(fake.base_url + "/chat/completions",
                            json={**CHAT, "stream": True}) as resp:
        first = None
        async for _ in resp.content.iter_any():
            first = first or loop.time() - start
        total = loop.time() - start
    assert first is not None
    assert 0.14 <= first < 1.0
    assert total >= 0.15 + 5 * 0.02 - 0.01


async def test_one_faulty_connection_does_not_affect_another(fake, session):
    fake.use({"rules": [{"match": {"contains": "break"}, "fault": "reset"}], "reply": "fine"})
    bad = {**CHAT, "messages": [{"role": "user", "content": "break it"}]}

    async def faulty():
        with pytest.raises(aiohttp.ClientError):
            await post(session, fake.base_url + "/chat/completions", json=bad)

    results = await asyncio.gather(faulty(), *[
        post(session, fake.base_url + "/chat/completions", json=CHAT) for _ in range(5)])
    assert all(r[0] == 200 for r in results[1:])


def test_serve_reports_a_busy_port():
    with llmfake.serve() as first, pytest.raises(llmfake.ServerError, match="--port"), \
            llmfake.serve(port=first.port):
        pass


@pytest.mark.parametrize(("path", "headers", "shape"), [
    ("/v1/messages/nope", {"anthropic-version": "2023-06-01"}, "anthropic"),
    ("/v1beta/models/gemini-2.0-flash:predict", {}, "gemini"),
    ("/v1/nope", {}, "openai"),
])
async def test_unknown_paths_get_the_error_shape_their_client_expects(fake, session, path,
                                                                    headers, shape):
    status, _, body = await post(session, fake.url + path, json={}, headers=headers)
    assert status == 404
    payload = json.loads(body)
    if shape == "anthropic":
        assert payload["type"] == "error"
    elif shape == "gemini":
        assert payload["error"]["code"] == 404
    else:
        assert_openai_error(payload)


def test_serve_on_a_socket_bound_beforehand():
    import socket

    import httpx

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = llmfake.serve({"reply": "prebound"}, sock=sock)
    with server:
        assert server.url == f"http://127.0.0.1:{port}"
        reply = httpx.post(server.openai_base_url + "/chat/completions", json=CHAT)
        assert reply.json()["choices"][0]["message"]["content"] == "prebound"
    assert sock.fileno() == -1  # stopping the server closed it


async def _http_core(handler):
    from llmfake.server._http import HttpServer

    loop = asyncio.get_running_loop()
    server = HttpServer(handler, lambda req: 1 << 20)
    sock = __import__("socket").create_server(("127.0.0.1", 0))
    await server.serve(sock)
    return server, sock.getsockname()[1], loop


async def _ask(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def test_a_handler_coroutine_that_fails_costs_its_request_only():
    # The core's last resort, under any handler (llmfake's own answers a bug in the
    # provider's shape before it gets here): a 500 if nothing went out yet, else a cut.
    async def fails_early():
        raise RuntimeError("boom")

    async def fails_late(conn):
        conn.start(200, {"content-type": "text/event-stream"})
        conn.send(b"data: 1\n\n")
        raise RuntimeError("boom")

    def handler(req, conn):
        if req.path == "/ok":
            conn.respond(200, {"content-type": "text/plain"}, b"fine")
            return None
        return fails_early() if req.path == "/early" else fails_late(conn)

    server, port, _ = await _http_core(handler)
    try:
        early = await _ask(port, "/early")
        assert early.startswith(b"HTTP/1.1 500 ") and b"connection: close" in early
        try:  # cut (a reset): not a stream that ended well
            late = await _ask(port, "/late")
        except ConnectionResetError:
            late = b""
        assert not late.endswith(b"0\r\n\r\n")
        assert (await _ask(port, "/ok")).endswith(b"fine")
    finally:
        await server.close()

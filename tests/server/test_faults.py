"""Transport faults over raw HTTP: each one strikes as scripted and leaves the server healthy.

Precise timing and every SDK's reaction are the faults issue's; this checks the mechanism.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**CHAT, "stream": True}
TEXT = "one two three four five six seven eight"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def healthy(fake, session) -> None:
    fake.use({"reply": "ok"})
    async with session.post(fake.base_url + "/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        assert (await resp.json())["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize(("fault", "payload"), [
    ("reset", CHAT), ("reset", STREAM), ("empty", CHAT), ("empty", STREAM),
    ("truncate", CHAT), ("disconnect", CHAT),
])
async def test_connection_faults_raise_client_errors(fake, session, fault, payload):
    fake.use({"reply": TEXT, "rules": [{"fault": fault}]})
    with pytest.raises(aiohttp.ClientError):
        async with session.post(fake.base_url + "/chat/completions", json=payload) as resp:
            await resp.read()
    assert fake.journal[-1].outcome == f"fault {fault}"
    assert not fake.journal[-1].completed
    await healthy(fake, session)


async def read_events(resp: aiohttp.ClientResponse) -> tuple[list[bytes], BaseException | None]:
    buf = b""
    try:
        async for chunk in resp.content.iter_any():
            buf += chunk
    except aiohttp.ClientError as exc:
        return [e for e in buf.split(b"\n\n") if e], exc
    return [e for e in buf.split(b"\n\n") if e], None


async def test_disconnect_after_chunks(fake, session):
    fake.use({"reply": TEXT, "rules": [{"fault": "disconnect", "after_chunks": 3}]})
    async with session.post(fake.base_url + "/chat/completions", json=STREAM) as resp:
        assert resp.status == 200
        events, exc = await read_events(resp)
    assert exc is not None
    chunks = [json.loads(e.removeprefix(b"data: ")) for e in events]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", "one", " two",
                                                                         " three"]
    assert fake.journal[-1].chunks == 3
    await healthy(fake, session)


async def test_malformed_chunk(fake, session):
    fake.use({"reply": TEXT, "rules": [{"fault": "malformed", "after_chunks": 2}]})
    async with session.post(fake.base_url + "/chat/completions", json=STREAM) as resp:
        events, _ = await read_events(resp)
    assert len(events) == 4  # the role delta, two content chunks, the broken one
    json.loads(events[2].removeprefix(b"data: "))
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[3].removeprefix(b"data: "))


async def test_stall_then_reset(fake, session):
    fake.use({"reply": TEXT, "rules": [{"fault": "stall", "after_chunks": 1,
                                        "duration": "300ms"}]})
    loop = asyncio.get_running_loop()
    async with session.post(fake.base_url + "/chat/completions", json=STREAM) as resp:
        start = loop.time()
        events, exc = await read_events(resp)
        stalled = loop.time() - start
    assert len(events) == 2  # the role delta and one content chunk
    assert exc is not None
    assert stalled >= 0.25


async def test_hang_until_the_client_gives_up(fake, session):
    fake.use({"rules": [{"fault": "hang"}]})
    with pytest.raises(asyncio.TimeoutError):
        async with session.post(fake.base_url + "/chat/completions", json=CHAT,
                                timeout=aiohttp.ClientTimeout(total=0.3)) as resp:
            await resp.read()
    for _ in range(40):  # the server notices the client left and journals the exchange
        if len(fake.journal):
            break
        await asyncio.sleep(0.05)
    assert fake.journal[-1].outcome == "fault hang"
    await healthy(fake, session)


async def test_slow_headers(fake, session):
    fake.use({"reply": "late", "rules": [{"fault": "slow_headers", "duration": "250ms"}]})
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with session.post(fake.base_url + "/chat/completions", json=CHAT) as resp:
        waited = loop.time() - start
        body = await resp.json()
    assert waited >= 0.2
    assert body["choices"][0]["message"]["content"] == "late"


async def test_error_event_without_stream_is_an_http_error(fake, session):
    fake.use({"rules": [{"fault": "error_event", "error": "overloaded"}]})
    async with session.post(fake.base_url + "/chat/completions", json=CHAT) as resp:
        assert resp.status == 503
        assert (await resp.json())["error"]["type"] == "server_error"

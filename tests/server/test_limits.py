"""Rate limits that count, time scale, chunking and chaos, over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import aiohttp
import openai
import pytest

import llmfake
from llmfake.engine._text import count_tokens

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
USER = CHAT["messages"]


async def post(session, url, payload=CHAT, headers=None):
    async with session.post(url, json=payload, headers=headers) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def test_requests_per_minute_counts_down_then_429(fake, session):
    fake.use({"limits": {"requests_per_minute": 60}, "reply": "ok"})
    url = fake.base_url + "/chat/completions"
    results = [await post(session, url) for _ in range(70)]
    statuses = [r[0] for r in results]
    assert statuses == [200] * 60 + [429] * 10
    remaining = [int(r[1]["x-ratelimit-remaining-requests"]) for r in results[:60]]
    assert remaining == list(range(59, -1, -1))
    assert all(r[1]["x-ratelimit-limit-requests"] == "60" for r in results)
    first_429 = results[60]
    assert 0.5 <= float(first_429[1]["retry-after-ms"]) / 1000 <= 1.05
    assert first_429[1]["retry-after"] == "1"
    err = json.loads(first_429[2])["error"]
    assert err["type"] == "requests"
    assert err["code"] == "rate_limit_exceeded"
    assert "Limit 60" in err["message"]
    assert fake.journal[60].source == "limit requests"


async def test_the_bucket_refills_continuously(fake, session):
    # Two a minute, with a minute of 0.6 s: one request comes back every 0.3 s.
    fake.use({"limits": {"requests_per_minute": 2}, "time_scale": 0.01, "reply": "ok"})
    url = fake.base_url + "/chat/completions"
    for _ in range(2):
        assert (await post(session, url))[0] == 200
    status, headers, _ = await post(session, url)
    assert status == 429
    wait = float(headers["retry-after-ms"]) / 1000
    assert 0.2 < wait <= 0.3
    await asyncio.sleep(wait + 0.02)
    status, headers, _ = await post(session, url)
    assert status == 200
    assert headers["x-ratelimit-remaining-requests"] == "0"


async def test_tokens_per_minute_charges_prompt_and_max_tokens(fake, session):
    fake.use({"limits": {"tokens_per_minute": 100}, "reply": "ok"})
    url = fake.base_url + "/chat/completions"
    prompt = count_tokens("hi") + 3 + 3
    status, headers, _ = await post(session, url, {**CHAT, "max_tokens": 50})
    assert status == 200
    assert int(headers["x-ratelimit-remaining-tokens"]) == 100 - prompt - 50
    status, headers, body = await post(session, url, {**CHAT, "max_tokens": 50})
    assert status == 429
    assert json.loads(body)["error"]["type"] == "tokens"
    assert headers["x-ratelimit-reset-tokens"].endswith("s")


async def test_limits_by_api_key(fake, session):
    fake.use({"limits": {"requests_per_minute": 1, "by": "api_key"}})
    url = fake.base_url + "/chat/completions"
    a = {"authorization": "Bearer key-a"}
    b = {"authorization": "Bearer key-b"}
    assert (await post(session, url, headers=a))[0] == 200
    assert (await post(session, url, headers=a))[0] == 429
    assert (await post(session, url, headers=b))[0] == 200


async def test_limits_global_span_tenants(server, session):
    scenario = {"limits": {"requests_per_minute": 2, "by": "global"}}
    server.use(scenario, "glob-a")
    server.use(scenario, "glob-b")
    urls = [server.tenant_url(t) + "/v1/chat/completions" for t in ("glob-a", "glob-b")]
    statuses = [(await post(session, u))[0] for u in (*urls, *urls)]
    assert statuses == [200, 200, 429, 429]


async def test_max_concurrent(fake, session):
    fake.use({"limits": {"max_concurrent": 2}, "latency": {"ttft": "300ms"}})
    url = fake.base_url + "/chat/completions"
    statuses = sorted(r[0] for r in await asyncio.gather(*[post(session, url)
                                                            for _ in range(4)]))
    assert statuses == [200, 200, 429, 429]
    assert (await post(session, url))[0] == 200  # the slots were released


async def test_quota_never_recovers(fake, session):
    fake.use({"limits": {"quota_requests": 2}})
    url = fake.base_url + "/chat/completions"
    statuses = [(await post(session, url))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    _, _, body = await post(session, url)
    assert json.loads(body)["error"]["code"] == "insufficient_quota"


def test_sdk_retries_honour_the_retry_after_of_a_rate_limit(fake):
    fake.use({"rules": [{"script": [llmfake.error("rate_limit", retry_after="0.2s"),
                                    llmfake.error("rate_limit", retry_after="0.2s"),
                                    llmfake.reply("ok")]}]})
    with fake.client(max_retries=2) as client:
        completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "ok"
    journal = list(fake.journal)
    assert [e.retry_count for e in journal] == [0, 1, 2]
    gaps = [b.started - a.started for a, b in itertools.pairwise(journal)]
    assert all(g >= 0.2 for g in gaps)
    fake.use({"rules": [{"script": [llmfake.error("rate_limit", retry_after="0.2s"),
                                    llmfake.error("rate_limit", retry_after="0.2s"),
                                    llmfake.reply("ok")]}]})
    with fake.client(max_retries=1) as client, pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=USER)


def test_time_scale_shrinks_latency_and_retry_after(fake):
    fake.use({"time_scale": 0.01, "latency": {"ttft": "10s"},
              "rules": [{"script": [llmfake.error("rate_limit", retry_after="30s"),
                                    llmfake.reply("fast")]}]})
    start = time.monotonic()
    with fake.client(max_retries=1) as client:
        completion = client.chat.completions.create(model="m", messages=USER)
    elapsed = time.monotonic() - start
    assert completion.choices[0].message.content == "fast"
    assert 0.3 + 0.1 <= elapsed < 2.0  # 0.3 s Retry-After, then a 0.1 s ttft


def test_tokens_per_chunk_groups_the_stream(fake, client):
    fake.use({"latency": {"tokens_per_chunk": 3}, "reply": "a b c d e f g"})
    chunks = [c.choices[0].delta.content for c in client.chat.completions.create(
        model="m", messages=USER, stream=True, stream_options={"include_usage": True})
        if c.choices and c.choices[0].delta.content]
    assert chunks == ["a b c", " d e f", " g"]
    plain = client.chat.completions.create(model="m", messages=USER)
    assert plain.usage is not None
    assert plain.usage.completion_tokens == 7


def test_scenario_wide_chaos_is_seeded(fake, client):
    scenario = {"seed": 5, "chaos": [{"probability": 0.5, "error": 503}]}
    runs = []
    for _ in range(2):
        fake.use(scenario)
        outcomes = []
        for _ in range(20):
            try:
                client.chat.completions.create(model="m", messages=USER)
                outcomes.append("ok")
            except openai.InternalServerError:
                outcomes.append("503")
        runs.append(outcomes)
    assert runs[0] == runs[1]
    assert 3 <= runs[0].count("503") <= 17

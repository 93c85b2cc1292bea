"""Instances sharing one Redis share the capacity's slots and queue (official SDKs, real
sockets, a real redis-server)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from streaming import seconds_to_first_content

import llmfake
from llmfake._redis_server import RedisServer

TEN_TOKENS = "one two three four five six seven eight nine ten"
HI = [{"role": "user", "content": "hi"}]


@contextlib.contextmanager
def instances(scenario: Any, url: str, count: int = 2) -> Iterator[list[llmfake.Server]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(llmfake.serve(scenario, state=url)) for _ in range(count)]


@contextlib.contextmanager
def slot_held(server: llmfake.Server) -> Iterator[None]:
    """A stream on ``server`` that holds a slot while the block runs."""
    body = {"model": "m", "stream": True, "messages": HI}
    with httpx.Client(timeout=30) as http, \
            http.stream("POST", server.url + "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        yield


async def test_two_instances_share_four_slots(redis_url: str) -> None:
    # Four slots for both instances: of eight streams (four on each) the last four wait.
    scenario = {"capacity": {"slots": 4, "queue": 8}, "reply": TEN_TOKENS,
                "latency": {"ttft": "100ms", "per_token": "40ms"}}
    with instances(scenario, redis_url) as servers:
        clients = [openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="k", max_retries=0,
                                      timeout=30) for s in servers]

        try:
            firsts = sorted(await asyncio.gather(*(seconds_to_first_content(clients[i % 2], "m")
                                                   for i in range(8))))
        finally:
            for client in clients:
                await client.close()
    slot_time = 0.1 + 9 * 0.04
    assert all(t < 0.1 + 0.25 for t in firsts[:4]), firsts
    assert all(t >= slot_time + 0.1 - 0.03 for t in firsts[4:]), firsts


def test_a_slot_held_on_one_instance_is_full_on_the_other(redis_url: str) -> None:
    scenario = {"capacity": {"slots": 1, "queue": 0}, "latency": {"per_token": "1s"}}
    with instances(scenario, redis_url) as (a, b):
        with slot_held(a):
            with pytest.raises(openai.InternalServerError) as info, openai.OpenAI(
                    base_url=b.url + "/v1", api_key="k", max_retries=0) as client:
                client.chat.completions.create(model="m", messages=HI)
            assert info.value.status_code == 503
            assert "currently overloaded" in str(info.value)
            with pytest.raises(anthropic.OverloadedError), anthropic.Anthropic(
                    base_url=b.url, api_key="k", max_retries=0) as claude:
                claude.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=HI)
        # The slot is free again once the stream is over, whichever instance asks.
        deadline = time.monotonic() + 5
        with openai.OpenAI(base_url=b.url + "/v1", api_key="k", max_retries=0) as client:
            while True:
                try:
                    client.chat.completions.create(model="m", messages=HI,
                                                   extra_body={"max_tokens": 1})
                    break
                except openai.InternalServerError:
                    assert time.monotonic() < deadline, "the slot was never freed"
                    time.sleep(0.05)


def test_a_slot_freed_on_one_instance_goes_to_a_request_queued_on_the_other(
        redis_url: str) -> None:
    scenario = {"capacity": {"slots": 1, "queue": 1}, "reply": "queued",
                "latency": {"per_token": "1s"}}
    done: list[Any] = []
    with instances(scenario, redis_url) as (a, b), openai.OpenAI(
            base_url=b.url + "/v1", api_key="k", max_retries=0) as client:
        with slot_held(a):
            waiting = threading.Thread(target=lambda: done.append(
                client.chat.completions.create(model="m", messages=HI, max_tokens=1)))
            waiting.start()
            time.sleep(0.5)
            assert not done  # it waits in b's queue while a's stream holds the slot
            released = time.monotonic()
        waiting.join(10)
        assert done, "the queued request never got the slot"
        assert time.monotonic() >= released
    assert done[0].choices[0].message.content == "queued"


def test_redis_lost_while_queued_is_a_503_naming_it(redis_server: RedisServer) -> None:
    # redis_server skips where redis-server is missing; this test kills a Redis of its own.
    own = RedisServer()
    scenario = {"capacity": {"slots": 1, "queue": 1}, "latency": {"per_token": "1s"}}
    errors: list[openai.APIStatusError] = []
    try:
        with instances(scenario, own.url) as (a, b), openai.OpenAI(
                base_url=b.url + "/v1", api_key="k", max_retries=0) as client:

            def queued() -> None:
                try:
                    client.chat.completions.create(model="m", messages=HI, max_tokens=1)
                except openai.APIStatusError as exc:
                    errors.append(exc)

            with slot_held(a):
                waiting = threading.Thread(target=queued)
                waiting.start()
                time.sleep(0.3)  # b's request waits for the slot, blocked on Redis
                own.stop()
                waiting.join(10)
    finally:
        own.stop()
    assert len(errors) == 1, errors
    assert errors[0].status_code == 503
    assert own.url in errors[0].message

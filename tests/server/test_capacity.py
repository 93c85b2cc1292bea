"""The capacity model: slots, a waiting queue, prefill and slow-down, and the overload error a
full queue answers, measured by the official SDKs over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import boto3
import botocore.config
import botocore.exceptions
import httpx
import ollama
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from streaming import seconds_to_first_content

from llmfake.errors import ScenarioError
from llmfake.scenario import load_scenario

TEN_TOKENS = "one two three four five six seven eight nine ten"


async def first_bytes(fake: Any, count: int) -> list[float]:
    """Seconds from sending to the first content chunk, for ``count`` streams sent at once."""
    client = fake.async_client(timeout=30)

    try:
        return await asyncio.gather(*(seconds_to_first_content(client)
                                      for _ in range(count)))
    finally:
        await client.close()


async def test_four_slots_eight_streams_the_last_four_wait_a_stream_long(fake):
    # Each stream: first token at 100ms, then 9 more 40ms apart: 460ms in a slot.
    fake.use({"capacity": {"slots": 4, "queue": 8}, "reply": TEN_TOKENS,
              "latency": {"ttft": "100ms", "per_token": "40ms"}})
    firsts = sorted(await first_bytes(fake, 8))
    slot_time = 0.1 + 9 * 0.04
    served, queued = firsts[:4], firsts[4:]
    # Counted from the first served stream's first byte: a loaded machine once held the test's
    # client up 0.76 s before any request went out, which shifts every figure alike.
    assert served[0] >= 0.1 - 0.03, firsts
    # Served at once: within a fraction of a slot's time of each other.
    assert served[-1] - served[0] < 0.3, firsts
    # Queued until a slot came free (a whole stream), then their own time to first token.
    assert all(t - served[0] >= slot_time - 0.03 for t in queued), firsts
    assert all(t - served[0] < 2 * slot_time for t in queued), firsts
    entries = list(fake.journal)
    assert [e.status for e in entries] == [200] * 8
    assert all(e.completed for e in entries)


async def test_without_capacity_eight_streams_all_start_at_once(fake):
    # The same streams with no capacity block: the previous test's wait is the queue's doing.
    fake.use({"reply": TEN_TOKENS, "latency": {"ttft": "100ms", "per_token": "40ms"}})
    firsts = await first_bytes(fake, 8)
    assert all(t < 0.1 + 0.2 for t in firsts), firsts


def test_prefill_adds_time_per_prompt_token(fake, client):
    fake.use({"capacity": {"slots": 2, "prefill": "2ms"}, "reply": "ok"})
    for prompt in (" ".join(["word"] * 200), "hi"):
        began = time.monotonic()
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
        assert time.monotonic() - began >= fake.journal[-1].duration
    long, short = (e.duration for e in fake.journal)  # as the server measured them
    assert long >= 0.002 * 200 * 0.95  # about 200 prompt tokens at 2ms each
    assert short < 0.002 * 200 / 2  # a short prompt prefills fast


async def test_slowdown_stretches_tokens_as_slots_fill(fake):
    # Two slots, slowdown 3: alone a stream takes 9 x 30ms; with the other slot busy, 4x that.
    fake.use({"capacity": {"slots": 2, "slowdown": 3}, "reply": TEN_TOKENS,
              "latency": {"per_token": "30ms"}})
    client = fake.async_client(timeout=30)

    async def duration() -> float:
        began = time.monotonic()
        await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=False)
        return time.monotonic() - began

    try:
        alone = await duration()
        together = await asyncio.gather(duration(), duration())
    finally:
        await client.close()
    assert alone < 0.3 * 1.5
    assert max(together) >= 4 * 0.3 * 0.9, (alone, together)  # the second found one busy


# --- a full queue: each provider's own overload error, raised by its own SDK ----------------

@contextlib.contextmanager
def slot_held(fake: Any) -> Iterator[None]:
    """A stream that holds the tenant's only slot while the block runs."""
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(timeout=30) as http, \
            http.stream("POST", fake.base_url + "/chat/completions", json=body) as response:
        assert response.status_code == 200
        yield


def _openai(fake: Any) -> Exception:
    with pytest.raises(openai.InternalServerError) as info, fake.client() as client:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    assert "currently overloaded" in str(info.value)
    return info.value


def _anthropic(fake: Any) -> Exception:
    with pytest.raises(anthropic.OverloadedError) as info, anthropic.Anthropic(
            base_url=fake.url, api_key="sk-ant-test", max_retries=0) as client:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=10,
                               messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    return info.value


def _gemini(fake: Any) -> Exception:
    client = genai.Client(api_key="test-key", http_options=genai_types.HttpOptions(
        base_url=fake.url, retry_options=genai_types.HttpRetryOptions(attempts=1)))
    with pytest.raises(genai_errors.ServerError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == 503
    assert info.value.status == "UNAVAILABLE"
    return info.value


def _ollama(fake: Any) -> Exception:
    with pytest.raises(ollama.ResponseError) as info, ollama.Client(host=fake.url) as client:
        client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    return info.value


def _bedrock(fake: Any) -> Exception:
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
    client = boto3.client("bedrock-runtime", endpoint_url=fake.url, region_name="us-east-1",
                          aws_access_key_id="AKIDLLMFAKETEST", aws_secret_access_key="secret",
                          config=config)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        client.converse(modelId="anthropic.claude-sonnet-4-6-v1:0",
                        messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert info.value.response["Error"]["Code"] == "ModelNotReadyException"
    return info.value


OVERLOAD_CALLS: dict[str, Callable[[Any], Exception]] = {
    "openai": _openai, "anthropic": _anthropic, "gemini": _gemini, "ollama": _ollama,
    "bedrock": _bedrock}


@pytest.mark.parametrize("provider", sorted(OVERLOAD_CALLS))
def test_a_full_queue_answers_the_providers_overload_error(fake, provider):
    fake.use({"capacity": {"slots": 1, "queue": 0},
              "latency": {"ttft": "50ms", "per_token": "1s"}})
    with slot_held(fake):
        OVERLOAD_CALLS[provider](fake)
    refused = fake.journal[-1]
    assert refused.outcome == "error overloaded"
    assert refused.source == "capacity queue full"


def test_a_free_slot_answers_as_usual(fake, client):
    fake.use({"capacity": {"slots": 1, "queue": 0}, "reply": "fine"})
    for _ in range(3):  # each frees its slot when its response is over
        reply = client.chat.completions.create(model="m",
                                               messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "fine"


def test_the_overload_error_can_be_another_one(fake, client):
    fake.use({"capacity": {"slots": 1, "queue": 0, "error": "rate_limit",
                           "retry_after": "3s"}, "latency": {"per_token": "1s"}})
    with slot_held(fake), pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.response.headers["retry-after"] == "3"


def test_a_client_leaving_the_queue_gives_its_place_up(fake, client):
    fake.use({"capacity": {"slots": 1, "queue": 1}, "latency": {"per_token": "1s"}})
    with slot_held(fake):
        with pytest.raises(openai.APITimeoutError):  # waits in the queue, then gives up
            client.with_options(timeout=0.3).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}])
        deadline = time.monotonic() + 3
        while fake.journal[-1].outcome != "aborted waiting for a slot":
            assert time.monotonic() < deadline, fake.journal[-1]
            time.sleep(0.02)
        # Its place is free again: the next one waits (and times out) instead of the 503.
        with pytest.raises(openai.APITimeoutError):
            client.with_options(timeout=0.3).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}])


def test_models_and_errors_take_no_slot(fake, client):
    fake.use({"capacity": {"slots": 1, "queue": 0}, "latency": {"per_token": "1s"},
              "rules": [{"match": {"contains": "fail"}, "error": "server_error"}]})
    with slot_held(fake):
        assert client.models.list().data
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="m",
                                           messages=[{"role": "user", "content": "fail"}])
        assert info.value.status_code == 500  # the rule's error, not the overload


@pytest.mark.parametrize(("doc", "says"), [
    ({"capacity": {}}, "capacity: a capacity block needs 'slots'"),
    ({"capacity": {"slots": 0}}, "capacity.slots: expected a whole number from 1"),
    ({"capacity": {"slots": 2, "queu": 1}}, "capacity.queu: unknown key 'queu' (did you mean "
                                            "'queue'?)"),
    ({"capacity": {"slots": 2, "error": "busy"}}, "capacity.error: unknown error 'busy'"),
    ({"capacity": {"slots": 2, "slowdown": -1}}, "capacity.slowdown"),
])
def test_a_wrong_capacity_block_names_its_path(doc, says):
    with pytest.raises(ScenarioError) as info:
        load_scenario(doc)
    assert says in str(info.value)

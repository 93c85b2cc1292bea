"""Transport faults as the official openai SDK meets them."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

import llmfake

USER = [{"role": "user", "content": "hi"}]
TEXT = "one two three four five six seven eight"


def test_hang_gives_a_timeout(fake):
    fake.use({"rules": [{"fault": "hang"}]})
    start = time.monotonic()
    with fake.client(timeout=0.5) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=USER)
    assert time.monotonic() - start < 3


def test_reset_gives_a_connection_error_and_is_retried(fake):
    fake.use({"rules": [{"script": [llmfake.fault("reset"), llmfake.reply("after reset")]}]})
    with fake.client(max_retries=0) as client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)
    with fake.client(max_retries=1) as client:
        completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "after reset"


def test_disconnect_after_three_content_deltas(fake, client):
    fake.use({"reply": TEXT, "rules": [{"fault": "disconnect", "after_chunks": 3}]})
    deltas = []
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
    assert deltas == ["one", " two", " three"]
    assert fake.journal[-1].chunks == 3
    assert not fake.journal[-1].completed


def test_stall_mid_stream_trips_the_read_timeout(fake):
    fake.use({"reply": TEXT, "rules": [{"fault": "stall", "after_chunks": 2}]})
    deltas = []
    with fake.client(timeout=httpx.Timeout(5, read=0.4)) as client, \
            pytest.raises((httpx.ReadTimeout, openai.APITimeoutError)):
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
    assert deltas == ["one", " two"]


def test_empty_and_truncate_are_connection_errors(fake, client):
    for fault in ("empty", "truncate"):
        fake.use({"rules": [{"fault": fault}]})
        with pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="m", messages=USER)

"""What the client did, computed from the journal: attempts, backoff, Retry-After honoured."""

from __future__ import annotations

import httpx
import pytest

import llmfake
from llmfake.journal import Exchange, Journal

USER = [{"role": "user", "content": "hi"}]


def test_sdk_retries_are_grouped_and_honour_retry_after(fake):
    fake.use({"rules": [{"script": [llmfake.error("rate_limit", retry_after="0.3s"),
                                    llmfake.error("overloaded"),
                                    llmfake.reply("ok")]}]})
    with fake.client(max_retries=2) as client:
        client.chat.completions.create(model="m", messages=USER)
        client.chat.completions.create(model="m", messages=USER)  # a new logical request
    journal = fake.journal
    assert journal.attempts() == [3, 1]
    assert [e.attempt for e in journal] == [0, 1, 2, 0]
    assert journal[0].retry_after == pytest.approx(0.3)
    gaps = journal.backoff_intervals()
    assert len(gaps) == 2
    assert gaps[0] >= 0.3  # the SDK waited the Retry-After
    assert 0.3 <= gaps[1] <= 1.5  # then its own jittered backoff (0.75-1 s nominal)
    assert journal.honoured_retry_after()
    assert journal[0].bytes_sent > 0
    assert journal[0].ended is not None and journal[0].ended >= journal[0].started


def test_a_client_that_ignores_retry_after_is_caught(fake):
    fake.use({"rules": [{"script": [llmfake.error("rate_limit", retry_after="2s"),
                                    llmfake.reply("ok")]}]})
    payload = {"model": "m", "messages": USER}
    with httpx.Client() as http:  # a naive client: no retry-count header, retries at once
        first = http.post(fake.base_url + "/chat/completions", json=payload)
        second = http.post(fake.base_url + "/chat/completions", json=payload)
    assert (first.status_code, second.status_code) == (429, 200)
    journal = fake.journal
    assert [e.attempt for e in journal] == [0, 1]  # inferred from the identical body
    assert journal.attempts() == [2]
    assert not journal.honoured_retry_after()
    (failed, retry, early), = journal.retry_after_violations()
    assert failed.status == 429 and retry.status == 200
    assert 1.5 < early <= 2.0


def _exchange(seq: int, started: float, *, status: int = 200, key: str = "k",
              attempt: int = 0, retry_after: float | None = None) -> Exchange:
    return Exchange(seq=seq, tenant="t", method="POST", path="/v1/chat/completions",
                    status=status, completed=True, started=started, ended=started + 0.01,
                    attempt=attempt, retry_after=retry_after, body_key=key)


def test_inference_needs_an_identical_failed_request_within_the_window():
    journal = Journal()
    first = _exchange(0, 0.0, status=500)
    journal.add(first)
    same = _exchange(1, 1.0, status=200)
    journal.add(same)
    assert journal.infer_attempt(same) == 1
    other = _exchange(2, 1.5, key="other")
    journal.add(other)
    assert journal.infer_attempt(other) == 0
    late = _exchange(3, 500.0, key="other")
    journal.add(late)
    assert journal.infer_attempt(late) == 0  # outside the window, and after a success anyway


def test_filters_select_exchanges():
    journal = Journal()
    journal.add(_exchange(0, 0.0, status=429, retry_after=1.0))
    journal.add(_exchange(1, 0.5, attempt=1))
    journal.add(_exchange(2, 0.6, key="x"))
    assert journal.attempts() == [2, 1]
    assert journal.attempts(status=429) == [1]
    assert journal.retry_after_violations(tolerance=0.6) == []
    assert len(journal.retry_after_violations()) == 1

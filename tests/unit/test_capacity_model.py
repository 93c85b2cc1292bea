"""The capacity model's bookkeeping and arithmetic: slots handed over first come first served,
and what load does to a plan's schedule."""

from __future__ import annotations

import asyncio

import pytest

from llmfake.engine import Call, Engine, Message
from llmfake.engine._capacity import MemorySlots, loaded, needs_slot, overloaded
from llmfake.scenario import scenario_from_dict
from llmfake.scenario._model import Capacity, ErrorSpec


def _plan(doc: dict, text: str = "hi", endpoint: str = "chat"):
    engine = Engine(scenario_from_dict(doc))
    call = Call(provider="openai", endpoint=endpoint, model="m",
                messages=(Message("user", text),), stream=True)
    return engine.decide(call)


def test_prefill_and_slowdown_change_the_schedule_as_documented() -> None:
    plan = _plan({"latency": {"ttft": 0.1, "per_token": 0.02}}, " ".join(["word"] * 100))
    prompt = plan.usage.prompt_tokens
    assert prompt > 100
    cap = Capacity(slots=5, prefill=0.001, slowdown=2.0)
    alone = loaded(plan, cap, busy=1, scale=1.0)
    assert alone.timing.latency.ttft == pytest.approx(0.1 + 0.001 * prompt)
    assert alone.timing.latency.per_token == pytest.approx(0.02)  # a lone request: no slow-down
    half = loaded(plan, cap, busy=3, scale=1.0)
    assert half.timing.latency.per_token == pytest.approx(0.02 * (1 + 2.0 * 2 / 4))
    full = loaded(plan, cap, busy=5, scale=0.5)
    assert full.timing.latency.per_token == pytest.approx(0.02 * 3)
    assert full.timing.latency.ttft == pytest.approx(0.1 + 0.0005 * prompt)  # time_scale
    assert loaded(plan, Capacity(slots=1, slowdown=9), busy=1, scale=1.0) is plan
    assert full.timing.deadlines(3)[0] > plan.timing.deadlines(3)[0]


def test_errors_and_model_lists_need_no_slot() -> None:
    assert needs_slot(_plan({}))
    assert not needs_slot(_plan({"rules": [{"error": "server_error"}]}))
    assert not needs_slot(_plan({}, endpoint="models"))
    refused = overloaded(_plan({}), ErrorSpec("overloaded", retry_after=2.0), 0.5)
    assert refused.error is not None and refused.error.retry_after == 1.0
    assert refused.outcome == "error overloaded"
    assert refused.choices == () and not needs_slot(refused)


async def test_slots_are_handed_over_first_come_first_served() -> None:
    slots = MemorySlots()
    cap = Capacity(slots=2, queue=2)
    assert slots.take("t", cap) == 1
    assert slots.take("t", cap) == 2
    first, second = slots.take("t", cap), slots.take("t", cap)
    assert isinstance(first, asyncio.Future) and isinstance(second, asyncio.Future)
    assert slots.take("t", cap) is None  # the queue is full
    assert slots.take("other", cap) == 1  # per tenant
    assert slots.busy("t") == (2, 2)
    slots.give_back("t", cap)
    assert first.done() and first.result() == 2 and not second.done()
    assert slots.busy("t") == (2, 1)  # handed over, not freed: a newcomer cannot overtake
    assert isinstance(slots.take("t", cap), asyncio.Future)
    slots.leave("t", cap, second)  # gives its place up before its turn
    assert second.cancelled()
    assert slots.busy("t") == (2, 1)


async def test_a_waiter_leaving_after_its_turn_came_passes_the_slot_on() -> None:
    slots = MemorySlots()
    cap = Capacity(slots=1)  # queue: any number
    assert slots.take("t", cap) == 1
    waiters = [slots.take("t", cap) for _ in range(3)]
    assert all(isinstance(w, asyncio.Future) for w in waiters)
    slots.give_back("t", cap)
    assert waiters[0].done()
    slots.leave("t", cap, waiters[0])  # its client left just as the slot came
    assert waiters[1].done() and not waiters[2].done()
    slots.give_back("t", cap)
    slots.give_back("t", cap)
    assert waiters[2].done()
    slots.give_back("t", cap)
    assert slots.busy("t") == (0, 0)
    assert slots._pools == {}  # nothing kept for an idle tenant

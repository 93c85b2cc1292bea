"""``llmfake serve`` runs the collector's middle and full collections when no stream is paced and
no request comes in (or after a bounded wait), not in the middle of 1,000 paced streams."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llmfake.server._collector import LONGEST_WAIT, SUPPORTED, QuietCollections

pytestmark = pytest.mark.skipif(not SUPPORTED, reason="CPython's collector is incremental here")


class Load:
    """What the server would report: whether streams are paced, and its count of turns."""

    def __init__(self) -> None:
        self.paced = False
        self.turns = 0

    def pacing(self) -> bool:
        return self.paced

    def activity(self) -> int:
        return self.turns


def _collections(generation: int) -> Iterator[list[float]]:
    seen: list[float] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == generation:
            seen.append(time.monotonic())

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


@pytest.fixture
def full_collections() -> Iterator[list[float]]:
    """The times of every full collection while the test runs."""
    yield from _collections(2)


@pytest.fixture
def middle_collections() -> Iterator[list[float]]:
    """The times of every collection of the middle generation while the test runs."""
    yield from _collections(1)


_, MIDDLE_AFTER, FULL_AFTER = gc.get_threshold()
"""CPython's thresholds: young collections after which it runs a middle one, middle ones after
which it considers a full one."""


@contextlib.contextmanager
def _taken_over(longest_wait: float = LONGEST_WAIT) -> Iterator[Load]:
    """The collections taken over for the load returned, handed back at the end."""
    load = Load()
    collections = QuietCollections(asyncio.get_running_loop(), load.pacing, load.activity,
                                   longest_wait)
    collections.start()
    try:
        yield load
    finally:
        collections.stop()


def _owe_a_full_collection(seen: list[float]) -> None:
    for _ in range(FULL_AFTER):
        gc.collect(1)  # each middle-generation collection counts toward a full one
    seen.clear()


async def _run_for(seconds: float, load: Load, busy: bool) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if busy:
            load.turns += 1
        await asyncio.sleep(0.01)


async def test_a_full_collection_waits_while_streams_are_paced(full_collections):
    before = gc.get_threshold()
    with _taken_over() as load:
        assert gc.get_threshold()[0] == before[0], "the young generation is left as it was"
        assert min(gc.get_threshold()[1:]) > 10_000, "CPython would still run the others"
        _owe_a_full_collection(full_collections)
        load.paced = True
        await _run_for(0.4, load, busy=True)
        assert full_collections == [], "a full collection ran while streams were paced"
        assert gc.get_count()[2] >= FULL_AFTER

        load.paced = False
        quiet_from = time.monotonic()
        await _run_for(0.5, load, busy=False)
        assert len(full_collections) == 1, full_collections
        assert full_collections[0] - quiet_from < 0.4
        assert gc.get_count()[2] < FULL_AFTER
    assert gc.get_threshold() == before


async def test_requests_coming_in_also_hold_it_back(full_collections):
    with _taken_over() as load:
        _owe_a_full_collection(full_collections)
        await _run_for(0.4, load, busy=True)  # no stream, but requests every 10 ms
        assert full_collections == []


async def test_load_that_never_stops_still_gets_its_full_collection(full_collections):
    with _taken_over(longest_wait=0.3) as load:
        load.paced = True
        _owe_a_full_collection(full_collections)
        owed_from = time.monotonic()
        await _run_for(1.0, load, busy=True)
        assert len(full_collections) == 1, full_collections
        assert 0.3 <= full_collections[0] - owed_from < 0.8


async def test_a_middle_collection_waits_too(middle_collections):
    with _taken_over() as load:
        gc.collect(1)  # a fresh count of young collections
        middle_collections.clear()
        for _ in range(MIDDLE_AFTER):
            gc.collect(0)
        load.paced = True
        await _run_for(0.4, load, busy=True)  # CPython's own young collections go on meanwhile
        assert middle_collections == [], "a middle collection ran while streams were paced"
        assert gc.get_count()[1] >= MIDDLE_AFTER

        load.paced = False
        await _run_for(0.3, load, busy=False)
        assert middle_collections, "the middle collection owed did not run once quiet"
        assert gc.get_count()[1] < MIDDLE_AFTER


async def test_nothing_is_collected_while_the_collector_is_disabled(full_collections):
    """A scenario is loaded with the collector disabled (``_control._load``): a quiet moment
    meanwhile must not run the collection the loader held off."""
    with _taken_over() as load:
        _owe_a_full_collection(full_collections)
        gc.disable()
        try:
            await _run_for(0.3, load, busy=False)
        finally:
            gc.enable()
        assert full_collections == []
        await _run_for(0.3, load, busy=False)
        assert len(full_collections) == 1

"""The cyclic garbage collector's full collections, moved to quiet moments in ``llmfake serve``.

A full collection walks every object the collector tracks, with the loop stopped: with 1,000
streams in flight and a full journal that is 9-19 ms, which every stream being paced takes as a
late chunk (a chunk-gap error of 20 ms at p99 in the rounds of ``bench_fidelity.py --streams
1000`` where one ran mid-stream, 2-3 ms in those where none did). llmfake's own objects form no
cycles (``tests/server/test_no_reference_cycles.py``): reference counting frees them, and what
a full collection finds is the odd cycle of a library or of an exception's traceback. So the
young collections run as CPython schedules them, and a full one, once CPython would consider it,
waits for a moment when no stream is paced and no request came in, or ``longest_wait`` seconds
at most, so that load that never stops still has its cycles freed.

Only ``llmfake serve`` does this: the collector's settings are the whole process's, and a
server started inside a test run (``llmfake.serve()``, the pytest plugin) shares its process.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable

CHECK_EVERY = 0.05
"""Seconds between two looks at whether a full collection is owed and the server is quiet."""
LONGEST_WAIT = 10.0
"""Seconds an owed full collection waits for a quiet moment, at most."""
_NEVER = 1 << 30
"""A generation-2 threshold never reached: CPython's own full collections are off meanwhile."""
SUPPORTED = sys.version_info < (3, 14)
"""Whether the collector has the three generations this counts on (3.14's is incremental)."""


class QuietCollections:
    """Runs the full collections CPython owes when the server is quiet: ``pacing()`` is false
    and ``activity()`` (a count that grows as requests are read) has not changed since the
    previous look."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pacing: Callable[[], bool],
                 activity: Callable[[], int], longest_wait: float = LONGEST_WAIT) -> None:
        self._loop = loop
        self._pacing = pacing
        self._activity = activity
        self._longest_wait = longest_wait
        self._thresholds = gc.get_threshold()
        self._last_activity = -1
        self._owed_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Take the full collections over from CPython (nothing where it is not supported)."""
        if not SUPPORTED or self._timer is not None:
            return
        self._thresholds = gc.get_threshold()
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, _NEVER)
        self._timer = self._loop.call_later(CHECK_EVERY, self._look)

    def stop(self) -> None:
        """Hand the full collections back to CPython."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            gc.set_threshold(*self._thresholds)

    def _look(self) -> None:
        self._timer = self._loop.call_later(CHECK_EVERY, self._look)
        activity, self._last_activity = self._last_activity, self._activity()
        # What CPython would count: one per middle-generation collection since the last full.
        if gc.get_count()[2] < self._thresholds[2]:
            self._owed_since = None
            return
        at = time.monotonic()
        if self._owed_since is None:
            self._owed_since = at
        quiet = activity == self._last_activity and not self._pacing()
        if quiet or at - self._owed_since >= self._longest_wait:
            gc.collect(2)
            self._owed_since = None

"""The cyclic garbage collector's older generations, collected when ``llmfake serve`` is quiet.

A collection walks every object of the generations it collects, with the loop stopped, and every
stream being paced takes that as a late chunk. At 1,000 streams in flight a full collection (the
journal and every stream) took 9-19 ms and made the chunk-gap p99 20 ms in the rounds of
``bench_fidelity.py --streams 1000`` where one ran, and the middle generation's, 13 a round,
1-3.5 ms each, were most of the rest. llmfake's own objects form no cycles
(``tests/server/test_no_reference_cycles.py``): reference counting frees them, and what a
collection finds is the odd cycle of a library or of an exception's traceback. So the youngest
generation is collected as CPython schedules it (~0.1 ms each), and the middle and full
collections, once CPython would run them, wait for a moment when no stream is paced and no
request came in, or ``longest_wait`` seconds at most, so that load that never stops still has
its cycles freed.

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
"""Seconds between two looks at whether a collection is owed and the server is quiet."""
LONGEST_WAIT = 10.0
"""Seconds an owed collection waits for a quiet moment, at most."""
_NEVER = 1 << 30
"""A threshold never reached: CPython's own middle and full collections are off meanwhile."""
SUPPORTED = sys.version_info < (3, 14)
"""Whether the collector has the three generations this counts on (3.14's is incremental)."""


class QuietCollections:
    """Runs the middle and full collections CPython owes when the server is quiet: ``pacing()``
    is false and ``activity()`` (a count that grows as requests are read) has not changed since
    the previous look."""

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
        """Take the middle and full collections over from CPython (nothing where it is not
        supported)."""
        if not SUPPORTED or self._timer is not None:
            return
        self._thresholds = gc.get_threshold()
        gc.set_threshold(self._thresholds[0], _NEVER, _NEVER)
        self._timer = self._loop.call_later(CHECK_EVERY, self._look)

    def stop(self) -> None:
        """Hand the middle and full collections back to CPython."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            gc.set_threshold(*self._thresholds)

    def _look(self) -> None:
        self._timer = self._loop.call_later(CHECK_EVERY, self._look)
        activity, self._last_activity = self._last_activity, self._activity()
        if not gc.isenabled():  # held off on purpose (a scenario being loaded: _control._load)
            return
        # What CPython counts: young collections since the last middle one, middle ones
        # since the last full one.
        _, middle_count, full_count = gc.get_count()
        _, middle_after, full_after = self._thresholds
        owed = 2 if full_count >= full_after else 1 if middle_count >= middle_after else 0
        if not owed:
            self._owed_since = None
            return
        at = time.monotonic()
        if self._owed_since is None:
            self._owed_since = at
        quiet = activity == self._last_activity and not self._pacing()
        if quiet or at - self._owed_since >= self._longest_wait:
            gc.collect(owed)
            self._owed_since = None

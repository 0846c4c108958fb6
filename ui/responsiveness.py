"""Interpreter settings that keep the window answering while 10,000 rows go through Python.

Two things stall a Python UI thread that no profiler of our own code shows:

* **The GIL.** Reconciliation, the store and large diffs run on worker threads, but they run
  Python; each time the UI thread comes back from Qt it waits for the GIL up to the switch
  interval (5 ms by default), and painting a table returns to Python hundreds of times. A 1 ms
  interval makes the UI thread's turn come sooner at a small cost to throughput.
* **Full garbage collections.** Every sync creates 10,000 new rows (in the worker's memory, the
  store's cache and the model), so the old generation grows quickly and CPython walks all of it,
  100 ms and more with a big book. After a result is on screen the objects alive then are
  frozen (``gc.freeze``): they are still freed by reference counting when dropped, but full
  collections no longer walk them. Cycles frozen that way would never be collected, so a full
  collection over everything runs at a quiet moment every quarter of an hour.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH_INTERVAL = 0.001
FULL_COLLECTION_EVERY = 15 * 60.0


def tune_interpreter() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)


@contextmanager
def collections_paused() -> Iterator[None]:
    """No collection while the stored picture loads at start: its rows are tens of thousands of
    new objects that all stay, and each collection they set off would walk everything the
    imports left alive for nothing to free. What is alive afterwards is frozen, as after a
    result (``CollectorPolicy.settled``)."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class CollectorPolicy:
    """``settled()`` after each result is shown; ``idle()`` when no sync runs."""

    def __init__(self, every: float = FULL_COLLECTION_EVERY) -> None:
        self.every = every
        self._monotonic = time.monotonic
        self._last_full = self._monotonic()

    def settled(self) -> None:
        gc.freeze()

    def idle(self) -> bool:
        """Run the periodic full collection if it is due; True when it ran."""
        if self._monotonic() - self._last_full < self.every:
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._last_full = self._monotonic()
        return True

"""Client-side request-rate limits shared by every adapter that uses one broker credential.

A broker counts requests per API key, not per adapter or per account, and a trader's own
trading system usually shares that key. So the budget is kept per key in this process, and it
is spent in the thread that is about to send the request: that keeps the limit true whichever
event loop (qasync's, a test's, the CLI's) or executor the request comes from.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most ``limit`` request starts in any ``window`` seconds, delaying (never dropping) the rest.

    A start time is booked under a lock before the caller sleeps, so concurrent callers queue in
    order instead of waking together and bursting. A booked start that is never used (its fetch
    was cancelled) stays booked: the limiter can only err on the slow side.
    """

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._booked: deque[float] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book the earliest allowed start and return it (on the limiter's clock).

        Booked starts are non-decreasing, so keeping the last ``limit`` of them is enough: a new
        start at least ``window`` after the ``limit``-th previous one keeps every window within
        the limit.
        """
        with self._lock:
            start = self._clock()
            if len(self._booked) == self.limit:
                start = max(start, self._booked[0] + self.window)
            if self._booked:
                start = max(start, self._booked[-1])
            self._booked.append(start)
            return start

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Wait for a booked start; False when ``cancel`` was set meanwhile (send nothing then)."""
        delay = self.reserve() - self._clock()
        if delay > 0:
            if cancel is not None:
                if cancel.wait(delay):
                    return False
            else:
                time.sleep(delay)
        return not (cancel is not None and cancel.is_set())


_shared: dict[str, SlidingWindowLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(key: str, limit: int, window: float = 1.0) -> SlidingWindowLimiter:
    """The one limiter for ``key`` in this process.

    The first caller's limit sticks: replacing a limiter would forget the starts already booked
    and let two adapters of one key each spend a full budget.
    """
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = SlidingWindowLimiter(limit, window)
            _shared[key] = limiter
        return limiter

"""How long to wait before trying again after failures, for every caller that retries.

One policy, so the sync worker (retrying a broker read after failures) and an adapter (retrying
a connection) cannot drift apart in how they double, cap and jitter. The jitter draws from the
upper half of each step's range: spread enough that many clients restarted together (IB's
nightly restart, a network blip) do not knock in step, yet never much sooner than the step.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# 2**16 steps of doubling is far past any cap; the bound keeps ``initial * 2**n`` a float.
_MAX_DOUBLINGS = 16


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays doubling from ``initial`` (attempt 1) up to ``cap``, never below ``minimum``.

    Each delay is drawn between the larger of ``minimum`` and half its step, and the step itself.
    A step at or below ``minimum`` is taken as it is.
    """

    initial: float
    cap: float
    minimum: float = 0.0

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait before ``attempt`` (1 for the first retry); ``draw`` gives [0, 1)."""
        base = min(self.cap, self.initial * 2 ** min(max(0, attempt - 1), _MAX_DOUBLINGS))
        low = max(self.minimum, base / 2) if base > self.minimum else base
        return low + draw() * (base - low)

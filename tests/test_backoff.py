"""The one backoff policy gives the numbers of the two it replaced.

The sync worker's retry after failures and the IB adapter's reconnect each had a formula of
their own; both now ask ``app.backoff.Backoff``. The old formulas are written out here as they
were, and the new policy is held to them over a range of attempts and draws.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from position_sync.app.backoff import Backoff

DRAWS = [0.0, 1e-9, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999999, *(random.Random(7).random() for _ in range(40))]


def fixed(value: float) -> Callable[[], float]:
    return lambda: value


def old_sync_delay(interval: float, backoff_cap: float, failures: int, rng: Callable[[], float]) -> float:
    """``SyncWorker.delay_after`` before the policy was shared (failures >= 1)."""
    ceiling = min(backoff_cap, interval * (2 ** min(failures, 16)))
    floor = max(interval, ceiling / 2) if ceiling > interval else ceiling
    return floor + rng() * (ceiling - floor)


def old_ib_delay(initial: float, cap: float, attempt: int, draw: float) -> float:
    """The IB adapter's ``Backoff.delay`` before, with ``random.uniform(0.5, 1.0)`` written out."""
    base = min(cap, initial * 2 ** max(0, attempt - 1))
    return base * (0.5 + (1.0 - 0.5) * draw)


@pytest.mark.parametrize(
    ("interval", "cap"),
    [(60.0, 300.0), (10.0, 60.0), (1.0, 300.0), (0.001, 300.0), (300.0, 300.0), (500.0, 300.0), (7.5, 1e9)],
)
def test_the_sync_workers_retry_is_unchanged(interval: float, cap: float) -> None:
    policy = Backoff(initial=interval, cap=cap, minimum=interval)
    for failures in range(1, 40):
        for draw in DRAWS:
            expected = old_sync_delay(interval, cap, failures, fixed(draw))
            assert policy.delay(failures + 1, fixed(draw)) == expected, (failures, draw)


@pytest.mark.parametrize(("initial", "cap"), [(1.0, 60.0), (0.05, 0.2), (1.2, 1.2), (0.3, 45.0)])
def test_the_ib_reconnect_delay_is_unchanged(initial: float, cap: float) -> None:
    policy = Backoff(initial=initial, cap=cap)
    for attempt in range(0, 40):
        for draw in DRAWS:
            new = policy.delay(attempt, fixed(draw))
            old = old_ib_delay(initial, cap, attempt, draw)
            # base/2 + draw*base/2 against base*(0.5 + 0.5*draw): the same number, rounded in a
            # different order, so at most the last bit apart (and equal for a power-of-two base)
            assert math.isclose(new, old, rel_tol=4 * 2**-53, abs_tol=0.0), (attempt, draw, new, old)
            base = min(cap, initial * 2 ** max(0, attempt - 1))
            if math.frexp(base)[0] == 0.5:
                assert new == old, (attempt, draw)


def test_the_default_ib_delays_stay_in_the_upper_half_of_each_step() -> None:
    policy = Backoff(initial=1.0, cap=60.0)
    assert [policy.delay(n, lambda: 0.0) for n in (0, 1, 2, 3, 7, 8, 100)] == [
        0.5,
        0.5,
        1.0,
        2.0,
        30.0,
        30.0,
        30.0,
    ]
    assert [policy.delay(n, lambda: 1.0) for n in (1, 2, 3, 7, 8)] == [1.0, 2.0, 4.0, 60.0, 60.0]


def test_a_step_at_the_minimum_is_taken_as_it_is() -> None:
    assert Backoff(initial=5.0, cap=300.0, minimum=10.0).delay(1, lambda: 0.9) == 5.0
    assert Backoff(initial=10.0, cap=300.0, minimum=10.0).delay(1, lambda: 0.9) == 10.0
    assert Backoff(initial=10.0, cap=300.0, minimum=10.0).delay(2, lambda: 0.5) == 15.0


def test_the_draw_defaults_to_the_random_module() -> None:
    random.seed(3)
    expected = 0.5 + 0.5 * random.random()
    random.seed(3)
    assert Backoff(initial=1.0, cap=60.0).delay(1) == pytest.approx(expected)

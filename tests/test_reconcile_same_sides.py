"""Handed the very sides it judged last time, reconciliation keeps calm matches without a look.

Whatever it skips, the outcome must be what judging equal copies of the sides gives: the same
rows, the same events, sync after sync, across a day's end, with a problem maturing, after a
held mass change and after a failed read. Counted and compared, never timed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Position, Status
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.reconcile import AccountMemory, JudgeSettings, Outcome, reconcile
from position_sync.app.reconcile.rows import build_row, build_rows
from tests.reconcile_helpers import ACCOUNT, T0, pos


def sides() -> tuple[BrokerSnapshot, BookSnapshot]:
    """Calm matches, a two-leg match, a quantity mismatch, a phantom, an untracked position."""
    broker = (
        pos("NSE:A", 10, 100, last_price=101, label="CNC"),
        pos("NSE:B", 5, 50, last_price=49),
        pos("NSE:LEGS", 35, 200, label="NRML"),
        pos("NSE:LEGS", -35, 201, label="MIS"),
        pos("NSE:C", 7, 70),
        pos("NSE:U", 3, 30),
    )
    book = (
        pos("NSE:A", 10, 100),
        pos("NSE:B", 5, "50.02"),  # within the price tolerance: a match
        pos("NSE:C", 8, 70),
        pos("NSE:P", 4, 40),
    )
    return BrokerSnapshot(broker), BookSnapshot(book, "book-1")


def copies(broker: BrokerSnapshot, book: BookSnapshot) -> tuple[BrokerSnapshot, BookSnapshot]:
    """Equal sides in new objects: what a sync that parsed everything again is handed."""
    return (
        BrokerSnapshot(tuple(replace(p) for p in broker.positions), broker.orders),
        BookSnapshot(tuple(replace(p) for p in book.positions), book.fingerprint, book.modified_at),
    )


def summary(outcome: Outcome) -> tuple[object, ...]:
    return (
        outcome.rows,
        [(e.kind, e.instrument, e.detail) for e in outcome.events],
        outcome.memory,
        outcome.held,
    )


def run(
    steps: list[tuple[str, timedelta]], settings: JudgeSettings, *, same_objects: bool
) -> list[tuple[object, ...]]:
    """Syncs at the given offsets, each "good" (the sides), "fail" or "empty" (a mass change)."""
    broker, book = sides()
    memory = AccountMemory(ACCOUNT)
    seen = []
    for what, offset in steps:
        now = T0 + offset
        if what == "fail":
            outcome = reconcile(
                ACCOUNT, ReadError(ReadErrorKind.NETWORK, "down"), book, memory, settings, now
            )
        elif what == "empty":
            outcome = reconcile(ACCOUNT, BrokerSnapshot(()), book, memory, settings, now)
        else:
            judged = (broker, book) if same_objects else copies(broker, book)
            outcome = reconcile(ACCOUNT, *judged, memory, settings, now)
        memory = outcome.memory
        seen.append(summary(outcome))
    return seen


STORIES = {
    "at rest": [("good", timedelta(seconds=10 * i)) for i in range(6)],
    "across midnight": [("good", timedelta(hours=h)) for h in (0, 5, 14, 15, 40)],
    "after a failed read": [
        ("good", timedelta(0)),
        ("fail", timedelta(seconds=10)),
        ("good", timedelta(seconds=20)),
    ]
    + [("good", timedelta(seconds=30 + 10 * i)) for i in range(3)],
    "after a held mass change": [("good", timedelta(seconds=10 * i)) for i in range(3)]
    + [("empty", timedelta(seconds=30)), ("good", timedelta(seconds=40)), ("good", timedelta(seconds=50))],
}


@pytest.mark.parametrize("story", sorted(STORIES))
def test_the_very_same_sides_give_what_equal_copies_give(story: str) -> None:
    settings = JudgeSettings(settle_seconds=0, confirm_syncs=2, mass_change_min=2)
    assert run(STORIES[story], settings, same_objects=True) == run(
        STORIES[story], settings, same_objects=False
    )


def test_calm_matches_are_kept_only_for_the_very_same_sides_and_settings() -> None:
    broker, book = sides()
    settings = JudgeSettings(settle_seconds=0)
    first = reconcile(ACCOUNT, broker, book, AccountMemory(ACCOUNT), settings, T0)
    second = reconcile(ACCOUNT, broker, book, first.memory, settings, T0 + timedelta(seconds=10))
    memory = second.memory
    assert memory.judged_from_same(broker.positions, book.positions, settings) is not None
    broker_copy, book_copy = copies(broker, book)
    assert memory.judged_from_same(broker_copy.positions, book_copy.positions, settings) is None
    stricter = JudgeSettings(
        settle_seconds=0, price_tolerance_rel=replace(settings).price_tolerance_rel / 100
    )
    assert memory.judged_from_same(broker.positions, book.positions, stricter) is None
    # A memory whose rows are another dict (loaded from the store, held, marked stale) was not
    # built from these sides.
    assert (
        replace(memory, rows=dict(memory.rows)).judged_from_same(broker.positions, book.positions, settings)
        is None
    )
    # And a stricter tolerance turns the near match into a price mismatch, as it must.
    third = reconcile(ACCOUNT, broker, book, memory, stricter, T0 + timedelta(seconds=20))
    assert third.rows["NSE:B"].status is Status.PRICE_MISMATCH


def test_the_same_sides_skip_the_look_at_calm_matches_only() -> None:
    """Counted: with ``same_sides`` no calm match's sides are looked up; problems still are."""
    broker, book = sides()
    settings = JudgeSettings(settle_seconds=0)
    first = reconcile(ACCOUNT, broker, book, AccountMemory(ACCOUNT), settings, T0)
    memory = first.memory
    assert memory.judged_from is not None
    b_map, b_parts = memory.judged_from.broker_index
    l_map, l_parts = memory.judged_from.book_index

    class Counting(dict[str, Position]):
        looked: list[str]

        def get(self, key: str, default: object = None) -> Position | None:  # type: ignore[override]
            self.looked.append(key)
            return super().get(key)

    counted = Counting(b_map)
    counted.looked = []
    keys = dict.fromkeys([*b_map, *l_map])
    built = build_rows(ACCOUNT, keys, counted, l_map, b_parts, l_parts, memory, T0, settings, same_sides=True)
    calm = {k for k, r in memory.rows.items() if r.status is Status.MATCH}
    assert calm == {"NSE:A", "NSE:B", "NSE:LEGS"}
    assert set(counted.looked) == set(keys) - calm
    assert all(built.rows[k] is memory.rows[k] for k in calm)


_PRICES = st.one_of(st.none(), st.decimals(min_value=1, max_value=10_000, places=2, allow_nan=False))


@given(
    quantity=st.integers(min_value=-500, max_value=500).filter(bool),
    average=_PRICES,
    last=_PRICES,
    new_last=_PRICES,
    unrealised=_PRICES,
    new_unrealised=_PRICES,
    label=st.sampled_from([None, "CNC", "NRML"]),
    new_quantity=st.sampled_from([None, 1]),
    new_currency=st.sampled_from([None, "INR"]),
    new_reason=st.sampled_from([None, "no price"]),
)
@settings(max_examples=400, deadline=None)
def test_a_calm_match_kept_or_repriced_without_building_is_what_building_gives(
    quantity: int,
    average: Decimal | None,
    last: Decimal | None,
    new_last: Decimal | None,
    unrealised: Decimal | None,
    new_unrealised: Decimal | None,
    label: str | None,
    new_quantity: int | None,
    new_currency: str | None,
    new_reason: str | None,
) -> None:
    """The shortcut for a calm match (the same row, or the same row at new prices) gives what
    judging the sides in full gives, whatever moved: a price, the broker's P&L, a quantity, a
    currency, the words for a missing price."""
    settings = JudgeSettings(settle_seconds=0)
    b1 = replace(
        pos("NSE:X", quantity), average_price=average, last_price=last, unrealised_pnl=unrealised, label=label
    )
    l1 = replace(pos("NSE:X", quantity), average_price=average)
    memory = AccountMemory(ACCOUNT, initialised=True)
    first = build_rows(ACCOUNT, {"NSE:X": None}, {"NSE:X": b1}, {"NSE:X": l1}, {}, {}, memory, T0, settings)
    prev = first.rows["NSE:X"]
    assert prev.status is Status.MATCH
    b2 = replace(
        b1,
        quantity=b1.quantity + (new_quantity or 0),
        last_price=new_last,
        unrealised_pnl=new_unrealised,
        currency=new_currency,
        price_missing_reason=new_reason,
    )
    later = T0 + timedelta(minutes=1)
    remembered = AccountMemory(ACCOUNT, {"NSE:X": prev}, initialised=True)
    fast = build_rows(
        ACCOUNT, {"NSE:X": None}, {"NSE:X": b2}, {"NSE:X": l1}, {}, {}, remembered, later, settings
    )
    built = build_row(ACCOUNT, "NSE:X", b2, l1, None, None, prev, later, settings)
    assert fast.rows.get("NSE:X") == built
    assert (fast.rows.get("NSE:X") is prev) == (built is prev)

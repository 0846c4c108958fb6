"""Invariants of reconciliation over generated pictures (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from unittest.mock import patch

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from position_sync.app.domain import ZERO, EventKind, Position, Status
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.reconcile import JudgeSettings
from tests.reconcile_helpers import Session, book, broker

SYMBOLS = st.sampled_from(["NSE:A", "NSE:B", "NSE:C", "NFO:D", "NFO:E", "BTC/USDT:USDT"])
QUANTITIES = st.decimals(min_value=-50, max_value=50, places=1, allow_nan=False, allow_infinity=False)
PRICES = st.one_of(st.none(), st.decimals(min_value=1, max_value=500, places=2))


@st.composite
def positions(draw: st.DrawFn, nonzero: bool = False) -> list[Position]:
    items = draw(st.lists(st.tuples(SYMBOLS, QUANTITIES, PRICES), max_size=8))
    return [
        Position(instrument=s, symbol=s, quantity=q, average_price=p, label=f"line {i}")
        for i, (s, q, p) in enumerate(items)
        if not nonzero or q != ZERO
    ]


def totals(lines: list[Position]) -> dict[str, Decimal]:
    result: dict[str, Decimal] = defaultdict(Decimal)
    for p in lines:
        result[p.instrument] += p.quantity
    return result


@settings(max_examples=300, deadline=None)
@given(positions(), positions(), positions(), positions())
def test_every_instrument_lands_in_exactly_one_row(
    b0: list[Position], l0: list[Position], b1: list[Position], l1: list[Position]
) -> None:
    session = Session()
    session.sync(broker(*b0), book(*l0))
    out = session.sync(broker(*b1), book(*l1))
    if out.held:
        return
    b_tot, l_tot = totals(b1), totals(l1)
    for key in set(b_tot) | set(l_tot):
        if b_tot.get(key, ZERO) == ZERO and l_tot.get(key, ZERO) == ZERO and key not in b_tot:
            continue
        row = out.rows[key]
        assert row.instrument == key
        assert (row.broker_qty or ZERO) == b_tot.get(key, ZERO)
        assert (row.local_qty or ZERO) == l_tot.get(key, ZERO)
    for key, row in out.rows.items():
        assert key == row.instrument
        held_somewhere = b_tot.get(key, ZERO) != ZERO or l_tot.get(key, ZERO) != ZERO
        # Broker lines that net to zero are open legs: such a row is judged, not closed.
        legs_open = any(p.quantity != ZERO for p in b1 if p.instrument == key)
        assert held_somewhere or row.status is (Status.MATCH if legs_open else Status.CLOSED)


@settings(max_examples=200, deadline=None)
@given(
    positions(),
    positions(),
    st.sampled_from(["broker", "book", "both"]),
    st.sampled_from(list(ReadErrorKind)),
)
def test_failed_read_produces_no_phantom_untracked_or_closed(
    b0: list[Position], l0: list[Position], side: str, kind: ReadErrorKind
) -> None:
    session = Session()
    before = session.sync(broker(*b0), book(*l0))
    failure = ReadError(kind, "it failed")
    out = session.sync(
        failure if side in ("broker", "both") else broker(), failure if side in ("book", "both") else book()
    )
    forbidden = {EventKind.PHANTOM_DETECTED, EventKind.UNTRACKED_DETECTED, EventKind.CLOSED, EventKind.OPENED}
    assert not forbidden & {e.kind for e in out.events}
    assert set(out.rows) == set(before.rows)
    assert all(r.status is Status.STALE for r in out.rows.values())
    assert out.closed == []


@settings(max_examples=300, deadline=None)
@given(positions(nonzero=True))
def test_a_side_against_itself_is_all_match(lines: list[Position]) -> None:
    out = Session().sync(broker(*lines), book(*lines))
    for key in totals(lines):
        # Lines that net to zero are still open legs, judged on the net: a match, never closed.
        assert out.rows[key].status is Status.MATCH, out.rows[key]


@st.composite
def single_lines(draw: st.DrawFn) -> list[Position]:
    """One line per instrument (the shape the steady-state shortcut handles), with prices and labels."""
    symbols = draw(st.lists(SYMBOLS, unique=True, max_size=6))
    return [
        Position(
            instrument=s,
            symbol=s,
            quantity=draw(QUANTITIES),
            average_price=draw(PRICES),
            last_price=draw(PRICES),
            label=draw(st.sampled_from([None, "NRML", "MIS"])),
            currency=draw(st.sampled_from([None, "INR"])),
        )
        for s in symbols
    ]


@settings(max_examples=300, deadline=None)
@given(single_lines(), single_lines(), single_lines(), st.lists(PRICES, min_size=6, max_size=6))
def test_reusing_an_unchanged_match_gives_what_rebuilding_it_would(
    b0: list[Position], l0: list[Position], b1: list[Position], ticks: list[Decimal | None]
) -> None:
    """The shortcut that hands back an unchanged match row must be invisible in every outcome."""
    l1 = [replace(p, last_price=None, label="book") for p in b1]  # b1 held as the book holds it
    ticked = [replace(p, last_price=t) for p, t in zip(b1, ticks, strict=False)]  # only prices move
    sides = [(b0, l0), (b0, l0), (b1, l1), (b1, l1), (ticked, l1), (ticked, l1), (b1, l0)]
    shortcut, rebuilt = Session(), Session()
    for b, lines in sides:
        fast = shortcut.sync(broker(*b), book(*lines))
        with patch("position_sync.app.reconcile.rows._still_the_same_match", lambda *_: None):
            slow = rebuilt.sync(broker(*b), book(*lines))
        assert fast.rows == slow.rows
        assert fast.events == slow.events
        assert fast.closed == slow.closed


@settings(max_examples=200, deadline=None)
@given(single_lines(), single_lines(), st.sampled_from([1, 2, 3]))
def test_a_book_emptied_at_once_is_held_whatever_the_picture(
    b0: list[Position], l0: list[Position], confirm_syncs: int
) -> None:
    """Rule 3 on the book side: a book that lost every row it held is held, never judged."""
    assume(sum(1 for p in l0 if p.quantity != ZERO) >= 3)
    session = Session(JudgeSettings(settle_seconds=0, confirm_syncs=confirm_syncs))
    before = session.sync(broker(*b0), book(*l0))
    out = session.sync(broker(*b0), book(fingerprint="emptied"))
    assert out.held
    assert [e.kind for e in out.events] == [EventKind.MASS_CHANGE_HELD]
    assert out.rows == before.rows
    assert out.closed == []

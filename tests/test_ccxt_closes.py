"""The legs an exchange account was seen holding, kept across processes for its closes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from position_sync.app.domain import Position
from position_sync.brokers.ccxt_closes import CloseTracker, Leg, tracker_file


def leg(instrument: str, quantity: str, side: str = "") -> Leg:
    return Leg(
        Position(instrument=instrument, quantity=Decimal(quantity), label=side or None),
        instrument.split("/")[0] + "USDT",
        side,
    )


def test_a_new_process_sees_a_close_the_last_one_could_not(tmp_path: Path) -> None:
    path = tracker_file(tmp_path, "bybit main/1")
    assert path.parent == tmp_path / "legs" and "/" not in path.name
    first = CloseTracker(path, clock=lambda: 1000.0)
    first.update([leg("HIGH/USDT:USDT", "300"), leg("BTC/USDT:USDT", "1", "long leg")])
    second = CloseTracker(path, clock=lambda: 1060.0)
    second.update([leg("BTC/USDT:USDT", "1", "long leg")])
    [waiting] = second.waiting()
    assert waiting.position.instrument == "HIGH/USDT:USDT" and waiting.opened_at == 1000.0
    second.settle({"HIGHUSDT": Decimal("26.7")})
    third = CloseTracker(path, clock=lambda: 1070.0)
    third.update([leg("BTC/USDT:USDT", "1", "long leg")])
    assert [(p.instrument, p.quantity, p.realised_pnl) for p in third.rows()] == [
        ("HIGH/USDT:USDT", Decimal(0), Decimal("26.7"))
    ]
    assert third.waiting() == []


def test_a_damaged_file_is_ignored(tmp_path: Path) -> None:
    path = tracker_file(tmp_path, "acct")
    path.parent.mkdir(parents=True)
    path.write_text('{"open": [{"instrument": 1}]')
    tracker = CloseTracker(path, clock=lambda: 5.0)
    tracker.update([leg("HIGH/USDT:USDT", "1")])
    assert tracker.rows() == [] and tracker.waiting() == []
    assert CloseTracker(path).rows() == []  # rewritten whole: nothing closed, one leg open


def test_the_very_same_legs_again_change_nothing_but_the_expiry(tmp_path: Path) -> None:
    """An unchanged answer hands the tracker its previous legs: no walk, the same tuple out."""
    now = [1000.0]
    tracker = CloseTracker(tracker_file(tmp_path, "acct"), clock=lambda: now[0])
    both = (leg("HIGH/USDT:USDT", "300"), leg("BTC/USDT:USDT", "1"))
    tracker.update(both)
    one = (both[1],)
    tracker.update(one)
    first = tracker.positions(one)
    assert [(p.instrument, p.quantity) for p in first] == [("BTC/USDT:USDT", 1), ("HIGH/USDT:USDT", 0)]
    tracker.update(one)
    assert tracker.positions(one) is first
    tracker.settle({"HIGHUSDT": Decimal("26.7")})  # the history shows the close: a new tuple
    settled = tracker.positions(one)
    assert settled is not first and settled[1].realised_pnl == Decimal("26.7")
    now[0] += 24 * 3600  # a day on: the close is no longer handed back, even for the same legs
    tracker.update(one)
    assert [p.instrument for p in tracker.positions(one)] == ["BTC/USDT:USDT"]
    assert CloseTracker(tracker_file(tmp_path, "acct")).rows() == []  # and the file says so


def test_equal_legs_in_a_new_list_are_walked_as_ever(tmp_path: Path) -> None:
    tracker = CloseTracker(clock=lambda: 5.0)
    legs = [leg("HIGH/USDT:USDT", "1")]
    tracker.update(legs)
    legs.clear()  # a list may change between two calls: only a tuple is taken as unchanged
    tracker.update(legs)
    assert [p.quantity for p in tracker.rows()] == [0]

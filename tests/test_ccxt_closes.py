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

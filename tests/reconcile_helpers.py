"""Small builders shared by the reconciliation tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Position, WorkingOrder
from position_sync.app.errors import ReadError
from position_sync.app.reconcile import AccountMemory, JudgeSettings, Outcome, reconcile

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ACCOUNT = "acct"


def pos(symbol: str, qty: str | int, avg: str | int | None = None, **extra: object) -> Position:
    return Position(
        instrument=symbol,
        symbol=symbol,
        quantity=Decimal(str(qty)),
        average_price=None if avg is None else Decimal(str(avg)),
        **extra,  # type: ignore[arg-type]
    )


def broker(*positions: Position, orders: tuple[WorkingOrder, ...] = ()) -> BrokerSnapshot:
    return BrokerSnapshot(tuple(positions), orders)


def book(*positions: Position, fingerprint: str = "book-1") -> BookSnapshot:
    return BookSnapshot(tuple(positions), fingerprint)


class Session:
    """Successive syncs of one account, ten seconds apart, carrying the memory along."""

    def __init__(self, settings: JudgeSettings | None = None, start: datetime = T0) -> None:
        self.settings = settings or JudgeSettings(settle_seconds=0)
        self.memory = AccountMemory(ACCOUNT)
        self.now = start

    def sync(self, broker_side: BrokerSnapshot | ReadError, book_side: BookSnapshot | ReadError) -> Outcome:
        outcome = reconcile(ACCOUNT, broker_side, book_side, self.memory, self.settings, self.now)
        self.memory = outcome.memory
        self.now += timedelta(seconds=10)
        return outcome


def kinds(outcome: Outcome) -> list[tuple[str | None, str]]:
    return [(e.instrument, e.kind.value) for e in outcome.events]

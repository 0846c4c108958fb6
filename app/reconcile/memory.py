"""What one sync of an account takes from the last and hands to the next, and its knobs.

Apart from the judgement so that every phase of it can name these types without importing the
entry point, which imports every phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from position_sync.app.domain import AccountState, Event, Row


@dataclass(frozen=True)
class JudgeSettings:
    """The per-account knobs of reconciliation (see ``AccountConfig`` for their defaults)."""

    price_tolerance_rel: Decimal = Decimal("0.001")
    price_tolerance_abs: Decimal = Decimal("0.01")
    confirm_syncs: int = 2
    settle_seconds: float = 5.0
    mass_change_fraction: Decimal = Decimal("0.5")
    mass_change_min: int = 3


@dataclass(frozen=True)
class ClosedPosition:
    """A position the broker closed, archived with its realised P&L (rule 5)."""

    account: str
    instrument: str
    closed_at: datetime
    quantity: Decimal
    average_price: Decimal | None
    realised_pnl: Decimal | None
    estimated: bool


@dataclass(frozen=True)
class AccountMemory:
    """What reconciliation needs from the previous sync of one account."""

    account: str
    rows: dict[str, Row] = field(default_factory=dict)
    state: AccountState = AccountState.OK
    error: str | None = None
    last_success_at: datetime | None = None
    book_fingerprint: str | None = None
    book_changed_at: datetime | None = None
    held: frozenset[str] | None = None
    initialised: bool = False


@dataclass(frozen=True)
class Outcome:
    rows: dict[str, Row]
    events: list[Event]
    memory: AccountMemory
    closed: list[ClosedPosition] = field(default_factory=list)
    held: bool = False

    @property
    def state(self) -> AccountState:
        return self.memory.state

"""What one sync of an account takes from the last and hands to the next, and its knobs.

Apart from the judgement so that every phase of it can name these types without importing the
entry point, which imports every phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from position_sync.app.domain import AccountState, Event, Part, Position, Row


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


@dataclass(frozen=True, eq=False)
class JudgedFrom:
    """What a good sync built its rows from: the keyed sides, indexed, and its settings.

    Held in memory only (never stored), so that the next sync can tell by identity that it was
    handed the very same sides: a daemon at rest, whose book was not parsed again and whose
    broker answer was not rebuilt. ``rows`` is the dict that sync built; a memory whose rows
    are another dict (held, marked stale, loaded from the store) was not built from these.
    """

    broker: tuple[Position, ...]
    book: tuple[Position, ...]
    settings: JudgeSettings
    rows: dict[str, Row]
    broker_index: tuple[dict[str, Position], dict[str, tuple[Part, ...]]]
    book_index: tuple[dict[str, Position], dict[str, tuple[Part, ...]]]


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
    judged_from: JudgedFrom | None = field(default=None, compare=False, repr=False)

    def judged_from_same(
        self, broker: tuple[Position, ...], book: tuple[Position, ...], settings: JudgeSettings
    ) -> JudgedFrom | None:
        """What the last good sync judged, if it judged these very sides into these very rows."""
        last = self.judged_from
        if (
            last is not None
            and last.broker is broker
            and last.book is book
            and last.rows is self.rows
            and last.settings == settings
        ):
            return last
        return None


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

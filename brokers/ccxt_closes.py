"""Positions an exchange stopped listing, and the realised P&L of their close.

An exchange's position list shows what is open; a closed position is simply gone (Binance's
positionRisk, Hyperliquid) or left at size 0 (Bybit), and neither says what the close realised.
The exchange's history does (Binance's income, Bybit's closed P&L). So the venue remembers the
legs it saw open and since when; when one goes, it asks the history once for the realised P&L
since the earliest of them, and hands back a zero row carrying it for the rest of the day, the
way Kite keeps its closed-today rows. A close the history does not show yet (it lags by
seconds) is asked for again on later reads for a while; after that, or for a close that
happened while this program was not running, the core's estimate stands, marked as such.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import NamedTuple

from position_sync.app.domain import ZERO, Position


class Leg(NamedTuple):
    """One open line as read: its position, the market's native id (what the exchange's history
    is keyed by) and which side of a hedge-mode pair it is ("" in one-way mode)."""

    position: Position
    native: str
    side: str = ""


LegKey = tuple[str, str]  # (instrument, side)

#: How long a closed leg's zero row is handed back (the rest of a trading day and more).
KEEP_CLOSED_SECONDS = 24 * 3600.0
#: How long the history is asked again for a close it does not show yet.
ASK_HISTORY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class ClosedLeg:
    position: Position  # quantity 0, realised P&L once known
    opened_at: float  # when this process first saw the leg open (epoch seconds)
    closed_at: float
    native: str  # the exchange's id of the market, which its history is keyed by


class CloseTracker:
    """The legs of one account seen open, and those closed since."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._open: dict[LegKey, tuple[Position, float, str]] = {}
        self._closed: dict[LegKey, ClosedLeg] = {}

    def update(self, legs: Iterable[Leg]) -> None:
        """This read's open legs; those gone since the last read become closed."""
        now = self._clock()
        current: dict[LegKey, tuple[Position, float, str]] = {}
        for position, native, side in legs:
            key = (position.instrument, side)
            seen = self._open.get(key)
            current[key] = (position, seen[1] if seen is not None else now, native)
            self._closed.pop(key, None)  # reopened
        for key, (position, opened_at, native) in self._open.items():
            if key not in current:
                zero = replace(position, quantity=ZERO, unrealised_pnl=None, realised_pnl=None)
                self._closed[key] = ClosedLeg(zero, opened_at, now, native)
        self._open = current
        self._closed = {k: c for k, c in self._closed.items() if now - c.closed_at < KEEP_CLOSED_SECONDS}

    def waiting(self) -> list[ClosedLeg]:
        """Closed legs whose realised P&L the history may still show."""
        now = self._clock()
        return [
            c
            for c in self._closed.values()
            if c.position.realised_pnl is None and now - c.closed_at < ASK_HISTORY_SECONDS
        ]

    def settle(self, realised_by_native: Mapping[str, Decimal]) -> None:
        """The history's realised P&L per market since the legs opened, for the waiting legs."""
        for key, closed in list(self._closed.items()):
            if closed.position.realised_pnl is not None:
                continue
            realised = realised_by_native.get(closed.native)
            if realised is not None:
                self._closed[key] = replace(closed, position=replace(closed.position, realised_pnl=realised))

    def rows(self) -> list[Position]:
        """Zero rows for the closed legs (realised P&L where known), to hand back with the open."""
        return [c.position for c in self._closed.values()]

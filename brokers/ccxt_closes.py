"""Positions an exchange stopped listing, and the realised P&L of their close.

An exchange's position list shows what is open; a closed position is simply gone (Binance's
positionRisk, Hyperliquid) or left at size 0 (Bybit), and neither says what the close realised.
The exchange's history does (Binance's income, Bybit's closed P&L). So the venue remembers the
legs it saw open and since when; when one goes, it asks the history once for the realised P&L
since the earliest of them, and hands back a zero row carrying it for the rest of the day, the
way Kite keeps its closed-today rows. A close the history does not show yet (it lags by
seconds) is asked for again on later reads for a while; after that, or for a close that
happened while this program was not running, the core's estimate stands, marked as such.

What the tracker knows is kept in a small file in the data directory, written when the set of
legs changes: a ``sync --once`` from cron is a new process each time, and without the file it
would never see a close happen.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from position_sync.app.domain import ZERO, Position, optional_decimal
from position_sync.app.errors import ReadError
from position_sync.brokers.answer_memo import AnswerMemo

log = logging.getLogger(__name__)


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

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._path = path
        self._open: dict[LegKey, tuple[Position, float, str]] = {}
        self._closed: dict[LegKey, ClosedLeg] = {}
        self._loaded = path is None
        self._updated_with: Iterable[Leg] | None = None  # the legs of the last update
        self._positions: AnswerMemo[tuple[Position, ...]] = AnswerMemo()

    def update(self, legs: Iterable[Leg]) -> None:
        """This read's open legs; those gone since the last read become closed.

        Handed the very legs of the last update (a venue's unchanged answer, see
        ``brokers.answer_memo``), nothing opened or closed since: only closes kept long enough
        are dropped, without walking every open leg again.
        """
        if not self._loaded:
            self._load()
        now = self._clock()
        if type(legs) is tuple and legs is self._updated_with:  # a tuple cannot have changed since
            kept = {k: c for k, c in self._closed.items() if now - c.closed_at < KEEP_CLOSED_SECONDS}
            if len(kept) != len(self._closed):
                self._closed = kept
                self._save()
            return
        before = (set(self._open), {k: c.position.realised_pnl for k, c in self._closed.items()})
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
        if before != (set(self._open), {k: c.position.realised_pnl for k, c in self._closed.items()}):
            self._save()
        self._updated_with = legs

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
        changed = False
        for key, closed in list(self._closed.items()):
            if closed.position.realised_pnl is not None:
                continue
            realised = realised_by_native.get(closed.native)
            if realised is not None:
                self._closed[key] = replace(closed, position=replace(closed.position, realised_pnl=realised))
                changed = True
        if changed:
            self._save()

    async def settle_waiting(
        self, history: Callable[[float], Awaitable[Mapping[str, Decimal]]], title: str
    ) -> None:
        """Ask ``history`` (realised P&L per market since a time) once for every waiting close.

        A failed history read leaves the closes standing, their P&L to the core's estimate: the
        positions were read fine, so the account is not stale for it.
        """
        waiting = self.waiting()
        if not waiting:
            return
        try:
            self.settle(await history(min(leg.opened_at for leg in waiting)))
        except ReadError as exc:
            log.info("%s: realised P&L of closes not read: %s", title, exc)

    def rows(self) -> list[Position]:
        """Zero rows for the closed legs (realised P&L where known), to hand back with the open."""
        return [c.position for c in self._closed.values()]

    def positions(self, legs: tuple[Leg, ...]) -> tuple[Position, ...]:
        """The open legs' positions and the closed legs' zero rows: what a venue hands back.

        The very same tuple as last time while the legs and the closes are the same, so that an
        account at rest is not keyed and judged again by the core.
        """
        key = (legs, tuple(self.rows()))
        built = self._positions.recall(key)
        if built is None:
            built = self._positions.remember(key, (*(leg.position for leg in legs), *key[1]))
        return built

    # --- the file ------------------------------------------------------------------------------

    def _load(self) -> None:
        self._loaded = True
        if self._path is None:
            return
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            for record in data.get("open", []):
                position, side, native, opened_at = _leg_from(record)
                self._open[(position.instrument, side)] = (position, opened_at, native)
            for record in data.get("closed", []):
                position, side, native, opened_at = _leg_from(record)
                self._closed[(position.instrument, side)] = ClosedLeg(
                    position, opened_at, float(record["closed_at"]), native
                )
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as exc:
            log.info("ignoring %s: %s", self._path, type(exc).__name__)
            self._open.clear()
            self._closed.clear()

    def _save(self) -> None:
        if self._path is None:
            return
        data = {
            "open": [
                _leg_record(p, side, native, opened) for (_, side), (p, opened, native) in self._open.items()
            ],
            "closed": [
                {**_leg_record(c.position, side, c.native, c.opened_at), "closed_at": c.closed_at}
                for (_, side), c in self._closed.items()
            ],
        }
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                dir=self._path.parent, prefix=f".{self._path.name}.", suffix=".tmp"
            )
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(data, file, separators=(",", ":"))
            os.replace(temporary, self._path)
        except OSError as exc:  # a close the next process cannot see is estimated: no worse
            log.warning("could not save %s: %s", self._path, exc)


def tracker_file(data_dir: Path, account_id: str) -> Path:
    """Where an account's legs are kept: ``legs/<account>.json`` in the data directory."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", account_id)
    return data_dir / "legs" / f"{safe}.json"


def _leg_record(position: Position, side: str, native: str, opened_at: float) -> dict[str, Any]:
    return {
        "instrument": position.instrument,
        "side": side,
        "native": native,
        "opened_at": opened_at,
        "label": position.label,
        "currency": position.currency,
        "realised": None if position.realised_pnl is None else str(position.realised_pnl),
    }


def _leg_from(record: Mapping[str, Any]) -> tuple[Position, str, str, float]:
    """A leg as saved: as a zero row (what a close hands back), its side, market and open time."""
    position = Position(
        instrument=str(record["instrument"]),
        quantity=ZERO,
        label=record.get("label"),
        symbol=str(record["native"]),
        currency=record.get("currency"),
        realised_pnl=optional_decimal(record.get("realised")),
    )
    return position, str(record["side"]), str(record["native"]), float(record["opened_at"])

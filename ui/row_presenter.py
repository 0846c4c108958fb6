"""What one row of the positions table looks like: its texts, colours, fonts, icons and tooltip.

The view asks for every role of every visible cell on every repaint, so a row's texts and looks
are worked out once, for the rows actually painted, and kept until something they depend on
changes. The row and its acknowledgement are immutable, so a kept result is checked by identity
against the ones it was made from; the palette, the clock and an account's read state belong to
this presenter, which forgets what they made stale itself. Kept apart from the sorted index so
the order can be tested without Qt, and from the model so the model only adapts the two to Qt.

Memory stays flat however far the trader scrolls (issue 19): the texts of at most ``KEPT_ROWS``
rows are kept (the oldest go first: a screen or two of rows, worked out again in microseconds),
and a row's looks are one shared tuple per *style* (status, quietness, signs of its P&L, its
icon), a few dozen for the whole table, instead of a tuple of colours, fonts and icons per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon

from position_sync.app.display import (
    clock,
    figures,
    fmt_money,
    fmt_qty,
    instrument_label,
    short_hint,
    span,
    status_label,
    status_meaning,
    with_minus,
)
from position_sync.app.domain import ZERO, AccountState, Row, Status
from position_sync.app.store.acks import AckState
from position_sync.ui import status_style
from position_sync.ui.plain_text import escape, markup
from position_sync.ui.positions_columns import COLUMNS, Col
from position_sync.ui.positions_index import Entry, Key
from position_sync.ui.resources import icon
from position_sync.ui.row_facts import market_value, price_gap_text, product, side, side_detail

# (foreground, background, font, decoration) of one cell.
Look = tuple[QColor | None, QColor | None, QFont | None, QIcon | None]
BOLD_WHEN_WRONG = (Col.STATUS, Col.DIFF, Col.PRICE_GAP)  # the cells that say how wrong a row is
KEPT_ROWS = 1024  # rows whose texts are kept: several screens' worth
# What a row's looks depend on: status, effective status, quiet, P&L signs, instrument icon.
Style = tuple[Status, Status, bool, int | None, int | None, str | None]


@dataclass
class AccountInfo:
    currency: str | None = None
    state: AccountState = AccountState.OK
    last_success_at: datetime | None = None
    error: str | None = None


class Repaint(Enum):
    """Which rows of an account look different after its ``AccountInfo`` changed."""

    NONE = "none"
    STALE = "stale"  # only stale rows show the account's age and error
    ALL = "all"


class _Shown:
    """What was worked out for one row, and the row and acknowledgement it was worked out from."""

    __slots__ = ("ack", "cells", "looks", "row")

    def __init__(self, row: Row, ack: AckState | None) -> None:
        self.row = row
        self.ack = ack
        self.cells: tuple[str, ...] | None = None
        self.looks: tuple[Look, ...] | None = None  # shared with every row of the same style


class RowPresenter:
    def __init__(self, now: datetime | None = None) -> None:
        self._shown: dict[Key, _Shown] = {}  # at most ``KEPT_ROWS``, oldest first
        self._styles: dict[Style, tuple[Look, ...]] = {}
        self._accounts: dict[str, AccountInfo] = {}
        self._now = now or datetime.now(UTC)
        self._dark = False
        self._italic = QFont()
        self._italic.setItalic(True)
        self._bold = QFont()
        self._bold.setBold(True)
        self._icons = {status: status_style.status_icon(status) for status in Status}
        self._ack_icon = icon("ack")
        self._snooze_icon = icon("snooze")
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        self.alignments = tuple(right if COLUMNS[Col(c)].numeric else left for c in range(len(COLUMNS)))

    # -- what the model asks, per cell and role ----------------------------------------------

    def _kept(self, entry: Entry) -> _Shown:
        kept = self._shown
        shown = kept.get(entry.key)
        if shown is None or shown.row is not entry.row or shown.ack is not entry.ack:
            if shown is None and len(kept) >= KEPT_ROWS:
                del kept[next(iter(kept))]
            shown = kept[entry.key] = _Shown(entry.row, entry.ack)
        return shown

    def cells(self, entry: Entry) -> tuple[str, ...]:
        shown = self._kept(entry)
        cells = shown.cells
        if cells is None:
            cells = shown.cells = self._cells(entry.row, entry.ack)
        return cells

    def looks(self, entry: Entry) -> tuple[Look, ...]:
        shown = self._kept(entry)
        looks = shown.looks
        if looks is None:
            looks = shown.looks = self._looks(entry.row, entry.ack)
        return looks

    def tooltip(self, entry: Entry) -> str:
        """Says in words what the row's status means, then the detail behind it.

        Rich text of our own; every value from a broker, a book or the user is escaped into it.
        """
        row, ack, now = entry.row, entry.ack, self._now
        status = row.effective_status
        lines = [
            # no-break spaces: rich text would fold an OCC symbol's padding
            markup(
                "<b>{instrument}</b> at {account}",
                instrument=instrument_label(row.instrument).replace(" ", chr(0xA0)),
                account=row.account,
            ),
            f"<b>{status_label(status)}</b>: {status_meaning(status)}",
        ]
        if row.status is Status.STALE:
            info = self._accounts.get(row.account)
            when = clock(info.last_success_at, now) if info and info.last_success_at else "never"
            reason = f" ({escape(info.error)})" if info and info.error else ""
            lines.append(
                f"<i>Stale</i>: the account could not be read{reason}; this is the picture from {when}."
            )
        if (sides := side_detail(row)) is not None:
            lines.append(f"Side: {sides}.")
        if row.status.is_problem and not row.confirmed:
            lines.append("Not confirmed yet: it must hold for another sync before it notifies.")
        if row.explained:
            lines.append("Explained by working orders.")
        if row.broker_parts:
            lines.append(
                "Broker: " + escape(", ".join(f"{p.label} {fmt_qty(p.quantity)}" for p in row.broker_parts))
            )
        if row.local_parts:
            lines.append(
                "Book: " + escape(", ".join(f"{p.label} {fmt_qty(p.quantity)}" for p in row.local_parts))
            )
        if row.hint:
            lines.append(f"Hint: {escape(with_minus(row.hint))}")
        if row.realised_estimated:
            lines.append("* realised P&amp;L estimated from the last known price")
        if ack is not None:
            if ack.acknowledged(row) and ack.ack is not None:
                note = f": “{escape(ack.ack.note)}”" if ack.ack.note else ""
                lines.append(f"Acknowledged at {clock(ack.ack.at, now)}{note}; quiet until it changes.")
            elif ack.ack is not None:
                lines.append("An earlier acknowledgement lapsed: the row changed since.")
            if ack.snoozed(now) and ack.snooze and ack.snooze.until:
                lines.append(f"Snoozed until {clock(ack.snooze.until, now)}.")
        return "<br>".join(lines)

    # -- what makes kept results stale ------------------------------------------------------

    def forget(self, keys: Iterable[Key]) -> None:
        shown = self._shown
        for key in keys:
            shown.pop(key, None)

    def set_now(self, now: datetime) -> None:
        """The clock moved: stale rows show a new age, and snoozes may have run out."""
        self._now = now
        self.forget(
            [
                key
                for key, shown in self._shown.items()
                if shown.row.status is Status.STALE or (shown.ack is not None and shown.ack.snooze)
            ]
        )

    def set_dark(self, dark: bool) -> bool:
        """A new palette: every row's colours anew. Returns whether anything changed."""
        if dark == self._dark:
            return False
        self._dark = dark
        self._styles.clear()
        for shown in self._shown.values():
            shown.looks = None
        return True

    def set_account_info(self, account: str, info: AccountInfo) -> Repaint:
        """Record what is known of an account; says which of its rows now look different
        (the caller then ``forget``\\ s and repaints them)."""
        old = self._accounts.get(account)
        self._accounts[account] = info
        if old is None or old.currency != info.currency:
            return Repaint.ALL
        if old.last_success_at == info.last_success_at:
            return Repaint.NONE
        if old.state is AccountState.OK and info.state is AccountState.OK:
            return Repaint.NONE  # an account that reads fine has no stale rows showing an age
        return Repaint.STALE

    def forget_account(self, account: str) -> None:
        self._accounts.pop(account, None)

    # -- working it out ---------------------------------------------------------------------

    def _quiet(self, row: Row, ack: AckState | None) -> bool:
        return ack is not None and ack.mutes(row, self._now)

    def _currency(self, row: Row) -> str | None:
        if row.currency:
            return row.currency
        info = self._accounts.get(row.account)
        return info.currency if info else None

    def _status_text(self, row: Row, ack: AckState | None) -> str:
        text = status_label(row.effective_status)
        if row.status is Status.STALE:
            info = self._accounts.get(row.account)
            age = span(self._now - info.last_success_at) if info and info.last_success_at else "?"
            text = f"Stale {age} · {text}" if row.previous_status else f"Stale {age}"
        if ack is not None:
            if ack.acknowledged(row):
                text += " · acknowledged"
            elif ack.snoozed(self._now) and ack.snooze and ack.snooze.until:
                text += f" · snoozed to {clock(ack.snooze.until, self._now)}"
        return text

    def _cells(self, row: Row, ack: AckState | None) -> tuple[str, ...]:
        currency = self._currency(row)
        problem = row.effective_status.is_problem
        diff = row.difference
        shown = figures(row)  # computed figures rounded as JSON and text output show them
        value = market_value(row) if row.broker_qty else None  # nothing held: no value to show
        return (
            row.account,
            instrument_label(row.instrument),
            fmt_qty(row.broker_qty),
            fmt_qty(row.local_qty),
            fmt_qty(diff, signed=True) if problem and diff != ZERO else "",
            fmt_money(shown.broker_avg, currency) if row.broker_qty else "",  # no price for nothing held
            fmt_money(shown.local_avg, currency) if row.local_qty else "",
            fmt_money(shown.last_price, currency),
            fmt_money(shown.unrealised_pnl, currency, signed=True),
            fmt_money(shown.realised_pnl, currency, signed=True) + ("*" if row.realised_estimated else ""),
            self._status_text(row, ack),
            clock(row.since, self._now),
            short_hint(row.hint),  # the whole hint is in the tooltip
            product(row),
            side(row),
            price_gap_text(row, currency),
            fmt_money(value, currency),
        )

    def _looks(self, row: Row, ack: AckState | None) -> tuple[Look, ...]:
        """The shared looks of the row's style, worked out the first time a row has it."""
        quiet = self._quiet(row, ack)
        decoration = None
        if ack is not None:
            decoration = "ack" if ack.acknowledged(row) else "snooze" if ack.snoozed(self._now) else None
        unrealised, realised = row.unrealised_pnl, row.realised_pnl
        style: Style = (
            row.status,
            row.effective_status,
            quiet,
            None if unrealised is None else _sign(unrealised),
            None if realised is None else _sign(realised),
            decoration,
        )
        looks = self._styles.get(style)
        if looks is None:
            looks = self._styles[style] = self._style_looks(row, quiet, decoration)
        return looks

    def _style_looks(self, row: Row, quiet: bool, decoration: str | None) -> tuple[Look, ...]:
        background = (
            None if row.status is Status.STALE else status_style.tint(row.status, self._dark, quiet=quiet)
        )
        if row.status is Status.STALE:
            font: QFont | None = self._italic
            bold = None
        else:
            font = None
            bold = self._bold if row.status.is_problem else None
        return tuple(
            (
                self._foreground(row, column),
                background,
                bold if column in BOLD_WHEN_WRONG and font is None else font,
                self._decoration(row, decoration, column),
            )
            for column in range(len(COLUMNS))
        )

    def _foreground(self, row: Row, column: int) -> QColor | None:
        if row.status is Status.STALE or (row.status is Status.CLOSED and column != Col.REALISED):
            return status_style.muted_colour(self._dark)
        if column == Col.STATUS or (column in BOLD_WHEN_WRONG and row.status.is_problem):
            return status_style.text_colour(row.effective_status, self._dark)
        if column == Col.UNREALISED and row.unrealised_pnl is not None:
            return status_style.pnl_colour(_sign(row.unrealised_pnl), self._dark)
        if column == Col.REALISED and row.realised_pnl is not None:
            return status_style.pnl_colour(_sign(row.realised_pnl), self._dark)
        return None

    def _decoration(self, row: Row, decoration: str | None, column: int) -> QIcon | None:
        if column == Col.STATUS:
            return self._icons[row.status if row.status is Status.STALE else row.effective_status]
        if column == Col.INSTRUMENT and decoration is not None:
            return self._ack_icon if decoration == "ack" else self._snooze_icon
        return None


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)

"""How the positions table orders and narrows its rows: the sort key of each column, the filter.

Kept free of Qt, like the index that uses them (``ui.positions_index``): what "problems first"
means is a product decision a trader reads the table by, and it is tested as plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from position_sync.app.display import status_label
from position_sync.app.domain import Row, Status
from position_sync.ui.positions_columns import Col
from position_sync.ui.row_facts import market_value, price_gap, product, side


def status_rank(status: Status) -> int:
    """Default order: problems first, then matches (and stale rows), then what is closed."""
    if status.is_problem:
        return 0
    if status is Status.MATCH or status is Status.STALE:
        return 1
    return 2


def needs_attention(row: Row) -> bool:
    """A problem, or a row nobody can vouch for: a stale row's last good picture may be wrong now,
    so "only problems" keeps it however it last matched (unknown is as loud as wrong)."""
    return row.status is Status.STALE or row.effective_status.is_problem


@dataclass(frozen=True)
class FilterSpec:
    """What the user narrowed the table to; the default shows everything."""

    account: str | None = None
    statuses: frozenset[Status] | None = None
    text: str = ""
    only_problems: bool = False

    def accepts(self, row: Row) -> bool:
        if self.account is not None and row.account != self.account:
            return False
        status = row.effective_status
        if self.only_problems and not needs_attention(row):
            return False
        if self.statuses is not None and row.status not in self.statuses and status not in self.statuses:
            return False
        if self.text:
            needle = self.text.casefold()
            haystack = f"{row.account} {row.instrument} {row.hint or ''} {status_label(status)}"
            if needle not in haystack.casefold():
                return False
        return True


class _Desc:
    """Inverts a sort key so one ascending list serves both sort orders."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


def _num_key(value: Decimal | None) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, float(value))


def sort_key(row: Row, column: Col, descending: bool, exposure: float, quiet: bool) -> Any:
    """The key ``row`` sorts by under ``column``; ``exposure`` and ``quiet`` (acknowledged or
    snoozed) count in the default order only, where a quiet problem sorts after the loud ones."""
    tie = (row.account, row.instrument)
    if column is Col.STATUS:
        key: tuple[Any, ...] = (status_rank(row.effective_status), 1 if quiet else 0, -exposure, *tie)
    elif column is Col.ACCOUNT:
        key = tie
    elif column is Col.INSTRUMENT:
        key = (row.instrument, row.account)
    elif column is Col.BROKER_QTY:
        key = (*_num_key(row.broker_qty), *tie)
    elif column is Col.LOCAL_QTY:
        key = (*_num_key(row.local_qty), *tie)
    elif column is Col.DIFF:
        key = (float(row.difference), *tie)
    elif column is Col.BROKER_AVG:
        key = (*_num_key(row.broker_avg), *tie)
    elif column is Col.LOCAL_AVG:
        key = (*_num_key(row.local_avg), *tie)
    elif column is Col.LAST:
        key = (*_num_key(row.last_price), *tie)
    elif column is Col.UNREALISED:
        key = (*_num_key(row.unrealised_pnl), *tie)
    elif column is Col.REALISED:
        key = (*_num_key(row.realised_pnl), *tie)
    elif column is Col.SINCE:
        key = (row.since.timestamp(), *tie)
    elif column is Col.PRODUCT:
        key = (product(row) or "\uffff", *tie)
    elif column is Col.SIDE:
        key = (side(row) or "\uffff", *tie)
    elif column is Col.PRICE_GAP:
        gap = price_gap(row)
        key = (*_num_key(None if gap is None else gap[1]), *tie)  # by percentage: across prices
    elif column is Col.VALUE:
        key = (*_num_key(market_value(row) if row.broker_qty else None), *tie)
    else:
        key = (row.hint or "\uffff", *tie)
    return _Desc(key) if descending else key

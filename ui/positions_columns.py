"""The positions table's columns, named once for the index, the presenter, the model and the view.

Kept free of Qt: the sorted index (``ui.positions_index``) sorts by these columns and is tested
without a ``QApplication``; the header, the cells and the copied text all read the same titles.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Col(IntEnum):
    ACCOUNT = 0
    INSTRUMENT = 1
    BROKER_QTY = 2
    LOCAL_QTY = 3
    DIFF = 4
    BROKER_AVG = 5
    LOCAL_AVG = 6
    LAST = 7
    UNREALISED = 8
    REALISED = 9
    STATUS = 10
    SINCE = 11
    HINT = 12


@dataclass(frozen=True)
class Column:
    title: str
    group: str | None = None
    numeric: bool = False
    tip: str = ""


COLUMNS: dict[Col, Column] = {
    Col.ACCOUNT: Column("Account", tip="the broker login"),
    Col.INSTRUMENT: Column("Instrument", tip="the instrument key, the same whichever side spelled it"),
    Col.BROKER_QTY: Column("Broker", "Quantity", True, "signed quantity the broker holds"),
    Col.LOCAL_QTY: Column("Local", "Quantity", True, "signed quantity your book holds"),
    Col.DIFF: Column("Diff", "Quantity", True, "broker minus local: what your book is missing"),
    Col.BROKER_AVG: Column("Broker", "Average price", True, "the broker's average price"),
    Col.LOCAL_AVG: Column("Local", "Average price", True, "your book's average price"),
    Col.LAST: Column("Last", "Market", True, "last traded price"),
    Col.UNREALISED: Column("Unrealised", "P&L", True, "unrealised P&L at the broker"),
    Col.REALISED: Column("Realised", "P&L", True, "realised P&L at the broker (today)"),
    Col.STATUS: Column("Status", tip="how the two sides compare"),
    Col.SINCE: Column("Since", tip="when the row took its current status"),
    Col.HINT: Column("Hint", tip="what may explain the difference"),
}

"""The positions table's columns, named once for the index, the presenter, the model and the view.

Kept free of Qt: the sorted index (``ui.positions_index``) sorts by these columns and is tested
without a ``QApplication``; the header, the cells and the copied text all read the same titles.

A column's number is its identity (saved layouts and the model speak in it), so new columns are
appended; where a column shows by default is ``DEFAULT_ORDER``, which puts what a trader reads
a row by (its status, and the hint that explains it) before the figures, where a 1024 px
window still shows them.
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
    PRODUCT = 13
    SIDE = 14
    PRICE_GAP = 15
    VALUE = 16


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
    Col.PRODUCT: Column(
        "Product", tip="the broker's product (Kite's MIS, NRML, CNC) or security type (IB's STK, OPT, FUT)"
    ),
    Col.SIDE: Column("Side", tip="long or short at the broker (in the book where the broker holds none)"),
    Col.PRICE_GAP: Column(
        "Diff",
        "Average price",
        True,
        "of a price mismatch: broker minus book, and as a percentage of the book's average",
    ),
    Col.VALUE: Column(
        "Value", "Market", True, "market value: the broker's quantity × last price × multiplier"
    ),
}

# Left to right as the table first shows them; the user's own order is remembered by the view.
DEFAULT_ORDER: tuple[Col, ...] = (
    Col.ACCOUNT,
    Col.INSTRUMENT,
    Col.PRODUCT,
    Col.SIDE,
    Col.STATUS,
    Col.BROKER_QTY,
    Col.LOCAL_QTY,
    Col.DIFF,
    Col.HINT,
    Col.BROKER_AVG,
    Col.LOCAL_AVG,
    Col.PRICE_GAP,
    Col.LAST,
    Col.VALUE,
    Col.UNREALISED,
    Col.REALISED,
    Col.SINCE,
)
# Always shown: a row is not a row without them, so the header menu does not offer to hide them.
ALWAYS_SHOWN = frozenset({Col.INSTRUMENT, Col.STATUS})


def heading(column: Col) -> str:
    """``Quantity Broker``: a grouped column's title with its group, for menus and copied text."""
    spec = COLUMNS[column]
    return f"{spec.group} {spec.title}" if spec.group else spec.title

"""Turning a book's records (dicts from JSON, CSV, SQL or HTTP) into signed positions.

Shared by every kind of book so that ``fields`` and the side column mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from app.config import BookConfig
from app.domain import Position, optional_decimal, to_decimal

_SHORT = frozenset({"SELL", "SHORT", "S", "SLD", "-1"})
_LONG = frozenset({"BUY", "LONG", "B", "BOT", "1", "+1"})


class RecordError(ValueError):
    """One record is wrong; the caller adds the book and where (line, index)."""


def to_position(record: Mapping[str, Any], book: BookConfig) -> Position:
    symbol_field = book.field_name("symbol")
    quantity_field = book.field_name("quantity")
    price_field = book.field_name("average_price")
    side_field = book.fields.get("side")
    label_field = book.fields.get("label")
    symbol = record.get(symbol_field)
    if symbol is None or not str(symbol).strip():
        raise RecordError(f"'{symbol_field}' is missing or empty")
    if quantity_field not in record or record[quantity_field] is None or record[quantity_field] == "":
        raise RecordError(f"'{quantity_field}' is missing for {symbol}")
    try:
        quantity = to_decimal(record[quantity_field])
    except ValueError:
        raise RecordError(
            f"'{quantity_field}' {record[quantity_field]!r} of {symbol} is not a number"
        ) from None
    try:
        price = optional_decimal(record.get(price_field))
    except ValueError:
        raise RecordError(
            f"'{price_field}' {record.get(price_field)!r} of {symbol} is not a number"
        ) from None
    if side_field is not None:
        side = str(record.get(side_field, "")).strip().upper()
        if side in _SHORT:
            quantity = -abs(quantity)
        elif side in _LONG:
            quantity = abs(quantity)
        else:
            raise RecordError(
                f"'{side_field}' {record.get(side_field)!r} of {symbol} is not BUY/SELL or long/short"
            )
    label = record.get(label_field) if label_field else None
    return Position(
        instrument=str(symbol).strip(),
        symbol=str(symbol).strip(),
        quantity=quantity,
        average_price=price,
        label=str(label) if label not in (None, "") else None,
    )


def belongs(record: Mapping[str, Any], book: BookConfig, account: str | None) -> bool:
    """With an account column, a record counts only for its own account."""
    column = book.fields.get("account")
    if column is None or account is None:
        return True
    return str(record.get(column, "")).strip() == account


def label_lines(positions: Iterable[tuple[str, Position]]) -> list[Position]:
    """Give unlabeled lines their place ("line 4") so a row's breakdown says where each came from."""
    return [p if p.label else replace(p, label=where) for where, p in positions]

"""Turning a book's records (dicts from JSON, CSV, SQL or HTTP) into signed positions.

Shared by every kind of book so that ``fields`` and the side column mean the same everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from position_sync.app.config import BookConfig
from position_sync.app.domain import NumberOutOfBounds, Position, optional_decimal, shown, to_decimal

# The one definition of the side words, shared by the reads and the "fix my book" actions, so a
# line the sync counts as short is the line a fix counts as short (IB writes SLD/BOT; a DEX's
# order book sides, which its users' dashboards echo, are ASK for short and BID for long).
SHORT_SIDES = frozenset({"SELL", "SHORT", "S", "SLD", "-1", "ASK"})
LONG_SIDES = frozenset({"BUY", "LONG", "B", "BOT", "1", "+1", "BID"})

N = TypeVar("N", Decimal, Decimal | None)


def side_sign(value: Any) -> int | None:
    """-1 for a short side word, 1 for a long one, None for anything else (a bad record)."""
    side = str(value if value is not None else "").strip().upper()
    if side in SHORT_SIDES:
        return -1
    if side in LONG_SIDES:
        return 1
    return None


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
    quantity = _number(to_decimal, record[quantity_field], quantity_field, symbol)
    price = _number(optional_decimal, record.get(price_field), price_field, symbol)
    if side_field is not None:
        sign = side_sign(record.get(side_field))
        if sign is None:
            raise RecordError(
                f"'{side_field}' {record.get(side_field)!r} of {symbol} is not BUY/SELL, long/short or BID/ASK"
            )
        quantity = abs(quantity) * sign
    label = record.get(label_field) if label_field else None
    return Position(
        instrument=str(symbol).strip(),
        symbol=str(symbol).strip(),
        quantity=quantity,
        average_price=price,
        label=str(label) if label not in (None, "") else None,
    )


def _number(parse: Callable[[Any], N], value: Any, field: str, symbol: Any) -> N:
    """A quantity or price of a record, or a ``RecordError`` naming the field and the instrument."""
    try:
        return parse(value)
    except NumberOutOfBounds as exc:
        raise RecordError(f"'{field}' of {symbol} is out of bounds: {exc}") from None
    except ValueError:
        raise RecordError(f"'{field}' {shown(value)} of {symbol} is not a number") from None


def belongs(record: Mapping[str, Any], book: BookConfig, account: str | None) -> bool:
    """With an account column, a record counts only for its own account."""
    column = book.fields.get("account")
    if column is None or account is None:
        return True
    return str(record.get(column, "")).strip() == account


def label_lines(positions: Iterable[tuple[str, Position]]) -> list[Position]:
    """Give unlabeled lines their place ("line 4") so a row's breakdown says where each came from."""
    return [p if p.label else replace(p, label=where) for where, p in positions]


def fingerprint(positions: Iterable[Position]) -> str:
    """A digest of what the book says, not of how it was written.

    Reconciliation waits ``settle_seconds`` after the book changed before reporting a problem; a
    digest of the raw bytes (or body) changes with every rewrite, a ``generated_at`` stamp or a
    reordering, so a book that is rewritten every second would never settle and its problems
    would never be reported. Only what is compared counts: the instrument as written, the signed
    quantity (the side column already applied) and the average price, each normalised so that
    ``100`` and ``100.0`` are one value, and the label the book gives a line (not the ``line 4``
    filled in for unlabeled lines, which moves when a line is added above). The account column
    is part of it through the caller, who fingerprints the lines it read for one account (or all).
    """
    digest = hashlib.sha1()
    for item in sorted(
        (
            p.instrument,
            _canonical(p.quantity),
            "" if p.average_price is None else _canonical(p.average_price),
            p.label or "",
        )
        for p in positions
    ):
        digest.update("\x1f".join(item).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    """``100``, ``100.0`` and ``1E+2`` are one quantity: the same text for the fingerprint."""
    try:
        number = to_decimal(value)
    except ValueError:
        return str(value)
    return f"{number.normalize():f}" if number else "0"

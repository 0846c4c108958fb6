"""Fields of an exchange's raw rows, read as the exchange wrote them.

Exchanges send quantities and prices as strings (``"positionAmt": "-0.010"``) precisely so that
nothing is lost; ccxt's unified fields turn them into floats. Reading the strings as ``Decimal``
keeps ``0.1`` exact, and a row missing a field or carrying something that is not a number is a
malformed answer, named with the row and the field, never a zero. Trailing zeros are dropped
(``"1.20000000"`` is 1.2), as everywhere else in the program.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from position_sync.app.domain import normal, optional_decimal, to_decimal
from position_sync.app.errors import ReadError, ReadErrorKind


class RawRows:
    """The rows of one answer (``what``: "Binance positions"), checked as they are read."""

    def __init__(self, answer: Any, what: str, *, key: str | None = None) -> None:
        self.what = what
        rows = answer.get(key) if key is not None and isinstance(answer, Mapping) else answer
        if not isinstance(rows, list):
            shown = f"'{key}' " if key is not None else ""
            raise self.malformed(f"expected {shown}a list of rows, got {type(rows).__name__}")
        self.rows = rows

    def malformed(self, detail: str) -> ReadError:
        return ReadError(ReadErrorKind.MALFORMED, f"{self.what}: {detail}")

    def each(self) -> list[RawRow]:
        out = []
        for number, row in enumerate(self.rows, 1):
            if not isinstance(row, Mapping):
                raise self.malformed(f"row {number} is {type(row).__name__}, not an object")
            out.append(RawRow(row, self, number))
        return out


class RawRow:
    __slots__ = ("owner", "position", "row")

    def __init__(self, row: Mapping[str, Any], owner: RawRows, position: int) -> None:
        self.row = row
        self.owner = owner
        self.position = position  # 1-based, for sentences

    def _where(self, field: str) -> str:
        name = self.row.get("symbol") or self.row.get("coin") or self.row.get("asset")
        named = f" ({name})" if isinstance(name, str) and name else ""
        return f"row {self.position}{named}, field '{field}'"

    def text(self, field: str) -> str:
        value = self.row.get(field)
        if not isinstance(value, str):
            raise self.owner.malformed(f"{self._where(field)} should be text, got {type(value).__name__}")
        return value

    def optional_text(self, field: str) -> str | None:
        value = self.row.get(field)
        return value if isinstance(value, str) and value else None

    def number(self, field: str) -> Decimal:
        if field not in self.row:
            raise self.owner.malformed(f"{self._where(field)} is missing")
        try:
            return normal(to_decimal(self.row[field])) or to_decimal(0)
        except (ValueError, ArithmeticError) as exc:
            raise self.owner.malformed(f"{self._where(field)}: {exc}") from None

    def optional_number(self, field: str) -> Decimal | None:
        """None when absent or empty (``""``, as exchanges send for "no value")."""
        try:
            return normal(optional_decimal(self.row.get(field)))
        except (ValueError, ArithmeticError) as exc:
            raise self.owner.malformed(f"{self._where(field)}: {exc}") from None

    def get(self, field: str) -> Any:
        return self.row.get(field)


def short_text(value: Any, limit: int = 160) -> str:
    """A value for a sentence: one line, no trailing period, at most ``limit`` characters."""
    text = " ".join(str(value).split()).rstrip(".")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_of(value: Any) -> str:
    """What a payload held where something else was expected, in words ("a list", "nothing")."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {short_text(value, 40)}"

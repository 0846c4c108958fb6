"""Turning a book's records (dicts from JSON, CSV, SQL or HTTP) into signed positions.

Shared by every kind of book so that ``fields`` and the side column mean the same everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from typing import Any, NamedTuple, TypeVar, cast

from position_sync.app.config import BookConfig
from position_sync.app.domain import (
    MAX_DECIMAL_PLACES,
    MAX_MAGNITUDE,
    ZERO,
    BookSnapshot,
    NumberOutOfBounds,
    Position,
    optional_decimal,
    shown,
    to_decimal,
)

# The one definition of the side words, shared by the reads and the "fix my book" actions, so a
# line the sync counts as short is the line a fix counts as short (IB writes SLD/BOT; a DEX's
# order book sides, which its users' dashboards echo, are ASK for short and BID for long).
SHORT_SIDES = frozenset({"SELL", "SHORT", "S", "SLD", "-1", "ASK"})
LONG_SIDES = frozenset({"BUY", "LONG", "B", "BOT", "1", "+1", "BID"})

N = TypeVar("N", Decimal, Decimal | None)
_MAX_INT = int(MAX_MAGNITUDE)
_MAX_ADJUSTED = MAX_MAGNITUDE.adjusted()


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
    """One record as a position, unlabeled lines left without a label (the "fix my book" actions)."""
    return LineReader(book).position(record)


class LineReader:
    """A book's records turned into its snapshot in one pass, for a book of 100,000 lines.

    The field names are looked up once per read, not once per record; each line gets its place
    (``entry 4``) as its label when the book gives none as it is built, not copied afterwards;
    the usual book is read in bulk (``add_all``).
    """

    __slots__ = ("_given", "_items", "_label", "_price", "_quantity", "_side", "_symbol", "positions")

    def __init__(self, book: BookConfig) -> None:
        self._symbol = book.field_name("symbol")
        self._quantity = book.field_name("quantity")
        self._price = book.field_name("average_price")
        self._side = book.fields.get("side")
        self._label = book.fields.get("label")
        self.positions: list[Position] = []
        self._given: list[str] = []  # the label each line was given by the book, or ""
        # The fingerprint's lines, when ``add_all`` wrote them from its columns (None: not yet).
        self._items: list[str] | None = None

    def add(self, record: Mapping[str, Any], where: str) -> None:
        """Read one line of the book; ``where`` labels it when the book gives no label."""
        symbol, quantity, price, label = self._fields(record)
        self.positions.append(Position(symbol, quantity, price, None, None, None, label or where, symbol))
        self._given.append(label or "")
        self._items = None

    def add_all(self, records: list[Any], place: str) -> bool:
        """Read every record at once, each labelled ``{place} {n}`` (n from 1); False if it could not.

        The usual book (text symbols, numbers, a price or none, no side, label or account column)
        is read a column at a time: the symbols and the raw numbers by comprehension, then
        ``add_columns``. Anything unusual or wrong leaves the reader as it was and returns False:
        the caller then reads line by line, with ``add``, which says what is wrong and where.
        """
        if self._side is not None or self._label is not None or self.positions:
            return False
        symbol, quantity, price = self._symbol, self._quantity, self._price
        try:
            symbols = [record[symbol] for record in records]
            quantities = [record[quantity] for record in records]
            prices = [record.get(price) for record in records]
        except (KeyError, TypeError, AttributeError):
            return False
        return self.add_columns(symbols, quantities, prices, _places(place, len(records)))

    def add_columns(
        self, symbols: list[Any], quantities: list[Any], prices: list[Any], labels: list[str]
    ) -> bool:
        """Read a book given as its columns (raw values, one per line, and each line's label).

        The numbers are checked and turned into ``Decimal`` a whole column at once (``_column``),
        several times cheaper than a call per line; the fingerprint's lines are written from the
        same columns (``_column`` gives each number's canonical text), so no number is formatted
        twice. False, the reader left as it was, for anything unusual or wrong (see ``add_all``).
        """
        if self._side is not None or self._label is not None or self.positions:
            return False
        try:
            names = list(map(str.strip, symbols))  # TypeError for a symbol that is no text
            quantity = _column(quantities, optional=False, repeats=True)
            price = _column(prices, optional=True)
        except (AttributeError, TypeError, ValueError, ArithmeticError):
            return False
        if quantity is None or price is None or not all(names):
            return False
        none = repeat(None)
        numbers = cast("list[Decimal]", quantity.numbers)
        self.positions = list(map(Position, names, numbers, price.numbers, none, none, none, labels, names))
        self._given = [""] * len(names)
        # The lines ``fingerprint`` would write (no label given: an empty last field), joined in C
        # from the texts already at hand.
        self._items = list(map("\x1f".join, zip(names, quantity.texts, price.texts, repeat("\x1e"))))
        return True

    def position(self, record: Mapping[str, Any]) -> Position:
        """One record as a position, left unlabeled when the book gives no label."""
        symbol, quantity, price, label = self._fields(record)
        return Position(symbol, quantity, price, None, None, None, label, symbol)

    def _fields(self, record: Mapping[str, Any]) -> tuple[str, Decimal, Decimal | None, str | None]:
        symbol_field = self._symbol
        quantity_field = self._quantity
        raw = record.get(symbol_field)
        symbol = "" if raw is None else (raw if type(raw) is str else str(raw)).strip()
        if not symbol:
            raise RecordError(f"'{symbol_field}' is missing or empty")
        value = record.get(quantity_field)
        if value is None or value == "":
            raise RecordError(f"'{quantity_field}' is missing for {raw}")
        quantity = _number(to_decimal, value, quantity_field, raw)
        price = _number(optional_decimal, record.get(self._price), self._price, raw)
        side_field = self._side
        if side_field is not None:
            sign = side_sign(record.get(side_field))
            if sign is None:
                raise RecordError(
                    f"'{side_field}' {record.get(side_field)!r} of {raw} is not BUY/SELL, long/short or BID/ASK"
                )
            quantity = abs(quantity) * sign
        label = record.get(self._label) if self._label else None
        return symbol, quantity, price, (str(label) if label not in (None, "") else None)

    def fingerprint(self) -> str:
        """A digest of what the book says, not of how it was written.

        Reconciliation waits ``settle_seconds`` after the book changed before reporting a problem; a
        digest of the raw bytes (or body) changes with every rewrite, a ``generated_at`` stamp or a
        reordering, so a book that is rewritten every second would never settle and its problems
        would never be reported. Only what is compared counts: the instrument as written, the signed
        quantity (the side column already applied) and the average price, each normalised so that
        ``100`` and ``100.0`` are one value, and the label the book gives a line (not the ``line 4``
        filled in for unlabeled lines, which moves when a line is added above). The account column
        is part of it through the caller, who fingerprints the lines it read for one account (or all).
        Each field ends with a unit separator and each line with a record separator, the lines
        sorted; zeros are plain ``0``, as every number went through ``to_decimal``.
        """
        items = self._items
        if items is None:
            items = self._lines()
        return hashlib.sha1("".join(sorted(items)).encode()).hexdigest()

    def _lines(self) -> list[str]:
        """The fingerprint's line of each position, written one by one (see ``fingerprint``)."""
        return [
            f"{p.instrument}\x1f{_canonical(p.quantity)}\x1f"
            f"{'' if (a := p.average_price) is None else _canonical(a)}\x1f{given}\x1e"
            for p, given in zip(self.positions, self._given, strict=True)
        ]

    def snapshot(self, modified_at: datetime | None = None) -> BookSnapshot:
        return BookSnapshot(tuple(self.positions), self.fingerprint(), modified_at)


class _Column(NamedTuple):
    """A column's numbers, and each one's canonical text (``_canonical``; ``""`` for no price):
    what the fingerprint's line holds, written once per column rather than once per line."""

    numbers: list[Decimal | None]
    texts: list[str]


def _column(values: list[Any], *, optional: bool, repeats: bool = False) -> _Column | None:
    """A column of numbers as ``to_decimal`` reads them, checked as a whole; None if any is unusual.

    Whole ints within the bounds, or short plain texts (no exponent, no thousands separator:
    at most ``MAX_DECIMAL_PLACES`` characters cannot hold more places) each finite and within
    the magnitude bound; zeros are plain ``ZERO``. ``optional``: None stays None (no price).
    Anything else (a Decimal from a JSON number, a mix) goes through ``to_decimal`` one by one.
    ``repeats``: the column holds few distinct values (quantities: 1, 75, 100 lots), so each is
    read once and the column filled from them by lookup; only for a column of ints alone or of
    texts alone, whose equal values are equal numbers (``True == 1`` would merge a bool).
    An empty text in an optional column is no price, as ``optional_decimal`` reads it (a CSV
    book's empty cell).
    """
    kinds = set(map(type, values))
    missing = values.count(None) if optional and type(None) in kinds else 0
    present = [v for v in values if v is not None] if missing else values
    if missing:
        kinds.discard(type(None))
    if kinds != {int} and kinds != {str}:
        if not present:
            return _Column([None] * len(values), [""] * len(values))
        # JSON numbers with a fraction (Decimals), a mix: one ``to_decimal`` each, still a column
        # at a time; a value it refuses raises, and the caller reads line by line.
        numbers = _zeros_plain([to_decimal(v) for v in present])
        return _filled(values, missing, numbers, list(map(_canonical, numbers)))
    distinct = list(dict.fromkeys(present)) if repeats else present
    try:
        read = _ints(distinct) if kinds == {int} else _texts(distinct)
    except ArithmeticError:  # a text that is no number; an empty one is no price (optional)
        if optional and "" in present:
            return _column([None if v == "" else v for v in values], optional=True, repeats=repeats)
        raise
    if read is None:
        return None
    numbers, texts = read
    if distinct is not present:
        numbers = list(map(dict(zip(distinct, numbers, strict=True)).__getitem__, present))
        texts = list(map(dict(zip(distinct, texts, strict=True)).__getitem__, present))
    return _filled(values, missing, numbers, texts)


def _ints(values: list[int]) -> tuple[list[Decimal], list[str]] | None:
    if not (min(values) > -_MAX_INT and max(values) < _MAX_INT):
        return None
    # str(Decimal(n)) is str(n) for an int within the bounds, plain and without a fraction.
    return _zeros_plain(list(map(Decimal, values))), list(map(str, values))


def _texts(values: list[str]) -> tuple[list[Decimal], list[str]] | None:
    lined = "\n".join(values)
    longest = max(map(len, values))
    if "e" in lined or "E" in lined or "," in lined or longest > MAX_DECIMAL_PLACES:
        return None
    numbers = list(map(Decimal, values))  # InvalidOperation for a text that is no number
    # "nan", "NaN", "sNaN", "inf" and "Infinity" all hold an n; 18 characters cannot reach the
    # magnitude bound (1e18 has 19 digits), so only a column with longer texts is measured.
    if ("n" in lined or "N" in lined) and not all(map(Decimal.is_finite, numbers)):
        return None
    if longest > _MAX_ADJUSTED and max(map(Decimal.adjusted, numbers)) >= _MAX_ADJUSTED:
        return None
    numbers = _zeros_plain(numbers)
    if _written_plain(lined):
        return numbers, _unpadded(values)
    written = list(map(str, numbers))
    # ``str`` chose an exponent for some (``1E-7``): those columns take ``_canonical`` itself.
    return numbers, list(map(_canonical, numbers)) if "E" in "".join(written) else _unpadded(written)


def _written_plain(lined: str) -> bool:
    """Whether each of the column's texts (one a line) is its number written plainly.

    Digits, with an optional ``-``, point and fraction, the first digit no zero: such a text,
    its fraction's trailing zeros (and then a bare point) dropped, is ``_canonical`` of its
    number. That leaves out zeros (``-0``), numbers below 1 (which ``str`` may write with an
    exponent), leading zeros and points, ``+``, ``_``, spaces and other scripts' digits. Every
    text already reads as a number, so a ``-`` can only begin one. Searched as bytes with points
    read as zeros, one search finds a text beginning with ``0`` or ``.``, one ``-0`` or ``-.``.
    """
    if not lined.isascii():
        return False
    framed = f"\n{lined}\n".encode()
    if framed.translate(None, b"0123456789.-\n"):
        return False
    points_as_zeros = framed.translate(_POINT_AS_ZERO)
    return b"\n0" not in points_as_zeros and b"-0" not in points_as_zeros


_POINT_AS_ZERO = bytes.maketrans(b".", b"0")


def _filled(values: list[Any], missing: int, numbers: list[Decimal], texts: list[str]) -> _Column:
    """The column with its ``missing`` Nones back in place: no number, an empty text."""
    if not missing:
        return _Column(list[Decimal | None](numbers), texts)
    found, said = iter(numbers), iter(texts)
    return _Column(
        [None if v is None else next(found) for v in values],
        ["" if v is None else next(said) for v in values],
    )


def _zeros_plain(numbers: list[Decimal]) -> list[Decimal]:
    """Every zero as ``ZERO`` (not ``-0`` or ``0.00``), as ``to_decimal`` gives it; a zero is rare,
    so the column is copied only when it holds one."""
    return numbers if all(numbers) else [number if number else ZERO for number in numbers]


def _unpadded(texts: list[str]) -> list[str]:
    """``_canonical`` of numbers written plainly (``_written_plain``, or ``str`` without exponent).

    A fraction's trailing zeros (and then a bare point) are dropped by a string method, as
    ``normalize`` would drop them. Zeros must already be ``ZERO`` (``str`` writes ``-0`` of
    ``-0``).
    """
    return [text.rstrip("0").rstrip(".") if "." in text else text for text in texts]


# The labels ``add_all`` gives unlabeled lines (``entry 1``, ``entry 2``, ...), kept per place and
# grown to the longest book read: every parse of a 100,000-line book needs the same 100,000
# texts, and the positions of its snapshot hold them anyway.
_PLACES: dict[str, list[str]] = {}


def _places(place: str, count: int) -> list[str]:
    """``{place} 1`` to ``{place} {count}``, written once per process and shared afterwards.

    Books are read on threads of their own: a longer list is built whole and then put in place
    (one assignment), never grown where another read may be slicing it.
    """
    known = _PLACES.get(place, [])
    if len(known) < count:
        known = known + [f"{place} {line}" for line in range(len(known) + 1, count + 1)]
        _PLACES[place] = known
    return known[:count]


def line_labels(count: int) -> list[str]:
    """``line 2`` to ``line {count + 1}``: the labels of a CSV book's records below its header."""
    return _places("line", count + 1)[1:]


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


def _canonical(number: Decimal) -> str:
    """``100``, ``100.0`` and ``1E+2`` as one text: plain notation, no trailing zeros.

    ``str`` already gives that for most numbers (no exponent, and no zero ending a fraction),
    at a third of the cost of normalising and formatting every one.
    """
    text = str(number)
    if "E" in text or (text[-1] == "0" and "." in text):
        return f"{number.normalize():f}"
    return text

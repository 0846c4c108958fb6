"""The words of the design as types: positions, rows, statuses, events.

Quantities and prices are ``Decimal`` end to end: a float would make 0.1 + 0.2 lots on one side
differ from 0.3 on the other and report a false mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

ZERO = Decimal(0)


class Status(StrEnum):
    """The state of one row; the names are an interface (JSON, CLI, store)."""

    MATCH = "match"
    QTY_MISMATCH = "qty_mismatch"
    SIDE_MISMATCH = "side_mismatch"
    PRICE_MISMATCH = "price_mismatch"
    PHANTOM = "phantom"
    UNTRACKED = "untracked"
    CLOSED = "closed"
    STALE = "stale"

    @property
    def is_problem(self) -> bool:
        return self in PROBLEM_STATUSES


PROBLEM_STATUSES = frozenset(
    {
        Status.QTY_MISMATCH,
        Status.SIDE_MISMATCH,
        Status.PRICE_MISMATCH,
        Status.PHANTOM,
        Status.UNTRACKED,
    }
)
MISMATCH_STATUSES = frozenset({Status.QTY_MISMATCH, Status.SIDE_MISMATCH, Status.PRICE_MISMATCH})


class EventKind(StrEnum):
    """What happened; the names are an interface (JSON, notifications, store)."""

    OPENED = "opened"
    CLOSED = "closed"
    QTY_CHANGED = "qty_changed"
    PHANTOM_DETECTED = "phantom_detected"
    PHANTOM_RESOLVED = "phantom_resolved"
    UNTRACKED_DETECTED = "untracked_detected"
    UNTRACKED_RESOLVED = "untracked_resolved"
    MISMATCH_DETECTED = "mismatch_detected"
    MISMATCH_RESOLVED = "mismatch_resolved"
    SYNC_FAILED = "sync_failed"
    SYNC_RECOVERED = "sync_recovered"
    LOGIN_REQUIRED = "login_required"
    MASS_CHANGE_HELD = "mass_change_held"
    BOOK_FIXED = "book_fixed"
    BOOK_FIX_UNDONE = "book_fix_undone"


class AccountState(StrEnum):
    OK = "ok"
    STALE = "stale"
    LOGIN_REQUIRED = "login_required"


# The bounds of every quantity, price and P&L read from a broker or a book. Beyond them a value
# is a malformed read, never a number to judge: ``1e999999`` overflows the first multiplication
# of reconciliation, and ``1E-99999999`` printed in plain notation is 100 MB of zeros. The
# magnitude leaves room for the largest token supplies (a few 1e17) and the decimal places for a
# float's shortest ``repr`` of any price down to 1e-7 (17 significant digits), as Kite's and IB's
# client libraries hand them over, and for 18-decimal tokens.
MAX_MAGNITUDE = Decimal("1e18")
MAX_DECIMAL_PLACES = 24
_MAX_ADJUSTED = MAX_MAGNITUDE.adjusted()
_MAX_INT = int(MAX_MAGNITUDE)


class NumberOutOfBounds(ValueError):
    """A number, but beyond ``MAX_MAGNITUDE`` or ``MAX_DECIMAL_PLACES``: a malformed read all the same."""


def shown(value: Any) -> str:
    """The value as a message quotes it: a megabyte of digits is cut, not echoed."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def to_decimal(value: Any) -> Decimal:
    """Parse a quantity or price exactly; floats go through ``str`` so 0.1 stays 0.1.

    Refuses with ``ValueError`` (one sentence quoting the value) what is not a finite number,
    and with its ``NumberOutOfBounds`` a magnitude of ``MAX_MAGNITUDE`` or more or more than
    ``MAX_DECIMAL_PLACES`` decimal places once trailing zeros are dropped (``1.50000`` has one).
    """
    # The common cases first, decided with no more than a few C calls (a 100,000-line book or
    # scenario parses hundreds of thousands of numbers): a short plain text, which cannot have
    # too many places, and a small int. Anything else, or anything wrong, takes the long way.
    kind = type(value)
    if kind is str:
        if len(value) <= MAX_DECIMAL_PLACES and "," not in value and "e" not in value and "E" not in value:
            try:
                result = Decimal(value)
            except InvalidOperation:
                return _to_decimal(value)
            if result.is_finite() and result.adjusted() < _MAX_ADJUSTED:
                return result if result else ZERO
    elif kind is int and -_MAX_INT < value < _MAX_INT:
        return Decimal(value) if value else ZERO
    return _to_decimal(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"expected a number, got {shown(value)}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr is the shortest text that reads back as the same float: 0.1 stays 0.1, and a
        # REAL column's 100.0 becomes 100 (below).
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"expected a number, got {shown(value)}") from None
    else:
        raise ValueError(f"expected a number, got {shown(value)}")
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {shown(value)}")
    if not result:
        # Any zero is plain zero: ``0E-99999999`` printed in plain notation is 100 MB as well.
        return ZERO
    _check_bounds(result, value)
    if isinstance(value, float) and result == result.to_integral_value():
        result = result.quantize(Decimal(1))  # within the bounds, so this cannot overflow
    return result


def _check_bounds(number: Decimal, value: Any) -> None:
    """Judge by exponent and digits, never by arithmetic: cheap and exact even for ``1e999999``."""
    # adjusted() is the exponent of the leading digit: |x| >= 1e18 exactly when it is >= 18.
    if number.adjusted() >= MAX_MAGNITUDE.adjusted():
        raise NumberOutOfBounds(f"expected a number below 1e18 in size, got {shown(value)}")
    # The common case, four times cheaper than ``as_tuple``: in plain notation the places are
    # the characters after the point (a book of 100,000 lines checks 200,000 numbers).
    text = str(number)
    if "E" not in text:
        point = text.find(".")
        if point < 0 or len(text) - point - 1 <= MAX_DECIMAL_PLACES:
            return
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # a finite number's exponent
    # More places than allowed are fine only when the extra ones are trailing zeros (1.5000...).
    extra = -exponent - MAX_DECIMAL_PLACES
    if extra > 0 and (extra > len(digits) or any(digits[-extra:])):
        raise NumberOutOfBounds(f"expected at most {MAX_DECIMAL_PLACES} decimal places, got {shown(value)}")


def optional_decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_decimal(value)


def normal(value: Decimal | None) -> Decimal | None:
    """Drop trailing zeros so ``Decimal('200.000')`` prints and compares as ``200``.

    Below 10**26 (every quantity and price there is) without going through text, which made
    this a fifth of the time to print a 100,000-row table: an integral value is quantized to
    units (``normalize`` would give ``2E+2``), any other normalized (it keeps a fractional
    digit, so no exponent). Larger values take the text round trip, exact at any size.
    """
    if value is None:
        return None
    if value == ZERO:
        return ZERO
    if value.is_finite() and value.adjusted() < _FAST_DIGITS:
        integral = value.to_integral_value()
        return integral.quantize(_UNIT) if integral == value else value.normalize()
    return Decimal(format(value.normalize(), "f"))


_UNIT = Decimal(1)
# Digits before the point below which ``normal`` needs no text: fewer than the context's 28, so
# neither normalizing nor quantizing to units can round.
_FAST_DIGITS = 26


@dataclass(slots=True, unsafe_hash=True)
class Position:
    """One line of one side: a broker position or a book entry, already keyed.

    ``label`` tells apart several lines of one instrument (Kite's MIS and NRML, two strategies
    of a book); ``aliases`` are other spellings the broker knows the instrument by (IB's
    symbol, localSymbol, OCC option symbol) so a book may use any of them.

    Treated as immutable (build a new one, or ``dataclasses.replace``), and hashed by value as
    a frozen one would be, but not declared frozen: a frozen dataclass takes three and a half
    times longer to construct, and a book or a broker of 100,000 lines builds one per line.
    """

    instrument: str
    quantity: Decimal
    average_price: Decimal | None = None
    last_price: Decimal | None = None
    unrealised_pnl: Decimal | None = None
    realised_pnl: Decimal | None = None
    label: str | None = None
    symbol: str | None = None
    multiplier: Decimal = Decimal(1)
    currency: str | None = None
    aliases: tuple[str, ...] = ()
    price_missing_reason: str | None = None


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    """A pending order: ``quantity`` is signed (BUY positive) and is what remains unfilled."""

    instrument: str
    quantity: Decimal
    description: str = ""


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    """What the broker holds, and how it spells its instruments.

    ``spellings`` maps every spelling the broker's instrument list knows (a crypto exchange's
    native id ``HIGHUSDT``, ``HIGH-USDT``, a DEX's bare ``ZEC``) to the instrument key it returns
    positions under, so a book matches without an alias even for an instrument the broker no
    longer holds. An adapter hands back the same mapping object while its list is unchanged.
    """

    positions: tuple[Position, ...]
    orders: tuple[WorkingOrder, ...] = ()
    spellings: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The book as read; ``fingerprint`` changes when the content does (for settle time)."""

    positions: tuple[Position, ...]
    fingerprint: str = ""
    modified_at: datetime | None = None


class Part(NamedTuple):
    """One line behind a row's summed quantity: kept so the user sees the breakdown.

    A named tuple rather than a dataclass: reconciliation builds one per broker line, and a
    tuple is several times cheaper to create.
    """

    label: str
    quantity: Decimal
    average_price: Decimal | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "label": self.label,
            "quantity": str(self.quantity),
            "average_price": None if self.average_price is None else str(self.average_price),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        return cls(
            label=str(data["label"]),
            quantity=to_decimal(data["quantity"]),
            average_price=optional_decimal(data.get("average_price")),
        )


@dataclass(slots=True, kw_only=True)
class Row:
    """One instrument of one account after reconciliation.

    Treated as immutable (build a new one, or ``dataclasses.replace``), but not declared frozen:
    a frozen dataclass takes several times longer to construct, and a sync builds one per
    instrument, 100,000 of them on a large account. Keyword-only: twenty-one fields are too many
    to pass by position without one day swapping two of the same type.

    ``streak`` counts consecutive good syncs in the current problem; ``confirmed`` is set once
    its event went out, so the event is reported once and its resolution only if it was.
    ``previous_status`` keeps what a ``stale`` row was before its account went stale.
    """

    account: str
    instrument: str
    status: Status
    since: datetime
    broker_qty: Decimal | None = None
    local_qty: Decimal | None = None
    broker_avg: Decimal | None = None
    local_avg: Decimal | None = None
    last_price: Decimal | None = None
    unrealised_pnl: Decimal | None = None
    realised_pnl: Decimal | None = None
    realised_estimated: bool = False
    multiplier: Decimal = Decimal(1)
    currency: str | None = None
    hint: str | None = None
    explained: bool = False
    streak: int = 0
    confirmed: bool = False
    previous_status: Status | None = None
    broker_parts: tuple[Part, ...] = ()
    local_parts: tuple[Part, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.instrument)

    @property
    def difference(self) -> Decimal:
        """Broker minus local: what the book is missing (negative: what it holds too much)."""
        return (self.broker_qty or ZERO) - (self.local_qty or ZERO)

    @property
    def exposure(self) -> Decimal:
        """Gross exposure of the larger side, for sorting problems by size."""
        price = self.last_price or self.broker_avg or self.local_avg or ZERO
        qty = max(abs(self.broker_qty or ZERO), abs(self.local_qty or ZERO))
        return abs(qty * price * self.multiplier)

    @property
    def effective_status(self) -> Status:
        """What the row was judged to be, looking through ``stale``."""
        if self.status is Status.STALE and self.previous_status is not None:
            return self.previous_status
        return self.status


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    account: str
    kind: EventKind
    instrument: str | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "account": self.account,
            "instrument": self.instrument,
            "kind": self.kind.value,
            "detail": self.detail,
        }

"""Whether two spellings can name one instrument: the guard on "did you mean" hints.

A look-alike hint asks the user to make two spellings one (an alias), so it must never pair two
different contracts that merely look alike: a weekly and a monthly option of one index
(``NIFTY25O0725150CE`` and ``NIFTY25OCT25150CE``), ``GOLD25DECFUT`` and ``GOLDM25DECFUT`` (another
contract size), the shares and a CFD of one ticker. Two spellings can be one instrument only when
everything that can be read from both agrees:

- the kind: IB writes it in front of its keys (``STK:AAPL:USD``, ``CFD:AAPL:USD``); a spelling
  without one is a stock, a currency pair or crypto unless it reads as a derivative (a book's
  ``AAPL`` means the shares, as in ``brokers.ibkr_contracts``);
- for derivatives, the underlying, the expiry, and for options the strike and the right. They are
  read from Kite's NFO/BFO/MCX/CDS tradingsymbols and from OCC option symbols:

  - monthly future ``NIFTY25OCTFUT``: underlying, 2-digit year, 3-letter month, ``FUT``;
  - monthly option ``NIFTY25OCT25150CE``: underlying, year, month, strike, ``CE``/``PE``;
  - weekly option ``NIFTY25O0725150CE`` / ``NIFTY2510725150CE``: underlying, year, one character
    for the month (``1``-``9`` for January to September, ``O``, ``N``, ``D``), 2-digit day, strike,
    ``CE``/``PE``;
  - OCC ``SPX   200117P03205000``: root (padded to 6), YYMMDD, ``C``/``P``, strike x 1000 in 8
    digits.

  A weekly spelling never equals a monthly one: Kite spells the contract of a monthly expiry in
  the monthly form only, and a month may hold a weekly expiry in its last week besides the monthly
  one (January 2024: BANKNIFTY's weekly on the 31st, its monthly on the 25th).

Spellings with nothing to read beyond a name (``RELIANCE``, ``ESZ5``) are left to the caller's
look-alike measure; this module only says "these cannot be the same".
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from position_sync.app.symbols import compact, symbol_part

# IB security types as they lead IB's instrument keys.
IB_KINDS = frozenset(
    {
        "STK",
        "OPT",
        "FUT",
        "FOP",
        "CASH",
        "CRYPTO",
        "CFD",
        "IOPT",
        "WAR",
        "FUND",
        "CMDTY",
        "BOND",
        "IND",
        "BAG",
    }
)
# What a spelling with no kind may stand for: the types whose bare symbol is an alias, and the
# derivatives (whose own fields are compared instead).
_UNTYPED_MAY_BE = frozenset({"STK", "CASH", "CRYPTO", "OPT", "FUT", "FOP"})
_OPTION_KINDS = frozenset({"OPT", "FOP"})

_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKLY_MONTH = {**{str(n): n for n in range(1, 10)}, "O": 10, "N": 11, "D": 12}
_STRIKE = r"(?P<strike>\d+(?:\.\d+)?)"
_KITE_MONTHLY = re.compile(
    r"^(?P<under>[A-Z0-9&-]+?)(?P<yy>\d{2})(?P<mon>" + "|".join(_MONTHS) + r")"
    r"(?:(?P<fut>FUT)|" + _STRIKE + r"(?P<right>CE|PE))$"
)
_KITE_WEEKLY = re.compile(
    r"^(?P<under>[A-Z&-]+)(?P<yy>\d{2})(?P<m>[1-9OND])(?P<dd>\d{2})" + _STRIKE + r"(?P<right>CE|PE)$"
)
_OCC = re.compile(r"^(?P<under>[A-Z0-9.]{1,6}?)(?P<ymd>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")


@dataclass(frozen=True, slots=True)
class Reading:
    """What one spelling says about its instrument; None where it says nothing."""

    kind: str | None  # IB's security type when the spelling names one
    derivative: str | None = None  # "option" or "future" when read from the symbol
    underlying: str | None = None
    expiry: date | tuple[int, int] | None = None  # a day, or (year, month) for a monthly
    strike: Decimal | None = None
    right: str | None = None  # "C" or "P"


def read(spelling: str) -> Reading:
    """Read an instrument key or a book's spelling (see the module docstring for the forms)."""
    text = spelling.strip().upper()
    prefix, sep, _ = text.partition(":")
    kind = prefix.strip() if sep and "/" not in text and prefix.strip() in IB_KINDS else None
    name = re.sub(r"[\s_]", "", symbol_part(text))
    return _read_derivative(kind, name) or Reading(kind)


def _read_derivative(kind: str | None, name: str) -> Reading | None:
    if match := _OCC.match(name):
        day = _date(2000 + int(match["ymd"][:2]), int(match["ymd"][2:4]), int(match["ymd"][4:]))
        if day is not None:
            thousandths = Decimal(match["strike"]) / 1000
            return Reading(kind, "option", compact(match["under"]), day, thousandths, match["right"])
    if match := _KITE_WEEKLY.match(name):
        day = _date(2000 + int(match["yy"]), _WEEKLY_MONTH[match["m"]], int(match["dd"]))
        strike = _decimal(match["strike"])
        if day is not None and strike is not None:
            return Reading(kind, "option", compact(match["under"]), day, strike, match["right"][0])
    if match := _KITE_MONTHLY.match(name):
        month = (2000 + int(match["yy"]), _MONTHS[match["mon"]])
        if match["fut"]:
            return Reading(kind, "future", compact(match["under"]), month)
        strike = _decimal(match["strike"])
        if strike is not None:
            return Reading(kind, "option", compact(match["under"]), month, strike, match["right"][0])
    return None


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text).normalize()
    except InvalidOperation:
        return None


def can_be_same(a: str, b: str) -> bool:
    """False when the two spellings must be different instruments (see the module docstring)."""
    first, second = read(a), read(b)
    if not _kinds_agree(first, second):
        return False
    if first.derivative != second.derivative:
        return False
    if first.derivative is None:
        return True
    return (
        first.underlying == second.underlying
        and first.expiry == second.expiry
        and first.strike == second.strike
        and first.right == second.right
    )


def _kinds_agree(first: Reading, second: Reading) -> bool:
    if first.kind is not None and second.kind is not None:
        return first.kind == second.kind
    known = first.kind or second.kind
    if known is None:
        return True
    untyped = second if first.kind is not None else first
    if untyped.derivative == "option":
        return known in _OPTION_KINDS
    if untyped.derivative == "future":
        return known == "FUT"
    return known in _UNTYPED_MAY_BE

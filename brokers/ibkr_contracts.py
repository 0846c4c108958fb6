"""Instrument keys and aliases for Interactive Brokers contracts.

IB identifies a contract by its ``conId``; people and trading systems write ``AAPL``,
``AAPL  251219C00150000`` or ``ESZ5``. The key must stay the same from one sync to the next
(rows, history and events hang on it) and must be readable in the window, so it is built from
the contract alone, never from what else the account holds.

Keys (the part after the colon is IB's own spelling) and aliases, besides ``<conId>`` and
``conid:<conId>`` which every contract has:

- STK: ``STK:<localSymbol>:<currency>`` (``STK:AAPL:USD``, ``STK:SHOP:CAD``); aliases the symbol,
  the localSymbol and ``STK:<symbol>``.
- OPT: ``OPT:<localSymbol>``, which for US options is the OCC symbol (``OPT:AAPL  251219C00150000``);
  aliases the localSymbol and the OCC symbol with and without its padding spaces.
- FUT: ``FUT:<localSymbol>`` (``FUT:ESZ5``); alias the localSymbol.
- FOP: ``FOP:<localSymbol>`` (``FOP:ESZ5 C5000``); alias the localSymbol.
- CASH: ``CASH:<symbol>.<currency>`` (``CASH:EUR.USD``); aliases the localSymbol, the symbol,
  ``EUR/USD`` and ``EURUSD``.
- CRYPTO: ``CRYPTO:<symbol>.<currency>`` (``CRYPTO:BTC.USD``); aliases as for CASH.
- anything else: ``<secType>:<localSymbol>:<currency>``; alias the localSymbol.

Without a localSymbol, derivatives fall back to trading class, expiry, strike and right.

Stocks carry their currency because dual listings are common (``SHOP`` on the TSX in CAD and on
the NYSE in USD are two contracts with one ticker). The bare symbol is an alias only for stocks,
forex and crypto: a book writing ``AAPL`` means the shares, never an AAPL option. Should two
contracts still share a key within one account (one ticker, one currency, two exchanges), both get
``@<conId>`` appended, because merging two instruments into one row would be worse than a key
that changes in that rare case.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Protocol

ONE = Decimal(1)
# IB's "no value" double on the wire; ib_async and ib_insync both decode it to this float.
UNSET_DOUBLE = sys.float_info.max
# Bare symbols are aliases only where the symbol is the instrument itself.
SYMBOL_ALIAS_TYPES = frozenset({"STK", "CASH", "CRYPTO"})
PAIR_TYPES = frozenset({"CASH", "CRYPTO"})
OCC_ROOT_WIDTH = 6


class ContractLike(Protocol):
    """The fields of an IB contract that position and portfolio messages carry."""

    secType: str
    conId: int
    symbol: str
    lastTradeDateOrContractMonth: str
    strike: float
    right: str
    multiplier: str
    currency: str
    localSymbol: str
    tradingClass: str


def wire_decimal(value: float | int | str | None) -> Decimal | None:
    """The exact decimal IB sent, from the float the client library decoded it to.

    ib_async (like ib_insync) parses quantities and prices with ``float()``. IB sends at most
    about a dozen significant digits, and ``repr`` of a float is the shortest string that reads
    back to the same float, so ``Decimal(repr(float(s)))`` gives back ``s`` exactly: 0.1 BTC stays
    0.1, not 0.1000000000000000055511151231257827. IB's "unset" double and NaN mean "no value".
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            result = Decimal(text)
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if math.isnan(value) or math.isinf(value) or value == UNSET_DOUBLE:
        return None
    return Decimal(repr(value))


def multiplier_of(contract: ContractLike) -> Decimal:
    """IB sends the multiplier as text, empty for stocks, forex and crypto."""
    parsed = wire_decimal(contract.multiplier or "")
    if parsed is None or parsed <= 0:
        return ONE
    return parsed


def _right(contract: ContractLike) -> str:
    right = (contract.right or "").strip().upper()
    return {"CALL": "C", "PUT": "P"}.get(right, right)


def _strike_text(contract: ContractLike) -> str:
    strike = wire_decimal(contract.strike)
    if strike is None:
        return ""
    return format(strike.normalize(), "f")


def occ_symbol(contract: ContractLike) -> str | None:
    """The OCC spelling ``ROOT(6) YYMMDD C|P STRIKE*1000(8)`` of a US-style option, or None.

    The root is the trading class when IB gives one (``SPXW`` for SPX weeklies), as in the OCC
    symbol itself; the symbol otherwise.
    """
    if contract.secType != "OPT":
        return None
    root = (contract.tradingClass or contract.symbol or "").strip().upper()
    expiry = (contract.lastTradeDateOrContractMonth or "").strip()
    right = _right(contract)
    strike = wire_decimal(contract.strike)
    if not root or len(root) > OCC_ROOT_WIDTH or " " in root:
        return None
    if len(expiry) < 8 or not expiry[:8].isdigit() or right not in ("C", "P"):
        return None
    if strike is None or strike <= 0:
        return None
    thousandths = strike * 1000
    if thousandths != thousandths.to_integral_value() or thousandths >= 10**8:
        return None
    return f"{root.ljust(OCC_ROOT_WIDTH)}{expiry[2:8]}{right}{int(thousandths):08d}"


def instrument_key(contract: ContractLike) -> str:
    """The readable, stable key of one contract (see the module docstring for the scheme)."""
    sec_type = (contract.secType or "").strip().upper() or "UNKNOWN"
    symbol = (contract.symbol or "").strip()
    local = (contract.localSymbol or "").strip()
    currency = (contract.currency or "").strip().upper()
    if sec_type in PAIR_TYPES:
        pair = local if local and "." in local else f"{symbol}.{currency}"
        return f"{sec_type}:{pair}"
    if sec_type == "OPT":
        # the OCC spelling keeps its padding: it is how IB itself writes the localSymbol
        name = (contract.localSymbol or "").strip() or occ_symbol(contract) or _derivative_name(contract)
        return f"OPT:{name}"
    if sec_type in ("FUT", "FOP"):
        return f"{sec_type}:{local or _derivative_name(contract)}"
    name = local or symbol or str(contract.conId)
    return f"{sec_type}:{name}:{currency}" if currency else f"{sec_type}:{name}"


def _derivative_name(contract: ContractLike) -> str:
    """A fallback spelling when IB sent no localSymbol: class, expiry, strike and right."""
    parts = [
        (contract.tradingClass or contract.symbol or "").strip(),
        (contract.lastTradeDateOrContractMonth or "").strip(),
    ]
    if contract.secType in ("OPT", "FOP"):
        parts += [_strike_text(contract), _right(contract)]
    return " ".join(part for part in parts if part) or str(contract.conId)


def aliases(contract: ContractLike, key: str | None = None) -> tuple[str, ...]:
    """Other spellings of the contract a book may use; the key itself is left out."""
    key = key if key is not None else instrument_key(contract)
    sec_type = (contract.secType or "").strip().upper()
    symbol = (contract.symbol or "").strip()
    local = (contract.localSymbol or "").strip()
    currency = (contract.currency or "").strip().upper()
    found: list[str] = []
    if contract.conId:
        found += [str(contract.conId), f"conid:{contract.conId}"]
    if local:
        found.append(local)
    if sec_type in SYMBOL_ALIAS_TYPES and symbol:
        found.append(symbol)
    if sec_type == "STK" and symbol:
        found.append(f"STK:{symbol}")
    if sec_type in PAIR_TYPES and symbol and currency:
        found += [f"{symbol}.{currency}", f"{symbol}/{currency}", f"{symbol}{currency}"]
    occ = occ_symbol(contract)
    if occ is not None:
        found += [occ, occ.replace(" ", "")]
    return _unique(found, exclude=key)


def _unique(spellings: Iterable[str], exclude: str) -> tuple[str, ...]:
    seen = {" ".join(exclude.upper().split())}
    result: list[str] = []
    for spelling in spellings:
        folded = " ".join(spelling.upper().split())
        if folded and folded not in seen:
            seen.add(folded)
            result.append(spelling)
    return tuple(result)


def disambiguate(keys: dict[int, str]) -> dict[int, str]:
    """Give ``@<conId>`` to every contract whose key another conId in the same account shares."""
    counts = Counter(" ".join(key.upper().split()) for key in keys.values())
    return {
        con_id: (f"{key}@{con_id}" if counts[" ".join(key.upper().split())] > 1 else key)
        for con_id, key in keys.items()
    }

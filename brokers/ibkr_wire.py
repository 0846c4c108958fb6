"""IB's position and portfolio messages checked as text, before the client library parses them.

The client library decodes a position's quantity with ``float(text or 0)``: an empty field
becomes a flat position, ``abc`` raises inside its decoder, which logs the error and drops the
message, and ``nan``, ``1e999`` or IB's unset value pass through as numbers nobody holds. Any of
those would leave a complete-looking download without the contract, or with a zero, which is a
false close and a false phantom. The wrappers below see the raw fields first: a quantity that is
not a plain bounded number is reported (the connection then cannot be trusted), and a price or
average that is not one is replaced with IB's own "unset" value, which the adapter already reads
as unknown, never as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from position_sync.app.domain import MAX_MAGNITUDE
from position_sync.brokers.ibkr_contracts import UNSET_DOUBLE

POSITION_MESSAGE = 61  # position: ..., position, avgCost
PORTFOLIO_MESSAGE = (
    7  # updatePortfolio: ..., position, marketPrice, marketValue, averageCost, uPnL, rPnL, account
)
UNSET_TEXT = repr(UNSET_DOUBLE)


@dataclass(frozen=True)
class BadMessage:
    """A position or portfolio message that cannot be read, in words that name the contract."""

    detail: str

    def sentence(self, where: str) -> str:
        return f"TWS at {where} sent {self.detail}, so its position list cannot be trusted"


def _bad_quantity(text: str, contract: str, account: str) -> BadMessage:
    shown = repr(text[:40]) if text.strip() else "an empty field"
    return BadMessage(f"{shown} as the quantity of {contract} in account {account}, which is not a number")


def plain_number(text: str) -> Decimal | None:
    """The number in a field, or None when it is empty, not a number, not finite, out of
    bounds or IB's unset value."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= MAX_MAGNITUDE:
        return None
    return value


def _contract(fields: list[str], con_id: int, symbol: int, local_symbol: int, sec_type: int) -> str:
    name = fields[local_symbol] or fields[symbol] or "?"
    return f"{fields[sec_type]} {name} (conId {fields[con_id]})"


class WireGuard:
    """Wraps one client's decoder handlers for the position and portfolio messages."""

    def __init__(self, on_bad: Callable[[BadMessage], None]) -> None:
        self._on_bad = on_bad

    def install(self, decoder: Any) -> None:
        handlers: dict[int, Callable[[list[str]], None]] = decoder.handlers
        handlers[POSITION_MESSAGE] = self._guard(
            handlers[POSITION_MESSAGE],
            quantity=-2,
            unknown_if_bad=(-1,),
            account=lambda f: f[2],
            contract=lambda f: _contract(f, 3, 4, 12, 5),
            length=16,
        )
        handlers[PORTFOLIO_MESSAGE] = self._guard(
            handlers[PORTFOLIO_MESSAGE],
            quantity=-7,
            unknown_if_bad=(-6, -5, -4, -3, -2),
            account=lambda f: f[-1],
            contract=lambda f: _contract(f, 2, 3, 11, 4),
            length=20,
        )

    def _guard(
        self,
        original: Callable[[list[str]], None],
        *,
        quantity: int,
        unknown_if_bad: tuple[int, ...],
        account: Callable[[list[str]], str],
        contract: Callable[[list[str]], str],
        length: int,
    ) -> Callable[[list[str]], None]:
        def checked(fields: list[str]) -> None:
            if len(fields) != length:
                # The library would fail to unpack it and drop the message: a contract missing.
                self._on_bad(BadMessage(f"a message {fields[0]} of {len(fields)} fields ({length} expected)"))
                return
            if plain_number(fields[quantity]) is None:
                self._on_bad(_bad_quantity(fields[quantity], contract(fields), account(fields)))
                return
            fixed = list(fields)
            for index in unknown_if_bad:
                if plain_number(fixed[index]) is None:
                    fixed[index] = UNSET_TEXT
            original(fixed)

        return checked

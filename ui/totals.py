"""Totals under the positions grid: unrealised and realised P&L and gross exposure, per account
and overall, each in its own currency.

A trader reads these as Kite's and TWS's footers: the money at stake. Two rules make them safe
to read at a glance. Amounts in different currencies are never added (an account holding USD
and CAD stocks has a line per currency, and so has the overall). A figure the broker did not
give (a position without a last price or a P&L) leaves its total *partial*, counted and named,
never a silently smaller number.

They are totals of every row of the account, whatever the grid's filter shows: P&L and exposure
belong to the account, and a total that shrank while the trader typed in the filter box would
read as money lost. Computing an account's totals is one pass over its rows (5 to 10 ms for
10,000, measured by ``benchmarks/ui_totals.py``), so the window takes a large account in pieces
between turns of its loop (``AccountTotals.add``); this module is plain Python, tested without
a ``QApplication``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from position_sync.app.domain import ZERO, Row, Status

NAMED_UNKNOWN = 5  # instruments named in a partial total's explanation; the rest are counted


@dataclass(frozen=True)
class Figure:
    """One total: the sum of the known values, and the rows whose value is unknown."""

    amount: Decimal = ZERO
    unknown: int = 0
    missing: tuple[str, ...] = ()  # the first few instruments without a value
    known: int = 0  # the rows whose value is in ``amount``

    @property
    def partial(self) -> bool:
        """Some values are missing: ``amount`` is less than the whole."""
        return self.unknown > 0

    @property
    def none_known(self) -> bool:
        """Every value is missing: there is no amount to show at all."""
        return self.unknown > 0 and self.known == 0

    def __add__(self, other: Figure) -> Figure:
        missing = (self.missing + other.missing)[:NAMED_UNKNOWN]
        return Figure(
            self.amount + other.amount, self.unknown + other.unknown, missing, self.known + other.known
        )


@dataclass(frozen=True)
class Sums:
    """One account's (or every account's) totals in one currency."""

    currency: str | None
    rows: int = 0
    unrealised: Figure = field(default_factory=Figure)
    realised: Figure = field(default_factory=Figure)
    gross: Figure = field(default_factory=Figure)
    stale: bool = False  # some of the rows are an account's last good picture, not a fresh one

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.currency,
            self.rows + other.rows,
            self.unrealised + other.unrealised,
            self.realised + other.realised,
            self.gross + other.gross,
            self.stale or other.stale,
        )


class _Tally:
    """Running sums of one currency while the rows go by (plain attributes: the hot loop)."""

    __slots__ = (
        "gross",
        "gross_missing",
        "held",
        "realised",
        "realised_missing",
        "reported",
        "rows",
        "stale",
        "unrealised",
        "unrealised_missing",
    )

    def __init__(self) -> None:
        self.rows = 0
        self.reported = 0  # rows the broker reports (realised P&L applies)
        self.held = 0  # of those, the ones held (unrealised P&L and exposure apply)
        self.unrealised = ZERO
        self.realised = ZERO
        self.gross = ZERO
        self.unrealised_missing: list[str] = []
        self.realised_missing: list[str] = []
        self.gross_missing: list[str] = []
        self.stale = False

    def sums(self, currency: str | None) -> Sums:
        return Sums(
            currency,
            self.rows,
            _figure(self.unrealised, self.unrealised_missing, self.held),
            _figure(self.realised, self.realised_missing, self.reported),
            _figure(self.gross, self.gross_missing, self.held),
            self.stale,
        )


def _figure(amount: Decimal, missing: list[str], applies: int) -> Figure:
    return Figure(amount, len(missing), tuple(missing[:NAMED_UNKNOWN]), applies - len(missing))


class AccountTotals:
    """One account's totals by currency (a row's own currency, else the account's), taken row by
    row: ``add`` may be called with the rows in pieces, ``sums`` says the result.

    Which values count, and when one is unknown:

    - unrealised P&L and gross exposure, of a position held at the broker: a held position
      without one makes the total partial; a row the broker holds nothing of (a phantom, a
      closed row) adds nothing and is not unknown;
    - realised P&L, of every row the broker reports (open or closed today): a row without one
      makes the total partial; a phantom, which the broker does not know, adds nothing;
    - gross exposure is the sum of the absolute market values (quantity × last price ×
      multiplier, ``ui.row_facts.market_value``).
    """

    def __init__(self, currency: str | None) -> None:
        self.currency = currency
        self._tallies: dict[str | None, _Tally] = {}

    def add(self, rows: Iterable[Row]) -> None:
        tallies = self._tallies
        currency = self.currency
        stale_status = Status.STALE
        for row in rows:
            key = row.currency or currency
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = _Tally()
            tally.rows += 1
            if row.status is stale_status:
                tally.stale = True
            quantity = row.broker_qty
            if quantity is None:
                continue  # the broker does not know the instrument: nothing of it at the broker
            tally.reported += 1
            if row.realised_pnl is None:
                tally.realised_missing.append(row.instrument)
            else:
                tally.realised += row.realised_pnl
            if not quantity:
                continue  # flat at the broker: no exposure, no unrealised P&L
            tally.held += 1
            if row.unrealised_pnl is None:
                tally.unrealised_missing.append(row.instrument)
            else:
                tally.unrealised += row.unrealised_pnl
            if row.last_price is None:
                tally.gross_missing.append(row.instrument)
            else:
                tally.gross += abs(quantity * row.last_price * row.multiplier)

    def sums(self) -> dict[str | None, Sums]:
        return {key: tally.sums(key) for key, tally in self._tallies.items()}


def account_totals(rows: Iterable[Row], currency: str | None) -> dict[str | None, Sums]:
    """``AccountTotals`` of ``rows`` in one go."""
    totals = AccountTotals(currency)
    totals.add(rows)
    return totals.sums()


@dataclass(frozen=True)
class Line:
    """One line of the footer: whose totals (an account, or every account) in which currency."""

    label: str
    sums: Sums
    overall: bool = False


class Totals:
    """Every account's latest totals; ``lines`` says what the footer shows."""

    def __init__(self) -> None:
        self._accounts: dict[str, dict[str | None, Sums]] = {}

    def set_account(self, account: str, sums: Mapping[str | None, Sums]) -> None:
        self._accounts[account] = dict(sums)

    def remove_account(self, account: str) -> None:
        self._accounts.pop(account, None)

    def accounts(self) -> list[str]:
        return sorted(self._accounts)

    def overall(self) -> dict[str | None, Sums]:
        """Every account's totals added up, currency by currency."""
        result: dict[str | None, Sums] = {}
        for by_currency in self._accounts.values():
            for currency, sums in by_currency.items():
                result[currency] = result[currency] + sums if currency in result else sums
        return result

    def lines(self) -> list[Line]:
        """A line per account and currency, then a line per currency that several accounts hold
        (one account's line is already that currency's total: it is not said twice)."""
        lines: list[Line] = []
        holders: dict[str | None, int] = {}
        for account in sorted(self._accounts):
            by_currency = self._accounts[account]
            several = len(by_currency) > 1
            for currency in sorted(by_currency, key=_currency_order):
                holders[currency] = holders.get(currency, 0) + 1
                label = f"{account} · {currency or 'no currency'}" if several else account
                lines.append(Line(label, by_currency[currency]))
        overall = self.overall()
        for currency in sorted(overall, key=_currency_order):
            if holders.get(currency, 0) > 1:
                lines.append(Line(f"All accounts · {currency or 'no currency'}", overall[currency], True))
        return lines


def _currency_order(currency: str | None) -> str:
    return currency or "\uffff"

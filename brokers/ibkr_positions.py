"""What IB's two streams of one connection hold, and the snapshot an account is read from.

TWS tells of holdings twice, in separate messages: the position stream (quantity and average
cost, for every account of the login) and the portfolio stream (market price and P&L, for the
one account a connection subscribes). A fetch wants both to agree, so the tables keep, per
account, when they last changed and let a fetch wait briefly for the slower one. They are kept
apart from the connection's state machine: what was said is data, when it may be trusted is the
connection's business. Here too IB's per-contract numbers become the core's per-unit positions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from position_sync.app.domain import ZERO, BrokerSnapshot, Position, normal
from position_sync.brokers.answer_memo import AnswerMemo, Same
from position_sync.brokers.ibkr_contracts import ContractKeys, ContractLike, multiplier_of, wire_decimal

# The adapter speaks under one logger name, whichever of its modules holds the line.
log = logging.getLogger(f"{__package__}.ibkr")

# How long a fetch waits for IB's portfolio stream to catch up with a change the position stream
# already reported (TWS sends the two separately): long enough for the realised P&L of a close to
# arrive, short against the worker's timeout.
PORTFOLIO_CATCH_UP = 0.5


@dataclass(frozen=True, slots=True)
class Held:
    """One entry of the position stream."""

    contract: ContractLike
    quantity: Decimal
    avg_cost: Decimal | None


Table = dict[str, dict[int, Held]]  # account -> conId -> entry


@dataclass(frozen=True, slots=True)
class Priced:
    """One entry of the portfolio stream; kept at quantity zero for the realised P&L."""

    contract: ContractLike
    quantity: Decimal
    market_price: Decimal | None
    avg_cost: Decimal | None
    unrealised: Decimal | None
    realised: Decimal | None


class Streams:
    """Both streams of one connection, by account and conId.

    ``collecting`` is a position download under way (after connecting, or after TWS regains IB):
    messages go to it as well as to ``positions``, and it replaces them at its positionEnd.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.positions: Table = {}
        self.portfolio: dict[str, dict[int, Priced]] = {}
        self.collecting: Table | None = None
        self._changed_at: dict[str, float] = {}
        self._changed = asyncio.Event()

    def clear(self) -> None:
        """Nothing held is known any more: a new connection, or one that went down."""
        self.positions = {}
        self.portfolio = {}
        self.collecting = None

    def collect(self) -> Table:
        """Start a fresh position download; ``adopt`` makes it the positions once complete."""
        collecting: Table = {}
        self.collecting = collecting
        return collecting

    def adopt(self, collecting: Table) -> None:
        self.positions = collecting
        self.collecting = None

    def renew(self) -> None:
        """A new event loop: an event of the old one could wake no one."""
        self._changed = asyncio.Event()

    def take_position(self, position: Any, now: float | None) -> None:
        entry = Held(
            position.contract, wire_decimal(position.position) or ZERO, wire_decimal(position.avgCost)
        )
        con_id = position.contract.conId
        for table in (self.positions, self.collecting):
            if table is None:
                continue
            bucket = table.setdefault(position.account, {})
            if entry.quantity == ZERO:
                bucket.pop(con_id, None)
            else:
                bucket[con_id] = entry
        self._change(position.account, now)

    def take_portfolio(self, item: Any, now: float | None) -> None:
        self.portfolio.setdefault(item.account, {})[item.contract.conId] = Priced(
            contract=item.contract,
            quantity=wire_decimal(item.position) or ZERO,
            market_price=wire_decimal(item.marketPrice),
            avg_cost=wire_decimal(item.averageCost),
            unrealised=wire_decimal(item.unrealizedPNL),
            realised=wire_decimal(item.realizedPNL),
        )
        self._change(item.account, now)

    def _change(self, account: str, now: float | None) -> None:
        """Note a position or portfolio message: wakes fetches waiting for the two to agree."""
        if now is not None:
            self._changed_at[account] = now
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def lags(self, account: str) -> bool:
        """True while the portfolio stream still shows another quantity than the position stream.

        TWS sends a change as a position message and a portfolio message, not always together;
        read between the two, a close would lose IB's realised P&L (the core would estimate it).
        """
        held = self.positions.get(account, {})
        for con_id, item in self.portfolio.get(account, {}).items():
            entry = held.get(con_id)
            if (entry.quantity if entry is not None else ZERO) != item.quantity:
                return True
        return False

    async def catch_up(self, account: str, keep_waiting: Callable[[], bool]) -> bool:
        """Wait, briefly, for the portfolio stream to catch up with a fresh position change.

        Only a change of the last ``PORTFOLIO_CATCH_UP`` seconds is waited for: a contract whose
        portfolio row never follows (no market data) costs nothing after that. True if it waited.
        """
        loop = asyncio.get_running_loop()
        deadline = self._changed_at.get(account, -PORTFOLIO_CATCH_UP) + PORTFOLIO_CATCH_UP
        waited = False
        while keep_waiting() and self.lags(account):
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.debug("IB portfolio of %s at %s still differs from its positions", account, self.where)
                break
            waited = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return waited

    def snapshot(
        self,
        account: str,
        portfolio_account: str | None,
        keys: ContractKeys,
        memo: AnswerMemo[BrokerSnapshot] | None = None,
    ) -> BrokerSnapshot:
        """The account as both streams have it, keyed by ``keys``; prices only if it is subscribed.

        With a ``memo``, the very snapshot of the last call while nothing it is built from
        changed: the same stream entries (each message replaces its entry, so the very same
        objects mean no message since; an IB contract compares equal by conId alone, so equality
        would miss a changed detail), the same words for a missing price, and the same keys.
        """
        held = self.positions.get(account, {})
        streams_prices = account == portfolio_account
        priced = self.portfolio.get(account, {}) if streams_prices else {}
        if streams_prices:
            no_price = "IB has not sent a market price for this contract yet"
        elif portfolio_account:
            no_price = (
                f"IB streams prices for one account per connection ({portfolio_account} here), "
                f"so {account} shows quantity and average cost only"
            )
        else:
            no_price = "no account on this connection receives IB's price stream"
        if memo is None:
            return self._built(held, priced, no_price, keys)
        key = (Same(list(held.values())), Same(list(priced.values())), no_price, keys.revision())
        built = memo.recall(key)
        if built is None:
            built = self._built(held, priced, no_price, keys)
            # After the build: giving new conIds their keys is part of what the next one finds.
            memo.remember((key[0], key[1], no_price, keys.revision()), built)
        return built

    @staticmethod
    def _built(
        held: dict[int, Held], priced: dict[int, Priced], no_price: str, keys: ContractKeys
    ) -> BrokerSnapshot:
        rows: dict[int, tuple[ContractLike, Position]] = {}
        for con_id, entry in held.items():
            rows[con_id] = (entry.contract, _position(entry, priced.get(con_id), no_price))
        for con_id, item in priced.items():
            # closed today: the portfolio stream keeps the row at zero with its realised P&L
            if con_id not in held and item.quantity == ZERO:
                rows[con_id] = (item.contract, _closed_position(item))
        keyed = keys.assign({con_id: contract for con_id, (contract, _) in rows.items()})
        positions = [
            replace(position, instrument=keyed[con_id], aliases=keys.aliases(contract, keyed[con_id]))
            for con_id, (contract, position) in rows.items()
        ]
        positions.sort(key=lambda p: p.instrument)
        return BrokerSnapshot(positions=tuple(positions))


def _average_price(avg_cost: Decimal | None, contract: ContractLike) -> Decimal | None:
    """IB's avgCost is per contract, multiplier (and commissions) included; a book's is per unit."""
    if avg_cost is None:
        return None
    return normal(avg_cost / multiplier_of(contract))


def _position(entry: Held, priced: Priced | None, no_price: str) -> Position:
    contract = entry.contract
    market_price = priced.market_price if priced is not None else None
    return Position(
        instrument="",  # keyed by the caller, which sees every contract of the account
        quantity=normal(entry.quantity) or ZERO,
        average_price=_average_price(entry.avg_cost, contract),
        last_price=normal(market_price),
        unrealised_pnl=normal(priced.unrealised) if priced is not None else None,
        realised_pnl=normal(priced.realised) if priced is not None else None,
        symbol=contract.symbol or None,
        multiplier=multiplier_of(contract),
        currency=contract.currency or None,
        price_missing_reason=None if market_price is not None else no_price,
    )


def _closed_position(item: Priced) -> Position:
    return Position(
        instrument="",
        quantity=ZERO,
        average_price=_average_price(item.avg_cost, item.contract),
        last_price=normal(item.market_price),
        unrealised_pnl=None,
        realised_pnl=normal(item.realised),
        symbol=item.contract.symbol or None,
        multiplier=multiplier_of(item.contract),
        currency=item.contract.currency or None,
    )

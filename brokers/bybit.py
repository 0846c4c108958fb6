"""Bybit v5 linear (or inverse) contracts, and with ``market = "spot"`` unified-account
balances, through ccxt.

Positions come from ``GET /v5/position/list`` read raw, page by page: ``size`` is unsigned and
``side`` (``Buy``/``Sell``) gives its sign; a flat row (``size`` 0, ``side`` empty) is closed
(safety rule 2), whatever ccxt would make of it (``contracts 0``). In hedge mode
``positionIdx`` 1 and 2 are the two legs of one instrument and stay two lines. The open
position's realised P&L is Bybit's ``curRealisedPnl``; ``cumRealisedPnl`` (everything the
symbol realised) goes into the line's breakdown label; a close's realised P&L comes from
``GET /v5/position/closed-pnl`` (see ``brokers.ccxt_closes``).

Only the GET paths in ``READS`` ever leave, and Bybit's ``X-Bapi-Limit-Status`` (requests left
in the window) with ``X-Bapi-Limit-Reset-Timestamp`` steer the pacing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from position_sync.app.broker import AdapterContext, BrokerSpec
from position_sync.app.config import AccountConfig
from position_sync.app.domain import ZERO, Position
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.brokers.answer_memo import AnswerMemo
from position_sync.brokers.ccxt_adapter import CcxtAdapter, key_options, root_option
from position_sync.brokers.ccxt_closes import CloseTracker, Leg, tracker_file
from position_sync.brokers.ccxt_markets import MarketList
from position_sync.brokers.ccxt_session import Session
from position_sync.brokers.raw_fields import RawRow, RawRows

SPEC = BrokerSpec(
    name="bybit",
    title="Bybit",
    options=(
        *key_options(),
        Option(
            "category",
            str,
            "which contracts: linear (USDT/USDC) or inverse",
            default="linear",
            choices=("linear", "inverse"),
        ),
        Option("settle_coin", str, "the settle coin whose positions are read", default="USDT"),
        Option(
            "quote_asset",
            str,
            'with market = "spot": the coin balances are valued in, itself not a position',
            default="USDT",
        ),
        Option(
            "dust",
            Decimal,
            'with market = "spot": balances worth less than this many US dollars are ignored',
            default=Decimal(1),
            minimum=0,
        ),
        root_option("Bybit"),
    ),
    defaults={"interval": 10},
    hidden_imports=("ccxt.async_support.bybit",),
)

READS = frozenset(
    {
        "/v5/market/instruments-info",
        "/v5/position/list",
        "/v5/position/closed-pnl",
        "/v5/user/query-api",
        "/v5/account/wallet-balance",
        "/v5/market/time",
    }
)
#: Bybit's page sizes; more pages than ``MAX_PAGES`` is an answer that does not end.
POSITION_PAGE = 200
CLOSED_PNL_PAGE = 100
MAX_PAGES = 50
#: Requests left in Bybit's window at which the rest of the window is waited out.
HOLD_BACK_REMAINING = 2

_HEDGE_LEGS = {"1": "long leg", "2": "short leg"}
_SIGNS = {"Buy": Decimal(1), "Sell": Decimal(-1)}


def create(account: AccountConfig, context: AdapterContext) -> CcxtAdapter:
    venue: BybitSpot | BybitContracts
    legs = CloseTracker(tracker_file(context.data_dir, account.id))
    venue = BybitSpot(account) if account.market == "spot" else BybitContracts(account, legs)
    return CcxtAdapter(account, context, venue)


def bybit_pacer(status: int | None, headers: Mapping[str, str], now: float) -> float:
    """Wait for the window's reset when it is nearly spent, or a minute after a refusal."""
    remaining = headers.get("x-bapi-limit-status")
    reset_ms = headers.get("x-bapi-limit-reset-timestamp")
    if remaining is not None and reset_ms is not None and int(remaining) <= HOLD_BACK_REMAINING:
        return max(0.0, int(reset_ms) / 1000 - now) + 0.1
    if status in (403, 429):  # Bybit's IP limit answers 403 "access too frequent"
        return float(headers.get("retry-after") or 60)
    return 0.0


class _BybitVenue:
    title = "Bybit"
    exchange_id = "bybit"
    needs_key = True
    bare_base = False

    def allowed(self, method: str, path: str) -> bool:
        return method == "GET" and any(path.endswith(read) for read in READS)

    def pacer(self, status: int | None, headers: Mapping[str, str], now: float) -> float:
        return bybit_pacer(status, headers, now)

    async def key_can_trade(self, session: Session) -> bool | None:
        answer = await session.call("privateGetV5UserQueryApi", {}, "API key information")
        result = _result(answer, "Bybit API key information (/v5/user/query-api)")
        read_only = result.get("readOnly")
        return None if read_only is None else str(read_only) != "1"


def _result(answer: Any, what: str) -> Mapping[str, Any]:
    """The envelope's ``result`` when ``retCode`` is 0; anything else is a failed read.

    ccxt raises for the error codes it knows; an envelope it let through with another code, or
    without a result, must not pass for an empty account.
    """
    if not isinstance(answer, Mapping):
        raise ReadError(ReadErrorKind.MALFORMED, f"{what}: expected an object, got {type(answer).__name__}")
    code = answer.get("retCode")
    if str(code) != "0":
        raise ReadError(ReadErrorKind.HTTP, f"{what}: Bybit answered retCode {code} ({answer.get('retMsg')})")
    result = answer.get("result")
    if not isinstance(result, Mapping):
        raise ReadError(ReadErrorKind.MALFORMED, f"{what}: the answer has no 'result' object")
    return result


class BybitContracts(_BybitVenue):
    """Linear (USDT/USDC-settled) or inverse contracts of one settle coin."""

    def __init__(self, account: AccountConfig, closes: CloseTracker) -> None:
        self.category = str(account.options.get("category") or "linear")
        self.settle = str(account.options.get("settle_coin") or "USDT").upper()
        self.kind = self.category
        self.closes = closes
        # The legs built from the last good answer, by its rows and the market list read with.
        self._legs_memo: AnswerMemo[tuple[Leg, ...]] = AnswerMemo()

    def client_config(self) -> dict[str, Any]:
        # ``has.fetchCurrencies`` off: ccxt would otherwise ask /v5/asset/coin/query-info (signed,
        # 5 a second) at every market load, for nothing a position reader uses.
        # ``rateLimit`` 10 ms: ccxt spaces position/list requests (cost 5) 50 ms apart, 20 a second
        # against Bybit's 50 per UID; its default (100 ms) made a 3-page account wait 200 ms a read.
        return {
            "rateLimit": 10,
            "has": {"fetchCurrencies": False},
            "options": {
                "defaultType": "swap",
                "defaultSubType": self.category,
                "fetchMarkets": {"types": [self.category]},
            },
        }

    def wanted(self, market: Mapping[str, Any]) -> bool:
        return bool(market.get(self.category)) and bool(market.get("swap") or market.get("future"))

    async def read(self, session: Session) -> tuple[Position, ...]:
        pages = await self._pages(
            session,
            "privateGetV5PositionList",
            {"category": self.category, "settleCoin": self.settle, "limit": POSITION_PAGE},
            "Bybit positions (/v5/position/list)",
        )
        # Keyed on the pages' rows, not their envelopes: each carries a ``time`` of its own.
        answer = tuple(page.rows for page in pages)
        legs = self._legs_memo.recall((answer, await session.markets()))
        if legs is None:
            legs = tuple(await self._legs(session, [row for page in pages for row in page.each()]))
            # Keyed with the list the legs were built from, which a refresh may have replaced.
            self._legs_memo.remember((answer, await session.markets()), legs)
        self.closes.update(legs)
        await self.closes.settle_waiting(functools.partial(self._realised_since, session), "Bybit")
        return self.closes.positions(legs)

    async def _pages(self, session: Session, method: str, params: dict[str, Any], what: str) -> list[RawRows]:
        """Every page of a paged list, its envelope checked; its rows are checked as they are read."""
        pages: list[RawRows] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            asked = {**params, "cursor": cursor} if cursor else params
            result = _result(await session.call(method, asked, what), what)
            page = RawRows(result, what, key="list")
            pages.append(page)
            cursor = str(result.get("nextPageCursor") or "")
            # Bybit hands a cursor back after the last page too: a short page is the last one.
            if not cursor or len(page.rows) < int(params["limit"]):
                return pages
        raise ReadError(
            ReadErrorKind.MALFORMED, f"{what}: more than {MAX_PAGES} pages; the answer did not end"
        )

    async def _legs(self, session: Session, rows: list[RawRow]) -> list[Leg]:
        markets = await session.markets()
        legs: list[Leg] = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            native = row.text("symbol")
            index = str(row.get("positionIdx"))
            if (native, index) in seen:
                raise row.owner.malformed(f"{native} positionIdx {index} is listed twice")
            seen.add((native, index))
            size = row.number("size")
            if size == ZERO:
                continue  # flat (rule 2): Bybit keeps such rows, ccxt returns them as contracts 0
            side = row.text("side")
            if side not in _SIGNS:
                raise row.owner.malformed(f"{native} holds {size} with side {side!r}, not Buy or Sell")
            symbol = markets.symbol_of(native)
            if symbol is None and await session.refresh_markets():
                markets = await session.markets()
                symbol = markets.symbol_of(native)
            if symbol is None:
                raise row.owner.malformed(f"{native} is not in Bybit's {self.category} market list")
            average = row.optional_number("avgPrice")
            leg = _HEDGE_LEGS.get(index, "")
            cumulative = row.optional_number("cumRealisedPnl")
            label = " · ".join(
                part
                for part in (leg, f"cumulative realised {cumulative}" if cumulative is not None else "")
                if part
            )
            legs.append(
                Leg(
                    Position(
                        instrument=symbol,
                        quantity=size * _SIGNS[side],
                        average_price=average if average else None,
                        last_price=row.optional_number("markPrice"),
                        unrealised_pnl=row.optional_number("unrealisedPnl"),
                        realised_pnl=row.optional_number("curRealisedPnl"),
                        label=label or None,
                        symbol=native,
                        currency=markets.settle_of(symbol) or self.settle,
                    ),
                    native,
                    leg,
                )
            )
        return legs

    async def _realised_since(self, session: Session, since: float) -> dict[str, Decimal]:
        pages = await self._pages(
            session,
            "privateGetV5PositionClosedPnl",
            {"category": self.category, "startTime": int(since * 1000), "limit": CLOSED_PNL_PAGE},
            "Bybit closed P&L (/v5/position/closed-pnl)",
        )
        realised: dict[str, Decimal] = {}
        for row in (row for page in pages for row in page.each()):
            native = row.text("symbol")
            realised[native] = realised.get(native, ZERO) + row.number("closedPnl")
        return realised


class BybitSpot(_BybitVenue):
    """Unified-account coin balances as positions, valued by Bybit's own ``usdValue``."""

    kind = "spot"

    def __init__(self, account: AccountConfig) -> None:
        self.quote = str(account.options.get("quote_asset") or "USDT").upper()
        self.dust = Decimal(str(account.options.get("dust", 1)))
        self._memo: AnswerMemo[tuple[Position, ...]] = AnswerMemo()

    def client_config(self) -> dict[str, Any]:
        # ``rateLimit`` 10 ms: ccxt spaces position/list requests (cost 5) 50 ms apart, 20 a second
        # against Bybit's 50 per UID; its default (100 ms) made a 3-page account wait 200 ms a read.
        return {
            "rateLimit": 10,
            "has": {"fetchCurrencies": False},
            "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
        }

    def wanted(self, market: Mapping[str, Any]) -> bool:
        return bool(market.get("spot"))

    async def read(self, session: Session) -> tuple[Position, ...]:
        what = "Bybit balances (/v5/account/wallet-balance)"
        result = _result(
            await session.call("privateGetV5AccountWalletBalance", {"accountType": "UNIFIED"}, what), what
        )
        markets = await session.markets()
        key = (result, markets)  # the envelope's ``time`` left out
        built = self._memo.recall(key)
        if built is None:
            built = self._memo.remember(key, tuple(self._balances(result, markets)))
        return built

    def _balances(self, result: Mapping[str, Any], markets: MarketList) -> list[Position]:
        what = "Bybit balances (/v5/account/wallet-balance)"
        positions = []
        for account in RawRows(result, what, key="list").each():
            for row in RawRows(account.row, what, key="coin").each():
                coin = row.text("coin").upper()
                quantity = row.number("walletBalance")
                if coin == self.quote or quantity == ZERO:
                    continue
                value = row.optional_number("usdValue")
                if value is not None and abs(value) < self.dust:
                    continue
                symbol = f"{coin}/{self.quote}"
                positions.append(
                    Position(
                        instrument=symbol,
                        quantity=quantity,
                        last_price=value / quantity if value is not None else None,
                        symbol=markets.id_of(symbol) or symbol,
                        currency=self.quote,
                        price_missing_reason="a spot balance has no average price at Bybit",
                    )
                )
        return positions

"""Binance USD-M futures (and, with ``market = "spot"``, spot balances) through ccxt.

Positions come from ``GET /fapi/v3/positionRisk`` read raw: ``positionAmt`` is the signed size
as a string, so it is read as Decimal and a row at 0 is closed (safety rule 2) whatever ccxt
would have done with it (its unified parser drops rows whose entryPrice is 0). In hedge mode
Binance sends a LONG and a SHORT row for one symbol (``positionSide``): they stay two legs of
one instrument, never one overwriting the other. positionRisk carries no realised P&L, so a
close's comes from ``GET /fapi/v1/income`` (``REALIZED_PNL``), see ``brokers.ccxt_closes``.

Only the GET paths in ``READS`` ever leave (the session refuses any other before sending), the
market list is loaded without currencies (which would cost a signed ``/sapi`` call each start),
and ``X-MBX-USED-WEIGHT-1M`` and ``Retry-After`` steer the pacing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from position_sync.app.broker import AdapterContext, BrokerSpec
from position_sync.app.config import AccountConfig
from position_sync.app.domain import ZERO, Position
from position_sync.app.options import Option
from position_sync.brokers.answer_memo import AnswerMemo
from position_sync.brokers.ccxt_adapter import CcxtAdapter, key_options, root_option
from position_sync.brokers.ccxt_closes import CloseTracker, Leg, tracker_file
from position_sync.brokers.ccxt_markets import MarketList
from position_sync.brokers.ccxt_session import Session
from position_sync.brokers.raw_fields import RawRows

SPEC = BrokerSpec(
    name="binance",
    title="Binance",
    options=(
        *key_options(),
        Option(
            "quote_asset",
            str,
            'with market = "spot": the asset balances are valued in, itself not a position',
            default="USDT",
        ),
        Option(
            "dust",
            Decimal,
            'with market = "spot": balances worth less than this many quote units are ignored',
            default=Decimal(1),
            minimum=0,
        ),
        root_option("Binance"),
    ),
    defaults={"interval": 10},
    hidden_imports=("ccxt.async_support.binanceusdm", "ccxt.async_support.binance"),
)

FUTURES_READS = frozenset(
    {"/fapi/v1/exchangeInfo", "/fapi/v3/positionRisk", "/fapi/v1/income", "/sapi/v1/account/apiRestrictions"}
)
SPOT_READS = frozenset(
    {"/api/v3/exchangeInfo", "/api/v3/account", "/api/v3/ticker/price", "/sapi/v1/account/apiRestrictions"}
)
#: Binance's request weight per minute and IP on the futures API (spot allows 6000): holding
#: back at 80 % leaves the trading bot on the same IP room to trade.
WEIGHT_LIMIT = 2400
SAPI_WEIGHT_LIMIT = 12000
HOLD_BACK_AT = 0.8
#: The income history's page size; a full page may hide later rows, so it settles nothing.
INCOME_PAGE = 1000

_LEG_LABELS = {"LONG": "long leg", "SHORT": "short leg"}
_TRADING_RIGHTS = (
    "enableSpotAndMarginTrading",
    "enableFutures",
    "enableMargin",
    "enableVanillaOptions",
    "enableWithdrawals",
)


def create(account: AccountConfig, context: AdapterContext) -> CcxtAdapter:
    venue: BinanceSpot | BinanceFutures
    legs = CloseTracker(tracker_file(context.data_dir, account.id))
    venue = BinanceSpot(account) if account.market == "spot" else BinanceFutures(legs)
    return CcxtAdapter(account, context, venue)


def binance_pacer(status: int | None, headers: Mapping[str, str], now: float) -> float:
    """Retry-After on 429 (and 418, an IP ban); else the rest of the minute near the limit.

    Binance counts weight per calendar minute, so "near the limit" waits for the next one.
    """
    if status in (418, 429):
        return float(headers.get("retry-after") or 60)
    rest_of_minute = 60 - now % 60 + 0.5
    used = headers.get("x-mbx-used-weight-1m")
    if used is not None and int(used) >= HOLD_BACK_AT * WEIGHT_LIMIT:
        return rest_of_minute
    used_sapi = headers.get("x-sapi-used-ip-weight-1m")
    if used_sapi is not None and int(used_sapi) >= HOLD_BACK_AT * SAPI_WEIGHT_LIMIT:
        return rest_of_minute
    return 0.0


class _BinanceVenue:
    title = "Binance"
    needs_key = True
    bare_base = False
    reads: frozenset[str] = frozenset()

    def allowed(self, method: str, path: str) -> bool:
        return method == "GET" and any(path.endswith(read) for read in self.reads)

    def pacer(self, status: int | None, headers: Mapping[str, str], now: float) -> float:
        return binance_pacer(status, headers, now)

    async def key_can_trade(self, session: Session) -> bool | None:
        rights = await session.call("sapiGetAccountApiRestrictions", {}, "API key restrictions")
        if not isinstance(rights, Mapping):
            return None
        return any(rights.get(name) is True for name in _TRADING_RIGHTS)


class BinanceFutures(_BinanceVenue):
    """USD-M perpetuals and delivery contracts: what ccxt calls ``binanceusdm``."""

    exchange_id = "binanceusdm"
    kind = "linear"
    reads = FUTURES_READS

    def __init__(self, closes: CloseTracker) -> None:
        self.closes = closes
        # The legs built from the last good answer, by that answer and the market list read with.
        self._legs_memo: AnswerMemo[tuple[Leg, ...]] = AnswerMemo()

    def client_config(self) -> dict[str, Any]:
        return {
            "options": {
                "defaultType": "swap",
                "fetchCurrencies": False,
                "fetchMarkets": {"types": ["linear"]},
            }
        }

    def wanted(self, market: Mapping[str, Any]) -> bool:
        return bool(market.get("linear")) and bool(market.get("swap") or market.get("future"))

    async def read(self, session: Session) -> tuple[Position, ...]:
        answer = await session.call("fapiPrivateV3GetPositionRisk", {}, "positions")
        legs = self._legs_memo.recall((answer, await session.markets()))
        if legs is None:
            legs = tuple(await self._legs(session, answer))
            # Keyed with the list the legs were built from, which a refresh may have replaced.
            self._legs_memo.remember((answer, await session.markets()), legs)
        self.closes.update(legs)
        await self.closes.settle_waiting(functools.partial(self._realised_since, session), "Binance")
        return self.closes.positions(legs)

    async def _legs(self, session: Session, answer: Any) -> list[Leg]:
        rows = RawRows(answer, "Binance positions (/fapi/v3/positionRisk)")
        markets = await session.markets()
        legs: list[Leg] = []
        seen: set[tuple[str, str]] = set()
        for row in rows.each():
            native = row.text("symbol")
            side = row.text("positionSide")
            if (native, side) in seen:
                raise rows.malformed(f"{native} {side} is listed twice")
            seen.add((native, side))
            amount = row.number("positionAmt")
            if amount == ZERO:
                continue  # closed (rule 2): Binance lists flat symbols with open orders
            symbol = markets.symbol_of(native)
            if symbol is None and await session.refresh_markets():
                markets = await session.markets()
                symbol = markets.symbol_of(native)
            if symbol is None:
                raise rows.malformed(f"{native} is not in Binance's market list")
            entry = row.number("entryPrice")
            legs.append(
                Leg(
                    Position(
                        instrument=symbol,
                        quantity=amount,
                        average_price=entry if entry != ZERO else None,
                        last_price=row.optional_number("markPrice"),
                        unrealised_pnl=row.optional_number("unRealizedProfit"),
                        label=_LEG_LABELS.get(side),
                        symbol=native,
                        currency=row.optional_text("marginAsset") or markets.settle_of(symbol),
                    ),
                    native,
                    side,
                )
            )
        return legs

    async def _realised_since(self, session: Session, since: float) -> dict[str, Decimal]:
        params = {"incomeType": "REALIZED_PNL", "startTime": int(since * 1000), "limit": INCOME_PAGE}
        answer = await session.call("fapiPrivateGetIncome", params, "realised P&L (/fapi/v1/income)")
        rows = RawRows(answer, "Binance income (/fapi/v1/income)").each()
        if len(rows) >= INCOME_PAGE:
            return {}
        realised: dict[str, Decimal] = {}
        for row in rows:
            native = row.text("symbol")
            realised[native] = realised.get(native, ZERO) + row.number("income")
        return realised


class BinanceSpot(_BinanceVenue):
    """Spot balances as positions: each asset held, valued in the quote asset, dust left out.

    A balance has no average price, so the row shows none and is never price-compared.
    """

    exchange_id = "binance"
    kind = "spot"
    reads = SPOT_READS

    def __init__(self, account: AccountConfig) -> None:
        self.quote = str(account.options.get("quote_asset") or "USDT").upper()
        self.dust = Decimal(str(account.options.get("dust", 1)))
        self._memo: AnswerMemo[tuple[Position, ...]] = AnswerMemo()

    def client_config(self) -> dict[str, Any]:
        # ``fetchMargins`` off too: ccxt would list margin pairs (signed /sapi calls) for a spot read.
        return {
            "options": {
                "defaultType": "spot",
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            }
        }

    def wanted(self, market: Mapping[str, Any]) -> bool:
        return bool(market.get("spot"))

    async def read(self, session: Session) -> tuple[Position, ...]:
        account = await session.call("privateGetAccount", {"omitZeroBalances": "true"}, "balances")
        prices_answer = await session.call("publicGetTickerPrice", {}, "prices (/api/v3/ticker/price)")
        markets = await session.markets()
        # Only the balances, not the whole answer: it carries an ``updateTime`` of its own.
        balances = account.get("balances") if isinstance(account, Mapping) else account
        key = (balances, prices_answer, markets)
        built = self._memo.recall(key)
        if built is None:
            built = self._memo.remember(key, tuple(self._balances(account, prices_answer, markets)))
        return built

    def _balances(self, account: Any, prices_answer: Any, markets: MarketList) -> list[Position]:
        prices = {
            row.text("symbol"): row.number("price")
            for row in RawRows(prices_answer, "Binance prices (/api/v3/ticker/price)").each()
        }
        positions = []
        for row in RawRows(account, "Binance balances (/api/v3/account)", key="balances").each():
            asset = row.text("asset").upper()
            quantity = row.number("free") + row.number("locked")
            if asset == self.quote or quantity == ZERO:
                continue
            symbol = f"{asset}/{self.quote}"
            native = markets.id_of(symbol)
            price = prices.get(native) if native is not None else None
            if price is not None and abs(quantity * price) < self.dust:
                continue
            positions.append(
                Position(
                    instrument=symbol,
                    quantity=quantity,
                    last_price=price,
                    symbol=native or symbol,
                    currency=self.quote,
                    price_missing_reason="a spot balance has no average price at Binance",
                )
            )
        return positions

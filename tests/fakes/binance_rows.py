"""Binance payloads in Binance's own shapes, for the fake Binance server and the tests that script it.

Binance sends numbers as strings with the contract's own number of decimals (``"positionAmt":
"0.010"``, a flat row ``"0.000"`` with ``"entryPrice": "0.0"``), so these builders take Decimals
or strings and format them the way Binance does, never through a float: an adapter that reads
quantities as Decimal must meet the same text the exchange sends. The stored real responses
(``tests/fixtures/binance``, sources in its README) are served unchanged beside these.
"""

from __future__ import annotations

import itertools
import json
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "binance"

Number = Decimal | str | int

# A fixed clock for rows: 2026-11-20 09:15 UTC in milliseconds, the suite's T0.
T0_MS = 1795166100000
PERPETUAL_DELIVERY_MS = 4133404800000  # what Binance puts in deliveryDate for a perpetual


def fixture(name: str) -> Any:
    """A stored real Binance response (``tests/fixtures/binance/<name>``), a fresh copy each call."""
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return document["response"]


def _dec(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def fixed(value: Number, decimals: int) -> str:
    """``value`` with exactly ``decimals`` places, as Binance prints amounts and P&L."""
    return f"{_dec(value).quantize(Decimal(1).scaleb(-decimals)):f}"


def trimmed(value: Number) -> str:
    """``value`` without trailing zeros but with one decimal at least (``"67445.9"``, ``"0.0"``),
    as Binance prints a position's entry and break-even prices."""
    text = f"{_dec(value).normalize():f}"
    return text if "." in text else f"{text}.0"


# --- markets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contract:
    """What a market needs to format its rows: the symbol, its assets and its decimals."""

    symbol: str
    base: str
    quote: str
    margin_asset: str
    price_decimals: int = 2
    quantity_decimals: int = 3
    contract_type: str = "PERPETUAL"
    delivery_ms: int = PERPETUAL_DELIVERY_MS


def _step(decimals: int) -> str:
    return "1" if decimals == 0 else fixed(Decimal(1).scaleb(-decimals), decimals)


def futures_market(contract: Contract, *, status: str = "TRADING") -> dict[str, Any]:
    """A ``/fapi/v1/exchangeInfo`` symbol with every field Binance's documentation shows."""
    tick = _step(contract.price_decimals)
    step = _step(contract.quantity_decimals)
    pair = contract.symbol.split("_")[0]
    return {
        "symbol": contract.symbol,
        "pair": pair,
        "contractType": contract.contract_type,
        "deliveryDate": contract.delivery_ms,
        "onboardDate": 1569398400000,
        "status": status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": contract.base,
        "quoteAsset": contract.quote,
        "marginAsset": contract.margin_asset,
        "pricePrecision": contract.price_decimals,
        "quantityPrecision": contract.quantity_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4529764", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000", "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "120", "stepSize": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSet": ["GRID", "COPY"],
    }


def spot_market(base: str, quote: str = "USDT", *, status: str = "TRADING") -> dict[str, Any]:
    """An ``/api/v3/exchangeInfo`` symbol in Binance's spot shape."""
    return {
        "symbol": base + quote,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


# The markets every generated list starts with: both settle assets, a quarterly delivery contract
# and the seed bot's HIGHUSDT, so symbol tests meet each kind Binance lists.
BTCUSDT = Contract("BTCUSDT", "BTC", "USDT", "USDT", price_decimals=2, quantity_decimals=3)
ETHUSDT = Contract("ETHUSDT", "ETH", "USDT", "USDT", price_decimals=2, quantity_decimals=3)
BTCUSDC = Contract("BTCUSDC", "BTC", "USDC", "USDC", price_decimals=1, quantity_decimals=3)
ETHUSDC = Contract("ETHUSDC", "ETH", "USDC", "USDC", price_decimals=2, quantity_decimals=3)
HIGHUSDT = Contract("HIGHUSDT", "HIGH", "USDT", "USDT", price_decimals=4, quantity_decimals=1)
BTCUSDT_QUARTER = Contract(
    "BTCUSDT_261225",
    "BTC",
    "USDT",
    "USDT",
    price_decimals=1,
    quantity_decimals=3,
    contract_type="CURRENT_QUARTER",
    delivery_ms=1798185600000,  # 2026-12-25 08:00 UTC
)
STANDARD_CONTRACTS = (BTCUSDT, ETHUSDT, BTCUSDC, ETHUSDC, BTCUSDT_QUARTER, HIGHUSDT)


def _filler_bases() -> Iterator[str]:
    """``AAA``, ``AAB``...: base assets that no real listing collides with in these tests."""
    for letters in itertools.product(string.ascii_uppercase, repeat=3):
        yield "Q" + "".join(letters)


def contracts(count: int) -> list[Contract]:
    """``count`` contracts: the standard ones first, then USDT perpetuals ``QAAAUSDT``..."""
    chosen = list(STANDARD_CONTRACTS[:count])
    for base in itertools.islice(_filler_bases(), max(0, count - len(chosen))):
        chosen.append(Contract(base + "USDT", base, "USDT", "USDT", price_decimals=4, quantity_decimals=0))
    return chosen


def futures_exchange_info(markets: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The whole ``/fapi/v1/exchangeInfo`` document around ``markets``."""
    return {
        "timezone": "UTC",
        "serverTime": T0_MS,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [
            {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
            {"asset": "USDC", "marginAvailable": True, "autoAssetExchange": "-10000"},
            {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"},
        ],
        "symbols": list(markets),
    }


def spot_exchange_info(markets: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The whole ``/api/v3/exchangeInfo`` document around ``markets``."""
    return {
        "timezone": "UTC",
        "serverTime": T0_MS,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": list(markets),
    }


def leverage_brackets(symbols: Iterable[str]) -> list[dict[str, Any]]:
    """``/fapi/v1/leverageBracket`` for ``symbols`` (two brackets each, Binance's field names)."""
    return [
        {
            "symbol": symbol,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 125,
                    "notionalCap": 50000,
                    "notionalFloor": 0,
                    "maintMarginRatio": 0.004,
                    "cum": 0.0,
                },
                {
                    "bracket": 2,
                    "initialLeverage": 100,
                    "notionalCap": 600000,
                    "notionalFloor": 50000,
                    "maintMarginRatio": 0.005,
                    "cum": 50.0,
                },
            ],
        }
        for symbol in symbols
    ]


# --- positions ----------------------------------------------------------------------------------


def position_row(
    symbol: str,
    amount: Number,
    entry: Number,
    mark: Number,
    unrealised: Number | None = None,
    side: str = "BOTH",
    *,
    quantity_decimals: int = 3,
    margin_asset: str = "USDT",
    leverage: int = 20,
    liquidation: Number = 0,
    break_even: Number | None = None,
    update_time: int = T0_MS,
) -> dict[str, Any]:
    """A ``/fapi/v3/positionRisk`` row with every field Binance sends, as Binance formats them.

    ``amount`` is signed in one-way mode (``side="BOTH"``); in hedge mode the LONG leg is
    positive and the SHORT leg negative. ``amount`` 0 gives the flat row Binance returns for a
    closed leg: ``"0.000"``, ``entryPrice "0.0"``, zero margins and ``updateTime`` 0.
    """
    qty = _dec(amount)
    mark_price = _dec(mark)
    if qty == 0:
        return {
            "symbol": symbol,
            "positionSide": side,
            "positionAmt": fixed(0, quantity_decimals),
            "entryPrice": "0.0",
            "breakEvenPrice": "0.0",
            "markPrice": fixed(mark_price, 8),
            "unRealizedProfit": "0.00000000",
            "liquidationPrice": "0",
            "isolatedMargin": "0",
            "notional": "0",
            "marginAsset": margin_asset,
            "isolatedWallet": "0",
            "initialMargin": "0",
            "maintMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "adl": 0,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": 0,
        }
    entry_price = _dec(entry)
    pnl = (mark_price - entry_price) * qty if unrealised is None else _dec(unrealised)
    notional = qty * mark_price
    initial = abs(notional) / leverage
    maint = abs(notional) * Decimal("0.004")
    return {
        "symbol": symbol,
        "positionSide": side,
        "positionAmt": fixed(qty, quantity_decimals),
        "entryPrice": trimmed(entry_price),
        "breakEvenPrice": trimmed(entry_price if break_even is None else _dec(break_even)),
        "markPrice": fixed(mark_price, 8),
        "unRealizedProfit": fixed(pnl, 8),
        "liquidationPrice": fixed(liquidation, 8) if _dec(liquidation) else "0",
        "isolatedMargin": "0",
        "notional": fixed(notional, 8),
        "marginAsset": margin_asset,
        "isolatedWallet": "0",
        "initialMargin": fixed(initial, 8),
        "maintMargin": fixed(maint, 8),
        "positionInitialMargin": fixed(initial, 8),
        "openOrderInitialMargin": "0",
        "adl": 2,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": update_time,
    }


def hedge_rows(
    symbol: str, long: Number, short: Number, entry: Number, mark: Number, **kwargs: Any
) -> list[dict[str, Any]]:
    """The LONG and SHORT rows Binance returns for one symbol in hedge mode (``short`` <= 0)."""
    return [
        position_row(symbol, long, entry, mark, side="LONG", **kwargs),
        position_row(symbol, short, entry, mark, side="SHORT", **kwargs),
    ]


# --- income, balances, keys ---------------------------------------------------------------------


def income_row(
    symbol: str,
    income: Number,
    *,
    income_type: str = "REALIZED_PNL",
    asset: str = "USDT",
    time_ms: int = T0_MS,
    tran_id: int = 9689322392,
    trade_id: str = "2059192",
) -> dict[str, Any]:
    """A ``/fapi/v1/income`` row (Binance's documented fields; ``info`` repeats the type)."""
    return {
        "symbol": symbol,
        "incomeType": income_type,
        "income": fixed(income, 8),
        "asset": asset,
        "info": income_type,
        "time": time_ms,
        "tranId": tran_id,
        "tradeId": trade_id,
    }


def spot_account(balances: dict[str, tuple[Number, Number]], *, can_trade: bool = True) -> dict[str, Any]:
    """``/api/v3/account`` with ``balances`` ``{asset: (free, locked)}`` (8 decimals, as Binance)."""
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": "0.00100000",
            "taker": "0.00100000",
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": can_trade,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": T0_MS,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": fixed(free, 8), "locked": fixed(locked, 8)}
            for asset, (free, locked) in balances.items()
        ],
        "permissions": ["SPOT"],
        "uid": 365859102,
    }


def api_restrictions(
    *, spot_trading: bool = False, futures: bool = False, withdrawals: bool = False
) -> dict[str, Any]:
    """``/sapi/v1/account/apiRestrictions``: what the key may do (``enableReading`` is always on)."""
    return {
        "ipRestrict": False,
        "createTime": 1698645219000,
        "enableReading": True,
        "enableSpotAndMarginTrading": spot_trading,
        "enableFutures": futures,
        "enableWithdrawals": withdrawals,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enablePortfolioMarginTrading": False,
        "enableVanillaOptions": False,
        "permitsUniversalTransfer": False,
    }


def coin_config(coins: Iterable[str]) -> list[dict[str, Any]]:
    """``/sapi/v1/capital/config/getall`` rows (one network each), enough for ccxt's currencies."""
    return [
        {
            "coin": coin,
            "name": coin,
            "depositAllEnable": True,
            "withdrawAllEnable": True,
            "free": "0",
            "locked": "0",
            "freeze": "0",
            "withdrawing": "0",
            "ipoing": "0",
            "ipoable": "0",
            "storage": "0",
            "isLegalMoney": False,
            "trading": True,
            "networkList": [
                {
                    "network": "ETH",
                    "coin": coin,
                    "withdrawIntegerMultiple": "0.00000001",
                    "isDefault": True,
                    "depositEnable": True,
                    "withdrawEnable": True,
                    "depositDesc": "",
                    "withdrawDesc": "",
                    "specialTips": "",
                    "name": "Ethereum (ERC20)",
                    "resetAddressStatus": False,
                    "addressRegex": "^(0x)[0-9A-Fa-f]{40}$",
                    "memoRegex": "",
                    "withdrawFee": "1",
                    "withdrawMin": "10",
                    "withdrawMax": "9999999999.99999999",
                    "minConfirm": 12,
                    "unLockConfirm": 0,
                    "sameAddress": False,
                    "estimatedArrivalTime": 5,
                    "busy": False,
                    "contractAddressUrl": "https://etherscan.io/address/",
                    "contractAddress": "",
                }
            ],
        }
        for coin in coins
    ]

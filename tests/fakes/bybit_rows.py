"""Rows in Bybit v5's own shapes, for the fake Bybit server and the tests that script it.

Every number is a string, as Bybit sends it ("0.01", not 0.01), and every field a real row
carries is present, so ccxt parses these exactly as it parses Bybit: a flat position is
``size "0"`` with ``side ""`` (Bybit keeps such rows), hedge legs are ``positionIdx`` 1 and 2,
and the market list holds the spellings that trip symbol mapping (``HIGHUSDT``,
``1000PEPEUSDT``, USDC-settled ``BTCPERP``, dated futures). The field lists follow Bybit's v5
documentation and the real responses in ``tests/fixtures/bybit`` (see the README there).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

Number = str | int | float | Decimal

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bybit"


def fixture_document(name: str) -> dict[str, Any]:
    """A stored file as parsed JSON (a fresh copy each call): a Bybit body or a ccxt test entry."""
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return document


def fixture_response(name: str) -> dict[str, Any]:
    """The Bybit response body a stored file holds: ccxt's ``httpResponse`` or the docs' example."""
    document = fixture_document(name)
    body: dict[str, Any] = document.get("httpResponse", document)
    return body


def fixture_rows(name: str) -> list[dict[str, Any]]:
    """The rows (``result.list`` or ``result.rows``) of a stored response, to put into the fake's state."""
    result = fixture_response(name)["result"]
    rows: list[dict[str, Any]] = result["list"] if "list" in result else result["rows"]
    return rows


def now_ms() -> int:
    return int(time.time() * 1000)


def text(value: Number) -> str:
    """A number as Bybit writes it: plain digits, no exponent, no float noise."""
    if isinstance(value, str):
        return value
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    rendered = format(number.normalize(), "f")
    return "0" if rendered in ("-0", "") else rendered


def _seq(*parts: object) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:10], 16)


# --- positions -----------------------------------------------------------------------------------


def position_row(
    symbol: str,
    size: Number,
    side: str,
    avg: Number,
    mark: Number,
    unrealised: Number | None = None,
    position_idx: int = 0,
    *,
    cur_realised: Number = "0",
    cum_realised: Number = "0",
    leverage: Number = "10",
    updated_ms: int | None = None,
    created_ms: int | None = None,
    risk_id: int = 1,
    risk_limit_value: str = "2000000",
) -> dict[str, Any]:
    """One ``/v5/position/list`` row with every field Bybit sends, the numbers consistent.

    ``side`` is ``"Buy"`` (long), ``"Sell"`` (short) or ``""``; a ``size`` of 0 gives Bybit's flat
    row whatever ``side`` says (``side ""``, ``avgPrice "0"``, empty ``positionValue`` and
    ``unrealisedPnl``). ``unrealised`` defaults to (mark - avg) x size, signed by the side.
    ``position_idx`` 0 is one-way mode, 1 and 2 the buy and sell legs of hedge mode.
    """
    if side not in ("Buy", "Sell", ""):
        raise ValueError(f"side is 'Buy', 'Sell' or '', not {side!r}")
    quantity = Decimal(text(size))
    if quantity < 0:
        raise ValueError("Bybit's size is never negative: the side says long or short")
    updated = updated_ms if updated_ms is not None else now_ms()
    created = created_ms if created_ms is not None else updated - 86_400_000
    lever = Decimal(text(leverage))
    flat = quantity == 0
    average, mark_price = Decimal(text(avg)), Decimal(text(mark))
    value = quantity * average
    sign = Decimal(1) if side == "Buy" else Decimal(-1)
    if unrealised is None:
        upl = "" if flat else text(((mark_price - average) * quantity * sign).quantize(Decimal("0.00000001")))
    else:
        upl = text(unrealised)
    initial = (value / lever).quantize(Decimal("0.00000001")) if not flat else Decimal(0)
    maintenance = (value * Decimal("0.005")).quantize(Decimal("0.00000001")) if not flat else Decimal(0)
    liquidation = (
        "" if flat else text((average * (1 - sign / lever * Decimal("0.9"))).quantize(Decimal("0.01")))
    )
    return {
        "positionIdx": position_idx,
        "riskId": risk_id,
        "riskLimitValue": risk_limit_value,
        "symbol": symbol,
        "side": "" if flat else side,
        "size": text(quantity),
        "avgPrice": "0" if flat else text(average),
        "positionValue": "" if flat else text(value),
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 0 if flat else 2,
        "leverage": text(lever),
        "breakEvenPrice": "" if flat else text(average),
        "positionBalance": text(initial),
        "markPrice": text(mark_price),
        "liqPrice": liquidation,
        "bustPrice": "",
        "positionMM": text(maintenance),
        "positionMMByMp": text(maintenance),
        "positionIM": text(initial),
        "positionIMByMp": text(initial),
        "tpslMode": "Full",
        "takeProfit": "",
        "stopLoss": "",
        "trailingStop": "0",
        "sessionAvgPrice": "",
        "unrealisedPnl": upl,
        "curRealisedPnl": text(cur_realised),
        "cumRealisedPnl": text(cum_realised),
        "seq": _seq(symbol, position_idx, updated),
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "createdTime": str(created),
        "updatedTime": str(updated),
    }


def flat_row(symbol: str, mark: Number, position_idx: int = 0, **kwargs: Any) -> dict[str, Any]:
    """A closed position as Bybit still lists it: size "0", side ""."""
    return position_row(symbol, "0", "", "0", mark, None, position_idx, **kwargs)


# --- closed P&L ----------------------------------------------------------------------------------


def closed_pnl_row(
    symbol: str,
    side: str,
    qty: Number,
    avg_entry: Number,
    avg_exit: Number,
    closed_pnl: Number | None = None,
    *,
    leverage: Number = "10",
    updated_ms: int | None = None,
    order_id: str | None = None,
    order_type: str = "Market",
    fill_count: int = 1,
) -> dict[str, Any]:
    """A ``/v5/position/closed-pnl`` row. ``side`` is the CLOSING order's side: "Sell" closes a long.

    ``closed_pnl`` defaults to the price move on the quantity, without fees.
    """
    if side not in ("Buy", "Sell"):
        raise ValueError(f"side is 'Buy' or 'Sell', not {side!r}")
    quantity, entry, exit_ = Decimal(text(qty)), Decimal(text(avg_entry)), Decimal(text(avg_exit))
    direction = Decimal(1) if side == "Sell" else Decimal(-1)
    pnl = text(closed_pnl) if closed_pnl is not None else text((exit_ - entry) * quantity * direction)
    updated = updated_ms if updated_ms is not None else now_ms()
    oid = order_id or f"{_seq(symbol, side, updated):012x}-fake-4000-8000-closedpnl000"
    return {
        "symbol": symbol,
        "orderType": order_type,
        "leverage": text(leverage),
        "updatedTime": str(updated),
        "side": side,
        "orderId": oid,
        "closedPnl": pnl,
        "avgEntryPrice": text(entry),
        "qty": text(quantity),
        "cumEntryValue": text(entry * quantity),
        "createdTime": str(updated - 3),
        "orderPrice": text(exit_),
        "closedSize": text(quantity),
        "avgExitPrice": text(exit_),
        "execType": "Trade",
        "fillCount": str(fill_count),
        "cumExitValue": text(exit_ * quantity),
    }


# --- instruments ---------------------------------------------------------------------------------


def linear_instrument(
    symbol: str,
    base: str,
    quote: str = "USDT",
    settle: str | None = None,
    *,
    contract_type: str = "LinearPerpetual",
    status: str = "Trading",
    delivery_ms: int = 0,
    tick: str = "0.0001",
    qty_step: str = "1",
    max_leverage: str = "25.00",
) -> dict[str, Any]:
    """One ``/v5/market/instruments-info?category=linear`` entry, shaped like Bybit's own."""
    return {
        "symbol": symbol,
        "contractType": contract_type,
        "status": status,
        "baseCoin": base,
        "quoteCoin": quote,
        "launchTime": "1672531200000",
        "deliveryTime": str(delivery_ms),
        "deliveryFeeRate": "" if contract_type == "LinearPerpetual" else "0.0005",
        "priceScale": str(max(len(tick.split(".")[1]) if "." in tick else 0, 0)),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": max_leverage, "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": "1999999.80", "tickSize": tick},
        "lotSizeFilter": {
            "maxOrderQty": "1000000",
            "minOrderQty": qty_step,
            "qtyStep": qty_step,
            "postOnlyMaxOrderQty": "1000000",
            "maxMktOrderQty": "200000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480 if contract_type == "LinearPerpetual" else 0,
        "settleCoin": settle or quote,
        "copyTrading": "both",
        "upperFundingRate": "0.02",
        "lowerFundingRate": "-0.02",
        "isPreListing": status == "PreLaunch",
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
        "symbolType": "",
    }


# 2026-03-27 08:00 UTC, a Friday delivery as Bybit schedules them.
DELIVERY_MS = 1774598400000

# The entries a symbol mapper must get right: native ids that are not "BASE+QUOTE" guesses.
SPECIAL_LINEAR: tuple[dict[str, Any], ...] = (
    linear_instrument("BTCUSDT", "BTC", tick="0.10", qty_step="0.001", max_leverage="100.00"),
    linear_instrument("ETHUSDT", "ETH", tick="0.01", qty_step="0.01", max_leverage="100.00"),
    linear_instrument("HIGHUSDT", "HIGH", tick="0.0001", qty_step="0.1"),
    linear_instrument("1000PEPEUSDT", "1000PEPE", tick="0.0000001", qty_step="100"),
    linear_instrument("BTCPERP", "BTC", "USDC", tick="0.5", qty_step="0.001", max_leverage="100.00"),
    linear_instrument("ETHPERP", "ETH", "USDC", tick="0.05", qty_step="0.01", max_leverage="100.00"),
    linear_instrument(
        "BTCUSDT-27MAR26",
        "BTC",
        contract_type="LinearFutures",
        delivery_ms=DELIVERY_MS,
        tick="0.5",
        qty_step="0.001",
    ),
    linear_instrument(
        "BTC-27MAR26",
        "BTC",
        "USDC",
        contract_type="LinearFutures",
        delivery_ms=DELIVERY_MS,
        tick="0.5",
        qty_step="0.001",
    ),
)


def _letters(index: int) -> str:
    word = ""
    index += 26 * 26  # three letters at least, so no generated coin is a real two-letter one
    while index:
        index, digit = divmod(index, 26)
        word = chr(ord("A") + digit) + word
    return word


def linear_instruments(count: int) -> list[dict[str, Any]]:
    """``count`` linear entries: the special ones first, then USDT perpetuals ``QBAAUSDT``, ``QBABUSDT``..."""
    rows = [dict(row) for row in SPECIAL_LINEAR[:count]]
    index = 0
    while len(rows) < count:
        base = "Q" + _letters(index)
        rows.append(linear_instrument(f"{base}USDT", base))
        index += 1
    return rows


def spot_instrument(symbol: str, base: str, quote: str, *, status: str = "Trading") -> dict[str, Any]:
    """One ``category=spot`` entry, shaped like Bybit's own."""
    return {
        "symbol": symbol,
        "baseCoin": base,
        "quoteCoin": quote,
        "innovation": "0",
        "status": status,
        "marginTrading": "utaOnly",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": "0.000001",
            "quotePrecision": "0.0000001",
            "minOrderQty": "0.000011",
            "maxOrderQty": "83",
            "minOrderAmt": "5",
            "maxOrderAmt": "8000000",
        },
        "priceFilter": {"tickSize": "0.01"},
        "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
    }


def spot_instruments() -> list[dict[str, Any]]:
    """The spot pairs a balance reader meets: coins against USDT and USDC, and USDC/USDT itself."""
    pairs = [("BTC", "USDT"), ("ETH", "USDT"), ("HIGH", "USDT"), ("PEPE", "USDT"), ("XRP", "USDT")]
    pairs += [("USDC", "USDT"), ("BTC", "USDC"), ("ETH", "USDC")]
    return [spot_instrument(f"{base}{quote}", base, quote) for base, quote in pairs]


# --- account -------------------------------------------------------------------------------------


def wallet_coin(
    coin: str,
    wallet_balance: Number,
    usd_value: Number,
    *,
    locked: Number = "0",
    unrealised: Number = "0",
    cum_realised: Number = "0",
) -> dict[str, Any]:
    """One coin of a UNIFIED ``/v5/account/wallet-balance`` answer."""
    balance = Decimal(text(wallet_balance)) + Decimal(text(unrealised))
    return {
        "availableToBorrow": "",
        "bonus": "0",
        "accruedInterest": "0",
        "availableToWithdraw": "",
        "totalOrderIM": "0",
        "equity": text(balance),
        "totalPositionMM": "0",
        "usdValue": text(usd_value),
        "spotHedgingQty": "0",
        "unrealisedPnl": text(unrealised),
        "collateralSwitch": True,
        "borrowAmount": "0.000000000000000000",
        "totalPositionIM": "0",
        "walletBalance": text(wallet_balance),
        "cumRealisedPnl": text(cum_realised),
        "locked": text(locked),
        "marginCollateral": True,
        "coin": coin,
        "spotBorrow": "0",
    }


def wallet_account(coins: Iterable[Mapping[str, Any]], account_type: str = "UNIFIED") -> dict[str, Any]:
    """One entry of ``result.list`` of the wallet balance, totals summed from the coins."""
    rows = [dict(c) for c in coins]
    total = sum((Decimal(c["usdValue"]) for c in rows), Decimal(0))
    upl = sum((Decimal(c["unrealisedPnl"]) for c in rows), Decimal(0))
    return {
        "totalEquity": text(total),
        "accountIMRate": "0",
        "accountIMRateByMp": "0",
        "totalMarginBalance": text(total),
        "totalInitialMargin": "0",
        "totalInitialMarginByMp": "0",
        "accountType": account_type,
        "totalAvailableBalance": text(total),
        "accountMMRate": "0",
        "accountMMRateByMp": "0",
        "totalPerpUPL": text(upl),
        "totalWalletBalance": text(total - upl),
        "accountLTV": "0",
        "totalMaintenanceMargin": "0",
        "totalMaintenanceMarginByMp": "0",
        "coin": rows,
    }


TRADING_PERMISSIONS: dict[str, list[str]] = {
    "ContractTrade": ["Order", "Position"],
    "Spot": ["SpotTrade"],
    "Wallet": ["AccountTransfer", "SubMemberTransfer"],
    "Options": ["OptionsTrade"],
    "Derivatives": ["DerivativesTrade"],
    "CopyTrading": [],
    "BlockTrade": [],
    "Exchange": ["ExchangeHistory"],
    "NFT": [],
    "Affiliate": [],
    "Earn": [],
}

READ_ONLY_PERMISSIONS: dict[str, list[str]] = {
    "ContractTrade": ["Order", "Position"],
    "Spot": ["SpotTrade"],
    "Wallet": [],
    "Options": ["OptionsTrade"],
    "Derivatives": ["DerivativesTrade"],
    "CopyTrading": [],
    "BlockTrade": [],
    "Exchange": [],
    "NFT": [],
    "Affiliate": [],
    "Earn": [],
}


def key_info(
    api_key: str,
    *,
    read_only: bool,
    permissions: Mapping[str, list[str]] | None = None,
    user_id: int = 24600000,
    uta: bool = True,
    ips: Iterable[str] = ("*",),
) -> dict[str, Any]:
    """The ``result`` of ``/v5/user/query-api``: ``readOnly`` 1 is what a reader should be given.

    Bybit lists the same scopes for a read-only key as for a trading one (the scopes say what
    may be read); ``readOnly`` alone says whether it can trade.
    """
    chosen = (
        permissions
        if permissions is not None
        else (READ_ONLY_PERMISSIONS if read_only else TRADING_PERMISSIONS)
    )
    return {
        "id": str(_seq(api_key) % 10_000_000),
        "note": "position-sync",
        "apiKey": api_key,
        "readOnly": 1 if read_only else 0,
        "secret": "",
        "permissions": {scope: list(values) for scope, values in chosen.items()},
        "ips": list(ips),
        "type": 1,
        "deadlineDay": 83,
        "expiredAt": "2027-05-15T03:21:05Z",
        "createdAt": "2026-02-20T02:24:40Z",
        "unified": 0,
        "uta": 1 if uta else 0,
        "userID": user_id,
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": "",
        "isMaster": True,
        "parentUid": "0",
        "kycLevel": "LEVEL_1",
        "kycRegion": "",
        "userIDInt64": str(user_id),
        "inviterIDInt64": "0",
        "affiliateIDInt64": "0",
    }


def account_info(unified_margin_status: int = 6, margin_mode: str = "REGULAR_MARGIN") -> dict[str, Any]:
    """The ``result`` of ``/v5/account/info``; status 5 and 6 are UTA 2.0 (ccxt's default is 6)."""
    return {
        "marginMode": margin_mode,
        "updatedTime": "1697078946000",
        "unifiedMarginStatus": unified_margin_status,
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
    }

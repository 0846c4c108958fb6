"""Hyperliquid perpetuals by wallet address, through ccxt's ``hyperliquid`` client.

Positions come from ``POST /info`` with ``{"type": "clearinghouseState", "user": WALLET}`` read
raw: ``szi`` is the signed size, as a decimal string. Hyperliquid omits a closed position instead
of sending it at zero, so a close is a position gone from the list; the core's rules for that
(closed when it was held at the last good read, confirmation, the mass-change hold) decide what
it means, and the close's realised P&L is the core's estimate.

ccxt's unified ``fetch_positions`` returns an empty list for an answer of ``null``, ``{}`` or a
200 that is not JSON, so the answer is checked here: only an object with an ``assetPositions``
list and a ``marginSummary`` is an account's state; anything else is a failed read.

The market list is the main dex's perpetuals only, in one ``metaAndAssetCtxs`` request (weight
20): no currencies, no spot, no builder-deployed (HIP-3) dexes. Weights: 1200 a minute per IP;
``clearinghouseState`` weighs 2 and is the one request a read makes, so even resync pressed
as fast as the one-read-a-second floor allows spends 120 a minute; ccxt's throttle is set to half
the limit on a rolling minute, and a 429 holds every request back for a minute.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from position_sync.app.broker import AdapterContext, BrokerSpec
from position_sync.app.config import AccountConfig
from position_sync.app.domain import ZERO, Position, normal
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.brokers.answer_memo import AnswerMemo
from position_sync.brokers.ccxt_adapter import CcxtAdapter, root_option
from position_sync.brokers.ccxt_markets import MarketList
from position_sync.brokers.ccxt_session import Session
from position_sync.brokers.ccxt_wallet import WalletVenue, checked_wallet, refused_secrets, wallet_option
from position_sync.brokers.raw_fields import RawRow, RawRows

log = logging.getLogger(__name__)

SPEC = BrokerSpec(
    name="hyperliquid",
    title="Hyperliquid",
    options=(
        wallet_option("address (0x and 40 hex digits; the main account, not an API wallet)", "0xabc..."),
        root_option("Hyperliquid"),
    ),
    defaults={"interval": 10},
    hidden_imports=("ccxt.async_support.hyperliquid",),
    refused=refused_secrets(
        "Hyperliquid",
        "it approves a builder fee and sets a referrer as soon as it loads markets",
        "api_key",
        "api_wallet_key",
    ),
)

INFO = "/info"
#: Hyperliquid's weight a minute per IP, and the share ccxt's throttle may spend of it.
WEIGHT_LIMIT = 1200
SPEND_SHARE = 0.5
WINDOW_SECONDS = 60.0

_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")


def create(account: AccountConfig, context: AdapterContext) -> CcxtAdapter:
    wallet = checked_wallet(account, _ADDRESS, "must be a Hyperliquid address: 0x and 40 hex digits")
    return CcxtAdapter(account, context, HyperliquidVenue(wallet))


def hyperliquid_pacer(status: int | None, headers: Mapping[str, str], now: float) -> float:
    """A 429 holds back for the rest of Hyperliquid's minute (it sends no counters to read)."""
    del now
    if status == 429:
        return float(headers.get("retry-after") or WINDOW_SECONDS)
    return 0.0


def clearinghouse_rows(answer: Any, what: str) -> list[RawRow]:
    """The open positions of a ``clearinghouseState`` answer; anything not shaped like one fails."""
    return RawRows(clearinghouse_state(answer, what), what, key="assetPositions").each()


def clearinghouse_state(answer: Any, what: str) -> Mapping[str, Any]:
    """A ``clearinghouseState`` answer checked to be one; its rows are checked as they are read."""
    if not isinstance(answer, Mapping):
        shown = json_kind(answer)
        raise ReadError(ReadErrorKind.MALFORMED, f"{what}: expected the account's state, got {shown}")
    if not isinstance(answer.get("marginSummary"), Mapping) or "assetPositions" not in answer:
        raise ReadError(
            ReadErrorKind.MALFORMED,
            f"{what}: the answer has no 'assetPositions' and 'marginSummary'; it is not an account's state",
        )
    return answer


def json_kind(value: Any) -> str:
    """How a sentence names an answer that is no object (ccxt hands back a body it could not
    parse, or a bare ``null``, as text)."""
    if value is None or (isinstance(value, str) and value.strip() == "null"):
        return "null"
    return "a page that is not JSON" if isinstance(value, str) else type(value).__name__


class HyperliquidVenue(WalletVenue):
    title = "Hyperliquid"
    exchange_id = "hyperliquid"
    kind = "swap"

    def __init__(self, wallet: str) -> None:
        self.wallet = wallet
        self._coins: tuple[MarketList, dict[str, str]] | None = None
        self._memo: AnswerMemo[tuple[Position, ...]] = AnswerMemo()

    def client_config(self) -> dict[str, Any]:
        return {
            "rateLimiterAlgorithm": "rollingWindow",
            "rollingWindowSize": WINDOW_SECONDS * 1000,
            "rateLimit": WINDOW_SECONDS * 1000 / (WEIGHT_LIMIT * SPEND_SHARE),
            "has": {"fetchCurrencies": False},
            "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"},
        }

    def allowed(self, method: str, path: str) -> bool:
        return method == "POST" and path == INFO

    def pacer(self, status: int | None, headers: Mapping[str, str], now: float) -> float:
        return hyperliquid_pacer(status, headers, now)

    async def read(self, session: Session) -> tuple[Position, ...]:
        what = "Hyperliquid positions (clearinghouseState)"
        answer = await session.call(
            "publicPostInfo", {"type": "clearinghouseState", "user": self.wallet}, "positions"
        )
        state = clearinghouse_state(answer, what)
        # Keyed on the positions alone: the state's ``time`` and margin move on every answer.
        # The coins' symbols come from the market list, so it is part of the key.
        key = (state["assetPositions"], await session.markets())
        built = self._memo.recall(key)
        if built is None:
            built = tuple(await self._positions(session, clearinghouse_rows(state, what), what))
            self._memo.remember((key[0], await session.markets()), built)
        return built

    async def _positions(self, session: Session, rows: list[RawRow], what: str) -> list[Position]:
        coins = await self._coin_symbols(session)
        positions: list[Position] = []
        seen: set[str] = set()
        for entry in rows:
            row = RawRow(_position_of(entry, what), entry.owner, entry.position)
            coin = row.text("coin")
            if coin in seen:
                raise row.owner.malformed(f"{coin} is listed twice")
            seen.add(coin)
            size = row.number("szi")
            if size == ZERO:
                continue  # rule 2; Hyperliquid omits closed positions anyway
            symbol = coins.get(coin)
            if symbol is None and await session.refresh_markets():
                coins = await self._coin_symbols(session)
                symbol = coins.get(coin)
            if symbol is None:
                raise row.owner.malformed(f"{coin} is not among Hyperliquid's perpetuals")
            entry_price = row.optional_number("entryPx")
            value = row.optional_number("positionValue")
            markets = await session.markets()
            positions.append(
                Position(
                    instrument=symbol,
                    quantity=size,
                    average_price=entry_price if entry_price else None,
                    last_price=normal(abs(value / size)) if value is not None else None,
                    unrealised_pnl=row.optional_number("unrealizedPnl"),
                    label=_label(row),
                    symbol=coin,
                    currency=markets.settle_of(symbol) or "USDC",
                )
            )
        return positions

    async def _coin_symbols(self, session: Session) -> dict[str, str]:
        """Coin names (``2Z``) to unified symbols: ccxt's ids are asset indexes, the coin is
        the market's ``baseName``."""
        markets = await session.markets()
        if self._coins is None or self._coins[0] is not markets:
            coins: dict[str, str] = {}
            for symbol, market in markets.markets.items():
                if isinstance(market, Mapping) and market.get("swap"):
                    name = market.get("baseName") or (market.get("info") or {}).get("name")
                    if isinstance(name, str) and name:
                        coins[name] = symbol
            self._coins = (markets, coins)
        return self._coins[1]


def _position_of(entry: RawRow, what: str) -> Mapping[str, Any]:
    position = entry.get("position")
    if not isinstance(position, Mapping):
        raise ReadError(ReadErrorKind.MALFORMED, f"{what}: entry {entry.position} has no 'position' object")
    return position


def _label(row: RawRow) -> str | None:
    funding = row.get("cumFunding")
    since_open = (
        RawRow(funding, row.owner, row.position).optional_number("sinceOpen")
        if isinstance(funding, Mapping)
        else None
    )
    liquidation = row.optional_number("liquidationPx")
    leverage = row.get("leverage")
    mode = leverage.get("type") if isinstance(leverage, Mapping) else None
    parts = [
        f"funding {since_open}" if since_open is not None else "",
        f"liquidation {liquidation}" if liquidation is not None else "",
        "isolated" if mode == "isolated" else "",
    ]
    return " · ".join(p for p in parts if p) or None

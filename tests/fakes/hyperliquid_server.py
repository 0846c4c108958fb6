"""Hyperliquid's ``POST /info`` on 127.0.0.1, so the real ccxt ``hyperliquid`` client can be tested.

What it reproduces, from Hyperliquid's API documentation and ccxt's recorded responses:

- one endpoint, ``POST /info`` with a JSON body whose ``type`` picks the answer: ``meta``,
  ``metaAndAssetCtxs`` (optionally ``dex`` for a HIP-3 builder dex), ``spotMeta``,
  ``spotMetaAndAssetCtxs``, ``allMids``, ``perpDexs`` and ``clearinghouseState`` (``user``);
  bare JSON answers, no envelope; a body it cannot read is a 422 ``text/plain`` "Failed to
  deserialize the JSON body into the target type";
- ``clearinghouseState`` lists open positions only: a closed position is omitted, never sent at
  zero; ``szi`` is the signed size, every number a decimal string;
- weights: 1200 a minute per IP; ``l2Book``, ``allMids``, ``clearinghouseState``,
  ``orderStatus``, ``spotClearinghouseState``, ``exchangeStatus`` weigh 2, ``userRole`` 60, every
  other info type 20; an ``/exchange`` action 1 + one per 40 batched items; past the limit 429.

``POST /exchange`` (the signed endpoint: orders, builder-fee approval, referrer) is recorded and
refused with Hyperliquid's ``{"status": "err", "response": ...}`` so a test can assert none came.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.dex_rows import DEX_BASES, bases, decimal_text, price_for
from tests.fakes.http_fake import (
    FakeHttpServer,
    RecordedRequest,
    Reply,
    json_reply,
    max_in_window,
    text_reply,
)

INFO = "/info"
EXCHANGE = "/exchange"

WEIGHT_PER_MINUTE = 1200.0
WINDOW_SECONDS = 60.0
_LIGHT_TYPES = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
_ADDRESS = re.compile(r"^0[xX][0-9a-fA-F]{40}$")
_DESERIALIZE = "Failed to deserialize the JSON body into the target type"

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hyperliquid"


def info_weight(info_type: str | None) -> float:
    if info_type in _LIGHT_TYPES:
        return 2.0
    if info_type == "userRole":
        return 60.0
    return 20.0


def exchange_weight(body: Any) -> float:
    action = body.get("action") if isinstance(body, dict) else None
    batch = 0
    if isinstance(action, dict):
        for key in ("orders", "cancels", "modifies"):
            items = action.get(key)
            if isinstance(items, list):
                batch = len(items)
    return 1.0 + batch // 40


# --- answers and errors --------------------------------------------------------------------------


def unreadable() -> Reply:
    """Hyperliquid's answer to a body it cannot read (unknown type, missing or bad user)."""
    return text_reply(_DESERIALIZE, 422)


def server_error(status: int = 500) -> Reply:
    return text_reply("Internal Server Error" if status == 500 else f"upstream error {status}", status)


def rate_limited() -> Reply:
    """A 429; Hyperliquid documents the status, not a body, so the body is empty."""
    return Reply(429, body=b"", content_type="text/plain")


def action_refused(message: str = "this fake Hyperliquid refuses every signed action") -> Reply:
    return json_reply({"status": "err", "response": message})


# --- real payloads -------------------------------------------------------------------------------


def fixture_document(name: str) -> Any:
    """A stored response (see the folder's README for its source), parsed, a fresh copy."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_reply(name: str) -> Reply:
    """A stored response served byte for byte."""
    return Reply(200, body=(FIXTURES / name).read_bytes())


# --- realistic rows ------------------------------------------------------------------------------


def universe_entry(name: str, *, sz_decimals: int | None = None, max_leverage: int = 20) -> dict[str, Any]:
    """A ``meta`` universe entry (a perpetual; ``name`` is the bare coin)."""
    price = price_for(name)
    decimals = sz_decimals if sz_decimals is not None else (5 if price >= 10000 else 2 if price >= 10 else 0)
    return {"szDecimals": decimals, "name": name, "maxLeverage": max_leverage, "marginTableId": max_leverage}


def asset_ctx(name: str, mark: float | None = None) -> dict[str, Any]:
    """The ``metaAndAssetCtxs`` context matching ``universe_entry(name)``."""
    value = price_for(name) if mark is None else mark
    return {
        "funding": "0.0000125",
        "openInterest": "10764.48",
        "prevDayPx": decimal_text(value),
        "dayNtlVlm": "9450588.2273",
        "premium": "0.00031774",
        "oraclePx": decimal_text(value),
        "markPx": decimal_text(value),
        "midPx": decimal_text(value),
        "impactPxs": [decimal_text(value * 0.9999), decimal_text(value * 1.0001)],
        "dayBaseVlm": "71885.1",
    }


def asset_position(
    coin: str,
    szi: float | str,
    *,
    entry_px: float | None = None,
    mark_px: float | None = None,
    leverage: int = 10,
    isolated: bool = False,
    liquidation_px: float | None = None,
    cum_funding: float = 0.0,
    max_leverage: int = 20,
) -> dict[str, Any]:
    """An ``assetPositions`` entry; ``szi`` is signed (negative is short), the rest consistent."""
    size = float(szi)
    if size == 0:
        raise ValueError("Hyperliquid omits a closed position; it never sends szi 0")
    entry = price_for(coin) if entry_px is None else entry_px
    mark = price_for(coin) if mark_px is None else mark_px
    value = abs(size) * mark
    pnl = size * (mark - entry)
    margin = value / leverage
    lev: dict[str, Any] = {"type": "isolated" if isolated else "cross", "value": leverage}
    if isolated:
        lev["rawUsd"] = decimal_text(-size * entry + margin)
    return {
        "type": "oneWay",
        "position": {
            "coin": coin,
            "szi": szi if isinstance(szi, str) else decimal_text(size),
            "leverage": lev,
            "entryPx": decimal_text(entry),
            "positionValue": decimal_text(value),
            "unrealizedPnl": decimal_text(pnl),
            "returnOnEquity": decimal_text(pnl / margin if margin else 0.0, 10),
            "liquidationPx": None if liquidation_px is None else decimal_text(liquidation_px, 8),
            "marginUsed": decimal_text(margin),
            "maxLeverage": max_leverage,
            "cumFunding": {
                "allTime": decimal_text(cum_funding),
                "sinceOpen": decimal_text(cum_funding),
                "sinceChange": decimal_text(cum_funding),
            },
        },
    }


def positions_for(coins: Sequence[str]) -> list[dict[str, Any]]:
    """One open entry per coin, alternating long and short, sizes that differ."""
    return [
        asset_position(coin, round(0.1 * (i + 1), 4) * (1 if i % 2 == 0 else -1))
        for i, coin in enumerate(coins)
    ]


def clearinghouse_state(
    rows: Iterable[dict[str, Any]], *, cash: float = 10000.0, time_ms: int | None = None
) -> dict[str, Any]:
    """The whole ``clearinghouseState`` answer around ``rows``, its summaries added up from them."""
    entries = [dict(r) for r in rows]
    positions = [e.get("position", {}) for e in entries]
    notional = sum(abs(float(p.get("positionValue") or 0)) for p in positions)
    used = sum(float(p.get("marginUsed") or 0) for p in positions)
    pnl = sum(float(p.get("unrealizedPnl") or 0) for p in positions)
    summary = {
        "accountValue": decimal_text(cash + pnl),
        "totalNtlPos": decimal_text(notional),
        "totalRawUsd": decimal_text(cash + pnl - notional),
        "totalMarginUsed": decimal_text(used),
    }
    return {
        "marginSummary": summary,
        "crossMarginSummary": dict(summary),
        "crossMaintenanceMarginUsed": decimal_text(used / 5),
        "withdrawable": decimal_text(max(0.0, cash + pnl - used)),
        "assetPositions": entries,
        "time": int(time.time() * 1000) if time_ms is None else time_ms,
    }


def spot_meta(tokens: Sequence[str] = ("USDC", "PURR", "HYPE")) -> dict[str, Any]:
    """A ``spotMeta`` answer: ``tokens`` (the first is the quote) and one pair per other token."""
    token_rows = [
        {
            "name": name,
            "szDecimals": 8 if i == 0 else 2,
            "weiDecimals": 8,
            "index": i,
            "tokenId": f"0x{i:032x}",
            "isCanonical": True,
            "evmContract": None,
            "fullName": None,
        }
        for i, name in enumerate(tokens)
    ]
    universe = [
        {
            "name": f"{name}/{tokens[0]}" if i == 1 else f"@{i - 1}",
            "tokens": [i, 0],
            "index": i - 1,
            "isCanonical": i == 1,
        }
        for i, name in enumerate(tokens)
        if i > 0
    ]
    return {"tokens": token_rows, "universe": universe}


def spot_ctxs(meta: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"dayNtlVlm": "8906.0", "markPx": "0.14", "midPx": "0.14", "prevDayPx": "0.14", "coin": pair["name"]}
        for pair in meta["universe"]
    ]


@dataclass
class PerpDex:
    """A HIP-3 builder-deployed dex: its coins are written ``name:COIN``."""

    name: str
    coins: list[str]
    collateral_token: int = 0

    def listing(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fullName": self.name.upper(),
            "deployer": "0x88806a71d74ad0a510b350545c9ae490912f0888",
            "oracleUpdater": None,
            "feeRecipient": None,
            "assetToStreamingOiCap": [],
        }


# --- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spend:
    at: float
    weight: float
    path: str
    info_type: str | None


@dataclass
class _State:
    coins: list[str]
    marks: dict[str, float] = field(default_factory=dict)
    spot: dict[str, Any] = field(default_factory=spot_meta)
    dexes: list[PerpDex] = field(default_factory=list)
    positions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    spends: list[Spend] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeHyperliquidServer(FakeHttpServer):
    """``with FakeHyperliquidServer() as hl:``; ``hl.url`` is the API root for ccxt."""

    def __init__(
        self,
        *,
        coins: Iterable[str] | None = None,
        weight_limit: float = WEIGHT_PER_MINUTE,
        enforce_limit: bool = True,
    ) -> None:
        super().__init__("fake-hyperliquid", self._respond)
        self._state = _State(coins=list(coins) if coins is not None else list(DEX_BASES))
        self.weight_limit = weight_limit
        self.enforce_limit = enforce_limit

    def __enter__(self) -> FakeHyperliquidServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # state

    def set_coins(self, coins: Iterable[str]) -> None:
        """The main dex's perpetuals (``meta``'s universe), in asset-index order."""
        with self._state.lock:
            self._state.coins = list(coins)

    def set_mark(self, coin: str, mark: float) -> None:
        with self._state.lock:
            self._state.marks[coin] = mark

    def set_spot_meta(self, meta: dict[str, Any]) -> None:
        with self._state.lock:
            self._state.spot = meta

    def add_perp_dex(self, dex: PerpDex) -> None:
        with self._state.lock:
            self._state.dexes.append(dex)

    def set_positions(self, user: str, rows: Iterable[dict[str, Any]]) -> None:
        """The user's open ``assetPositions`` entries, served unchanged (closed ones: leave out)."""
        with self._state.lock:
            self._state.positions[user.lower()] = [dict(r) for r in rows]

    def open_positions(self, user: str, count: int) -> list[dict[str, Any]]:
        """``count`` open entries on the first ``count`` bases, the coins listed in ``meta``."""
        coins = bases(count)
        with self._state.lock:
            self._state.coins += [c for c in coins if c not in self._state.coins]
        rows = positions_for(coins)
        self.set_positions(user, rows)
        return rows

    def change_position(self, user: str, coin: str, szi: float, **fields: Any) -> dict[str, Any]:
        """Replace one open entry by a new one for ``coin`` (a new size, a flipped side)."""
        rows = self.positions(user)
        for i, row in enumerate(rows):
            if row["position"]["coin"] == coin:
                rows[i] = asset_position(coin, szi, **fields)
                self.set_positions(user, rows)
                return rows[i]
        raise KeyError(f"{user} holds no {coin}")

    def close_position(self, user: str, coin: str) -> None:
        """The entry disappears, as Hyperliquid sends a closed position."""
        rows = self.positions(user)
        remaining = [r for r in rows if r["position"]["coin"] != coin]
        if len(remaining) == len(rows):
            raise KeyError(f"{user} holds no {coin}")
        self.set_positions(user, remaining)

    def positions(self, user: str) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(r) for r in self._state.positions.get(user.lower(), [])]

    # scripting

    def script(self, info_type: str, *replies: Reply) -> None:
        """Answers for one info ``type`` (or ``EXCHANGE``) in order, the last repeating."""
        self.scripts.set(info_type, replies)

    def state_reply(self, user: str) -> Reply:
        """The user's ``clearinghouseState`` as it stands now, frozen into a reply for a script."""
        return json_reply(clearinghouse_state(self.positions(user)))

    @staticmethod
    def empty_state() -> Reply:
        """A well-formed ``clearinghouseState`` with no positions (all closed, or an empty read)."""
        return json_reply(clearinghouse_state([]))

    # what was asked and spent

    @property
    def exchange_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == EXCHANGE]

    def info_types(self) -> list[str | None]:
        """The ``type`` of every ``/info`` request so far, in order."""
        out: list[str | None] = []
        for r in self.requests:
            if r.path == INFO:
                body = r.json()
                out.append(body.get("type") if isinstance(body, dict) else None)
        return out

    @property
    def spends(self) -> list[Spend]:
        with self._state.lock:
            return list(self._state.spends)

    def weight_used(self) -> float:
        return sum(s.weight for s in self.spends)

    def max_weight_per_window(self, window: float = WINDOW_SECONDS) -> float:
        """The most weight spent within any ``window`` seconds: what the limit is checked on."""
        return max_in_window([(s.at, s.weight) for s in self.spends], window)

    # the rules

    def _respond(self, request: RecordedRequest) -> Reply:
        body = request.json()
        info_type = body.get("type") if isinstance(body, dict) else None
        if request.path == EXCHANGE:
            weight = exchange_weight(body)
        else:
            weight = info_weight(info_type if isinstance(info_type, str) else None)
        with self._state.lock:
            spent = sum(s.weight for s in self._state.spends if request.at - s.at < WINDOW_SECONDS)
            if self.enforce_limit and spent + weight > self.weight_limit:
                return rate_limited()
            self._state.spends.append(Spend(request.at, weight, request.path, info_type))
        if request.path == EXCHANGE:
            return self.scripts.next(EXCHANGE) or action_refused()
        if request.path != INFO:
            return text_reply("Not Found", 404)
        if request.method != "POST" or not isinstance(info_type, str):
            return unreadable()
        return self.scripts.next(info_type) or self._answer(info_type, body)

    def _answer(self, info_type: str, body: dict[str, Any]) -> Reply:
        with self._state.lock:
            coins = list(self._state.coins)
            marks = dict(self._state.marks)
            spot = json.loads(json.dumps(self._state.spot))
            dexes = list(self._state.dexes)
        dex_name = body.get("dex") or ""
        if info_type in ("meta", "metaAndAssetCtxs"):
            if dex_name:
                dex = next((d for d in dexes if d.name == dex_name), None)
                if dex is None:
                    return json_reply(None)
                coins = [f"{dex.name}:{c}" for c in dex.coins]
            universe = [universe_entry(c.split(":")[-1]) | {"name": c} for c in coins]
            meta: dict[str, Any] = {"universe": universe, "marginTables": []}
            if dex_name:
                meta["collateralToken"] = next(d.collateral_token for d in dexes if d.name == dex_name)
            if info_type == "meta":
                return json_reply(meta)
            return json_reply([meta, [asset_ctx(c.split(":")[-1], marks.get(c)) for c in coins]])
        if info_type == "allMids":
            return json_reply({c: decimal_text(marks.get(c, price_for(c))) for c in coins})
        if info_type == "spotMeta":
            return json_reply(spot)
        if info_type == "spotMetaAndAssetCtxs":
            return json_reply([spot, spot_ctxs(spot)])
        if info_type == "perpDexs":
            return json_reply([None, *(d.listing() for d in dexes)])
        if info_type == "clearinghouseState":
            user = body.get("user")
            if not isinstance(user, str) or not _ADDRESS.match(user):
                return unreadable()
            rows = [r for r in self.positions(user) if _on_dex(r, dex_name)]
            return json_reply(clearinghouse_state(rows))
        return unreadable()


def _on_dex(row: dict[str, Any], dex_name: str) -> bool:
    """Main-dex coins are bare (``ZEC``); a HIP-3 dex's are ``dex:COIN``."""
    coin = str(row.get("position", {}).get("coin", ""))
    return coin.startswith(f"{dex_name}:") if dex_name else ":" not in coin

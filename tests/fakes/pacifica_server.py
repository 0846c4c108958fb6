"""Pacifica's REST API on 127.0.0.1, so the real ccxt ``pacifica`` client can be tested end to end.

What it reproduces, from Pacifica's API documentation and ccxt's recorded responses:

- the envelope ``{"success": true, "data": ..., "error": null, "code": null}``; the positions
  answer adds ``last_order_id``; errors are ``{"success": false, "data": null, "error": "...",
  "code": N}`` with the HTTP status echoed in ``code`` (422 business errors carry their own);
- ``GET /api/v1/info`` (markets), ``GET /api/v1/info/prices`` (mark prices), ``GET
  /api/v1/positions?account=...`` (rows with ``side`` ``bid``/``ask`` and an unsigned ``amount``);
- the credit limit: a 60-second rolling window, 100 credits for an unidentified IP and 300 with a
  valid ``PF-API-KEY`` header, 1 credit a request, 0.5 a cancel, 3-12 (1-3 with a key) a heavy
  GET; every answer carries ``ratelimit: "credits";r=..;t=..`` and ``ratelimit-policy:
  "credits";q=..;w=60`` (values times ten); past the quota the answer is 429;
- a GET carrying a body is refused 403 by the CDN in front of the API, before Pacifica counts it.

Every write (any POST: orders, leverage, margin, builder codes) is recorded and refused, so a test
can assert none was made. Closed positions are absent from ``data``, never sent at zero.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.fakes.dex_rows import DEX_BASES, bases, decimal_text, price_for
from tests.fakes.http_fake import (
    FakeHttpServer,
    RecordedRequest,
    Reply,
    json_reply,
    max_in_window,
)

API = "/api/v1"
INFO = f"{API}/info"
PRICES = f"{API}/info/prices"
POSITIONS = f"{API}/positions"
API_KEY_HEADER = "PF-API-KEY"

UNIDENTIFIED_QUOTA = 100.0
API_KEY_QUOTA = 300.0
WINDOW_SECONDS = 60.0

# Heavy GETs (ccxt's cost 12) and cancellations (0.5), by path under /api/v1.
_HEAVY = frozenset(
    {
        "kline",
        "kline/mark",
        "trades/history",
        "orders/history",
        "orders/twap/history",
        "account/balance/history",
    }
)
_CANCELS = frozenset({"orders/cancel", "orders/cancel_all", "orders/stop/cancel", "orders/twap/cancel"})

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pacifica"

# --- envelopes and errors ------------------------------------------------------------------------


def ok(data: Any, **extra: Any) -> Reply:
    """A successful answer; ``extra`` adds envelope keys such as ``last_order_id``."""
    return json_reply({"success": True, "data": data, "error": None, "code": None, **extra})


def failure(error: str, code: int, status: int | None = None) -> Reply:
    """``success: false``; the HTTP status defaults to the code, as Pacifica echoes it."""
    http_status = status if status is not None else (code if code >= 400 else 422)
    return json_reply({"success": False, "data": None, "error": error, "code": code}, http_status)


def missing_data() -> Reply:
    """A 200 whose envelope has no ``data`` at all."""
    return json_reply({"success": True, "error": None, "code": None})


def server_error(status: int = 500, message: str = "Internal server error") -> Reply:
    return failure(message, status, status)


def rate_limited() -> Reply:
    return failure("Rate limit exceeded", 429, 429)


def get_with_body_refused() -> Reply:
    """The CDN's answer to a GET carrying a body (it never reaches Pacifica)."""
    body = (
        b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">'
        b"<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD>"
        b"<BODY><H1>403 ERROR</H1><H2>The request could not be satisfied.</H2>"
        b'<HR noshade size="1px">Bad request.</BODY></HTML>'
    )
    return Reply(403, body=body, content_type="text/html", headers=(("X-Cache", "Error from cloudfront"),))


# --- real payloads -------------------------------------------------------------------------------


def fixture_document(name: str) -> Any:
    """A stored response (see the folder's README for its source), parsed, a fresh copy."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_reply(name: str) -> Reply:
    """A stored response served byte for byte."""
    return Reply(200, body=(FIXTURES / name).read_bytes())


# --- realistic rows ------------------------------------------------------------------------------


def market_row(symbol: str, *, max_leverage: int = 20, isolated_only: bool = False) -> dict[str, Any]:
    """A perpetual in ``/api/v1/info``'s shape."""
    price = price_for(symbol)
    tick = 1.0 if price >= 10000 else 0.01 if price >= 10 else 0.0001
    return {
        "symbol": symbol,
        "tick_size": decimal_text(tick),
        "min_tick": "0",
        "max_tick": "1000000",
        "lot_size": "0.00001" if price >= 10000 else "0.01" if price < 10 else "0.001",
        "max_leverage": max_leverage,
        "isolated_only": isolated_only,
        "min_order_size": "10",
        "max_order_size": "5000000",
        "funding_rate": "0.0000125",
        "next_funding_rate": "0.0000125",
        "created_at": 1748881333944,
        "instrument_type": "perpetual",
        "base_asset": symbol,
    }


def price_row(symbol: str, mark: float | None = None, *, timestamp: int = 1759222967974) -> dict[str, Any]:
    """A ``/api/v1/info/prices`` row; ``mark`` defaults to the base's stable price."""
    value = price_for(symbol) if mark is None else mark
    return {
        "funding": "0.0000125",
        "mark": decimal_text(value),
        "mid": decimal_text(value),
        "next_funding": "0.0000125",
        "open_interest": "3634796",
        "oracle": decimal_text(value),
        "symbol": symbol,
        "timestamp": timestamp,
        "volume_24h": "20896698.0672",
        "yesterday_price": decimal_text(value),
    }


def position_row(
    symbol: str,
    side: str = "bid",
    amount: float | str = 1.0,
    *,
    entry_price: float | None = None,
    isolated: bool = False,
    margin: float = 0.0,
    funding: float = 0.0,
    liquidation_price: float | None = None,
    created_at: int = 1754928414996,
    updated_at: int = 1759223365538,
) -> dict[str, Any]:
    """A ``/api/v1/positions`` row: ``side`` ``bid`` (long) or ``ask`` (short), ``amount`` unsigned."""
    if side not in ("bid", "ask"):
        raise ValueError(f"side is 'bid' or 'ask', not {side!r}")
    size = amount if isinstance(amount, str) else decimal_text(abs(amount))
    entry = price_for(symbol) if entry_price is None else entry_price
    return {
        "symbol": symbol,
        "side": side,
        "amount": size,
        "entry_price": decimal_text(entry),
        "margin": decimal_text(margin),
        "funding": decimal_text(funding),
        "isolated": isolated,
        "liquidation_price": None if liquidation_price is None else decimal_text(liquidation_price),
        "created_at": created_at,
        "updated_at": updated_at,
    }


def positions_for(symbols: Sequence[str]) -> list[dict[str, Any]]:
    """One open row per symbol, alternating long and short, sizes that differ."""
    return [
        position_row(symbol, "bid" if i % 2 == 0 else "ask", round(0.1 * (i + 1), 4))
        for i, symbol in enumerate(symbols)
    ]


def markets_for(symbols: Iterable[str]) -> list[dict[str, Any]]:
    return [market_row(symbol) for symbol in symbols]


def prices_for(symbols: Iterable[str]) -> list[dict[str, Any]]:
    return [price_row(symbol) for symbol in symbols]


# --- credits -------------------------------------------------------------------------------------


def credit_cost(method: str, path: str, keyed: bool) -> float:
    """What Pacifica charges for one request (documented costs; heavy GETs at their top)."""
    name = path[len(API) + 1 :] if path.startswith(API + "/") else path
    if name in _CANCELS:
        return 0.5
    if method == "GET" and name in _HEAVY:
        return 3.0 if keyed else 12.0
    return 1.0


@dataclass(frozen=True)
class Charge:
    at: float
    cost: float
    keyed: bool


# --- the server ----------------------------------------------------------------------------------


@dataclass
class _State:
    markets: list[dict[str, Any]]
    prices: list[dict[str, Any]]
    positions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    last_order_id: dict[str, int] = field(default_factory=dict)
    charges: list[Charge] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakePacificaServer(FakeHttpServer):
    """``with FakePacificaServer() as pacifica:``; ``pacifica.url`` is the API root for ccxt."""

    def __init__(
        self,
        *,
        markets: Iterable[dict[str, Any]] | None = None,
        prices: Iterable[dict[str, Any]] | None = None,
        api_keys: Iterable[str] = (),
        quota: float = UNIDENTIFIED_QUOTA,
        key_quota: float = API_KEY_QUOTA,
        enforce_limit: bool = True,
        first_order_id: int = 1557431179,
    ) -> None:
        super().__init__("fake-pacifica", self._respond)
        self._state = _State(
            markets=list(markets) if markets is not None else markets_for(DEX_BASES),
            prices=list(prices) if prices is not None else prices_for(DEX_BASES),
        )
        self.api_keys = frozenset(api_keys)
        self.quota = quota
        self.key_quota = key_quota
        self.enforce_limit = enforce_limit
        self._first_order_id = first_order_id

    def __enter__(self) -> FakePacificaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # state

    def set_markets(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._state.lock:
            self._state.markets = list(rows)

    def set_prices(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._state.lock:
            self._state.prices = list(rows)

    def set_mark(self, symbol: str, mark: float) -> None:
        with self._state.lock:
            rows = [r for r in self._state.prices if r.get("symbol") != symbol]
            self._state.prices = [*rows, price_row(symbol, mark)]

    def set_positions(
        self, account: str, rows: Iterable[dict[str, Any]], *, last_order_id: int | None = None
    ) -> int:
        """The account's open rows (served unchanged); returns the ``last_order_id`` now sent.

        Without ``last_order_id`` the id moves one past the account's last, as an order would.
        """
        with self._state.lock:
            self._state.positions[account] = [dict(r) for r in rows]
            previous = self._state.last_order_id.get(account, self._first_order_id)
            new_id = last_order_id if last_order_id is not None else previous + 1
            self._state.last_order_id[account] = new_id
            return new_id

    def open_positions(self, account: str, count: int) -> list[dict[str, Any]]:
        """``count`` open rows on the first ``count`` bases, with their markets and prices listed."""
        symbols = bases(count)
        self._ensure_listed(symbols)
        rows = positions_for(symbols)
        self.set_positions(account, rows)
        return rows

    def change_position(self, account: str, symbol: str, **fields: Any) -> dict[str, Any]:
        """Replace fields of one open row (``amount``, ``side``...); the order id moves on."""
        rows = self.positions(account)
        for i, row in enumerate(rows):
            if row["symbol"] == symbol:
                rows[i] = {**row, **fields}
                self.set_positions(account, rows)
                return rows[i]
        raise KeyError(f"{account} holds no {symbol}")

    def close_position(self, account: str, symbol: str) -> None:
        """The row disappears from ``data``, as Pacifica sends a closed position."""
        rows = self.positions(account)
        remaining = [r for r in rows if r["symbol"] != symbol]
        if len(remaining) == len(rows):
            raise KeyError(f"{account} holds no {symbol}")
        self.set_positions(account, remaining)

    def positions(self, account: str) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(r) for r in self._state.positions.get(account, [])]

    def last_order_id(self, account: str) -> int:
        with self._state.lock:
            return self._state.last_order_id.get(account, self._first_order_id)

    def _ensure_listed(self, symbols: Iterable[str]) -> None:
        with self._state.lock:
            listed = {m.get("symbol") for m in self._state.markets}
            priced = {p.get("symbol") for p in self._state.prices}
            for symbol in symbols:
                if symbol not in listed:
                    self._state.markets.append(market_row(symbol))
                if symbol not in priced:
                    self._state.prices.append(price_row(symbol))

    # scripting

    def script(self, path: str, *replies: Reply) -> None:
        """Answers for ``path`` (e.g. ``POSITIONS``) in order, the last repeating; wins over state."""
        self.scripts.set(path, replies)

    def script_positions(self, *replies: Reply) -> None:
        self.script(POSITIONS, *replies)

    def empty_positions(self, account: str) -> Reply:
        """``success: true, data: []`` with the account's current ``last_order_id``."""
        return ok([], last_order_id=self.last_order_id(account))

    def positions_reply(self, account: str, *, last_order_id: int | None = None) -> Reply:
        """The account's rows as they stand now, frozen into a reply for a script."""
        order_id = self.last_order_id(account) if last_order_id is None else last_order_id
        return ok(self.positions(account), last_order_id=order_id)

    # what was asked and spent

    @property
    def write_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method != "GET"]

    @property
    def charges(self) -> list[Charge]:
        with self._state.lock:
            return list(self._state.charges)

    def credits_used(self) -> float:
        return sum(c.cost for c in self.charges)

    def max_credits_per_window(self, window: float = WINDOW_SECONDS, *, keyed: bool | None = None) -> float:
        """The most credits spent within any ``window`` seconds: what the limit is checked on."""
        events = [(c.at, c.cost) for c in self.charges if keyed is None or c.keyed == keyed]
        return max_in_window(events, window)

    # the rules

    def _respond(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and (request.body or request.header("Transfer-Encoding")):
            return get_with_body_refused()
        keyed = request.header(API_KEY_HEADER) in self.api_keys
        quota = self.key_quota if keyed else self.quota
        cost = credit_cost(request.method, request.path, keyed)
        with self._state.lock:
            spent = self._spent(request.at, keyed)
            over = self.enforce_limit and spent + cost > quota
            if not over:
                self._state.charges.append(Charge(request.at, cost, keyed))
                spent += cost
            reset = self._seconds_to_refresh(request.at, keyed)
        reply = rate_limited() if over else self._answer(request)
        limit_headers = (
            ("ratelimit", f'"credits";r={max(0, round((quota - spent) * 10))};t={reset}'),
            ("ratelimit-policy", f'"credits";q={round(quota * 10)};w={round(WINDOW_SECONDS)}'),
        )
        return replace(reply, headers=reply.headers + limit_headers)

    def _spent(self, now: float, keyed: bool) -> float:
        return sum(c.cost for c in self._state.charges if c.keyed == keyed and now - c.at < WINDOW_SECONDS)

    def _seconds_to_refresh(self, now: float, keyed: bool) -> int:
        live = [c.at for c in self._state.charges if c.keyed == keyed and now - c.at < WINDOW_SECONDS]
        return math.ceil(WINDOW_SECONDS - (now - min(live))) if live else 0

    def _answer(self, request: RecordedRequest) -> Reply:
        if request.method != "GET":
            return failure("Verification failed: this fake Pacifica accepts no signed actions", 400)
        scripted = self.scripts.next(request.path)
        if scripted is not None:
            return scripted
        if request.path == INFO:
            with self._state.lock:
                return ok([dict(m) for m in self._state.markets])
        if request.path == PRICES:
            with self._state.lock:
                return ok([dict(p) for p in self._state.prices])
        if request.path == POSITIONS:
            account = (request.query.get("account") or [""])[0]
            if not account:
                return failure("Missing required parameter: account", 400)
            return self.positions_reply(account)
        return failure(f"Not Found: this fake Pacifica does not serve {request.path}", 404)

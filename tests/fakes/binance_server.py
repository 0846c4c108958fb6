"""A Binance HTTP API on 127.0.0.1 (USD-M futures, spot and the wallet's sapi), for the real ccxt.

It serves what ccxt's ``binanceusdm`` and ``binance`` really request (found by running them
against it; the list is in ``tests/test_binance_server.py``): ``/fapi/v1/exchangeInfo``,
``/fapi/v1/leverageBracket``, ``/fapi/v3/positionRisk`` (and v2), ``/fapi/v3/account``,
``/fapi/v1/income``, ``/sapi/v1/capital/config/getall``, ``/sapi/v1/margin/allPairs``,
``/sapi/v1/account/apiRestrictions``, spot ``/api/v3/exchangeInfo`` and ``/api/v3/account``, and
the ``time``/``ping`` paths. It checks requests as Binance does: ``X-MBX-APIKEY`` (-2014 missing,
-2015 unknown, HTTP 401), a ``timestamp`` inside ``recvWindow`` of the server's clock (-1021) and
``signature`` = hex HMAC-SHA256 of the query without the signature (-1022, HTTP 400).

Every answer carries the used weight as Binance sends it (``X-MBX-USED-WEIGHT-1M`` for fapi and
api, ``X-SAPI-USED-IP-WEIGHT-1M`` for sapi), counted in calendar minutes with each endpoint's
documented weight; past a family's limit it answers 429 -1003 with ``Retry-After``. Anything that
is not a GET (an order, a cancel, a leverage change) is recorded and refused with HTTP 400, so a
test can prove none was ever sent. Answers can also be scripted per path (a queue whose last entry
repeats) with Binance's error replies, HTML proxy pages, delays and dropped sockets.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import binance_rows as rows
from tests.fakes.binance_replies import (
    Reply,
    bad_signature,
    binance_error,
    dropped,
    invalid_api_key,
    missing_api_key,
    ok,
    rate_limited,
    refused_write,
    timestamp_outside_window,
    unknown_path,
)
from tests.fakes.serving import LocalServer, ServerThread, TrackedHandler

FAPI_EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
LEVERAGE_BRACKET = "/fapi/v1/leverageBracket"
POSITION_RISK = "/fapi/v3/positionRisk"
POSITION_RISK_V2 = "/fapi/v2/positionRisk"
FAPI_ACCOUNT = "/fapi/v3/account"
INCOME = "/fapi/v1/income"
CAPITAL_CONFIG = "/sapi/v1/capital/config/getall"
MARGIN_ALL_PAIRS = "/sapi/v1/margin/allPairs"
ISOLATED_ALL_PAIRS = "/sapi/v1/margin/isolated/allPairs"
API_RESTRICTIONS = "/sapi/v1/account/apiRestrictions"
SPOT_EXCHANGE_INFO = "/api/v3/exchangeInfo"
SPOT_ACCOUNT = "/api/v3/account"
TICKER_PRICE = "/api/v3/ticker/price"
DAPI_EXCHANGE_INFO = "/dapi/v1/exchangeInfo"

# Binance's per-minute request-weight limits per IP for each API family (fapi: exchangeInfo's
# REQUEST_WEIGHT 2400; api: 6000; sapi: 12000 per IP-limited endpoint family).
WEIGHT_LIMITS = {"fapi": 2400, "dapi": 2400, "api": 6000, "sapi": 12000}
WEIGHT_HEADER = {
    "fapi": "X-MBX-USED-WEIGHT-1M",
    "dapi": "X-MBX-USED-WEIGHT-1M",
    "api": "X-MBX-USED-WEIGHT-1M",
    "sapi": "X-SAPI-USED-IP-WEIGHT-1M",
}


@dataclass(frozen=True)
class Endpoint:
    """A path the fake serves: its Binance weight and whether Binance wants it signed."""

    weight: int
    signed: bool


# Weights are Binance's documented ones; ccxt's binance.py lists the same endpoints as costs in
# its own units (fapi 1:1, api x0.2, sapi x0.1 per weight) and agrees except for
# fapiPrivateV3 positionRisk, which ccxt prices at 1 where Binance's page says 5; the higher one
# is kept so a weight measured here is never an under-count.
ENDPOINTS: dict[str, Endpoint] = {
    "/fapi/v1/ping": Endpoint(1, False),
    "/fapi/v1/time": Endpoint(1, False),
    FAPI_EXCHANGE_INFO: Endpoint(1, False),
    LEVERAGE_BRACKET: Endpoint(1, True),
    POSITION_RISK: Endpoint(5, True),
    POSITION_RISK_V2: Endpoint(5, True),
    FAPI_ACCOUNT: Endpoint(5, True),
    INCOME: Endpoint(30, True),
    DAPI_EXCHANGE_INFO: Endpoint(1, False),
    "/api/v3/ping": Endpoint(1, False),
    "/api/v3/time": Endpoint(1, False),
    SPOT_EXCHANGE_INFO: Endpoint(20, False),
    SPOT_ACCOUNT: Endpoint(20, True),
    TICKER_PRICE: Endpoint(4, False),  # every symbol at once (2 for one symbol)
    CAPITAL_CONFIG: Endpoint(10, True),
    MARGIN_ALL_PAIRS: Endpoint(1, True),
    ISOLATED_ALL_PAIRS: Endpoint(10, True),
    API_RESTRICTIONS: Endpoint(1, True),
}


def family_of(path: str) -> str:
    """The API family whose weight limit a path counts against (``/sapi/...`` is sapi...)."""
    head = path.lstrip("/").split("/", 1)[0]
    return head if head in WEIGHT_LIMITS else "api"


# --- state --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    at: float
    family: str
    weight: int
    body: bytes = b""


@dataclass
class _State:
    keys: dict[str, str]
    clock_offset_ms: int
    weight_limits: dict[str, int]
    futures_markets: list[dict[str, Any]]
    spot_markets: list[dict[str, Any]]
    positions: list[dict[str, Any]] = field(default_factory=list)
    income: list[dict[str, Any]] = field(default_factory=list)
    spot_account: dict[str, Any] = field(default_factory=lambda: rows.spot_account({}))
    restrictions: dict[str, Any] = field(default_factory=rows.api_restrictions)
    spot_prices: dict[str, str] = field(default_factory=dict)
    coins: list[dict[str, Any]] = field(
        default_factory=lambda: rows.coin_config(["BTC", "ETH", "USDT", "USDC"])
    )
    scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    recorded: list[RecordedRequest] = field(default_factory=list)
    minute_weight: dict[tuple[str, int], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def server_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms


def signed_part(raw_query: str) -> str:
    """The query as sent minus its ``signature`` pair: what Binance verifies the HMAC over."""
    return "&".join(pair for pair in raw_query.split("&") if pair and not pair.startswith("signature="))


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _check_signed(state: _State, headers: Any, raw_query: str, query: dict[str, list[str]]) -> Reply | None:
    """Binance's checks of a SIGNED request, in its order; ``None`` when it passes."""
    api_key = headers.get("X-MBX-APIKEY")
    if not api_key:
        return missing_api_key()
    secret = state.keys.get(api_key)
    if secret is None:
        return invalid_api_key()
    stamp = _first(query, "timestamp")
    if stamp is None or not stamp.isdigit():
        return binance_error(
            -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        )
    window_text = _first(query, "recvWindow") or "5000"
    if not window_text.isdigit() or int(window_text) > 60000:
        return binance_error(-1131, "recvWindow must be less than 60000")
    signature = _first(query, "signature") or ""
    if not hmac.compare_digest(signature, sign(secret, signed_part(raw_query))):
        return bad_signature()
    now = state.server_ms()
    if not (int(stamp) < now + 1000 and now - int(stamp) <= int(window_text)):
        return timestamp_outside_window()
    return None


# --- answers from state -------------------------------------------------------------------------


def _position_risk(state: _State, query: dict[str, list[str]]) -> Reply:
    symbol = _first(query, "symbol")
    if symbol is not None and symbol not in {m["symbol"] for m in state.futures_markets}:
        return binance_error(-1121, "Invalid symbol.")
    return ok([dict(r) for r in state.positions if symbol is None or r["symbol"] == symbol])


def _income(state: _State, query: dict[str, list[str]]) -> Reply:
    kind = _first(query, "incomeType")
    symbol = _first(query, "symbol")
    start = int(_first(query, "startTime") or 0)
    end = int(_first(query, "endTime") or 2**62)
    limit = min(int(_first(query, "limit") or 100), 1000)
    chosen = [
        dict(r)
        for r in sorted(state.income, key=lambda r: int(r["time"]))
        if (kind is None or r["incomeType"] == kind)
        and (symbol is None or r["symbol"] == symbol)
        and start <= int(r["time"]) <= end
    ]
    # Binance pages from startTime when one is given, else returns the most recent rows.
    return ok(chosen[:limit] if _first(query, "startTime") else chosen[-limit:])


def _leverage_brackets(state: _State, query: dict[str, list[str]]) -> Reply:
    symbol = _first(query, "symbol")
    symbols = [m["symbol"] for m in state.futures_markets if symbol is None or m["symbol"] == symbol]
    if symbol is not None and not symbols:
        return binance_error(-1121, "Invalid symbol.")
    brackets = rows.leverage_brackets(symbols)
    return ok(brackets[0] if symbol is not None else brackets)


def _fapi_account(state: _State, query: dict[str, list[str]]) -> Reply:
    """``/fapi/v3/account``: Binance lists only the symbols with a position or open order here."""
    held = [r for r in state.positions if Decimal(str(r["positionAmt"])) != 0]
    positions = [
        {
            "symbol": r["symbol"],
            "positionSide": r["positionSide"],
            "positionAmt": r["positionAmt"],
            "unrealizedProfit": r["unRealizedProfit"],
            "isolatedMargin": r.get("isolatedMargin", "0"),
            "notional": r["notional"],
            "isolatedWallet": r.get("isolatedWallet", "0"),
            "initialMargin": r.get("initialMargin", "0"),
            "maintMargin": r.get("maintMargin", "0"),
            "updateTime": r["updateTime"],
        }
        for r in held
    ]
    zero = "0.00000000"
    margin_assets = sorted({str(m["marginAsset"]) for m in state.futures_markets})
    assets = [
        {
            "asset": asset,
            "walletBalance": "1000.00000000",
            "unrealizedProfit": zero,
            "marginBalance": "1000.00000000",
            "maintMargin": zero,
            "initialMargin": zero,
            "positionInitialMargin": zero,
            "openOrderInitialMargin": zero,
            "crossWalletBalance": "1000.00000000",
            "crossUnPnl": zero,
            "availableBalance": "1000.00000000",
            "maxWithdrawAmount": "1000.00000000",
            "updateTime": rows.T0_MS,
        }
        for asset in margin_assets
    ]
    return ok(
        {
            "totalInitialMargin": zero,
            "totalMaintMargin": zero,
            "totalWalletBalance": "1000.00000000",
            "totalUnrealizedProfit": zero,
            "totalMarginBalance": "1000.00000000",
            "totalPositionInitialMargin": zero,
            "totalOpenOrderInitialMargin": zero,
            "totalCrossWalletBalance": "1000.00000000",
            "totalCrossUnPnl": zero,
            "availableBalance": "1000.00000000",
            "maxWithdrawAmount": "1000.00000000",
            "assets": assets,
            "positions": positions,
        }
    )


def _spot_account(state: _State, query: dict[str, list[str]]) -> Reply:
    account = json.loads(json.dumps(state.spot_account))
    if _first(query, "omitZeroBalances") == "true":
        account["balances"] = [
            b for b in account["balances"] if Decimal(b["free"]) + Decimal(b["locked"]) != 0
        ]
    return ok(account)


def _ticker_prices(state: _State, query: dict[str, list[str]]) -> Reply:
    """``/api/v3/ticker/price``: every spot symbol's last price as a string, or one symbol's."""
    symbol = _first(query, "symbol")
    listed = [
        {"symbol": m["symbol"], "price": state.spot_prices.get(m["symbol"], "1.00000000")}
        for m in state.spot_markets
    ]
    if symbol is None:
        return ok(listed)
    match = [row for row in listed if row["symbol"] == symbol]
    return ok(match[0]) if match else binance_error(-1121, "Invalid symbol.")


def _margin_pairs(state: _State, query: dict[str, list[str]]) -> Reply:
    return ok([])


_STATE_ANSWERS: dict[str, Callable[[_State, dict[str, list[str]]], Reply]] = {
    "/fapi/v1/ping": lambda s, q: ok({}),
    "/fapi/v1/time": lambda s, q: ok({"serverTime": s.server_ms()}),
    "/api/v3/ping": lambda s, q: ok({}),
    "/api/v3/time": lambda s, q: ok({"serverTime": s.server_ms()}),
    FAPI_EXCHANGE_INFO: lambda s, q: ok(rows.futures_exchange_info(s.futures_markets)),
    SPOT_EXCHANGE_INFO: lambda s, q: ok(rows.spot_exchange_info(s.spot_markets)),
    DAPI_EXCHANGE_INFO: lambda s, q: ok({**rows.futures_exchange_info([]), "futuresType": "COIN_MARGINED"}),
    LEVERAGE_BRACKET: _leverage_brackets,
    POSITION_RISK: _position_risk,
    POSITION_RISK_V2: _position_risk,
    FAPI_ACCOUNT: _fapi_account,
    INCOME: _income,
    SPOT_ACCOUNT: _spot_account,
    TICKER_PRICE: _ticker_prices,
    CAPITAL_CONFIG: lambda s, q: ok(json.loads(json.dumps(s.coins))),
    MARGIN_ALL_PAIRS: _margin_pairs,
    ISOLATED_ALL_PAIRS: _margin_pairs,
    API_RESTRICTIONS: lambda s, q: ok(dict(s.restrictions)),
}


# --- the server ---------------------------------------------------------------------------------


class _Server(LocalServer):
    def __init__(self, state: _State) -> None:
        super().__init__(_Handler)
        self.state = state


class _Handler(TrackedHandler):
    server_version = "FakeBinance/1"
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        endpoint = ENDPOINTS.get(parts.path)
        family = family_of(parts.path)
        record = RecordedRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            raw_query=parts.query,
            headers=dict(self.headers.items()),
            at=time.monotonic(),
            family=family,
            weight=endpoint.weight if endpoint is not None else 1,
            body=body,
        )
        minute = int(time.time() // 60)
        with state.lock:
            state.recorded.append(record)
            bucket = (family, minute)
            state.minute_weight[bucket] = state.minute_weight.get(bucket, 0) + record.weight
            used = state.minute_weight[bucket]
            limit = state.weight_limits.get(family)
        if limit is not None and used > limit:
            reply = rate_limited(retry_after=max(1, 60 - int(time.time() % 60)), limit=limit)
        else:
            reply = self._answer(record, endpoint)
        self._send(reply, (WEIGHT_HEADER[family], str(used)))

    def _answer(self, record: RecordedRequest, endpoint: Endpoint | None) -> Reply:
        state = self.server.state
        if record.method != "GET":
            return refused_write()
        if endpoint is None:
            return self._scripted(record.path) or unknown_path(record.method, record.path)
        if endpoint.signed:
            with state.lock:
                refusal = _check_signed(state, self.headers, record.raw_query, record.query)
            if refusal is not None:
                return refusal
        scripted = self._scripted(record.path)
        if scripted is not None:
            return scripted
        with state.lock:
            return _STATE_ANSWERS[record.path](state, record.query)

    def _scripted(self, path: str) -> Reply | None:
        state = self.server.state
        with state.lock:
            queue = state.scripts.get(path)
            if not queue:
                return None
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _send(self, reply: Reply, weight_header: tuple[str, str]) -> None:
        if reply.delay > 0 and self.server.stopping.wait(reply.delay):
            reply = dropped()
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = reply.encoded()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header(*weight_header)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class FakeBinanceServer:
    """``with FakeBinanceServer() as binance:``; ``binance.url`` is the root every family shares."""

    def __init__(
        self,
        *,
        api_key: str = "fake-binance-key",
        api_secret: str = "fake-binance-secret",
        markets: int = 12,
        spot_bases: Iterable[str] = ("BTC", "ETH", "BNB", "HIGH"),
        clock_offset_ms: int = 0,
        weight_limits: dict[str, int] | None = None,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._state = _State(
            keys={api_key: api_secret},
            clock_offset_ms=clock_offset_ms,
            weight_limits=dict(WEIGHT_LIMITS if weight_limits is None else weight_limits),
            futures_markets=[rows.futures_market(c) for c in rows.contracts(markets)],
            spot_markets=[rows.spot_market(base) for base in spot_bases],
        )
        self._serving = ServerThread("fake-binance", "the fake Binance server")

    # lifecycle

    def start(self) -> FakeBinanceServer:
        self._serving.run(_Server(self._state))
        return self

    def stop(self) -> None:
        self._serving.stop()

    def __enter__(self) -> FakeBinanceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def url(self) -> str:
        return self._serving.url

    # scripting

    def script(self, path: str, *replies: Reply) -> None:
        """Answers for ``path`` in order; the last one repeats. Replaces an earlier script.
        Signed paths still check the signature first, as Binance would."""
        if not replies:
            raise ValueError("script needs at least one reply")
        with self._state.lock:
            self._state.scripts[path] = deque(replies)

    def unscript(self, path: str) -> None:
        with self._state.lock:
            self._state.scripts.pop(path, None)

    # state

    def set_positions(self, position_rows: Iterable[dict[str, Any]]) -> None:
        """positionRisk rows (``binance_rows.position_row``, or a fixture's rows unchanged)."""
        with self._state.lock:
            self._state.positions = [dict(r) for r in position_rows]

    def set_markets(self, markets: Iterable[dict[str, Any]]) -> None:
        """The ``symbols`` of ``/fapi/v1/exchangeInfo`` (``binance_rows.futures_market``)."""
        with self._state.lock:
            self._state.futures_markets = [dict(m) for m in markets]

    def set_spot_markets(self, markets: Iterable[dict[str, Any]]) -> None:
        with self._state.lock:
            self._state.spot_markets = [dict(m) for m in markets]

    def set_income(self, income_rows: Iterable[dict[str, Any]]) -> None:
        with self._state.lock:
            self._state.income = [dict(r) for r in income_rows]

    def set_spot_balances(self, balances: dict[str, tuple[rows.Number, rows.Number]]) -> None:
        """``{asset: (free, locked)}`` for ``/api/v3/account``."""
        with self._state.lock:
            self._state.spot_account = rows.spot_account(balances)

    def set_spot_prices(self, prices: dict[str, rows.Number]) -> None:
        """Last prices by spot symbol (``BTCUSDT``) for ``/api/v3/ticker/price``; others 1."""
        with self._state.lock:
            self._state.spot_prices = {symbol: rows.fixed(price, 8) for symbol, price in prices.items()}

    def set_spot_account(self, account: dict[str, Any]) -> None:
        """A whole ``/api/v3/account`` document, e.g. the stored real one."""
        with self._state.lock:
            self._state.spot_account = json.loads(json.dumps(account))

    def set_api_restrictions(
        self, *, spot_trading: bool = False, futures: bool = False, withdrawals: bool = False
    ) -> None:
        with self._state.lock:
            self._state.restrictions = rows.api_restrictions(
                spot_trading=spot_trading, futures=futures, withdrawals=withdrawals
            )

    def set_clock_offset(self, milliseconds: int) -> None:
        """Moves the server's clock: past ``recvWindow`` every signed request gets -1021."""
        with self._state.lock:
            self._state.clock_offset_ms = milliseconds

    def add_key(self, api_key: str, api_secret: str) -> None:
        with self._state.lock:
            self._state.keys[api_key] = api_secret

    def revoke_key(self, api_key: str) -> None:
        """The key stops existing, as when it is deleted on Binance: -2015 from then on."""
        with self._state.lock:
            self._state.keys.pop(api_key, None)

    # what was asked

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.recorded)

    def clear_requests(self) -> None:
        """Forgets the log; the weight already used this minute stays counted, as at Binance."""
        with self._state.lock:
            self._state.recorded.clear()

    def paths(self) -> list[str]:
        """``METHOD /path`` of every request so far, in order."""
        return [f"{r.method} {r.path}" for r in self.requests]

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def writes(self) -> list[RecordedRequest]:
        """Every request that was not a read (an order, a cancel, a setting): tests assert none."""
        return [r for r in self.requests if r.method != "GET"]

    def used_weight(self, family: str = "fapi") -> int:
        """What Binance would report in this minute's weight header for ``family``."""
        with self._state.lock:
            return self._state.minute_weight.get((family, int(time.time() // 60)), 0)

    def max_weight_in_window(self, family: str = "fapi", window: float = 60.0) -> int:
        """The most weight of ``family`` sent within any ``window`` seconds (a sliding window,
        stricter than Binance's calendar minute), to prove a client stays under the limit."""
        hits = sorted((r.at, r.weight) for r in self.requests if r.family == family)
        best = total = first = 0
        for at, weight in hits:
            total += weight
            while at - hits[first][0] >= window:
                total -= hits[first][1]
                first += 1
            best = max(best, total)
        return best

    def max_requests_in_window(self, window: float = 1.0, path: str | None = None) -> int:
        times = sorted(r.at for r in self.requests if path is None or r.path == path)
        best = first = 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            best = max(best, last - first + 1)
        return best

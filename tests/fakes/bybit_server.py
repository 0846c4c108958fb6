"""A Bybit v5 HTTP API on 127.0.0.1, so the real ``ccxt.async_support.bybit`` can be tested end to end.

It serves what ccxt really asks for (``tests/test_bybit_server.py`` shows the list): the market
lists of ``/v5/market/instruments-info`` (with the ``status=PreLaunch`` variant and
``nextPageCursor`` paging), ``/v5/asset/coin/query-info`` when a key is set, and the reads a
positions monitor makes: ``/v5/position/list``, ``/v5/position/closed-pnl``,
``/v5/account/wallet-balance``, ``/v5/user/query-api``, ``/v5/account/info``, ``/v5/market/time``.

Private calls are checked as Bybit checks them: ``X-BAPI-API-KEY`` (10003 when unknown),
``X-BAPI-TIMESTAMP`` within ``X-BAPI-RECV-WINDOW`` of the server clock (10002), and
``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + key + recv_window + query or body) (10004).
Answers come in Bybit's envelope, mostly HTTP 200 with a non-zero ``retCode``, and every private
answer carries the ``X-Bapi-Limit*`` headers of its endpoint. Anything that would trade (any
POST, any order or position-setting path) is recorded and refused, so a test can prove none was
made; an unknown path gets Bybit's "route not found".

Scripted answers per path (optionally per query values) form a queue whose last entry repeats,
and faults a real network produces are there too: late answers, an HTML 502 page, a socket
closed with no answer, the IP ban's bare 403.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import bybit_endpoints as endpoints
from tests.fakes.bybit_endpoints import RecordedRequest
from tests.fakes.bybit_replies import (
    Reply,
    bybit_error,
    delayed,
    dropped,
    fixture_reply,
    html_page,
    http_error,
    invalid_key,
    ip_banned,
    ok,
    params_error,
    permission_denied,
    request_timeout,
    route_not_found,
    server_busy,
    sign_error,
    timestamp_error,
    too_many_visits,
)
from tests.fakes.bybit_rows import (
    account_info,
    fixture_rows,
    key_info,
    linear_instruments,
    spot_instruments,
    wallet_account,
    wallet_coin,
)
from tests.fakes.serving import LocalServer, ServerThread, TrackedHandler

INSTRUMENTS = "/v5/market/instruments-info"
MARKET_TIME = "/v5/market/time"
POSITIONS = "/v5/position/list"
CLOSED_PNL = "/v5/position/closed-pnl"
WALLET_BALANCE = "/v5/account/wallet-balance"
KEY_INFO = "/v5/user/query-api"
ACCOUNT_INFO = "/v5/account/info"
COIN_INFO = "/v5/asset/coin/query-info"

PUBLIC_PATHS = frozenset({INSTRUMENTS, MARKET_TIME})
READ_PATHS = frozenset({POSITIONS, CLOSED_PNL, WALLET_BALANCE, KEY_INFO, ACCOUNT_INFO, COIN_INFO})
# Paths that change something at Bybit. Any POST counts too, whatever its path.
WRITE_PATHS = frozenset(
    {
        "/v5/order/create",
        "/v5/order/amend",
        "/v5/order/cancel",
        "/v5/order/cancel-all",
        "/v5/order/create-batch",
        "/v5/order/amend-batch",
        "/v5/order/cancel-batch",
        "/v5/position/set-leverage",
        "/v5/position/trading-stop",
        "/v5/position/switch-mode",
        "/v5/position/switch-isolated",
        "/v5/position/set-risk-limit",
        "/v5/position/add-margin",
        "/v5/position/set-auto-add-margin",
        "/v5/account/upgrade-to-uta",
        "/v5/asset/transfer/inter-transfer",
        "/v5/asset/withdraw/create",
    }
)

# Requests per second per UID, from Bybit's v5 rate-limit table (UTA 2.0 Pro). ``query-api`` is
# not in the table; 10/s is Bybit's default for reads and what ccxt's cost (5) assumes.
RATE_LIMITS: dict[str, int] = {
    POSITIONS: 50,
    CLOSED_PNL: 50,
    WALLET_BALANCE: 50,
    ACCOUNT_INFO: 50,
    COIN_INFO: 5,
    KEY_INFO: 10,
    **{path: 10 for path in WRITE_PATHS},
}
# Public endpoints have no per-UID limit; the IP limit covers every request.
IP_LIMIT_REQUESTS = 600
IP_LIMIT_WINDOW = 5.0


# One import point for tests: the replies and rows live in their own modules.
__all__ = [
    "ACCOUNT_INFO",
    "CLOSED_PNL",
    "COIN_INFO",
    "INSTRUMENTS",
    "KEY_INFO",
    "MARKET_TIME",
    "POSITIONS",
    "RATE_LIMITS",
    "READ_PATHS",
    "WALLET_BALANCE",
    "WRITE_PATHS",
    "FakeBybitServer",
    "RecordedRequest",
    "Reply",
    "bybit_error",
    "delayed",
    "dropped",
    "fixture_reply",
    "html_page",
    "http_error",
    "invalid_key",
    "ip_banned",
    "ok",
    "params_error",
    "permission_denied",
    "request_timeout",
    "route_not_found",
    "server_busy",
    "sign_error",
    "timestamp_error",
    "too_many_visits",
]


# --- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Script:
    when: tuple[tuple[str, str], ...]
    replies: deque[Reply]


@dataclass
class _State:
    api_key: str
    api_secret: str
    enforce_rate_limits: bool
    clock_offset_ms: int = 0
    flat_rows_in_lists: bool = True
    instruments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    positions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    closed_pnl: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    wallet: list[dict[str, Any]] = field(default_factory=list)
    key: dict[str, Any] = field(default_factory=dict)
    account: dict[str, Any] = field(default_factory=dict)
    coins: list[dict[str, Any]] = field(default_factory=list)
    scripts: dict[str, list[_Script]] = field(default_factory=dict)
    recorded: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def server_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms


class _Server(LocalServer):
    # socketserver's default backlog is 5: a burst of connections past it waits for the client's
    # SYN retry (1 s), which would spread a burst over seconds and hide every rate limit.
    request_queue_size = 256

    def __init__(self, state: _State) -> None:
        super().__init__(_Handler)
        self.state = state


class _Handler(TrackedHandler):
    server_version = "FakeBybit/5"
    disable_nagle_algorithm = True  # headers and body go out as two writes; no 40 ms ACK stall between them
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
        record = RecordedRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            at=time.monotonic(),
            body=body,
            raw_query=parts.query,
        )
        with state.lock:
            state.recorded.append(record)
            ip_count = _count_since(state.recorded, record.at - IP_LIMIT_WINDOW)
            path_count = _count_since(state.recorded, record.at - 1.0, record.path)
        limit = RATE_LIMITS.get(record.path)
        headers: tuple[tuple[str, str], ...] = ()
        if record.path not in PUBLIC_PATHS and limit is not None:
            over = path_count > limit
            reset = state.server_ms() + (1000 if over else 0)
            headers = (
                ("X-Bapi-Limit", str(limit)),
                ("X-Bapi-Limit-Status", str(max(limit - path_count, 0))),
                ("X-Bapi-Limit-Reset-Timestamp", str(reset)),
            )
        if state.enforce_rate_limits and ip_count > IP_LIMIT_REQUESTS:
            reply = ip_banned()
        elif state.enforce_rate_limits and limit is not None and path_count > limit:
            reply = too_many_visits(limit, state.server_ms() + 1000)
        else:
            reply = self._answer(record)
        self._send(
            replace(reply, headers=(*headers, *reply.headers)) if headers and not reply.headers else reply
        )

    def _answer(self, record: RecordedRequest) -> Reply:
        state = self.server.state
        path = record.path
        if path in PUBLIC_PATHS:
            return self._scripted(record) or self._public(record)
        refused = self._authenticate(record)
        if refused is not None:
            return refused
        if record.method == "POST" or path in WRITE_PATHS:
            return self._scripted(record) or permission_denied()
        if path not in READ_PATHS:
            return self._scripted(record) or route_not_found()
        scripted = self._scripted(record)
        if scripted is not None:
            return scripted
        with state.lock:
            return self._read(record)

    def _authenticate(self, record: RecordedRequest) -> Reply | None:
        state = self.server.state
        key = self.headers.get("X-BAPI-API-KEY") or ""
        stamp = self.headers.get("X-BAPI-TIMESTAMP") or ""
        window_text = self.headers.get("X-BAPI-RECV-WINDOW") or "5000"
        signature = self.headers.get("X-BAPI-SIGN") or ""
        if not key or not hmac.compare_digest(key, state.api_key):
            return invalid_key()
        if not stamp.isdigit() or not window_text.isdigit():
            return params_error(f"invalid timestamp or recv_window: [{stamp}] [{window_text}]")
        server, stamp_ms, window = state.server_ms(), int(stamp), int(window_text)
        if not (server - window <= stamp_ms < server + 1000):
            return timestamp_error(stamp_ms, server, window)
        signed = record.body.decode("utf-8", "replace") if record.method == "POST" else record.raw_query
        origin = f"{stamp}{key}{window_text}{signed}"
        expected = hmac.new(state.api_secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.lower(), expected):
            return sign_error(origin)
        return None

    def _scripted(self, record: RecordedRequest) -> Reply | None:
        state = self.server.state
        with state.lock:
            for script in state.scripts.get(record.path, []):
                if all(record.param(name) == value for name, value in script.when):
                    queue = script.replies
                    return queue.popleft() if len(queue) > 1 else queue[0]
        return None

    # public

    def _public(self, record: RecordedRequest) -> Reply:
        state = self.server.state
        if record.method != "GET":
            return route_not_found()
        if record.path == MARKET_TIME:
            now = state.server_ms()
            reply = ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})
            return replace(reply, payload={**reply.payload, "time": now})
        with state.lock:
            return endpoints.instruments(state.instruments, record)

    # private reads (state.lock held)

    def _read(self, record: RecordedRequest) -> Reply:
        state = self.server.state
        if record.path == POSITIONS:
            return endpoints.positions(state.positions, state.instruments, state.flat_rows_in_lists, record)
        if record.path == CLOSED_PNL:
            return endpoints.closed_pnl(state.closed_pnl, state.server_ms(), record)
        if record.path == WALLET_BALANCE:
            return endpoints.wallet_balance(state.wallet, record)
        if record.path == KEY_INFO:
            return ok({**state.key, "apiKey": state.api_key}, message="")
        if record.path == ACCOUNT_INFO:
            return ok(dict(state.account))
        return endpoints.coin_info(state.coins, record)

    def _send(self, reply: Reply) -> None:
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
            self.send_header("Timenow", str(self.server.state.server_ms()))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _count_since(recorded: list[RecordedRequest], since: float, path: str | None = None) -> int:
    count = 0
    for request in reversed(recorded):
        if request.at < since:
            break
        if path is None or request.path == path:
            count += 1
    return count


class FakeBybitServer:
    """Start with ``with FakeBybitServer() as bybit:`` (or ``start()``/``stop()``); ``bybit.url`` is the root.

    By default it lists 12 linear instruments (``linear_instruments``), a few spot pairs, no
    inverse or option markets, no positions, a UNIFIED wallet holding 1000 USDT, a read-only key
    on a UTA 2.0 account, and the USDT coin of ccxt's recorded ``coin/query-info`` answer.
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-bybit-key",
        api_secret: str = "fake-bybit-secret",
        read_only: bool = True,
        enforce_rate_limits: bool = False,
        linear_count: int = 12,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._state = _State(api_key, api_secret, enforce_rate_limits)
        self._state.instruments = {
            "linear": linear_instruments(linear_count),
            "spot": spot_instruments(),
            "inverse": [],
            "option": [],
        }
        self._state.wallet = [wallet_account([wallet_coin("USDT", "1000", "1000.2")])]
        self._state.key = key_info(api_key, read_only=read_only)
        self._state.account = account_info()
        self._state.coins = fixture_rows("ccxt_fetch_currencies.json")
        self._serving = ServerThread("fake-bybit", "the fake Bybit server")

    # lifecycle

    def start(self) -> FakeBybitServer:
        self._serving.run(_Server(self._state))
        return self

    def stop(self) -> None:
        self._serving.stop()

    def __enter__(self) -> FakeBybitServer:
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

    def script(self, path: str, *replies: Reply, when: Mapping[str, str] | None = None) -> None:
        """Answers for ``path`` in order, the last one repeating; they replace the natural answer.

        ``when`` limits the script to requests whose query holds those values (e.g.
        ``{"category": "linear", "status": "PreLaunch"}``). A script replaces an earlier one with
        the same ``when``; the most specific script matching a request answers it. Private
        paths are still authenticated first: a wrong signature is refused whatever is scripted.
        """
        if not replies:
            raise ValueError("script needs at least one reply")
        condition = tuple(sorted((when or {}).items()))
        with self._state.lock:
            scripts = [s for s in self._state.scripts.get(path, []) if s.when != condition]
            scripts.append(_Script(condition, deque(replies)))
            scripts.sort(key=lambda s: len(s.when), reverse=True)
            self._state.scripts[path] = scripts

    def clear_scripts(self, path: str | None = None) -> None:
        with self._state.lock:
            if path is None:
                self._state.scripts.clear()
            else:
                self._state.scripts.pop(path, None)

    # state

    def set_positions(self, rows: Iterable[Mapping[str, Any]], category: str = "linear") -> None:
        """What ``/v5/position/list`` holds for ``category``, served in this order, paged by ``limit``."""
        with self._state.lock:
            self._state.positions[category] = [dict(r) for r in rows]

    def set_instruments(self, category: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """The market list of ``category``; rows with ``status`` "PreLaunch" answer ``status=PreLaunch``."""
        with self._state.lock:
            self._state.instruments[category] = [dict(r) for r in rows]

    def set_closed_pnl(self, rows: Iterable[Mapping[str, Any]], category: str = "linear") -> None:
        """Closes for ``/v5/position/closed-pnl``; Bybit answers the last 7 days unless asked otherwise."""
        with self._state.lock:
            self._state.closed_pnl[category] = [dict(r) for r in rows]

    def set_wallet(self, coins: Iterable[Mapping[str, Any]]) -> None:
        """The UNIFIED account's coins (``wallet_coin`` rows)."""
        with self._state.lock:
            self._state.wallet = [wallet_account(coins)]

    def set_key_info(self, *, read_only: bool, permissions: Mapping[str, list[str]] | None = None) -> None:
        with self._state.lock:
            self._state.key = key_info(self.api_key, read_only=read_only, permissions=permissions)

    def set_account_info(self, info: Mapping[str, Any]) -> None:
        with self._state.lock:
            self._state.account = dict(info)

    def set_coins(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The ``rows`` of ``/v5/asset/coin/query-info`` (ccxt's currencies at ``load_markets``)."""
        with self._state.lock:
            self._state.coins = [dict(r) for r in rows]

    def set_clock_offset(self, milliseconds: int) -> None:
        """Move the server's clock: beyond the recv window (5000 ms for ccxt) every private call gets 10002."""
        with self._state.lock:
            self._state.clock_offset_ms = milliseconds

    def list_flat_rows(self, listed: bool) -> None:
        """Whether flat rows (size "0") come back when no ``symbol`` is asked (the default: yes).

        Bybit's documentation says a ``settleCoin`` query returns sizes above zero; recently closed
        rows have still been seen in such answers, and with a ``symbol`` Bybit always returns the
        row. A reader has to survive both, so both can be served.
        """
        with self._state.lock:
            self._state.flat_rows_in_lists = listed

    # what was asked

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.recorded)

    def clear_requests(self) -> None:
        with self._state.lock:
            self._state.recorded.clear()

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def writes(self) -> list[RecordedRequest]:
        """Every request that would have changed something at Bybit (none should ever come)."""
        return [r for r in self.requests if r.method != "GET" or r.path in WRITE_PATHS]

    def summary(self) -> list[str]:
        """The requests as ``"GET /v5/position/list?category=linear&..."`` lines, signature fields left out."""
        return [f"{r.method} {r.path}" + (f"?{r.raw_query}" if r.raw_query else "") for r in self.requests]

    @staticmethod
    def rate_limit(path: str) -> int | None:
        """Bybit's per-second limit for ``path`` (None for public paths, held by the IP limit only)."""
        return RATE_LIMITS.get(path)

    def max_requests_in_window(self, window: float = 1.0, path: str | None = None) -> int:
        """The most requests that arrived within any ``window`` seconds (a sliding window)."""
        times = sorted(r.at for r in self.requests if path is None or r.path == path)
        best = 0
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            best = max(best, last - first + 1)
        return best

"""A Kite Connect HTTP API on 127.0.0.1, so the real ``kiteconnect`` client can be tested end to end.

It speaks Kite's envelopes and status codes (``{"status": "success", "data": ...}``;
``{"status": "error", "error_type": ..., "message": ..., "data": null}`` with 403 for
``TokenException``, 400 ``InputException``, 429 rate limits, 5xx ``GeneralException`` /
``DataException`` / ``NetworkException``), checks ``X-Kite-Version: 3`` and the
``Authorization: token api_key:access_token`` header, and serves scripted answers per path: a
queue whose last entry repeats, so a test can say "positions change on the third sync" or "the
second request gets a 503". It can also answer late, with an HTML page, or not at all (the
socket is closed with no response), because those are the failures a real network produces.

Every request is recorded (method, path, headers, time) for assertions about what was asked and
how often; ``max_requests_in_window`` is what the rate tests and the rate benchmark measure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.serving import LocalServer, ServerThread, TrackedHandler

POSITIONS = "/portfolio/positions"
HOLDINGS = "/portfolio/holdings"
ORDERS = "/orders"
SESSION_TOKEN = "/session/token"
READ_PATHS = frozenset({POSITIONS, HOLDINGS, ORDERS})

_KITE_ERROR_FOR_STATUS = {
    500: "GeneralException",
    502: "DataException",
    503: "NetworkException",
    504: "NetworkException",
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``body`` (raw bytes) wins over ``payload`` (a JSON document)."""

    status: int = 200
    payload: Any = None
    body: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False

    def encoded(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps(self.payload).encode("utf-8")


def success(data: Any) -> Reply:
    return Reply(200, {"status": "success", "data": data})


def kite_error(error_type: str, message: str, status: int) -> Reply:
    return Reply(status, {"status": "error", "message": message, "data": None, "error_type": error_type})


def token_error(message: str = "Incorrect `api_key` or `access_token`.") -> Reply:
    return kite_error("TokenException", message, 403)


def input_error(message: str) -> Reply:
    return kite_error("InputException", message, 400)


def rate_limited() -> Reply:
    """What Kite sends past its rate limit."""
    return kite_error("NetworkException", "Too many requests", 429)


def server_error(status: int = 500, message: str | None = None) -> Reply:
    error_type = _KITE_ERROR_FOR_STATUS.get(status, "GeneralException")
    return kite_error(error_type, message or f"Something went wrong ({status})", status)


def html_page(status: int = 502) -> Reply:
    """A proxy or load balancer's error page: what arrives when Kite's own app is not answering."""
    body = (
        f"<html><head><title>{status} Bad Gateway</title></head>"
        f"<body><center><h1>{status} Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
    ).encode()
    return Reply(status, body=body, content_type="text/html")


def dropped() -> Reply:
    return Reply(drop=True)


def delayed(reply: Reply, seconds: float) -> Reply:
    return replace(reply, delay=seconds)


# --- real payloads -------------------------------------------------------------------------------

# Kite's own responses (``zerodha/kiteconnect-mocks``) and a row Zerodha staff posted; where each
# comes from, with the commit, is in that folder's README.
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kite"


def fixture_envelope(name: str) -> dict[str, Any]:
    """A stored Kite response, envelope and all, as parsed JSON (a fresh copy each call)."""
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return document


def fixture_data(name: str) -> Any:
    """The ``data`` part of a stored Kite response, to change a field before serving it."""
    return fixture_envelope(name)["data"]


def fixture_reply(name: str) -> Reply:
    """A stored Kite response served byte for byte as Kite sent it."""
    return Reply(200, body=(FIXTURES / name).read_bytes())


# --- realistic rows ------------------------------------------------------------------------------


def _money(value: float) -> float:
    return round(value, 2)


def _token_for(tradingsymbol: str) -> int:
    return int(hashlib.sha256(tradingsymbol.encode()).hexdigest()[:7], 16)


def position_row(
    tradingsymbol: str,
    exchange: str = "NFO",
    *,
    product: str = "NRML",
    quantity: int = 0,
    average_price: float = 0.0,
    last_price: float = 0.0,
    close_price: float | None = None,
    multiplier: float = 1,
    overnight_quantity: int = 0,
    closed_quantity: int = 0,
    realised: float = 0.0,
    unrealised: float | None = None,
) -> dict[str, Any]:
    """A ``net`` row with every field Kite sends, the numbers consistent with each other.

    ``closed_quantity`` is how much was bought and sold again today; with ``quantity`` 0 it is
    a position closed today (Kite keeps such rows until the end of the day).
    """
    close = last_price if close_price is None else close_price
    if quantity >= 0:
        buy_quantity, sell_quantity = quantity + closed_quantity, closed_quantity
    else:
        buy_quantity, sell_quantity = closed_quantity, -quantity + closed_quantity
    per_unit_gain = realised / closed_quantity / multiplier if closed_quantity else 0.0
    if quantity >= 0:
        buy_price = average_price if buy_quantity else 0.0
        sell_price = average_price + per_unit_gain if sell_quantity else 0.0
    else:
        sell_price = average_price if sell_quantity else 0.0
        buy_price = average_price - per_unit_gain if buy_quantity else 0.0
    buy_value = _money(buy_quantity * buy_price * multiplier)
    sell_value = _money(sell_quantity * sell_price * multiplier)
    if unrealised is None:
        unrealised = _money((last_price - average_price) * quantity * multiplier)
    day = overnight_quantity == 0
    return {
        "tradingsymbol": tradingsymbol,
        "exchange": exchange,
        "instrument_token": _token_for(f"{exchange}:{tradingsymbol}"),
        "product": product,
        "quantity": quantity,
        "overnight_quantity": overnight_quantity,
        "multiplier": multiplier,
        "average_price": average_price if quantity else 0,
        "close_price": close,
        "last_price": last_price,
        "value": _money(sell_value - buy_value),
        "pnl": _money(realised + unrealised),
        "m2m": _money((last_price - close) * quantity * multiplier),
        "unrealised": unrealised,
        "realised": realised,
        "buy_quantity": buy_quantity,
        "buy_price": buy_price,
        "buy_value": buy_value,
        "buy_m2m": buy_value,
        "sell_quantity": sell_quantity,
        "sell_price": sell_price,
        "sell_value": sell_value,
        "sell_m2m": sell_value,
        "day_buy_quantity": buy_quantity if day else 0,
        "day_buy_price": buy_price if day else 0,
        "day_buy_value": buy_value if day else 0,
        "day_sell_quantity": sell_quantity if day else 0,
        "day_sell_price": sell_price if day else 0,
        "day_sell_value": sell_value if day else 0,
    }


def holding_row(
    tradingsymbol: str,
    exchange: str = "NSE",
    *,
    quantity: int,
    t1_quantity: int = 0,
    average_price: float,
    last_price: float,
    close_price: float | None = None,
    used_quantity: int = 0,
    collateral_quantity: int = 0,
    isin: str | None = None,
    product: str = "CNC",
) -> dict[str, Any]:
    """A ``/portfolio/holdings`` row with Kite's fields; ``t1_quantity`` is bought, not yet delivered."""
    close = last_price if close_price is None else close_price
    total = quantity + t1_quantity
    return {
        "tradingsymbol": tradingsymbol,
        "exchange": exchange,
        "instrument_token": _token_for(f"{exchange}:{tradingsymbol}"),
        "isin": isin or f"INE{_token_for(tradingsymbol) % 1000000:06d}01",
        "product": product,
        "price": 0,
        "quantity": quantity,
        "used_quantity": used_quantity,
        "t1_quantity": t1_quantity,
        "realised_quantity": quantity,
        "authorised_quantity": 0,
        "authorised_date": "2025-10-06 00:00:00",
        "authorisation": {},
        "opening_quantity": total,
        "short_quantity": 0,
        "collateral_quantity": collateral_quantity,
        "collateral_type": "",
        "discrepancy": False,
        "average_price": average_price,
        "last_price": last_price,
        "close_price": close,
        "pnl": _money((last_price - average_price) * total),
        "day_change": _money(last_price - close),
        "day_change_percentage": _money((last_price - close) / close * 100) if close else 0,
    }


def order_row(
    tradingsymbol: str,
    exchange: str = "NFO",
    *,
    transaction_type: str,
    quantity: int,
    status: str = "OPEN",
    filled_quantity: int = 0,
    cancelled_quantity: int = 0,
    order_type: str = "LIMIT",
    price: float = 0.0,
    product: str = "NRML",
    order_id: str | None = None,
) -> dict[str, Any]:
    """An ``/orders`` row with Kite's fields (timestamps in Kite's ``YYYY-MM-DD HH:MM:SS``)."""
    pending = 0 if status in ("COMPLETE", "REJECTED") else quantity - filled_quantity - cancelled_quantity
    return {
        "placed_by": "AB1234",
        "order_id": order_id or str(250000000000000 + _token_for(tradingsymbol + status)),
        "exchange_order_id": "1100000012345678",
        "parent_order_id": None,
        "status": status,
        "status_message": None,
        "status_message_raw": None,
        "order_timestamp": "2025-10-07 09:20:00",
        "exchange_update_timestamp": "2025-10-07 09:20:01",
        "exchange_timestamp": "2025-10-07 09:20:01",
        "variety": "regular",
        "modified": False,
        "exchange": exchange,
        "tradingsymbol": tradingsymbol,
        "instrument_token": _token_for(f"{exchange}:{tradingsymbol}"),
        "order_type": order_type,
        "transaction_type": transaction_type,
        "validity": "DAY",
        "validity_ttl": 0,
        "product": product,
        "quantity": quantity,
        "disclosed_quantity": 0,
        "price": price,
        "trigger_price": 0,
        "average_price": price if filled_quantity else 0,
        "filled_quantity": filled_quantity,
        "pending_quantity": max(pending, 0),
        "cancelled_quantity": cancelled_quantity,
        "market_protection": 0,
        "meta": {},
        "tag": None,
        "tags": [],
        "guid": "fake-guid",
    }


def positions_payload(net: Iterable[dict[str, Any]], day: Iterable[dict[str, Any]] | None = None) -> Reply:
    net_rows = [dict(row) for row in net]
    day_rows = [dict(row) for row in day] if day is not None else [dict(row) for row in net_rows]
    return success({"net": net_rows, "day": day_rows})


# --- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float
    body: bytes = b""


@dataclass
class _State:
    api_key: str
    api_secret: str
    user_id: str
    user_name: str
    rate_limit: int | None
    valid_tokens: set[str] = field(default_factory=set)
    request_tokens: set[str] = field(default_factory=set)
    scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    recorded: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(LocalServer):
    def __init__(self, state: _State) -> None:
        super().__init__(_Handler)
        self.state = state


class _Handler(TrackedHandler):
    server_version = "FakeKite/3"
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
            query=parse_qs(parts.query),
            headers={k: v for k, v in self.headers.items()},
            at=time.monotonic(),
            body=body,
        )
        with state.lock:
            state.recorded.append(record)
            over_limit = state.rate_limit is not None and self._recent(state, record.at) > state.rate_limit
        reply = rate_limited() if over_limit else self._answer(method, parts.path, body)
        self._send(reply)

    @staticmethod
    def _recent(state: _State, now: float) -> int:
        return sum(1 for r in reversed(state.recorded[-200:]) if now - r.at < 1.0)

    def _answer(self, method: str, path: str, body: bytes) -> Reply:
        state = self.server.state
        if path == SESSION_TOKEN:
            scripted = self._scripted(path)
            if scripted is not None:
                return scripted
            if method != "POST":
                return kite_error("GeneralException", "Route not found", 404)
            return self._session_token(body)
        if self.headers.get("X-Kite-Version") != "3":
            return input_error("Invalid `X-Kite-Version` header.")
        expected_prefix = f"token {state.api_key}:"
        auth = self.headers.get("Authorization") or ""
        with state.lock:
            token_ok = auth.startswith(expected_prefix) and auth[len(expected_prefix) :] in state.valid_tokens
        if not token_ok:
            return token_error()
        if path not in READ_PATHS:
            return kite_error("GeneralException", "Route not found", 404)
        if method != "GET":
            return input_error("This fake Kite answers reads only.")
        scripted = self._scripted(path)
        if scripted is not None:
            return scripted
        if path == POSITIONS:
            return success({"net": [], "day": []})
        return success([])

    def _scripted(self, path: str) -> Reply | None:
        state = self.server.state
        with state.lock:
            queue = state.scripts.get(path)
            if not queue:
                return None
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _session_token(self, body: bytes) -> Reply:
        state = self.server.state
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        api_key = form.get("api_key", "")
        request_token = form.get("request_token", "")
        checksum = form.get("checksum", "")
        if not api_key or not request_token or not checksum:
            return input_error("Missing `api_key`, `request_token` or `checksum`.")
        if api_key != state.api_key:
            return token_error("Invalid `api_key`.")
        expected = hashlib.sha256((api_key + request_token + state.api_secret).encode()).hexdigest()
        with state.lock:
            if request_token not in state.request_tokens:
                return token_error("Token is invalid or has expired.")
            if checksum != expected:
                return token_error("Invalid `checksum`.")
            state.request_tokens.discard(request_token)
            access_token = secrets.token_hex(16)
            state.valid_tokens.add(access_token)
        return success(
            {
                "user_type": "individual",
                "email": "trader@example.com",
                "user_name": state.user_name,
                "user_shortname": state.user_name.split()[0],
                "broker": "ZERODHA",
                "exchanges": ["NSE", "NFO", "BFO", "CDS", "BSE", "MCX", "BCD", "MF"],
                "products": ["CNC", "NRML", "MIS", "BO", "CO"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "avatar_url": None,
                "user_id": state.user_id,
                "api_key": state.api_key,
                "access_token": access_token,
                "public_token": secrets.token_hex(8),
                "enctoken": secrets.token_hex(8),
                "refresh_token": "",
                "silo": "",
                "login_time": time.strftime("%Y-%m-%d %H:%M:%S"),
                "meta": {"demat_consent": "physical"},
            }
        )

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
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class FakeKiteServer:
    """Start with ``with FakeKiteServer() as kite:`` (or ``start()``/``stop()``); ``kite.url`` is the root."""

    def __init__(
        self,
        *,
        api_key: str = "fake_api_key",
        api_secret: str = "fake_api_secret",
        access_token: str = "fake_access_token",
        user_id: str = "AB1234",
        user_name: str = "Test Trader",
        rate_limit: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.access_token = access_token
        self._state = _State(api_key, api_secret, user_id, user_name, rate_limit, valid_tokens={access_token})
        self._serving = ServerThread("fake-kite", "the fake Kite server")

    # lifecycle

    def start(self) -> FakeKiteServer:
        self._serving.run(_Server(self._state))
        return self

    def stop(self) -> None:
        self._serving.stop()

    def __enter__(self) -> FakeKiteServer:
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
        """Answers for ``path`` in order; the last one repeats. Replaces an earlier script."""
        if not replies:
            raise ValueError("script needs at least one reply")
        with self._state.lock:
            self._state.scripts[path] = deque(replies)

    def set_positions(
        self, net: Iterable[dict[str, Any]], day: Iterable[dict[str, Any]] | None = None
    ) -> None:
        self.script(POSITIONS, positions_payload(net, day))

    def set_holdings(self, rows: Iterable[dict[str, Any]]) -> None:
        self.script(HOLDINGS, success(list(rows)))

    def set_orders(self, rows: Iterable[dict[str, Any]]) -> None:
        self.script(ORDERS, success(list(rows)))

    # sessions

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working, as at Kite's daily session reset."""
        with self._state.lock:
            self._state.valid_tokens.clear()

    def accept_token(self, token: str) -> None:
        with self._state.lock:
            self._state.valid_tokens.add(token)

    def issue_request_token(self) -> str:
        """What Kite appends to the redirect after the user logs in; valid once."""
        token = secrets.token_hex(12)
        with self._state.lock:
            self._state.request_tokens.add(token)
        return token

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

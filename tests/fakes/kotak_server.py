"""A Kotak Neo trade API on 127.0.0.1: the login host and the data host in one server.

It speaks what the SDK (``kotakneoapi`` 3.0.9) and Kotak's documentation show:

- ``POST /login/1.0/tradeApiLogin`` checks ``Authorization`` (the consumer key, no ``Bearer``)
  and ``neo-fin-key``, reads the JSON body (``mobileNumber``, ``ucc``, ``totp``; the TOTP is
  checked against the fake's own TOTP secret, one 30 s step of drift allowed) and answers a view
  token and ``sid`` in Kotak's ``data`` object.
- ``POST /login/1.0/tradeApiValidate`` checks ``Authorization``, ``neo-fin-key``, and ``sid`` and
  ``Auth`` of a view session, reads ``{"mpin": ...}`` and answers the trade token, its ``sid`` and
  its own address as ``baseUrl``, with no ``dataCenter`` (so the SDK does not call Kotak's
  configuration service).
- ``GET /portfolio/v2/positions`` and ``GET /portfolio/v1/holdings`` check ``Sid`` and ``Auth`` of
  a trade session: anything else is HTTP 403 "Invalid session, please re-login to continue". An
  account without positions answers ``Not_Ok`` "No Data" 5203, as Kotak does.

Answers per path can be scripted (a queue whose last entry repeats), late, as an HTML page, or
not at all (the socket is closed), and every request is recorded for assertions. Standard
library only, so the SDK's own virtual environment can import it (``record_sdk_requests.py``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.serving import LocalServer, ServerThread, TrackedHandler

LOGIN = "/login/1.0/tradeApiLogin"
VALIDATE = "/login/1.0/tradeApiValidate"
POSITIONS = "/portfolio/v2/positions"
HOLDINGS = "/portfolio/v1/holdings"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kotak"
# Fields of the documented positions example that an earlier SDK added, not Kotak.
SDK_ADDED = ("netQty", "averagePrice", "positionPnl", "mtmPnl", "pnlCalculationError")
INVALID_SESSION = "Invalid session, please re-login to continue"


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
        return self.body if self.body is not None else json.dumps(self.payload).encode("utf-8")


def ok(rows: list[dict[str, Any]]) -> Reply:
    """A positions answer as Kotak sends it."""
    return Reply(200, {"stat": "ok", "stCode": 200, "data": rows})


def holdings_reply(rows: list[dict[str, Any]]) -> Reply:
    """A holdings answer: Kotak's holdings carry only ``data``."""
    return Reply(200, {"data": rows})


def not_ok(message: str, code: int, status: int = 200) -> Reply:
    return Reply(status, {"stat": "Not_Ok", "errMsg": message, "stCode": code})


def no_data() -> Reply:
    return Reply(200, fixture("positions_no_data.json"))


def login_error(message: str, code: str = "10522", status: int = 400) -> Reply:
    """The login service's error shape."""
    return Reply(status, {"error": [{"code": code, "message": message}]})


def invalid_session() -> Reply:
    return not_ok(INVALID_SESSION, 403, status=403)


def server_error(status: int) -> Reply:
    words = {
        500: "Unexpected error",
        502: "Not able to communicate with OMS",
        503: "Trade API service is unavailable",
    }
    return not_ok(words.get(status, "Gateway timeout, trade API is unreachable"), status, status=status)


def rate_limited() -> Reply:
    return not_ok("Too many requests to the API", 429, status=429)


def html_page(status: int = 502) -> Reply:
    body = f"<html><head><title>{status} Bad Gateway</title></head><body><h1>{status}</h1></body></html>"
    return Reply(status, body=body.encode(), content_type="text/html")


def dropped() -> Reply:
    return Reply(drop=True)


def delayed(reply: Reply, seconds: float) -> Reply:
    return replace(reply, delay=seconds)


def fixture(name: str) -> Any:
    document = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    if name == "positions.json":
        for row in document["data"]:
            for key in SDK_ADDED:
                row.pop(key, None)
    return document


# --- realistic rows ------------------------------------------------------------------------------


def _token(symbol: str) -> str:
    return str(int(hashlib.sha256(symbol.encode()).hexdigest()[:7], 16))


def position_row(
    trading_symbol: str,
    segment: str = "nse_fo",
    *,
    product: str = "NRML",
    cf_buy: int = 0,
    cf_sell: int = 0,
    fl_buy: int = 0,
    fl_sell: int = 0,
    buy_price: float = 0.0,
    sell_price: float = 0.0,
    settlement: float = 0.0,
    ltp: float = 0.0,
    multiplier: int = 1,
    lot: int = 1,
    token: str | None = None,
    symbol: str | None = None,
) -> dict[str, Any]:
    """A position row with every field Kotak sends, amounts as Kotak scales them (x multiplier).

    ``settlement`` is the previous settlement price at which Kotak values carried quantity.
    """
    money = lambda qty, price: f"{qty * price * multiplier:.2f}"  # noqa: E731
    cash = segment.endswith("_cm")
    return {
        "actId": "ABCXYZ61",
        "brdLtQty": lot,
        "cfBuyAmt": money(cf_buy, settlement),
        "cfSellAmt": money(cf_sell, settlement),
        "cfBuyQty": str(cf_buy),
        "cfSellQty": str(cf_sell),
        "exSeg": segment,
        "buyAmt": money(fl_buy, buy_price),
        "sellAmt": money(fl_sell, sell_price),
        "flBuyQty": str(fl_buy),
        "flSellQty": str(fl_sell),
        "prod": product,
        "series": "EQ" if cash else "XX",
        "tok": token or _token(f"{segment}:{trading_symbol}"),
        "trdSym": trading_symbol,
        "optTp": "XX",
        "stkPrc": "0.00",
        "type": "" if cash else "FUTSTK",
        "sym": symbol or trading_symbol.split("-")[0],
        "sqrFlg": "Y",
        "posFlg": "true",
        "lotSz": str(lot),
        "multiplier": str(multiplier),
        "precision": "2",
        "prcNum": "1",
        "prcDen": "1",
        "hsUpTm": "2026/11/20 12:57:46",
        "expDt": "" if cash else "25 Nov, 2026",
        "exp": "" if cash else "1795651200",
        "genNum": "1",
        "genDen": "1",
        "dscQty": "",
        "upldPrc": f"{settlement:.2f}",
        "updRecvTm": 1784878066658915084,
        "ltp": f"{ltp:.2f}",
    }


def holding_row(
    symbol: str,
    segment: str = "nse_cm",
    *,
    quantity: int,
    average_price: float,
    closing_price: float,
    token: str | None = None,
) -> dict[str, Any]:
    return {
        "displaySymbol": symbol,
        "averagePrice": average_price,
        "quantity": quantity,
        "exchangeSegment": segment,
        "exchangeIdentifier": token or _token(f"{segment}:{symbol}-EQ"),
        "holdingCost": round(quantity * average_price, 4),
        "mktValue": round(quantity * closing_price, 4),
        "scripId": hashlib.sha1(symbol.encode()).hexdigest(),
        "instrumentToken": int(_token(symbol)),
        "instrumentType": "Equity",
        "isAlternateScrip": False,
        "closingPrice": closing_price,
        "symbol": symbol,
        "sellableQuantity": quantity,
    }


def totp_code(secret: str, at: float) -> str:
    """RFC 6238 (HMAC-SHA1, 30 s, 6 digits): what the user's authenticator app shows."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


# --- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class _State:
    consumer_key: str
    neo_fin_key: str
    mobile_number: str
    ucc: str
    totp_secret: str
    mpin: str
    view_sessions: dict[str, str] = field(default_factory=dict)  # sid -> view token
    trade_sessions: dict[str, str] = field(default_factory=dict)  # sid -> trade token
    scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    recorded: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(LocalServer):
    def __init__(self, state: _State) -> None:
        super().__init__(_Handler)
        self.state = state


class _Handler(TrackedHandler):
    server_version = "FakeKotakNeo/1"
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        record = RecordedRequest(method, path, dict(self.headers.items()), body, time.monotonic())
        with state.lock:
            state.recorded.append(record)
        self._send(self._answer(method, path, record))

    def _answer(self, method: str, path: str, request: RecordedRequest) -> Reply:
        state = self.server.state
        if path in (LOGIN, VALIDATE):
            if method != "POST":
                return login_error("Method not allowed", "405", 405)
            if request.header("Authorization") != state.consumer_key:
                return login_error("Invalid consumer key", "401", 401)
            if request.header("neo-fin-key") != state.neo_fin_key:
                return login_error("Invalid neo-fin-key", "401", 401)
            scripted = self._scripted(path)
            if scripted is not None:
                return scripted
            return self._login(request) if path == LOGIN else self._validate(request)
        if path not in (POSITIONS, HOLDINGS):
            return not_ok(f"route '{path}' is invalid", 404, status=404)
        sid, auth = request.header("Sid"), request.header("Auth")
        with state.lock:
            valid = sid is not None and state.trade_sessions.get(sid) == auth
        if not valid:
            return invalid_session()
        if method != "GET":
            return not_ok("This fake Kotak answers reads only.", 405, status=405)
        scripted = self._scripted(path)
        if scripted is not None:
            return scripted
        return no_data() if path == POSITIONS else holdings_reply([])

    def _scripted(self, path: str) -> Reply | None:
        state = self.server.state
        with state.lock:
            queue = state.scripts.get(path)
            if not queue:
                return None
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _login(self, request: RecordedRequest) -> Reply:
        state = self.server.state
        try:
            body = json.loads(request.body)
        except ValueError:
            return login_error("Invalid JSON body", "400")
        if not isinstance(body, dict):
            return login_error("Invalid JSON body", "400")
        for name, label in (("mobileNumber", "MobileNumber"), ("ucc", "Ucc"), ("totp", "Totp")):
            if not body.get(name):
                return login_error(f"Missing required field '{label}'", "400")
        if body["mobileNumber"] != state.mobile_number or str(body["ucc"]).upper() != state.ucc:
            return login_error("Invalid mobile number or UCC", "10500")
        now = time.time()
        if body["totp"] not in {totp_code(state.totp_secret, now + drift) for drift in (-30, 0, 30)}:
            return login_error("Invalid TOTP", "10522")
        sid, token = secrets.token_hex(16), "view." + secrets.token_hex(24)
        with state.lock:
            state.view_sessions[sid] = token
        data = fixture("totp_login.json")["data"]
        data.update(
            token=token, sid=sid, rid=secrets.token_hex(16), ucc=state.ucc, greetingName="TEST TRADER"
        )
        return Reply(200, {"data": data})

    def _validate(self, request: RecordedRequest) -> Reply:
        state = self.server.state
        sid, auth = request.header("sid"), request.header("Auth")
        with state.lock:
            view_ok = sid is not None and state.view_sessions.get(sid) == auth
        if not view_ok:
            return login_error("Invalid view token or sid", "10401", 401)
        try:
            body = json.loads(request.body)
        except ValueError:
            return login_error("Invalid JSON body", "400")
        if not isinstance(body, dict) or not body.get("mpin"):
            return login_error("Missing required field 'Mpin'", "400")
        if body["mpin"] != state.mpin:
            return login_error("Invalid MPIN", "10523")
        trade_sid, token = secrets.token_hex(16), "trade." + secrets.token_hex(24)
        with state.lock:
            state.view_sessions.pop(sid or "", None)
            state.trade_sessions[trade_sid] = token
        data = fixture("totp_validate.json")["data"]
        data.pop("dataCenter", None)
        host, port = self.server.server_address[:2]
        data.update(token=token, sid=trade_sid, baseUrl=f"http://{host!s}:{port}", ucc=state.ucc)
        data["greetingName"] = "TEST TRADER"
        return Reply(200, {"data": data})

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


class FakeKotakServer:
    """Start with ``with FakeKotakServer() as kotak:``; ``kotak.url`` is both hosts' root."""

    def __init__(
        self,
        *,
        consumer_key: str = "fake-consumer-key",
        neo_fin_key: str = "neotradeapi",
        mobile_number: str = "+919876543210",
        ucc: str = "AB123",
        totp_secret: str = "JBSWY3DPEHPK3PXP",
        mpin: str = "123456",
    ) -> None:
        self.consumer_key = consumer_key
        self.totp_secret = totp_secret
        self.mpin = mpin
        self._state = _State(consumer_key, neo_fin_key, mobile_number, ucc.upper(), totp_secret, mpin)
        self._serving = ServerThread("fake-kotak", "the fake Kotak server")

    def start(self) -> FakeKotakServer:
        self._serving.run(_Server(self._state))
        return self

    def stop(self) -> None:
        self._serving.stop()

    def __enter__(self) -> FakeKotakServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def url(self) -> str:
        return self._serving.url

    def totp(self, at: float | None = None) -> str:
        """The code the user's authenticator app shows now."""
        return totp_code(self.totp_secret, time.time() if at is None else at)

    # scripting

    def script(self, path: str, *replies: Reply) -> None:
        """Answers for ``path`` in order; the last one repeats. Replaces an earlier script."""
        if not replies:
            raise ValueError("script needs at least one reply")
        with self._state.lock:
            self._state.scripts[path] = deque(replies)

    def set_positions(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = [dict(r) for r in rows]
        self.script(POSITIONS, ok(rows) if rows else no_data())

    def set_holdings(self, rows: Iterable[dict[str, Any]]) -> None:
        self.script(HOLDINGS, holdings_reply([dict(r) for r in rows]))

    # sessions

    def issue_session(self) -> str:
        """A trade session as ``position-sync login`` stores it (JSON: token, sid, base_url)."""
        sid, token = secrets.token_hex(16), "trade." + secrets.token_hex(24)
        with self._state.lock:
            self._state.trade_sessions[sid] = token
        return json.dumps({"token": token, "sid": sid, "base_url": self.url})

    def expire_sessions(self) -> None:
        """Every session issued so far stops working, as at Kotak's daily reset."""
        with self._state.lock:
            self._state.trade_sessions.clear()
            self._state.view_sessions.clear()

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

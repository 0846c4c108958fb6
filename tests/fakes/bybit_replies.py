"""Bybit v5 answers as the fake Bybit server sends them: the envelope, the error codes, the faults.

Bybit answers nearly everything with HTTP 200 and puts the outcome in ``retCode``: 10002 for a
timestamp outside the receive window, 10003 for an unknown key, 10004 for a bad signature, 10005
for a key without the permission, 10006 past the per-UID rate limit (with ``X-Bapi-Limit*``
headers), 10016 when its service is down. Only the gateway answers with HTTP errors: a bare 403
at the IP limit, HTML pages from the load balancer, and sockets that close with no answer. The
messages are the ones Bybit sends (see its v5 error page and the responses quoted in ccxt).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from tests.fakes.bybit_rows import fixture_response

# --- replies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One answer. ``body`` (raw bytes) wins over ``payload`` (a JSON document)."""

    status: int = 200
    payload: Any = None
    body: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0
    drop: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    def encoded(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps(self.payload, separators=(",", ":")).encode("utf-8")


def _ms() -> int:
    return int(time.time() * 1000)


def ok(result: Any, message: str = "OK") -> Reply:
    return Reply(200, {"retCode": 0, "retMsg": message, "result": result, "retExtInfo": {}, "time": _ms()})


def bybit_error(
    code: int, message: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Reply:
    """Bybit's error envelope; Bybit sends it with HTTP 200 unless the gateway itself refuses."""
    payload = {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": _ms()}
    return Reply(status, payload, headers=headers)


def params_error(message: str) -> Reply:
    return bybit_error(10001, message)


def timestamp_error(
    req_timestamp: int | str = 0, server_timestamp: int | None = None, recv_window: int = 5000
) -> Reply:
    """10002: the request's timestamp is outside the receive window (a clock that is off)."""
    server = server_timestamp if server_timestamp is not None else _ms()
    return bybit_error(
        10002,
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{req_timestamp}],server_timestamp[{server}],recv_window[{recv_window}]",
    )


def invalid_key() -> Reply:
    return bybit_error(10003, "API key is invalid.")


def sign_error(origin: str = "") -> Reply:
    """10004: Bybit echoes the string it signed, so a client can compare."""
    return bybit_error(10004, f"error sign! origin_string[{origin}]")


def permission_denied() -> Reply:
    return bybit_error(10005, "Permission denied, please check your API key permissions.")


def too_many_visits(limit: int = 50, reset_ms: int | None = None) -> Reply:
    """10006, the per-UID limit, with the headers that say when it resets."""
    reset = reset_ms if reset_ms is not None else _ms() + 1000
    headers = (
        ("X-Bapi-Limit", str(limit)),
        ("X-Bapi-Limit-Status", "0"),
        ("X-Bapi-Limit-Reset-Timestamp", str(reset)),
    )
    return bybit_error(10006, "Too many visits!", headers=headers)


def server_busy() -> Reply:
    """10016: "internal server error; service is restarting" in an HTTP 200 envelope."""
    return bybit_error(10016, "Server error.")


def request_timeout() -> Reply:
    """10016 with the message ccxt maps to ``RequestTimeout`` by its text."""
    return bybit_error(10016, "Request timeout, please try again later")


def route_not_found() -> Reply:
    return bybit_error(10017, "Route not found", status=404)


def http_error(status: int = 503, text: str = "Service Unavailable") -> Reply:
    """A bare HTTP error with a plain-text body, as a gateway sends it."""
    return Reply(status, body=text.encode(), content_type="text/plain; charset=utf-8")


def ip_banned() -> Reply:
    """The IP limit (600 requests per 5 s): a bare 403, "access too frequent"."""
    return http_error(403, "403 Forbidden: access too frequent")


def html_page(status: int = 502) -> Reply:
    """A load balancer's error page: what arrives when Bybit's own service is not answering."""
    body = (
        f"<html><head><title>{status} Bad Gateway</title></head>"
        f"<body><center><h1>{status} Bad Gateway</h1></center><hr><center>openresty</center></body></html>"
    ).encode()
    return Reply(status, body=body, content_type="text/html")


def dropped() -> Reply:
    return Reply(drop=True)


def delayed(reply: Reply, seconds: float) -> Reply:
    return replace(reply, delay=seconds)


def fixture_reply(name: str) -> Reply:
    """A stored real response (``tests/fixtures/bybit``) served with its rows unchanged."""
    return Reply(200, fixture_response(name))

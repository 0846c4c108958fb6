"""Binance's answers as the fake Binance server sends them: successes, its error envelope with the
codes and HTTP statuses Binance uses, and the failures of the network in front of it.

A test scripts these per path (``FakeBinanceServer.script``); each helper is named for what the
adapter must survive, and its docstring says what Binance sends in that case.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One answer. ``body`` (raw bytes) wins over ``payload`` (a JSON document)."""

    status: int = 200
    payload: Any = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False

    def encoded(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps(self.payload).encode("utf-8")


def ok(payload: Any) -> Reply:
    return Reply(200, payload)


def binance_error(code: int, msg: str, status: int = 400, **headers: str) -> Reply:
    """Binance's error envelope ``{"code": -NNNN, "msg": ...}``."""
    return Reply(status, {"code": code, "msg": msg}, headers=tuple(headers.items()))


def invalid_api_key() -> Reply:
    return binance_error(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def missing_api_key() -> Reply:
    return binance_error(-2014, "API-key format invalid.", 401)


def bad_signature() -> Reply:
    return binance_error(-1022, "Signature for this request is not valid.")


def timestamp_outside_window() -> Reply:
    return binance_error(-1021, "Timestamp for this request is outside of the recvWindow.")


def rate_limited(retry_after: int = 30, limit: int = 2400) -> Reply:
    """HTTP 429 -1003 with ``Retry-After`` (seconds), as Binance answers past the weight limit."""
    return binance_error(
        -1003,
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use the websocket for live updates to avoid polling the API.",
        429,
        **{"Retry-After": str(retry_after)},
    )


def ip_banned(retry_after: int = 120) -> Reply:
    """HTTP 418: the automatic IP ban for continuing past 429s, with ``Retry-After``."""
    until = int(time.time() * 1000) + retry_after * 1000
    return binance_error(
        -1003,
        f"Way too much request weight used; IP banned until {until}. "
        "Please use the websocket for live updates to avoid bans.",
        418,
        **{"Retry-After": str(retry_after)},
    )


def internal_error() -> Reply:
    """HTTP 503 -1001: Binance's own "try again", which ccxt maps to OperationFailed."""
    return binance_error(-1001, "Internal error; unable to process your request. Please try again.", 503)


def html_page(status: int = 502) -> Reply:
    """What a CDN or load balancer in front of Binance sends when the API behind it is down."""
    body = (
        f"<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()
    return Reply(status, body=body, content_type="text/html")


def dropped() -> Reply:
    """The connection is closed without any response."""
    return Reply(drop=True)


def delayed(reply: Reply, seconds: float) -> Reply:
    return replace(reply, delay=seconds)


def unknown_path(method: str, path: str) -> Reply:
    return binance_error(-5000, f"Path {path}, Method {method} is invalid", 404)


def refused_write() -> Reply:
    return binance_error(-2010, "The fake Binance answers reads only: nothing was placed or changed.")

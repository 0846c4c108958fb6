"""Kotak Neo's HTTP API, spoken by a thin client of our own on ``requests``.

Why not the official SDK (``kotakneoapi`` 3.0.9, import ``neo_api_client``): it pulls pandas
(75 MB on disk; numpy the app already has) into a desktop bundle whose whole budget is 150-200
MB, takes ~0.5 s and ~75 MB of resident memory to import (``benchmarks/kotak_sync.py``),
configures ``structlog`` globally and pins the ``httpx`` loggers, writes ``./logs`` and
``~/.kotak_neo/`` unless its environment switches are set first, and has no setting for its login
host (a test must overwrite a module constant). The four calls this
program needs are small, so they are sent here exactly as the SDK 3.0.9 sends them (its
``services/totp.py``, ``services/positions.py``, ``services/portfolio.py`` and ``rest.py``):

- ``POST {login host}/login/1.0/tradeApiLogin``: headers ``Authorization: <consumer key>`` (no
  ``Bearer``), ``neo-fin-key``, ``Content-Type: application/json``; JSON body ``mobileNumber``,
  ``ucc``, ``totp``. Answers a view token and ``sid`` in ``data``.
- ``POST {login host}/login/1.0/tradeApiValidate``: ``Authorization``, ``sid`` and ``Auth`` (the
  view token), ``neo-fin-key``; JSON body ``mpin``. Answers the trade token, its ``sid`` and the
  ``baseUrl`` every later request goes to.
- ``GET {baseUrl}/portfolio/v2/positions``: ``Sid``, ``Auth`` (the trade token),
  ``accept: application/json``.
- ``GET {baseUrl}/portfolio/v1/holdings``: ``Sid``, ``Auth``,
  ``Content-Type: application/x-www-form-urlencoded``, ``accept: */*``.

Nothing else can be sent: ``KotakClient`` has no method for any other route, so no code path
here places, modifies or cancels an order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DEFAULT_LOGIN_ROOT = "https://mis.kotaksecurities.com"
LOGIN_PATH = "login/1.0/tradeApiLogin"
VALIDATE_PATH = "login/1.0/tradeApiValidate"
POSITIONS_PATH = "portfolio/v2/positions"
HOLDINGS_PATH = "portfolio/v1/holdings"
# What the SDK sends when the caller names none (``NeoUtility.get_neo_fin_key``).
DEFAULT_NEO_FIN_KEY = "neotradeapi"

# Kotak's documented statuses of the portfolio endpoints, for the sentence of a failure.
STATUS_WORDS = {
    400: "invalid or missing input parameters",
    403: "invalid session, please re-login to continue",
    429: "too many requests to the API",
    500: "unexpected error",
    502: "not able to communicate with OMS",
    503: "trade API service is unavailable",
    504: "gateway timeout, trade API is unreachable",
}


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: its status, content type and the JSON document (None when not JSON)."""

    status: int
    content_type: str
    document: Any
    is_json: bool


@dataclass(frozen=True)
class Session:
    """A trade session: what ``tradeApiValidate`` answered and every data request carries."""

    token: str
    sid: str
    base_url: str

    def to_json(self) -> str:
        return json.dumps({"token": self.token, "sid": self.sid, "base_url": self.base_url})

    @classmethod
    def from_json(cls, text: str) -> Session | None:
        """The stored session, or None for text that is not one (an older or damaged entry)."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        token, sid, base_url = data.get("token"), data.get("sid"), data.get("base_url")
        if not all(isinstance(v, str) and v for v in (token, sid, base_url)):
            return None
        return cls(str(token), str(sid), str(base_url))


class KotakClient:
    """The four requests, on one ``requests`` session; blocking, so callers run it in a thread."""

    def __init__(self, *, consumer_key: str, neo_fin_key: str, login_root: str, timeout: float) -> None:
        self.consumer_key = consumer_key
        self.neo_fin_key = neo_fin_key
        self.login_root = login_root.rstrip("/")
        self.timeout = timeout
        import requests  # here, not at the top: a headless start with a Kotak account stays lean

        self.http = requests.Session()
        self.http.headers.update({"Accept": "application/json", "Accept-Encoding": "gzip, deflate"})

    def close(self) -> None:
        self.http.close()

    # --- login --------------------------------------------------------------------------------

    def login(self, mobile_number: str, ucc: str, totp: str) -> Answer:
        headers = {
            "Authorization": self.consumer_key,
            "neo-fin-key": self.neo_fin_key,
            "Content-Type": "application/json",
        }
        body = {"mobileNumber": mobile_number, "ucc": ucc, "totp": totp}
        return self._send("POST", f"{self.login_root}/{LOGIN_PATH}", headers, json.dumps(body))

    def validate(self, sid: str, view_token: str, mpin: str) -> Answer:
        headers = {
            "Authorization": self.consumer_key,
            "sid": sid,
            "Auth": view_token,
            "neo-fin-key": self.neo_fin_key,
            # The SDK's REST layer adds it to a request that names no content type.
            "Content-Type": "application/json",
        }
        return self._send("POST", f"{self.login_root}/{VALIDATE_PATH}", headers, json.dumps({"mpin": mpin}))

    # --- reads --------------------------------------------------------------------------------

    def positions(self, session: Session) -> Answer:
        headers = {
            "Sid": session.sid,
            "Auth": session.token,
            "accept": "application/json",
            "Content-Type": "application/json",
        }
        return self._send("GET", data_url(session, POSITIONS_PATH), headers, None)

    def holdings(self, session: Session) -> Answer:
        headers = {
            "Sid": session.sid,
            "Auth": session.token,
            "Content-Type": "application/x-www-form-urlencoded",
            "accept": "*/*",
        }
        return self._send("GET", data_url(session, HOLDINGS_PATH), headers, None)

    def _send(self, method: str, url: str, headers: dict[str, str], body: str | None) -> Answer:
        response = self.http.request(
            method, url, headers=headers, data=body, timeout=self.timeout, allow_redirects=False
        )
        content_type = response.headers.get("Content-Type", "")
        try:
            document = json.loads(response.content) if response.content else None
            is_json = bool(response.content)
        except ValueError:
            document, is_json = None, False
        return Answer(response.status_code, content_type, document, is_json)


def data_url(session: Session, path: str) -> str:
    """The SDK's ``get_url_details``: the session's ``baseUrl`` and the path, one slash between."""
    return f"{session.base_url.rstrip('/')}/{path}"


def error_message(document: Any) -> str | None:
    """What a Kotak error body says, in any of its shapes.

    The order and portfolio services answer ``{"stat": "Not_Ok", "errMsg": ..., "stCode": ...}``
    (older ones ``emsg``), the login service ``{"error": [{"code": ..., "message": ...}]}``.
    """
    if not isinstance(document, dict):
        return None
    for key in ("errMsg", "emsg", "message", "Message"):
        value = document.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    errors = document.get("error")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()
    return None


def status_code(document: Any) -> str | None:
    """Kotak's own code of an error body (``stCode`` 5203, login ``error[0].code`` "10522")."""
    if not isinstance(document, dict):
        return None
    code = document.get("stCode")
    if code is None:
        errors = document.get("error")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = errors[0].get("code")
    return None if code is None else str(code)

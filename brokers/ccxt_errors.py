"""What a ccxt exception means for one read: always a failed read, in one sentence.

ccxt's classes do not line up with "retry later" and "give up": a Binance 503 with code -1001
is plain ``OperationFailed`` (not a ``NetworkError``), a 429 is ``DDoSProtection``, a wrong
clock ``InvalidNonce`` (a ``NetworkError``), a refused key ``AuthenticationError`` or
``PermissionDenied``. None of them, nor anything else raised while reading (a ``KeyError`` in
ccxt's own parsing, an aiohttp error it did not wrap), may ever pass for an empty account
(safety rule 1), so every exception becomes a ``ReadError``; the only choice made here is which
kind and which words. The order of the checks matters: subclasses before their bases.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from position_sync.app.errors import LoginRequired, ReadError, ReadErrorKind
from position_sync.app.redact import mask_urls_in
from position_sync.brokers.ccxt_import import ccxt_errors

_JSON_IN_TEXT = re.compile(r"\{.*\}", re.DOTALL)
# The exchanges' codes for a refused key, whatever class ccxt raises for them: after a good
# private spot call ccxt's Binance reports -2015 as ``DDoSProtection``, which must not read as
# "rate limited" to a trader whose key was revoked.
KEY_REFUSED_CODES = frozenset({"-2014", "-2015", "-1022", "10003", "10004", "10005"})
_MAX_DETAIL = 160


class ReadOnlyRefused(PermissionError):
    """A request this program never sends (an order, a leverage change) was about to go out."""


def exchange_detail(exc: BaseException) -> str:
    """What the exchange said, short: ``code -2015: Invalid API-key...`` when it sent an envelope.

    ccxt's messages start with the exchange's id and often carry the whole body or the request
    URL (its query holds the signature): only the envelope's code and message are kept, and any
    URL left is masked.
    """
    text = str(exc).strip()
    match = _JSON_IN_TEXT.search(text)
    if match:
        try:
            body: Any = json.loads(match.group(0))
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = next((body[k] for k in ("code", "retCode", "error_code") if k in body), None)
            message = next((body[k] for k in ("msg", "retMsg", "error", "message") if body.get(k)), None)
            if code is not None or message is not None:
                said = f"code {code}: {message}" if code is not None else str(message)
                return _short(said)
    first_word, _, rest = text.partition(" ")
    if rest and first_word.isalnum() and first_word.islower():  # ccxt's "<exchange id> <message>"
        text = rest
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return "an HTML page instead of JSON"
    return _short(mask_urls_in(text)) if text else type(exc).__name__


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def read_error(exc: BaseException, exchange: str, what: str) -> ReadError:
    """The failed read of ``what`` ("positions", "the market list") at ``exchange`` ("Binance")."""
    ccxt = ccxt_errors()

    detail = exchange_detail(exc)
    where = f"{exchange} {what}"
    if isinstance(exc, ReadError):
        return exc
    if isinstance(exc, ReadOnlyRefused):
        return ReadError(ReadErrorKind.SOURCE, f"{where}: {exc}; nothing was sent")
    refused_code = detail.startswith("code ") and detail[5:].partition(":")[0] in KEY_REFUSED_CODES
    if isinstance(exc, ccxt.AuthenticationError) or refused_code:  # PermissionDenied, AccountSuspended too
        return LoginRequired(
            f"{exchange} refused the API key while reading {what} ({detail}): the API key was "
            "refused; check the key and secret, the key's read permission and its IP allow-list"
        )
    if isinstance(exc, ccxt.InvalidNonce):
        return ReadError(
            ReadErrorKind.HTTP,
            f"{where} refused the request's timestamp ({detail}): this computer's clock is off; "
            "set it to synchronise automatically",
        )
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):  # RateLimitExceeded is one
        return ReadError(ReadErrorKind.RATE_LIMITED, f"{where}: rate limited by the exchange ({detail})")
    if isinstance(exc, ccxt.RequestTimeout | asyncio.TimeoutError | TimeoutError):
        return ReadError(ReadErrorKind.TIMEOUT, f"{where}: no answer within the request timeout")
    if isinstance(exc, ccxt.OnMaintenance):
        return ReadError(ReadErrorKind.HTTP, f"{where}: the exchange is in maintenance ({detail})")
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return ReadError(ReadErrorKind.HTTP, f"{where}: the exchange is unavailable ({detail})")
    if isinstance(exc, ccxt.BadResponse):  # NullResponse too
        return ReadError(ReadErrorKind.MALFORMED, f"{where}: the answer could not be read ({detail})")
    if isinstance(exc, ccxt.NetworkError):
        return ReadError(ReadErrorKind.NETWORK, f"{where}: network error ({detail})")
    if isinstance(exc, ccxt.OperationFailed):  # Binance 503 -1001 lands here, not in NetworkError
        return ReadError(ReadErrorKind.HTTP, f"{where}: the exchange failed the request ({detail})")
    if isinstance(exc, ccxt.ExchangeError):
        return ReadError(ReadErrorKind.HTTP, f"{where}: the exchange refused the request ({detail})")
    if isinstance(exc, OSError):
        return ReadError(ReadErrorKind.NETWORK, f"{where}: network error ({type(exc).__name__})")
    return ReadError(
        ReadErrorKind.MALFORMED, f"{where}: the answer could not be read ({type(exc).__name__}: {detail})"
    )

"""The Kotak Neo login: ``position-sync login kotak --account ID``.

Kotak's trade API logs in in two steps, both to the login host (``api_root``):

1. ``tradeApiLogin`` with the account's mobile number and UCC from the config and a TOTP: typed
   by the user from their authenticator app, or, only when the account opts in with
   ``totp_from_keyring = true``, computed here from the TOTP secret kept in the keyring entry
   ``ACCOUNT:totp_secret`` (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits, as Kotak's QR code sets
   up). It answers a view token and a ``sid``.
2. ``tradeApiValidate`` with the MPIN, typed hidden and never stored anywhere. It answers the
   trade token, its ``sid`` and the ``baseUrl`` of the account's data centre.

Token, ``sid`` and ``baseUrl`` go to one keyring entry (``ACCOUNT:session``), where the adapter
reads them. Input and output are parameters so tests and the window can drive every step; the
window asks ``questions(account)`` in a dialog and writes the answers to this command's input.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import re
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from position_sync.app.broker import AdapterContext, LoginQuestion
from position_sync.app.config import AccountConfig, check_broker_options
from position_sync.app.errors import ConfigError
from position_sync.app.secrets import SecretUnavailable, keyring_username
from position_sync.brokers.kotak import (
    SESSION_SECRET,
    SPEC,
    TOTP_SECRET,
    consumer_key_of,
    login_root_of,
    neo_fin_key_of,
)
from position_sync.brokers.kotak_http import STATUS_WORDS, Answer, KotakClient, Session, error_message
from position_sync.brokers.raw_fields import short_text
from position_sync.brokers.session_refusal import network_cause

TOTP_QUESTION = LoginQuestion("TOTP from your authenticator app")
MPIN_QUESTION = LoginQuestion("Kotak MPIN", secret=True)
_TOTP = re.compile(r"^\d{6}$")
_MPIN = re.compile(r"^\d{4,6}$")


class LoginError(Exception):
    """The login did not produce a stored session; the message is one sentence saying why."""


@dataclass(frozen=True)
class LoginResult:
    """What the CLI prints after a successful login (never the token, the MPIN or the TOTP)."""

    account_id: str
    ucc: str
    name: str | None
    stored_in: str

    def __str__(self) -> str:
        who = f"{self.ucc} ({self.name})" if self.name else self.ucc
        return f"Logged in to Kotak Neo as {who} for account {self.account_id}; the session is in the {self.stored_in}."


def questions(account: AccountConfig) -> tuple[LoginQuestion, ...]:
    """What ``login`` will ask, in its order: the TOTP unless it comes from the keyring, the MPIN."""
    if _totp_from_keyring(account):
        return (MPIN_QUESTION,)
    return (TOTP_QUESTION, MPIN_QUESTION)


def read_secret(label: str) -> str:
    """Hidden typing at a terminal; one line of input otherwise (the window's login process).

    ``getpass`` would open the controlling terminal even when the input is a pipe, so a window
    started from a shell would wait for an answer typed there instead of the one it wrote.
    """
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"{label}: ")
    print(f"{label}: ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise EOFError(label)
    return line.rstrip("\r\n")


def login(
    account: AccountConfig,
    context: AdapterContext,
    *,
    prompt: Callable[[str], str] = input,
    secret_prompt: Callable[[str], str] = read_secret,
    tell: Callable[[str], None] = print,
    clock: Callable[[], float] = time.time,
) -> LoginResult:
    """Log ``account`` in to Kotak Neo and store the trade session in the keyring.

    ``ConfigError`` for a setup that cannot work (not a Kotak account, no mobile number or UCC,
    an opted-in TOTP secret missing from the keyring); ``LoginError`` for a login that failed.
    """
    if account.broker != "kotak":
        raise ConfigError(
            account.config_path, f"accounts.{account.id}.broker", f"is '{account.broker}', not 'kotak'"
        )
    check_broker_options(SPEC, account)
    mobile = _required(
        account, "mobile_number", "the mobile number registered with Kotak, like +919876543210"
    )
    ucc = _required(account, "ucc", "your Unique Client Code from the Kotak Neo app's Profile")
    client = KotakClient(
        consumer_key=consumer_key_of(account),
        neo_fin_key=neo_fin_key_of(account),
        login_root=login_root_of(account),
        timeout=account.timeout,
    )
    try:
        totp = _totp(account, context, prompt, clock)
        view = _data(_call(client.login, account.id, "login", mobile, ucc, totp), account.id, "login")
        view_token, view_sid = _field(view, "token", "login"), _field(view, "sid", "login")
        mpin = _ask(secret_prompt, MPIN_QUESTION)
        if not _MPIN.match(mpin):
            raise LoginError("An MPIN is 4 to 6 digits; run the login again and type your Kotak MPIN.")
        trade = _data(
            _call(client.validate, account.id, "MPIN check", view_sid, view_token, mpin),
            account.id,
            "MPIN check",
        )
        del mpin
    finally:
        client.close()
    session = Session(
        token=_field(trade, "token", "MPIN check"),
        sid=_field(trade, "sid", "MPIN check"),
        base_url=_base_url(trade.get("baseUrl")),
    )
    try:
        context.secrets.store(account.id, SESSION_SECRET, session.to_json())
    except Exception as exc:  # keyring backends raise their own types (no backend, locked, D-Bus)
        raise LoginError(
            f"Kotak login worked but the session could not be stored in the keyring "
            f"({type(exc).__name__}); set up a keyring and log in again."
        ) from exc
    tell(f"Reads for account {account.id} will go to {session.base_url}.")
    name = trade.get("greetingName") or view.get("greetingName")
    return LoginResult(
        account_id=account.id,
        ucc=str(trade.get("ucc") or view.get("ucc") or ucc),
        name=name.strip() if isinstance(name, str) and name.strip() else None,
        stored_in=context.secrets.source(account.id, {}, SESSION_SECRET),
    )


def totp_now(secret: str, at: float, digits: int = 6, step: int = 30) -> str:
    """RFC 6238's code for a base32 ``secret`` at time ``at`` (HMAC-SHA1 over the step count)."""
    key = base64.b32decode(_base32(secret), casefold=True)
    counter = struct.pack(">Q", int(at) // step)
    mac = hmac.new(key, counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def _base32(secret: str) -> str:
    text = re.sub(r"[\s-]", "", secret).upper()
    return text + "=" * (-len(text) % 8)


def _totp_from_keyring(account: AccountConfig) -> bool:
    value = account.options.get("totp_from_keyring", False)
    if not isinstance(value, bool):
        raise ConfigError(
            account.config_path, f"accounts.{account.id}.totp_from_keyring", "must be true or false"
        )
    return value


def _totp(
    account: AccountConfig, context: AdapterContext, prompt: Callable[[str], str], clock: Callable[[], float]
) -> str:
    if not _totp_from_keyring(account):
        totp = _ask(prompt, TOTP_QUESTION).replace(" ", "")
        if not _TOTP.match(totp):
            raise LoginError("A TOTP is the 6 digits your authenticator app shows; run the login again.")
        return totp
    entry = f"keyring entry 'position-sync' / '{keyring_username(account.id, TOTP_SECRET)}'"
    try:
        secret = context.secrets.from_keyring(account.id, TOTP_SECRET)
    except SecretUnavailable as exc:
        raise LoginError(f"The TOTP secret could not be read: {exc}.") from exc
    if not secret:
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}.totp_from_keyring",
            f"is true but the {entry} is empty; store the secret of Kotak's TOTP QR code there "
            f"(`keyring set position-sync {account.id}:{TOTP_SECRET}`) or set totp_from_keyring = false",
        )
    try:
        return totp_now(secret, clock())
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}.totp_from_keyring",
            f"is true but the {entry} is not a base32 TOTP secret",
        ) from exc


def _ask(ask: Callable[[str], str], question: LoginQuestion) -> str:
    try:
        answer = ask(f"{question.label}: ")
    except (EOFError, KeyboardInterrupt):
        raise LoginError(f"No {question.label} was typed; run the login again.") from None
    return answer.strip()


def _required(account: AccountConfig, name: str, what: str) -> str:
    value = (account.str_option(name) or "").strip()
    if not value:
        raise ConfigError(
            account.config_path, f"accounts.{account.id}.{name}", f"is needed for the login: {what}"
        )
    return value


def _call(send: Callable[..., Answer], account_id: str, step: str, *args: str) -> Answer:
    try:
        return send(*args)
    except requests.Timeout as exc:
        raise LoginError(
            f"Kotak did not answer the {step} of account {account_id} in time; try again."
        ) from exc
    except requests.RequestException as exc:
        raise LoginError(
            f"Kotak could not be reached for the {step} of account {account_id}: "
            f"{network_cause(exc, urlsplit(getattr(exc.request, 'url', '') or '').netloc or 'the login host')}."
        ) from exc


def _data(answer: Answer, account_id: str, step: str) -> dict[str, Any]:
    """The ``data`` of a successful step; any other answer is one sentence saying why not."""
    document = answer.document
    data = document.get("data") if isinstance(document, dict) else None
    said = error_message(document)
    if 200 <= answer.status < 300 and isinstance(data, dict) and data.get("status", "success") == "success":
        return data
    if answer.status == 429 or answer.status >= 500:
        words = said or STATUS_WORDS.get(answer.status, "no message")
        raise LoginError(
            f"Kotak could not finish the {step} of account {account_id} right now "
            f"(HTTP {answer.status}: {short_text(words)}); try again in a minute."
        )
    if not answer.is_json:
        raise LoginError(
            f"Kotak answered the {step} of account {account_id} with something that is not JSON (HTTP {answer.status})."
        )
    raise LoginError(
        f"Kotak refused the {step} of account {account_id} (HTTP {answer.status}: {short_text(said or 'no message')}); "
        "check the TOTP, MPIN, mobile number and UCC and log in again."
    )


def _field(data: dict[str, Any], name: str, step: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LoginError(f"Kotak accepted the {step} but sent no {name} back; try again.")
    return value.strip()


def _base_url(value: Any) -> str:
    """The data host every read goes to: an http(s) address, or the login is not usable."""
    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LoginError(
            f"Kotak's MPIN check answered no usable baseUrl ({short_text(value or 'none')!s}); try again."
        )
    return text.rstrip("/")

"""The daily Kite login: ``position-sync login kite --account ID``.

Kite sessions end every morning, and a new one needs the user in a browser: Kite's login page
redirects to the app's registered redirect URL with a one-time ``request_token``, which is then
exchanged (with the API secret) for the day's access token. This module drives that once:

1. open Kite's login page in the browser (and print its address, for machines without one);
2. take the redirect, either caught by a one-shot listener on 127.0.0.1 when the account's
   ``redirect_url`` points there with a port, or pasted by the user (the whole address from the
   browser's bar, or the bare request token);
3. exchange the token and store the access token in the keyring, where the adapter reads it.

Browser, input and output are parameters so tests (and a GUI) can drive every step.
"""

from __future__ import annotations

import re
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig, check_broker_options
from position_sync.app.errors import ConfigError
from position_sync.brokers.kite import SPEC, api_key_of, api_root_of, network_cause

LISTEN_SECONDS = 300.0
_TOKEN = re.compile(r"^[A-Za-z0-9]{8,128}$")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})

_DONE_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Position Sync</title></head>"
    "<body style='font-family:sans-serif;margin:3em'><h2>{title}</h2><p>{text}</p></body></html>"
)


class LoginError(Exception):
    """The login did not produce a stored token; the message is one sentence saying why."""


@dataclass(frozen=True)
class LoginResult:
    """What the CLI prints after a successful login (never the token itself)."""

    account_id: str
    user_id: str | None
    user_name: str | None
    stored_in: str

    def __str__(self) -> str:
        who = self.user_id or "the Kite user"
        if self.user_name:
            who += f" ({self.user_name})"
        return f"Logged in to Kite as {who} for account {self.account_id}; the access token is in the {self.stored_in}."


def login(
    account: AccountConfig,
    context: AdapterContext,
    *,
    open_browser: Callable[[str], bool] = webbrowser.open,
    prompt: Callable[[str], str] = input,
    tell: Callable[[str], None] = print,
    listen_seconds: float = LISTEN_SECONDS,
) -> LoginResult:
    """Log account ``account`` in to Kite and store the day's access token in the keyring.

    Raises ``ConfigError`` for configuration that cannot work (not a Kite account, no API key,
    no API secret, a token configured to come from an environment variable) and ``LoginError``
    for a login that failed (no redirect in time, a refused request token, no network).
    """
    if account.broker != "kite":
        raise ConfigError(
            account.config_path, f"accounts.{account.id}.broker", f"is '{account.broker}', not 'kite'"
        )
    check_broker_options(SPEC, account)
    api_key = api_key_of(account)
    api_root = api_root_of(account)
    env_name = account.options.get("access_token_env")
    if isinstance(env_name, str) and env_name:
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}.access_token_env",
            f"makes the account read its token from environment variable {env_name}, so a token stored "
            "by position-sync login would never be used; remove access_token_env to use the keyring",
        )
    redirect = _local_redirect(account)
    api_secret = context.secrets.get(account.id, account.options, "api_secret")
    if not api_secret:
        where = context.secrets.source(account.id, account.options, "api_secret")
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}",
            f"has no Kite API secret in the {where}; store it there (for example with "
            f"`keyring set position-sync {account.id}:api_secret`) or name a variable with api_secret_env",
        )
    client = KiteConnect(api_key, root=api_root, timeout=account.timeout)
    try:
        url = client.login_url()
        if redirect is not None:
            request_token = _catch_redirect(redirect, url, open_browser, tell, listen_seconds)
        else:
            _show(url, open_browser, tell)
            request_token = parse_request_token(
                prompt("Paste the address Kite sent you to after logging in (or just its request_token): ")
            )
        session = _exchange(client, account.id, request_token, api_secret)
    finally:
        client.reqsession.close()
    user_id = _text(session.get("user_id"))
    expected_user = account.options.get("user_id")
    if (
        isinstance(expected_user, str)
        and expected_user
        and user_id
        and user_id.upper() != expected_user.upper()
    ):
        raise LoginError(
            f"Kite logged in user {user_id}, but account {account.id} is set up for user {expected_user}; "
            "log out of Kite in the browser and log in as the right user."
        )
    access_token = _text(session.get("access_token"))
    if not access_token:
        raise LoginError("Kite accepted the login but sent no access token back; try again.")
    try:
        context.secrets.store(account.id, "access_token", access_token)
    except Exception as exc:  # keyring backends raise their own types (no backend, locked, D-Bus)
        raise LoginError(
            f"Kite login worked but the access token could not be stored in the keyring "
            f"({type(exc).__name__}: {exc}); set up a keyring or use access_token_env."
        ) from exc
    return LoginResult(
        account_id=account.id,
        user_id=user_id,
        user_name=_text(session.get("user_name")),
        stored_in=context.secrets.source(account.id, {}, "access_token"),
    )


def parse_request_token(pasted: str) -> str:
    """The request token from what the user pasted: the redirect address or the bare token."""
    text = pasted.strip().strip("'\"<>")
    if not text:
        raise LoginError("Nothing was pasted; run the login again and paste the address Kite redirected to.")
    if "request_token=" in text or "://" in text:
        query = parse_qs(urlsplit(text).query) if "://" in text else parse_qs(text.partition("?")[2] or text)
        status = (query.get("status") or [""])[0]
        tokens = query.get("request_token") or []
        if status and status != "success":
            raise LoginError(f"Kite reports the login as '{status}', not 'success'; log in again.")
        if not tokens:
            raise LoginError(
                "The pasted address has no request_token in it; paste the address Kite redirected to."
            )
        text = tokens[0].strip()
    if not _TOKEN.match(text):
        raise LoginError("That does not look like a Kite request token (letters and digits only).")
    return text


@dataclass(frozen=True)
class _Redirect:
    host: str
    port: int
    path: str


def _local_redirect(account: AccountConfig) -> _Redirect | None:
    """The listener to start, when ``redirect_url`` points at this machine with a port."""
    raw = account.str_option("redirect_url")
    if raw is None:
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}.redirect_url",
            f"must be the redirect URL registered for your Kite app, like http://127.0.0.1:5000/kite, not {raw!r}",
        )
    if parts.hostname not in _LOCAL_HOSTS:
        return None
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        return None
    if parts.scheme == "https":
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}.redirect_url",
            "points at this machine over https, which the login listener cannot answer; register an "
            "http://127.0.0.1:PORT/ address for your Kite app",
        )
    return _Redirect("127.0.0.1", port, parts.path or "/")


def _show(url: str, open_browser: Callable[[str], bool], tell: Callable[[str], None]) -> None:
    tell(f"Log in to Kite in your browser: {url}")
    try:
        opened = open_browser(url)
    except Exception:  # no browser, no display: the printed address is the way
        opened = False
    if not opened:
        tell("No browser could be opened; open the address above yourself.")


class _Catch:
    """What the one-shot listener caught, handed from its thread to the waiting one."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.token: str | None = None
        self.error: str | None = None


def _catch_redirect(
    redirect: _Redirect,
    url: str,
    open_browser: Callable[[str], bool],
    tell: Callable[[str], None],
    listen_seconds: float,
) -> str:
    caught = _Catch()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """The terminal shows the login's own messages, not an access log."""

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            tokens = query.get("request_token") or []
            status = (query.get("status") or ["success"])[0]
            if caught.done.is_set():
                self._page(409, "Already logged in", "Position Sync already has a login; close this tab.")
            elif tokens and status == "success":
                caught.token = tokens[0]
                self._page(200, "Logged in", "Position Sync has the login. You can close this tab.")
                caught.done.set()
            elif status != "success" or "action" in query:
                caught.error = f"Kite reports the login as '{status}', not 'success'; log in again."
                self._page(400, "Login failed", "Kite did not confirm the login. Run the login again.")
                caught.done.set()
            else:  # the browser asking for /favicon.ico and the like
                self._page(404, "Not found", "Waiting for Kite's redirect.")

        def _page(self, status: int, title: str, text: str) -> None:
            body = _DONE_PAGE.format(title=title, text=text).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    try:
        server = HTTPServer((redirect.host, redirect.port), Handler)
    except OSError as exc:
        raise LoginError(
            f"Cannot listen on {redirect.host}:{redirect.port} for Kite's redirect ({exc.strerror or exc}); "
            "close what uses that port or change redirect_url."
        ) from exc
    server.timeout = 0.2
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set() and not caught.done.is_set():
            server.handle_request()

    thread = threading.Thread(target=serve, name="kite-login-listener", daemon=True)
    thread.start()
    try:
        _show(url, open_browser, tell)
        tell(f"Waiting for Kite's redirect to http://{redirect.host}:{redirect.port}{redirect.path} ...")
        if not caught.done.wait(listen_seconds):
            raise LoginError(
                f"No redirect from Kite arrived within {listen_seconds:g} s; check that your Kite app's "
                f"redirect URL is http://{redirect.host}:{redirect.port}{redirect.path} and log in again."
            )
    finally:
        stop.set()
        thread.join(timeout=2)
        server.server_close()
    if caught.error:
        raise LoginError(caught.error)
    return parse_request_token(caught.token or "")


def _exchange(client: Any, account_id: str, request_token: str, api_secret: str) -> dict[str, Any]:
    try:
        session = client.generate_session(request_token, api_secret=api_secret)
    except kite_errors.TokenException as exc:
        raise LoginError(
            f"Kite refused the login of account {account_id} ({_short(exc)}); a request token works once and for "
            "a few minutes, and the API secret must belong to the API key, so log in again."
        ) from exc
    except kite_errors.DataException as exc:
        raise LoginError(
            f"Kite answered the login of account {account_id} with something that is not its JSON "
            f"(HTTP {exc.code}); try again in a minute."
        ) from exc
    except kite_errors.KiteException as exc:
        code = int(getattr(exc, "code", 0) or 0)
        reason = f"{type(exc).__name__}: {_short(exc)}"
        if code == 429 or code >= 500:
            raise LoginError(
                f"Kite could not finish the login of account {account_id} right now (HTTP {code}, {reason}); "
                "try again in a minute."
            ) from exc
        raise LoginError(f"Kite refused the login of account {account_id} ({reason}).") from exc
    except requests.Timeout as exc:
        raise LoginError(
            f"Kite did not answer the login of account {account_id} in time; try again."
        ) from exc
    except requests.RequestException as exc:
        host = urlsplit(str(client.root)).netloc
        raise LoginError(
            f"Kite could not be reached to finish the login of account {account_id}: {network_cause(exc, host)}."
        ) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LoginError(
            f"Kite answered the login of account {account_id} with something unreadable "
            f"({type(exc).__name__}: {_short(exc)})."
        ) from exc
    if not isinstance(session, dict):
        raise LoginError(f"Kite answered the login of account {account_id} with something unreadable.")
    return session


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()).rstrip(".")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None

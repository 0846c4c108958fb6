"""Zerodha Kite Connect: what the broker really holds, read with the official ``kiteconnect`` client.

What Kite holds for an account is two lists. ``/portfolio/positions`` (its ``net`` part) has
today's trades and carried F&O, one row per instrument *and product* (MIS, NRML, CNC), and keeps
rows closed today with quantity 0 and their realised P&L. ``/portfolio/holdings`` has delivery
equity bought on earlier days, which never appears among positions. One ``Position`` is returned
per Kite row, labelled with its product, so the core sums the rows of one instrument and still
shows the breakdown (MIS 50 + NRML 25; 18 in holdings and 3 sold today).

The adapter is read-only by construction: the client it uses refuses any route other than the
three GET endpoints below before a byte is sent, so no code path here can place, modify or
cancel an order, convert a position or touch a GTT.

``kiteconnect`` is blocking (``requests``), so every call runs in a small thread pool owned by
the adapter, never on the event loop that draws the window. It is also slow to import, so this
module (what the config parser reads for ``SPEC``) does not: ``kite_client`` holds the narrowed
client and is imported when the first adapter is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from position_sync.app.broker import AdapterContext, BrokerSpec, PushHandler
from position_sync.app.config import AccountConfig
from position_sync.app.domain import BrokerSnapshot
from position_sync.app.errors import ConfigError, LoginRequired, ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.app.redact import mask_url, url_has_credentials
from position_sync.brokers.answer_memo import AnswerMemo
from position_sync.brokers.kite_payloads import (
    Malformed,
    join_delivery_legs,
    parse_holdings,
    parse_orders,
    parse_positions,
)
from position_sync.brokers.rate_limit import SlidingWindowLimiter, shared_limiter
from position_sync.brokers.raw_fields import short_text
from position_sync.brokers.session_refusal import RefusedSecret, digest, network_cause, wait_for_new_secret

if TYPE_CHECKING:
    from kiteconnect import exceptions as kite_errors

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_ROOT = "https://api.kite.trade"

# Kite documents its limits at https://kite.trade/docs/connect/v3/exceptions/#api-rate-limit:
# quote 1 req/s, historical 3 req/s, order placement 10 req/s, and "all other endpoints"
# (positions, holdings, the order book) 10 req/s, counted per API key. The trader's own trading
# system normally shares that key and needs the budget more than a monitor does, so this
# process keeps itself to 3 requests in any one second: one whole sync (three requests) may
# go out at once, and even a resync button held down leaves 7 req/s to the trading system.
# The window is a second plus a 100 ms guard: requests booked exactly one second apart can
# arrive less than a second apart when the earlier ones were slowed on the way.
REQUESTS_PER_SECOND = 3
RATE_WINDOW_SECONDS = 1.1

# The options a Kite account may carry (besides the core's own keys); anything else is a typo.
SPEC = BrokerSpec(
    name="kite",
    title="Zerodha Kite",
    options=(
        Option("api_key", str, "your Kite Connect app's API key", required=True, example="your_kite_api_key"),
        Option(
            "api_secret_env",
            str,
            "a variable holding the API secret (else the keyring entry ACCOUNT:api_secret), for the login",
            example="KITE_API_SECRET",
        ),
        Option(
            "access_token_env",
            str,
            "a variable holding the day's access token, for headless use (else the keyring)",
            example="KITE_ACCESS_TOKEN",
        ),
        Option(
            "redirect_url",
            str,
            "the Kite app's redirect URL; on 127.0.0.1 the login catches it with a one-shot listener",
            example="http://127.0.0.1:5010/",
        ),
        Option("user_id", str, "the Kite user id the login must belong to", example="AB1234"),
        Option(
            "include_orders",
            bool,
            "read pending orders, which explain a gap they would close",
            default=True,
        ),
        Option(
            "api_root",
            str,
            "another API address (a test server, a proxy), without a path",
            default=DEFAULT_API_ROOT,
        ),
    ),
    # Kite's portfolio endpoints allow a few requests a second; 10 s keeps a trader current.
    defaults={"interval": 10},
    login="position_sync.brokers.kite_login",
    # Imported when an adapter is built, not with this module (see the module's docstring).
    hidden_imports=("position_sync.brokers.kite_client", "kiteconnect"),
)


@dataclass(frozen=True)
class _Endpoint:
    route: str  # kiteconnect's route name
    path: str  # for sentences
    method: str  # the KiteConnect method that reads it


POSITIONS = _Endpoint("portfolio.positions", "/portfolio/positions", "positions")
HOLDINGS = _Endpoint("portfolio.holdings", "/portfolio/holdings", "holdings")
ORDERS = _Endpoint("orders", "/orders", "orders")
READ_ROUTES = frozenset({POSITIONS.route, HOLDINGS.route, ORDERS.route})


class _TokenRefused(Exception):
    """Kite answered ``TokenException``: the session is over until the user logs in again."""


def create(account: AccountConfig, context: AdapterContext) -> KiteAdapter:
    """The registry's entry point; option mistakes surface here as ``ConfigError``."""
    return KiteAdapter(account, context)


class KiteAdapter:
    """One Kite account, polled. See the module docstring for what it reads and why.

    After Kite refuses a session (``TokenException``) the adapter sends nothing more for that
    account: each ``fetch`` re-reads the token from the keyring or environment and, while it is
    still the refused one, raises ``LoginRequired`` without touching the network. Only a digest
    of the refused token is kept, never the token, and it is kept in the data directory too, so
    the next process (``sync --once`` from cron, a restarted daemon) does not send it again.
    """

    #: How often, after a refused session, the keyring is checked for the token that
    #: ``position-sync login`` stores (no network involved); a new one triggers a push.
    token_poll_seconds: float = 2.0

    def __init__(
        self,
        account: AccountConfig,
        context: AdapterContext,
        *,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        self.account_id = account.id
        self._account = account
        self._secrets = context.secrets
        self.api_key = api_key_of(account)
        self.api_root = api_root_of(account)
        self.include_orders = _bool_option(account, "include_orders", True)
        self._limiter = limiter or shared_limiter(
            f"kite:{self.api_key}", REQUESTS_PER_SECOND, RATE_WINDOW_SECONDS
        )
        # A little under the account's timeout, which the worker applies to the whole fetch: a
        # hanging endpoint is then reported in this adapter's words, naming the endpoint.
        self.request_timeout = 0.8 * account.timeout
        from position_sync.brokers.kite_client import ReadOnlyKite  # the client library, first used here

        self._client = ReadOnlyKite(
            self.api_key,
            root=self.api_root,
            timeout=self.request_timeout,
            limiter=self._limiter,
            routes=READ_ROUTES,
        )
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix=f"kite-{account.id}")
        self._lock = asyncio.Lock()
        self._refused_digest: str | None = None
        self._refusal = RefusedToken(context.data_dir, account.id)
        self._push_handlers: list[PushHandler] = []
        self._watch: asyncio.Task[None] | None = None
        self._closed = False
        # The snapshot of the last good answer: an unchanged answer hands back the very same
        # objects, which lets the core skip keying and judging an account at rest.
        self._memo: AnswerMemo[BrokerSnapshot] = AnswerMemo()

    # --- the protocol ------------------------------------------------------------------------

    async def fetch(self) -> BrokerSnapshot:
        """Positions, holdings and working orders, all read in this call, or a ``ReadError``.

        Fetches of one adapter run one at a time: a second call while one is in flight waits for
        it and then reads afresh (the rate limiter spaces the requests).
        """
        if self._closed:
            raise RuntimeError(f"the Kite adapter of account {self.account_id} is closed")
        async with self._lock:
            loop = asyncio.get_running_loop()
            token = await loop.run_in_executor(self._executor, self._read_token)
            if not token:
                self._watch_for_token()
                raise LoginRequired(self._no_token_sentence())
            digest = _digest(token)
            if self._refused_digest is None:
                # Another process (an earlier ``sync --once``, the daemon) may have been refused.
                self._refused_digest = await loop.run_in_executor(self._executor, self._refusal.load)
            if digest == self._refused_digest:
                self._watch_for_token()
                raise LoginRequired(self._expired_sentence())
            self._client.set_access_token(token)
            endpoints = [POSITIONS, HOLDINGS] + ([ORDERS] if self.include_orders else [])
            cancel = threading.Event()
            calls = [loop.run_in_executor(self._executor, self._read, e, cancel) for e in endpoints]
            try:
                results = await asyncio.gather(*calls, return_exceptions=True)
            except asyncio.CancelledError:
                cancel.set()
                raise
            failures: list[BaseException] = []
            answers: list[Any] = []
            for result in results:
                if isinstance(result, BaseException):
                    failures.append(result)
                else:
                    answers.append(result)
            refused = [f for f in failures if isinstance(f, _TokenRefused)]
            if refused:
                self._refused_digest = digest
                await loop.run_in_executor(self._executor, self._refusal.save, digest)
                self._watch_for_token()
                raise LoginRequired(self._expired_sentence()) from refused[0]
            if failures:
                raise failures[0]
            if self._refused_digest is not None:
                self._refused_digest = None
                await loop.run_in_executor(self._executor, self._refusal.clear)
            answer = tuple(answers)
            snapshot = self._memo.recall(answer)
            if snapshot is None:
                snapshot = await loop.run_in_executor(self._executor, self._build, answer)
                self._memo.remember(answer, snapshot)
            return snapshot

    def on_push(self, handler: PushHandler) -> None:
        """Kite's REST API announces nothing; the one push is "a new token was stored".

        After a refused or missing session, the adapter watches the keyring (no network) and
        calls the handlers once a different token appears, so the account recovers right after
        ``position-sync login`` instead of at the next interval.
        """
        self._push_handlers.append(handler)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.reqsession.close()

    # --- in the worker threads ---------------------------------------------------------------

    def _read_token(self) -> str | None:
        return self._secrets.get(self.account_id, self._account.options, "access_token")

    def _read(self, endpoint: _Endpoint, cancel: threading.Event) -> Any:
        """One endpoint's answer as kiteconnect decoded it; every failure leaves as one
        ``ReadError`` sentence. Read apart from ``_build`` so that an unchanged answer is
        recognised before anything is built from it."""
        import requests
        from kiteconnect import exceptions as kite_errors

        from position_sync.brokers.kite_client import Cancelled

        try:
            data = self._client.read(endpoint.method, cancel)
            status = self._client.last_status
            if status is None or not 200 <= status < 300:
                # kiteconnect hands back ``data`` whatever the status when the body does not say
                # "error": a proxy's 503 {"status": "success", "data": []} is not an empty account.
                raise self._error(
                    endpoint, ReadErrorKind.HTTP, f"answered HTTP {status or 'with no status'}, not 200"
                )
        except kite_errors.TokenException as exc:
            raise _TokenRefused(str(exc)) from exc
        except kite_errors.KiteException as exc:
            raise self._kite_failure(endpoint, exc) from exc
        except requests.Timeout as exc:
            raise self._error(
                endpoint, ReadErrorKind.TIMEOUT, f"got no answer within {self.request_timeout:g} s"
            ) from exc
        except requests.RequestException as exc:
            host = urlsplit(self.api_root).netloc
            raise self._error(endpoint, ReadErrorKind.NETWORK, f"failed: {network_cause(exc, host)}") from exc
        except (Cancelled, PermissionError, ReadError):
            raise
        except Exception as exc:  # kiteconnect indexes the reply blindly; garbage ends up here
            raise self._error(
                endpoint,
                ReadErrorKind.MALFORMED,
                f"returned something the Kite client could not read ({type(exc).__name__}: {short_text(exc)})",
            ) from exc
        return data

    def _build(self, answer: tuple[Any, ...]) -> BrokerSnapshot:
        """The snapshot of one good answer: positions, holdings and, when read, orders."""
        positions = self._parsed(POSITIONS, answer[0], parse_positions)
        holdings = self._parsed(HOLDINGS, answer[1], parse_holdings)
        orders = self._parsed(ORDERS, answer[2], parse_orders) if self.include_orders else []
        return BrokerSnapshot((*join_delivery_legs(positions, holdings), *holdings), tuple(orders))

    def _parsed(self, endpoint: _Endpoint, data: Any, parse: Callable[[Any], list[T]]) -> list[T]:
        try:
            return parse(data)
        except Malformed as exc:
            raise self._error(
                endpoint,
                ReadErrorKind.MALFORMED,
                f"returned data that is not in Kite's documented shape ({exc})",
            ) from exc

    def _kite_failure(self, endpoint: _Endpoint, exc: kite_errors.KiteException) -> ReadError:
        from kiteconnect import exceptions as kite_errors

        status = self._client.last_status or int(getattr(exc, "code", 0) or 0)
        content_type = self._client.last_content_type
        not_json = isinstance(exc, kite_errors.DataException) and (
            "json" not in content_type.lower() or str(exc).startswith("Couldn't parse")
        )
        if status == 429:
            return self._error(
                endpoint, ReadErrorKind.RATE_LIMITED, "was refused with HTTP 429 (too many requests)"
            )
        if not_json:
            shown = content_type.split(";")[0].strip() or "no content type"
            if "json" in shown.lower():
                return self._error(
                    endpoint,
                    ReadErrorKind.MALFORMED,
                    f"answered HTTP {status} with a body that is not valid JSON",
                )
            if status >= 400:
                return self._error(
                    endpoint,
                    ReadErrorKind.HTTP,
                    f"failed with HTTP {status} and a {shown} page instead of JSON",
                )
            return self._error(
                endpoint, ReadErrorKind.MALFORMED, f"answered HTTP {status} with {shown} instead of JSON"
            )
        return self._error(
            endpoint,
            ReadErrorKind.HTTP,
            f"failed with HTTP {status} ({type(exc).__name__}: {short_text(exc)})",
        )

    def _error(self, endpoint: _Endpoint, kind: ReadErrorKind, cause: str) -> ReadError:
        return ReadError(kind, f"Kite account {self.account_id}: GET {endpoint.path} {cause}.")

    # --- sentences and the token watch -------------------------------------------------------

    def _env_name(self) -> str | None:
        name = self._account.options.get("access_token_env")
        return name if isinstance(name, str) and name else None

    def _no_token_sentence(self) -> str:
        source = self._secrets.source(self.account_id, self._account.options, "access_token")
        if self._env_name():
            return f"Kite account {self.account_id} has no access token in {source}; set it to today's token."
        return (
            f"Kite account {self.account_id} has no access token in the {source}; "
            f"run position-sync login kite --account {self.account_id}."
        )

    def _expired_sentence(self) -> str:
        env = self._env_name()
        if env:
            return (
                f"Kite session for account {self.account_id} expired; "
                f"put a new access token in environment variable {env}."
            )
        return (
            f"Kite session for account {self.account_id} expired; "
            f"run position-sync login kite --account {self.account_id}."
        )

    def _watch_for_token(self) -> None:
        if not self._push_handlers or self._closed or (self._watch is not None and not self._watch.done()):
            return
        self._watch = asyncio.get_running_loop().create_task(
            wait_for_new_secret(
                self._read_token,
                self._executor,
                is_new=lambda token: _digest(token) != self._refused_digest,
                handlers=self._push_handlers,
                poll_seconds=self.token_poll_seconds,
                closed=lambda: self._closed,
                owner=f"Kite account {self.account_id}",
            ),
            name=f"kite-token-watch-{self.account_id}",
        )


class RefusedToken(RefusedSecret):
    """The digest of the access token Kite last refused, in ``kite/<account>.refused-token``."""

    def __init__(self, data_dir: Path, account_id: str) -> None:
        super().__init__(data_dir, "kite", account_id, "refused-token")


# --- options ---------------------------------------------------------------------------------


def api_key_of(account: AccountConfig) -> str:
    api_key = (account.str_option("api_key", required=True) or "").strip()
    if not api_key:
        raise ConfigError(
            account.config_path, f"accounts.{account.id}.api_key", "must be your Kite Connect app's API key"
        )
    return api_key


def api_root_of(account: AccountConfig) -> str:
    """Kite's API root, or another one (a test server, a proxy) given as ``api_root``.

    kiteconnect joins ``/portfolio/...`` onto the root with ``urljoin``, which throws a path
    away, so a root with a path is refused rather than silently ignored.
    """
    root = (account.str_option("api_root", DEFAULT_API_ROOT) or DEFAULT_API_ROOT).strip()
    field = f"accounts.{account.id}.api_root"
    if url_has_credentials(root):
        # They would travel in every request and show in every sentence naming the address.
        raise ConfigError(account.config_path, field, "must not hold a user name or password")
    try:
        parts = urlsplit(root)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(
            account.config_path,
            field,
            f"must be an http(s) address without a path, like {DEFAULT_API_ROOT}, not {mask_url(root)!r}",
        )
    return root.rstrip("/")


def _bool_option(account: AccountConfig, name: str, default: bool) -> bool:
    value = account.options.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(account.config_path, f"accounts.{account.id}.{name}", "must be true or false")
    return value


def _digest(token: str) -> str:
    return digest(token)

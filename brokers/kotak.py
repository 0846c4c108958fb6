"""Kotak Neo: what the broker really holds, read with a thin client of our own (``kotak_http``).

What Kotak holds for an account is two lists, as at Kite: ``portfolio/v2/positions`` (today's
fills and carried-forward quantity, one row per instrument and product) and
``portfolio/v1/holdings`` (delivery equity). ``kotak_payloads`` turns them into one ``Position``
per leg, labelled ("NFO NRML", "NSE CNC holding"), so the core sums an instrument's legs and
still shows the breakdown.

The session comes from ``position-sync login kotak`` (``kotak_login``): the trade token, its
``sid`` and the ``baseUrl`` the validate step returned sit together in one keyring entry
(``ACCOUNT:session``), and every read goes to that ``baseUrl``. A session Kotak refuses (HTTP 403
"Invalid session, please re-login to continue") makes the account ``login_required``, and nothing
more is sent for it until a different session is stored: the refused one's digest is kept in the
data directory (``kotak/<account>.refused-session``) so the next process does not send it again.

The client is blocking (``requests``), so every call runs in a small thread pool owned by the
adapter, never on the event loop that draws the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from position_sync.app.broker import AdapterContext, BrokerSpec, PushHandler
from position_sync.app.config import AccountConfig
from position_sync.app.domain import BrokerSnapshot
from position_sync.app.errors import ConfigError, LoginRequired, ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.app.redact import mask_url, url_has_credentials
from position_sync.brokers.answer_memo import AnswerMemo
from position_sync.brokers.kotak_http import (
    DEFAULT_LOGIN_ROOT,
    DEFAULT_NEO_FIN_KEY,
    HOLDINGS_PATH,
    POSITIONS_PATH,
    STATUS_WORDS,
    Answer,
    KotakClient,
    Session,
    error_message,
    status_code,
)
from position_sync.brokers.kotak_payloads import (
    Malformed,
    broker_positions,
    envelope_rows,
    parse_holdings,
    parse_positions,
)
from position_sync.brokers.rate_limit import SlidingWindowLimiter, shared_limiter
from position_sync.brokers.raw_fields import short_text
from position_sync.brokers.session_refusal import RefusedSecret, digest, network_cause, wait_for_new_secret

log = logging.getLogger(__name__)

# Kotak's SDK paces itself at 10 requests a second per process by default; the trader's own
# trading system shares the consumer key and needs that budget more, so this process keeps to
# 3 in any 1.1 s (one sync is two requests).
REQUESTS_PER_SECOND = 3
RATE_WINDOW_SECONDS = 1.1

SESSION_SECRET = "session"
TOTP_SECRET = "totp_secret"

SPEC = BrokerSpec(
    name="kotak",
    title="Kotak Neo",
    options=(
        Option(
            "consumer_key",
            str,
            "the consumer key of your Trade API application (Kotak Neo app: Invest, Trade API)",
            required=True,
            example="your_consumer_key",
        ),
        Option(
            "mobile_number",
            str,
            "the mobile number registered with Kotak, with the country code, for the login",
            example="+919876543210",
        ),
        Option(
            "ucc", str, "your Unique Client Code (Kotak Neo app: Profile), for the login", example="AB123"
        ),
        Option(
            "totp_from_keyring",
            bool,
            "compute the login's TOTP from the secret in the keyring entry ACCOUNT:totp_secret "
            "instead of asking for it",
            default=False,
        ),
        Option(
            "neo_fin_key", str, "the neo-fin-key header Kotak's login expects", default=DEFAULT_NEO_FIN_KEY
        ),
        Option(
            "api_root",
            str,
            "another login address (a test server, a proxy), without a path; reads go to the address the login returns",
            default=DEFAULT_LOGIN_ROOT,
        ),
    ),
    defaults={"interval": 10},
    login="position_sync.brokers.kotak_login",
    hidden_imports=("requests",),  # imported when the client is built, not with this module
)


class _Refused(Exception):
    """Kotak answered 401/403: the session is over until the user logs in again."""


def create(account: AccountConfig, context: AdapterContext) -> KotakAdapter:
    """The registry's entry point; option mistakes surface here as ``ConfigError``."""
    return KotakAdapter(account, context)


class KotakAdapter:
    """One Kotak Neo account, polled. See the module docstring for what it reads and why."""

    #: How often, after a refused session, the keyring is checked for a new one (no network).
    session_poll_seconds: float = 2.0

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
        self.consumer_key = consumer_key_of(account)
        self.login_root = login_root_of(account)
        self._limiter = limiter or shared_limiter(
            f"kotak:{self.consumer_key}", REQUESTS_PER_SECOND, RATE_WINDOW_SECONDS
        )
        # A little under the account's timeout, which the worker applies to the whole fetch.
        self.request_timeout = 0.8 * account.timeout
        self._client = KotakClient(
            consumer_key=self.consumer_key,
            neo_fin_key=neo_fin_key_of(account),
            login_root=self.login_root,
            timeout=self.request_timeout,
        )
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"kotak-{account.id}")
        self._lock = asyncio.Lock()
        self._refused_digest: str | None = None
        self._refusal = RefusedSecret(context.data_dir, "kotak", account.id, "refused-session")
        self._push_handlers: list[PushHandler] = []
        self._watch: asyncio.Task[None] | None = None
        self._closed = False
        # The snapshot of the last good answer: an unchanged answer hands back the very same
        # objects, which lets the core skip keying and judging an account at rest.
        self._memo: AnswerMemo[BrokerSnapshot] = AnswerMemo()

    # --- the protocol ------------------------------------------------------------------------

    async def fetch(self) -> BrokerSnapshot:
        """Positions and holdings, both read in this call, or a ``ReadError``."""
        if self._closed:
            raise RuntimeError(f"the Kotak adapter of account {self.account_id} is closed")
        async with self._lock:
            loop = asyncio.get_running_loop()
            stored = await loop.run_in_executor(self._executor, self._read_session)
            session = Session.from_json(stored) if stored else None
            if session is None:
                self._watch_for_session()
                raise LoginRequired(self._no_session_sentence(stored is not None))
            session_digest = digest(stored or "")
            if self._refused_digest is None:
                self._refused_digest = await loop.run_in_executor(self._executor, self._refusal.load)
            if session_digest == self._refused_digest:
                self._watch_for_session()
                raise LoginRequired(self._expired_sentence(None))
            cancel = threading.Event()
            calls = [
                loop.run_in_executor(self._executor, self._read, path, session, cancel)
                for path in (POSITIONS_PATH, HOLDINGS_PATH)
            ]
            try:
                results = await asyncio.gather(*calls, return_exceptions=True)
            except asyncio.CancelledError:
                cancel.set()
                raise
            refused = [r for r in results if isinstance(r, _Refused)]
            if refused:
                self._refused_digest = session_digest
                await loop.run_in_executor(self._executor, self._refusal.save, session_digest)
                self._watch_for_session()
                raise LoginRequired(self._expired_sentence(str(refused[0]))) from refused[0]
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            if self._refused_digest is not None:
                self._refused_digest = None
                await loop.run_in_executor(self._executor, self._refusal.clear)
            position_rows, holdings = results
            assert isinstance(position_rows, list) and isinstance(holdings, list)
            answer = (position_rows, holdings)
            snapshot = self._memo.recall(answer)
            if snapshot is None:
                snapshot = self._memo.remember(answer, self._build(position_rows, holdings))
            return snapshot

    def _build(self, position_rows: list[Any], holdings: list[Any]) -> BrokerSnapshot:
        """The snapshot of one good answer; the two lists are joined (a holding sold today)."""
        try:
            positions = broker_positions(parse_positions(position_rows), parse_holdings(holdings))
        except Malformed as exc:
            raise ReadError(
                ReadErrorKind.MALFORMED,
                f"Kotak account {self.account_id}: the portfolio is not in Kotak's documented shape ({exc}).",
            ) from exc
        return BrokerSnapshot(tuple(positions))

    def on_push(self, handler: PushHandler) -> None:
        """Kotak's REST API announces nothing; the one push is "a new session was stored"."""
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
        self._client.close()

    # --- in the worker threads ---------------------------------------------------------------

    def _read_session(self) -> str | None:
        return self._secrets.from_keyring(self.account_id, SESSION_SECRET)

    def _read(self, path: str, session: Session, cancel: threading.Event) -> list[Any]:
        """One endpoint's rows; every failure leaves as one ``ReadError`` sentence."""
        if not self._limiter.acquire(cancel):
            raise ReadError(
                ReadErrorKind.NETWORK, f"Kotak account {self.account_id}: GET {path} was cancelled."
            )
        host = urlsplit(session.base_url).netloc or session.base_url
        import requests  # loaded with the client (``KotakClient``), never by parsing a config

        try:
            answer = (
                self._client.positions(session) if path == POSITIONS_PATH else self._client.holdings(session)
            )
        except requests.Timeout as exc:
            raise self._error(
                path, ReadErrorKind.TIMEOUT, f"got no answer within {self.request_timeout:g} s"
            ) from exc
        except requests.RequestException as exc:
            raise self._error(path, ReadErrorKind.NETWORK, f"failed: {network_cause(exc, host)}") from exc
        return self._rows(path, answer)

    def _rows(self, path: str, answer: Answer) -> list[Any]:
        what = "positions" if path == POSITIONS_PATH else "holdings"
        said = error_message(answer.document)
        if answer.status in (401, 403):
            raise _Refused(f"HTTP {answer.status}: {said or STATUS_WORDS[403]}")
        if answer.status == 429:
            raise self._error(
                path, ReadErrorKind.RATE_LIMITED, "was refused with HTTP 429 (too many requests)"
            )
        if not 200 <= answer.status < 300:
            words = said or STATUS_WORDS.get(answer.status)
            detail = f" ({short_text(words)})" if words else ""
            if not answer.is_json:
                shown = answer.content_type.split(";")[0].strip() or "non-JSON"
                detail += f" and a {shown} page instead of JSON"
            raise self._error(path, ReadErrorKind.HTTP, f"failed with HTTP {answer.status}{detail}")
        if not answer.is_json:
            raise self._error(
                path,
                ReadErrorKind.MALFORMED,
                f"answered HTTP {answer.status} with something that is not JSON",
            )
        document = answer.document
        if isinstance(document, dict) and (_not_ok(document) or "error" in document):
            if _no_data(document):
                return []  # Kotak's way of saying the list is empty (see _no_data)
            code = status_code(document)
            reason = short_text(said or "no message")
            raise self._error(
                path, ReadErrorKind.HTTP, f"answered Not_Ok ({reason}{f', code {code}' if code else ''})"
            )
        try:
            return envelope_rows(document, what)
        except Malformed as exc:
            raise self._error(
                path, ReadErrorKind.MALFORMED, f"returned data not in Kotak's documented shape ({exc})"
            ) from exc

    def _error(self, path: str, kind: ReadErrorKind, cause: str) -> ReadError:
        return ReadError(kind, f"Kotak account {self.account_id}: GET {path} {cause}.")

    # --- sentences and the session watch -----------------------------------------------------

    def _no_session_sentence(self, damaged: bool) -> str:
        where = self._secrets.source(self.account_id, {}, SESSION_SECRET)
        what = "an unreadable session" if damaged else "no session"
        return (
            f"Kotak account {self.account_id} has {what} in the {where}; "
            f"run position-sync login kotak --account {self.account_id}."
        )

    def _expired_sentence(self, why: str | None) -> str:
        detail = f" ({why})" if why else ""
        return (
            f"Kotak session for account {self.account_id} expired{detail}; "
            f"run position-sync login kotak --account {self.account_id}."
        )

    def _watch_for_session(self) -> None:
        if not self._push_handlers or self._closed or (self._watch is not None and not self._watch.done()):
            return
        self._watch = asyncio.get_running_loop().create_task(
            wait_for_new_secret(
                self._read_session,
                self._executor,
                is_new=lambda stored: (
                    Session.from_json(stored) is not None and digest(stored) != self._refused_digest
                ),
                handlers=self._push_handlers,
                poll_seconds=self.session_poll_seconds,
                closed=lambda: self._closed,
                owner=f"Kotak account {self.account_id}",
            ),
            name=f"kotak-session-watch-{self.account_id}",
        )


def _not_ok(document: dict[str, Any]) -> bool:
    stat = document.get("stat")
    return isinstance(stat, str) and stat.strip().lower() != "ok"


def _no_data(document: dict[str, Any]) -> bool:
    """Kotak's answer for an empty book: ``{"stat": "Not_Ok", "errMsg": "No Data", "stCode": 5203}``.

    Kotak answers a positions (and orders) request of an account with nothing today this way
    (Kotak-Neo/kotak-neo-api issue 82: "you don't have any position ... for today"). It is an
    answer, not a failure; every other ``Not_Ok`` is a failure. Both the code and the words must
    say so: a 5203 with another message is not trusted as empty.
    """
    return status_code(document) == "5203" and (error_message(document) or "").strip().lower() == "no data"


# --- options ---------------------------------------------------------------------------------


def consumer_key_of(account: AccountConfig) -> str:
    key = (account.str_option("consumer_key", required=True) or "").strip()
    if not key:
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}.consumer_key",
            "must be the consumer key of your Kotak Neo Trade API application",
        )
    return key


def neo_fin_key_of(account: AccountConfig) -> str:
    return (account.str_option("neo_fin_key", DEFAULT_NEO_FIN_KEY) or DEFAULT_NEO_FIN_KEY).strip()


def login_root_of(account: AccountConfig) -> str:
    """Kotak's login host, or another one (a test server, a proxy) given as ``api_root``."""
    root = (account.str_option("api_root", DEFAULT_LOGIN_ROOT) or DEFAULT_LOGIN_ROOT).strip()
    field = f"accounts.{account.id}.api_root"
    if url_has_credentials(root):
        raise ConfigError(account.config_path, field, "must not hold a user name or password")
    try:
        parts = urlsplit(root)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(
            account.config_path,
            field,
            f"must be an http(s) address without a path, like {DEFAULT_LOGIN_ROOT}, not {mask_url(root)!r}",
        )
    return root.rstrip("/")

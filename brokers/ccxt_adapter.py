"""A broker adapter for any exchange ccxt reaches; what differs per exchange is its ``Venue``.

The adapter owns what every exchange account shares: one long-lived ccxt instance (built on the
first read, closed on shutdown), the secret from the keyring or an environment variable, the
market list and the spellings built from it, pacing, and the one warning about a key that can
trade. A venue (``brokers.binance``, ``brokers.bybit``...) says which ccxt class to build, which
paths may ever be requested, how the exchange asks to be paced, which markets an account holds,
and how its raw rows become positions.

ccxt itself is imported on the first read, in a worker thread and only the venue's exchange
(``brokers.ccxt_import``): an account on another broker, the headless commands' start and the
window's first paint should not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from position_sync.app.broker import AdapterContext, PushHandler
from position_sync.app.config import AccountConfig
from position_sync.app.domain import BrokerSnapshot, Position
from position_sync.app.errors import ConfigError, LoginRequired, ReadError
from position_sync.app.options import Option
from position_sync.brokers.ccxt_import import exchange_class
from position_sync.brokers.ccxt_markets import MarketStore
from position_sync.brokers.ccxt_session import Session
from position_sync.brokers.ccxt_urls import checked_root, point_at

log = logging.getLogger(__name__)


def key_options(secret_help: str = "the API secret") -> tuple[Option, ...]:
    """The options of an exchange account with an API key: the key, where its secret is."""
    return (
        Option("api_key", str, "the exchange API key (a read-only key is enough, and safer)", required=True),
        Option(
            "api_secret_env",
            str,
            f"a variable holding {secret_help} (else the keyring entry ACCOUNT:api_secret)",
            example="EXCHANGE_API_SECRET",
        ),
    )


def root_option(exchange: str) -> Option:
    return Option(
        "api_root",
        str,
        f"one other base URL for every {exchange} API family (a proxy, a test server)",
        example="http://127.0.0.1:8080",
    )


@dataclass(frozen=True)
class Credentials:
    api_key: str | None
    secret: str | None


class Venue(Protocol):
    """What one exchange adds to the shared adapter."""

    title: str
    #: ccxt's class in ``ccxt.async_support``.
    exchange_id: str
    #: The market kind this account reads, for the market list's cache name ("linear", "spot").
    kind: str
    #: Whether a bare base (``ZEC``) names the perpetual, as DEX books write it.
    bare_base: bool
    #: Whether the account reads with an API key and secret (a DEX reads by address).
    needs_key: bool

    def client_config(self) -> dict[str, Any]:
        """ccxt's constructor options (``options``, ``timeout``...), without credentials."""
        ...

    def allowed(self, method: str, path: str) -> bool:
        """Whether a request may go out: read endpoints only."""
        ...

    def pacer(self, status: int | None, headers: Mapping[str, str], now: float) -> float:
        """Seconds the exchange asks us to hold back after an answer (0: none)."""
        ...

    def wanted(self, market: Mapping[str, Any]) -> bool:
        """Whether a market is one this account can hold (indexed for spellings)."""
        ...

    async def read(self, session: Session) -> Sequence[Position]:
        """The account's positions, zero rows already dropped; ``ReadError`` when unsure.

        A tuple, the very same one while the exchange's answer (and what the venue joins into
        it) is unchanged (``brokers.answer_memo``): the adapter hands it on as it is.
        """
        ...

    async def key_can_trade(self, session: Session) -> bool | None:
        """Whether the key may trade or withdraw, when the exchange says (None: unknown)."""
        ...


class CcxtAdapter:
    """One exchange account, polled through its venue. See the module docstring."""

    def __init__(self, account: AccountConfig, context: AdapterContext, venue: Venue) -> None:
        self.account_id = account.id
        self._account = account
        self._context = context
        self._venue = venue
        root = account.options.get("api_root")
        try:
            self._api_root = checked_root(root) if isinstance(root, str) and root.strip() else None
        except ValueError as exc:
            raise ConfigError(None, f"accounts.{account.id}.api_root", str(exc)) from None
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self._key_checked = False
        self._closed = False

    @property
    def session(self) -> Session | None:
        """The live session (for tests and benchmarks: its request log)."""
        return self._session

    async def fetch(self) -> BrokerSnapshot:
        if self._closed:
            raise RuntimeError(f"the {self._venue.title} adapter of account {self.account_id} is closed")
        async with self._lock:
            session = self._session or await self._open()
            await session.paced()
            await session.markets()
            positions = await self._venue.read(session)
            if not self._key_checked and self._venue.needs_key:
                await self._check_key(session)
            markets = await session.markets()
            # ``tuple`` of a tuple is that very tuple: an unchanged answer stays the same object.
            return BrokerSnapshot(tuple(positions), (), markets.spellings)

    def on_push(self, handler: PushHandler) -> None:
        """Exchanges are polled here (their streams need a listen key per account and would
        keep a socket per account open for little gain at a seconds' interval)."""
        del handler

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()

    # --- set-up ----------------------------------------------------------------------------

    async def _open(self) -> Session:
        credentials = await asyncio.to_thread(self._credentials)
        exchange_type = await asyncio.to_thread(exchange_class, self._venue.exchange_id)
        config: dict[str, Any] = {
            **self._venue.client_config(),
            "enableRateLimit": True,
            "timeout": int(0.8 * self._account.timeout * 1000),
        }
        if credentials.api_key:
            config["apiKey"] = credentials.api_key
        if credentials.secret:
            config["secret"] = credentials.secret
        exchange = exchange_type(config)
        if self._api_root is not None:
            point_at(exchange, self._api_root)
        store = self._market_store()
        self._session = Session(
            exchange,
            title=self._venue.title,
            allowed=self._venue.allowed,
            pacer=self._venue.pacer,
            store=store,
            store_name=store.name(self._venue.exchange_id, self._api_root, self._venue.kind),
            wanted=self._venue.wanted,
            bare_base=self._venue.bare_base,
        )
        return self._session

    def _market_store(self) -> MarketStore:
        """One store per runtime, shared by its exchange accounts."""
        shared = self._context.shared
        store = shared.get("ccxt_markets")
        if not isinstance(store, MarketStore):
            store = MarketStore(Path(self._context.data_dir) / "markets")
            shared["ccxt_markets"] = store
        return store

    def _credentials(self) -> Credentials:
        if not self._venue.needs_key:
            return Credentials(None, None)
        options = self._account.options
        api_key = str(options.get("api_key") or "").strip()
        secret = self._context.secrets.get(self.account_id, options, "api_secret")
        if not secret:
            where = self._context.secrets.source(self.account_id, options, "api_secret")
            raise LoginRequired(
                f"no API secret for {self._venue.title} account {self.account_id}: put it in the {where}"
            )
        return Credentials(api_key, secret)

    async def _check_key(self, session: Session) -> None:
        """Warn once per account when the key could trade: reading needs none of that."""
        self._key_checked = True
        try:
            can_trade = await self._venue.key_can_trade(session)
        except ReadError as exc:
            log.info(
                "%s: could not tell what the API key of %s may do: %s",
                self._venue.title,
                self.account_id,
                exc,
            )
            return
        if can_trade:
            log.warning(
                "%s account %s: its API key can trade; Position Sync only reads, so a read-only key "
                "is enough and safer",
                self._venue.title,
                self.account_id,
            )

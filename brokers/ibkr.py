"""Interactive Brokers: the positions TWS or IB Gateway holds, read over the TWS API socket.

The client library is ``ib_async``. It is written against the API ib_async shares with
``ib_insync`` (``IB``, ``connectAsync``, ``reqPositionsAsync``, ``reqAccountUpdatesAsync``, the
``positionEvent`` / ``updatePortfolioEvent`` / ``errorEvent`` / ``disconnectedEvent`` events), and
the import sits in one place, ``ibkr_link.client_library``: a user who must stay on ib_insync
installs it instead and nothing else changes (the fallback import does it; swapping the two
lines makes it explicit). It is imported when the first adapter is built, never for ``SPEC``.
Nothing newer than ib_insync 0.9.86 is used: its ``connectAsync`` has no ``raiseSyncErrors`` or
``fetchFields``, which is why the positions are requested once more after connecting.

Why it is shaped the way it is:

- Only the ``...Async`` methods are used, inside the application's running loop, and ``IB()`` is
  created there too, lazily at the first fetch: the blocking methods call ``run_until_complete``
  and would nest the loop (under qasync, too). ``util.patchAsyncio``/``startLoop``/``useQt`` are
  never called.
- Read-only: ``connectAsync(readonly=True)`` skips the open- and completed-order requests, and
  nothing here sends an order message. Client id 0 is refused because ib_async binds manual TWS
  orders to client 0 on connect (``reqAutoOpenOrders``), which a monitor must not do.
- One socket per ``(host, port, client_id)``: TWS allows each client id once, and one socket's
  position stream already carries every account of the login. Adapters of several ``[[accounts]]``
  entries share it through a reference-counted pool; the last ``close`` disconnects. The pool is
  the runtime's (kept in its ``AdapterContext``), so a second runtime in the process never joins
  the first one's socket.
- IB streams prices and P&L (the portfolio stream, ``reqAccountUpdates``) for one account per
  connection at a time. The first configured account on a connection gets it; the others show
  quantity and average cost from the position stream and say so in ``price_missing_reason``.
  (Account updates "multi" carry account values only, no per-position prices, so they do not help.)
- A failed read is never an empty read: until the positions of the current connection are
  complete (``positionEnd``), and whenever TWS reports lost connectivity (1100, or its 21xx twin
  2110) or has just regained it (1101/1102) and has not re-sent them, ``fetch`` raises
  ``ReadError``. The connection is re-made in the background with capped, jittered exponential
  backoff, and after a reconnect or a resync the push handler asks for a fresh sync before
  anything is judged.
- IB's nightly restart is one stale spell, not an alarm storm: the core records a new
  ``sync_failed`` event whenever the error sentence changes, so the sentence of an outage is fixed
  at its first cause (no countdown, no "refused" after "lost"); later causes go to the DEBUG log.
  Only a client id in use replaces it, once, because the user has to act on that.
- Data-farm notices (2104, 2106, 2107, 2108, 2119, 2158) are not errors; the other 21xx warnings
  (a market or historical data farm broken: 2103, 2105, 2157) touch prices, not positions, and are
  logged once per connection.
- Keys come from ``ibkr_contracts.ContractKeys``: the conId is the identity, remembered per
  account in ``ibkr-keys-<account>.json`` in the data directory, so a key survives a rename and
  does not depend on what else is held.

This module is what each account gets (``IbkrAdapter``) and the settings it is made from. The
rest of the family: ``ibkr_link`` (the shared connection and its states), ``ibkr_handshake``
(one connection attempt), ``ibkr_positions`` (what the streams hold, and the snapshot),
``ibkr_errors`` (IB's codes), ``ibkr_contracts`` (keys) and ``ibkr_wire`` (unreadable messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from position_sync.app.backoff import Backoff
from position_sync.app.broker import AdapterContext, BrokerSpec, PushHandler
from position_sync.app.config import AccountConfig
from position_sync.app.domain import BrokerSnapshot
from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.brokers.answer_memo import AnswerMemo
from position_sync.brokers.ibkr_contracts import (
    ContractKeys,
    key_file_name,
    write_atomic,
)
from position_sync.brokers.ibkr_errors import quieten_library_log
from position_sync.brokers.ibkr_link import Link, LinkPool, client_library

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7497  # TWS paper; live TWS 7496, IB Gateway 4002 (paper) / 4001 (live)
DEFAULT_CLIENT_ID = 1
_SHARED_KEY = __name__.rpartition(".")[2]  # this broker's entry in ``AdapterContext.shared``

# Module level so tests (and a benchmark) can shorten it; users have no reason to tune it.
BACKOFF = Backoff(initial=1.0, cap=60.0)


def _retry_delay(attempt: int) -> float:
    """Read at each retry, so a ``BACKOFF`` replaced after the connection was made still counts."""
    return BACKOFF.delay(attempt)


@dataclass(eq=False)
class IbkrAdapter:
    """One ``[[accounts]]`` entry: follows one IB account over a (possibly shared) connection."""

    account_id: str
    ib_account: str | None
    timeout: float
    _link: Link
    keys: ContractKeys = field(default_factory=ContractKeys)
    _handler: PushHandler | None = None
    _push_pending: bool = False
    _closed: bool = field(default=False)
    _saving: asyncio.Task[None] | None = None
    _save_warned: bool = False
    #: The snapshot last built from the streams: the very same while no message changed them.
    memo: AnswerMemo[BrokerSnapshot] = field(default_factory=AnswerMemo)

    async def fetch(self) -> BrokerSnapshot:
        if self._closed:
            raise ReadError(ReadErrorKind.SOURCE, f"the IB adapter of account {self.account_id} is closed")
        snapshot = await self._link.snapshot(self)
        self._persist_keys()
        return snapshot

    def on_push(self, handler: PushHandler) -> None:
        self._handler = handler

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._handler = None
        await self._link.release(self)
        self._persist_keys()
        if self._saving is not None:  # a key given this run must be on disk for the next one
            with contextlib.suppress(Exception):
                await self._saving

    def _persist_keys(self) -> None:
        """Write new keys in a worker thread, one write at a time: the loop never waits on a disk."""
        if self.keys.path is None or not self.keys.dirty:
            return
        if self._saving is not None and not self._saving.done():
            return  # the running write looks for changes again before it ends
        self._saving = asyncio.get_running_loop().create_task(self._save_keys())

    async def _save_keys(self) -> None:
        path = self.keys.path
        assert path is not None
        loop = asyncio.get_running_loop()
        while (text := self.keys.take_changes()) is not None:
            try:
                await loop.run_in_executor(None, write_atomic, path, text)
            except OSError as exc:
                self.keys.dirty = True  # tried again after the next fetch; keys hold in memory
                if not self._save_warned:
                    self._save_warned = True
                    log.warning(
                        "cannot write the IB key file %s (%s); instrument keys of account %s stay "
                        "stable while the program runs, but after a restart a renamed or colliding "
                        "contract may get a new one",
                        path,
                        exc,
                        self.account_id,
                    )
                return
            self._save_warned = False

    def followed(self, managed: list[str]) -> str | None:
        """The IB account code this adapter follows, if it can be told from ``managed``."""
        if self.ib_account:
            for code in managed:
                if code.upper() == self.ib_account.upper():
                    return code
            return None
        return managed[0] if len(managed) == 1 else None

    def account_among(self, managed: list[str], where: str) -> str:
        """The IB account this adapter follows among those of the login at ``where``, or the
        ``ReadError`` that tells the user which ``ib_account`` to set."""
        account = self.followed(managed)
        if account is not None:
            return account
        listed = ", ".join(managed) or "none"
        if self.ib_account:
            sentence = (
                f"ib_account '{self.ib_account}' of account {self.account_id} is not among the "
                f"accounts of the login at {where} ({listed}); set ib_account to one of them"
            )
        elif managed:
            sentence = (
                f"the login at {where} manages several accounts ({listed}); set ib_account "
                f"for account {self.account_id} to the one it follows"
            )
        else:
            sentence = f"TWS/IB Gateway at {where} reported no managed accounts"
        raise ReadError(ReadErrorKind.SOURCE, sentence)

    def schedule_push(self) -> None:
        """Coalesce the position and portfolio messages of one change into one call."""
        if self._handler is None or self._push_pending:
            return
        self._push_pending = True
        asyncio.get_running_loop().call_soon(self._deliver_push)

    def _deliver_push(self) -> None:
        self._push_pending = False
        handler = self._handler
        if handler is None:
            return
        try:
            handler()
        except Exception:  # a broken handler must not break the connection's event dispatch
            log.exception("push handler of account %s failed", self.account_id)


SPEC = BrokerSpec(
    name="ibkr",
    title="Interactive Brokers (TWS or IB Gateway)",
    options=(
        Option("host", str, "where TWS or IB Gateway runs", default=DEFAULT_HOST),
        Option(
            "port",
            int,
            "the API port: TWS paper 7497 / live 7496, Gateway 4002 / 4001",
            default=DEFAULT_PORT,
        ),
        Option(
            "client_id",
            int,
            "the API client id, 1 or more (0 would bind manual TWS orders); accounts with the same "
            "host, port and client id share one connection",
            default=DEFAULT_CLIENT_ID,
        ),
        Option(
            "ib_account",
            str,
            "the IB account code, needed when the login manages several accounts",
            example="U1234567",
        ),
    ),
    # IB's avgCost includes commissions, so a book's fill price differs by a few basis points.
    defaults={"interval": 30, "price_tolerance_rel": Decimal("0.005")},
    # Imported by ``ibkr_link.client_library`` when an adapter is built, not with this module.
    hidden_imports=("ib_async",),
)


def _options(account: AccountConfig) -> tuple[str, int, int, str | None]:
    where = f"accounts.{account.id}"
    host = (account.str_option("host", DEFAULT_HOST) or "").strip()
    if not host:
        raise ConfigError(account.config_path, f"{where}.host", "must be a host name or IP address")
    port = account.int_option("port", DEFAULT_PORT)
    if port is None or not 0 < port < 65536:
        raise ConfigError(
            account.config_path,
            f"{where}.port",
            "must be the API port of TWS (7497 paper, 7496 live) or IB Gateway (4002 paper, 4001 live)",
        )
    client_id = account.int_option("client_id", DEFAULT_CLIENT_ID)
    if client_id is None or not 0 < client_id < 2**31 - 1:
        raise ConfigError(
            account.config_path,
            f"{where}.client_id",
            "must be a whole number from 1 up (0 is TWS's own client, to which ib_async binds manual "
            "orders: a read-only monitor must not use it)",
        )
    ib_account = account.str_option("ib_account")
    if ib_account is not None:
        ib_account = ib_account.strip()
        if not ib_account:
            raise ConfigError(
                account.config_path, f"{where}.ib_account", "must be an IB account code such as U1234567"
            )
    return host, port, client_id, ib_account


def pool_of(context: AdapterContext) -> LinkPool:
    """The IB connections of the runtime ``context`` belongs to (made with its first IB adapter)."""
    pool = context.shared.get(_SHARED_KEY)
    if not isinstance(pool, LinkPool):
        pool = context.shared[_SHARED_KEY] = LinkPool(_retry_delay)
    return pool


def create(account: AccountConfig, context: AdapterContext) -> IbkrAdapter:
    """Check the settings and join (or open) the pooled connection; nothing connects until fetch.

    The account's conId -> key map is read here, from its file in the data directory, so the
    first rows of this run carry the keys of the last one.
    """
    host, port, client_id, ib_account = _options(account)
    keys = ContractKeys.load(context.data_dir / key_file_name(account.id))
    quieten_library_log(client_library().__name__)
    link = pool_of(context).join(host.lower(), port, client_id)
    adapter = IbkrAdapter(account.id, ib_account, account.timeout, link, keys)
    link.adapters.append(adapter)
    return adapter


__all__ = ["BACKOFF", "Backoff", "IbkrAdapter", "client_library", "create", "pool_of"]

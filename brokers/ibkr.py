"""Interactive Brokers: the positions TWS or IB Gateway holds, read over the TWS API socket.

The client library is ``ib_async``. It is written against the API ib_async shares with
``ib_insync`` (``IB``, ``connectAsync``, ``reqPositionsAsync``, ``reqAccountUpdatesAsync``, the
``positionEvent`` / ``updatePortfolioEvent`` / ``errorEvent`` / ``disconnectedEvent`` events), and
the import sits in one place below: a user who must stay on ib_insync installs it instead and
nothing else changes (the fallback import does it; swapping the two lines makes it explicit).
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
  entries share it through a reference-counted pool; the last ``close`` disconnects.
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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from position_sync.app.backoff import Backoff
from position_sync.app.broker import AdapterContext, PushHandler
from position_sync.app.config import AccountConfig
from position_sync.app.domain import BrokerSnapshot
from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.brokers.ibkr_contracts import (
    ContractKeys,
    key_file_name,
    write_atomic,
)
from position_sync.brokers.ibkr_errors import (
    CANNOT_CONNECT,
    CLIENT_ID_IN_USE,
    CONNECTIVITY_CODES,
    DATA_LOST,
    DATA_MAINTAINED,
    FARM_OK_CODES,
    NOT_CONNECTED,
    SERVER_CONNECTIVITY_BROKEN,
    SOCKET_RESET,
    is_notice,
    is_price_warning,
    quieten_library_log,
)
from position_sync.brokers.ibkr_positions import Streams
from position_sync.brokers.ibkr_wire import BadMessage, WireGuard

try:  # the one place the client library is chosen
    import ib_async as ibapi
except ImportError:  # pragma: no cover - for users who must stay on ib_insync (same API)
    import ib_insync as ibapi  # type: ignore[no-redef]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7497  # TWS paper; live TWS 7496, IB Gateway 4002 (paper) / 4001 (live)
DEFAULT_CLIENT_ID = 1
OPTION_KEYS = ("host", "port", "client_id", "ib_account")

RECONNECTING = "reconnecting with backoff"


# Module level so tests (and a benchmark) can shorten it; users have no reason to tune it.
BACKOFF = Backoff(initial=1.0, cap=60.0)


class _State(Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    DEGRADED = "degraded"  # socket up, TWS cut off from IB (1100)
    RESYNCING = "resyncing"  # 1101/1102 seen, positions being re-sent
    DOWN = "down"
    CLOSED = "closed"


class _AttemptFailed(Exception):
    """One connection attempt failed; ``needs_user`` marks a cause only the user can remove."""

    def __init__(self, kind: ReadErrorKind, reason: str, needs_user: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.needs_user = needs_user


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why the connection is unusable, as the user is told: kind, sentence, user-fixable or not."""

    kind: ReadErrorKind
    reason: str
    needs_user: bool = False


@dataclass(eq=False)
class IbkrAdapter:
    """One ``[[accounts]]`` entry: follows one IB account over a (possibly shared) connection."""

    account_id: str
    ib_account: str | None
    timeout: float
    _link: _Link
    keys: ContractKeys = field(default_factory=ContractKeys)
    _handler: PushHandler | None = None
    _push_pending: bool = False
    _closed: bool = field(default=False)
    _saving: asyncio.Task[None] | None = None
    _save_warned: bool = False

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


class _Link:
    """One socket to TWS/IB Gateway, shared by every adapter with the same host, port and client id."""

    def __init__(self, host: str, port: int, client_id: int) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.adapters: list[IbkrAdapter] = []
        self.state = _State.IDLE
        self.kind = ReadErrorKind.NETWORK
        self.reason = f"not connected to TWS/IB Gateway at {self.where} yet"  # the latest cause, for logs
        # What fetch says from the first failure until the connection is ready again. Fixed for
        # the outage, because the core records a new sync_failed event whenever the sentence
        # changes: IB's nightly restart (lost, refused, refused...) must be one event, not dozens.
        self._outage: _Failure | None = None
        self.managed: list[str] = []
        self.portfolio_account: str | None = None
        self.streams = Streams(self.where)
        self._ib: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._attempt: asyncio.Future[None] | None = None
        self._lost: asyncio.Event | None = None
        self._handshake_failed: asyncio.Future[None] | None = None
        self._connect_error: _Failure | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resync_task: asyncio.Task[None] | None = None
        self._ever_ready = False
        self._warned_codes: set[int] = set()
        self._degraded_by: int | None = None  # 1100 or 2110 while DEGRADED
        self._pending_notice: int | None = None  # the last connectivity notice while CONNECTING

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connect_timeout(self) -> float:
        """Most of the accounts' ``timeout``, so a slow TWS is reported in this adapter's words
        before the worker's own timeout on ``fetch`` cuts it short."""
        return max(1.0, 0.8 * min((a.timeout for a in self.adapters), default=15.0))

    def _accounts_phrase(self) -> str:
        names = [a.account_id for a in self.adapters]
        if len(names) == 1:
            return f"account {names[0]}"
        return f"accounts {', '.join(names)} (they share this connection)"

    # ------------------------------------------------------------------ fetch

    async def snapshot(self, adapter: IbkrAdapter) -> BrokerSnapshot:
        self._start()
        attempt = self._attempt
        if self.state in (_State.IDLE, _State.CONNECTING) and attempt is not None and not attempt.done():
            # the first fetch (or one during a reconnect attempt) waits for that attempt, bounded
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(attempt), self.connect_timeout + 0.5)
        self._raise_unless_ready()
        account = self._resolve(adapter)
        if self.portfolio_account is None:
            self._switch_portfolio_account()
        if account == self.portfolio_account and await self.streams.catch_up(
            account, lambda: self.state is _State.READY and account == self.portfolio_account
        ):
            self._raise_unless_ready()
        return self.streams.snapshot(account, self.portfolio_account, adapter.keys)

    def _raise_unless_ready(self) -> None:
        if self.state is _State.READY:
            return
        if self.state is _State.CLOSED:
            raise ReadError(
                ReadErrorKind.NETWORK, f"the connection to TWS/IB Gateway at {self.where} has been closed"
            )
        if self._outage is not None:
            raise ReadError(self._outage.kind, self._outage.reason)
        if self._ever_ready:  # between the end of an outage and the reconnect; rare
            raise ReadError(
                ReadErrorKind.NETWORK,
                f"reconnecting to TWS/IB Gateway at {self.where}; positions are not complete yet",
            )
        raise ReadError(
            ReadErrorKind.NETWORK,
            f"still connecting to TWS/IB Gateway at {self.where}; positions are not complete yet",
        )

    def _resolve(self, adapter: IbkrAdapter) -> str:
        account = adapter.followed(self.managed)
        if account is not None:
            return account
        managed = ", ".join(self.managed) or "none"
        if adapter.ib_account:
            sentence = (
                f"ib_account '{adapter.ib_account}' of account {adapter.account_id} is not among the "
                f"accounts of the login at {self.where} ({managed}); set ib_account to one of them"
            )
        elif self.managed:
            sentence = (
                f"the login at {self.where} manages several accounts ({managed}); set ib_account "
                f"for account {adapter.account_id} to the one it follows"
            )
        else:
            sentence = f"TWS/IB Gateway at {self.where} reported no managed accounts"
        raise ReadError(ReadErrorKind.SOURCE, sentence)

    # ------------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # a pool entry left by a loop that has ended (tests, a restarted CLI run): start afresh
            self._loop = loop
            self._supervisor = None
            self._attempt = None
            self._ib = None
            self._tasks = set()
            self._outage = None
            self.streams.renew()
            self.state = _State.IDLE
        if self._supervisor is None or self._supervisor.done():
            if self._supervisor is not None and not self._supervisor.cancelled():
                error = self._supervisor.exception()
                if error is not None:
                    log.error("IB connection supervisor for %s stopped: %r", self.where, error)
            self._lost = asyncio.Event()
            self._attempt = loop.create_future()
            self._supervisor = loop.create_task(self._supervise(), name=f"ibkr {self.where}")

    async def _supervise(self) -> None:
        """Connect, wait until the connection is lost, back off, connect again; until closed."""
        loop = asyncio.get_running_loop()
        failures = 0
        assert self._lost is not None
        while self.state is not _State.CLOSED:
            if self._attempt is None or self._attempt.done():
                self._attempt = loop.create_future()
            self.state = _State.CONNECTING
            try:
                await self._connect_once()
            except _AttemptFailed as exc:
                failures += 1
                self._go_down(_Failure(exc.kind, exc.reason, exc.needs_user))
                self._finish_attempt()
                await self._sleep_before_retry(failures)
                continue
            except Exception as exc:  # an unexpected library error must not end the retries
                failures += 1
                log.warning(
                    "connecting to TWS/IB Gateway at %s failed unexpectedly", self.where, exc_info=True
                )
                self._go_down(
                    _Failure(
                        ReadErrorKind.NETWORK, f"connecting to TWS/IB Gateway at {self.where} failed: {exc}"
                    )
                )
                self._finish_attempt()
                await self._sleep_before_retry(failures)
                continue
            if self.state is _State.CLOSED:  # released while the attempt finished
                return
            failures = 0
            reconnected = self._ever_ready
            self._ever_ready = True
            self._become_ready("reconnected to" if reconnected else "connected to")
            self._replay_connect_notice()
            self._finish_attempt()
            if reconnected:
                self._push_all()
            self._lost.clear()
            await self._lost.wait()
            await self._sleep_before_retry(1)

    async def _sleep_before_retry(self, attempt: int) -> None:
        await asyncio.sleep(BACKOFF.delay(attempt))

    def _finish_attempt(self) -> None:
        if self._attempt is not None and not self._attempt.done():
            self._attempt.set_result(None)

    async def _connect_once(self) -> None:
        self._discard_ib()
        self.streams.clear()
        self.portfolio_account = None
        self._warned_codes = set()  # a new connection may warn about a broken data farm again
        loop = asyncio.get_running_loop()
        ib = ibapi.IB()
        self._ib = ib
        self._pending_notice = None
        WireGuard(self._on_bad_message).install(ib.client.decoder)
        self._connect_error = None
        self._handshake_failed = loop.create_future()
        ib.errorEvent += self._on_error
        ib.positionEvent += self._on_position
        ib.updatePortfolioEvent += self._on_portfolio
        ib.disconnectedEvent += self._on_disconnected
        ib.client.apiError += self._on_api_error
        # a socket TWS closes before its handshake reply (connections from a host it does not
        # trust) gets no apiError from the client; the connection object still says so
        ib.client.conn.disconnected += self._on_api_error
        timeout = self.connect_timeout
        deadline = loop.time() + timeout
        connect = asyncio.ensure_future(
            ib.connectAsync(
                self.host,
                self.port,
                clientId=self.client_id,
                timeout=timeout,
                readonly=True,
            )
        )
        closed_early = False
        try:
            await asyncio.wait(
                {connect, self._handshake_failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            # read before cancelling: cancelling closes the socket and would look the same
            closed_early = self._handshake_failed.done()
        finally:
            if not connect.done():
                connect.cancel()
                # Wait for it to unwind without taking on its outcome: awaiting it under
                # suppress(BaseException) would also swallow a cancellation of this task (close),
                # leaving the supervisor reconnecting and close waiting forever.
                await asyncio.wait({connect})
        if self._connect_error is not None:
            error = self._connect_error
            raise _AttemptFailed(error.kind, error.reason, error.needs_user)
        if connect.cancelled() or not connect.done():
            if closed_early:
                raise _AttemptFailed(
                    ReadErrorKind.NETWORK,
                    f"TWS/IB Gateway at {self.where} closed the connection during the API handshake "
                    f"(is client_id {self.client_id} already in use, or this computer not among its "
                    f"trusted IPs?)",
                )
            raise _AttemptFailed(
                ReadErrorKind.TIMEOUT,
                f"TWS/IB Gateway at {self.where} did not complete the connection and the first "
                f"position download within {timeout:g} s",
            )
        failure = connect.exception()
        if failure is not None:
            raise _AttemptFailed(*self._describe_connect_error(failure))
        self.managed = list(ib.managedAccounts())
        # connectAsync only logs a first download that timed out (raiseSyncErrors, which would
        # raise instead, is ib_async's alone), so the positions are asked for once more here and
        # trusted only after the positionEnd of this request
        collecting = self.streams.collect()
        try:
            await asyncio.wait_for(ib.reqPositionsAsync(), max(0.5, deadline - loop.time()))
        except TimeoutError:
            raise _AttemptFailed(
                ReadErrorKind.TIMEOUT,
                f"TWS/IB Gateway at {self.where} did not send its positions within {timeout:g} s",
            ) from None
        except ConnectionError:
            raise _AttemptFailed(
                ReadErrorKind.NETWORK, f"the connection to TWS/IB Gateway at {self.where} was lost"
            ) from None
        self.streams.adopt(collecting)
        # prices get what is left of the time; late ones arrive as pushes once ready
        await self._subscribe_portfolio(self._portfolio_candidate(), max(0.5, deadline - loop.time()))
        if self._connect_error is not None:  # a message of the download could not be read
            error = self._connect_error
            raise _AttemptFailed(error.kind, error.reason, error.needs_user)
        if not ib.isConnected():  # dropped while the portfolio downloaded; nothing saw it as ready
            raise _AttemptFailed(
                ReadErrorKind.NETWORK, f"the connection to TWS/IB Gateway at {self.where} was lost"
            )

    def _describe_connect_error(self, error: BaseException) -> tuple[ReadErrorKind, str]:
        if isinstance(error, ConnectionRefusedError):
            return (
                ReadErrorKind.NETWORK,
                f"cannot connect to TWS/IB Gateway at {self.where} (connection refused; is it running "
                f"with the API enabled on that port?)",
            )
        if isinstance(error, TimeoutError):
            return (
                ReadErrorKind.TIMEOUT,
                f"TWS/IB Gateway at {self.where} did not answer within {self.connect_timeout:g} s",
            )
        if isinstance(error, OSError):
            return (ReadErrorKind.NETWORK, f"cannot connect to TWS/IB Gateway at {self.where}: {error}")
        return (ReadErrorKind.NETWORK, f"connecting to TWS/IB Gateway at {self.where} failed: {error!r}")

    def _portfolio_candidate(self) -> str | None:
        """The first adapter's account (in config order) among those the login manages."""
        for adapter in self.adapters:
            account = adapter.followed(self.managed)
            if account is not None:
                return account
        return None

    async def _subscribe_portfolio(self, account: str | None, timeout: float, *, force: bool = False) -> None:
        """Point the one portfolio subscription IB allows at ``account``; prices are optional,
        so a slow download is logged, not fatal."""
        ib = self._ib
        previous = self.portfolio_account
        self.portfolio_account = account
        if account is None or ib is None or not ib.isConnected():
            return
        switching = previous is not None and previous != account
        if not switching and not force and previous is None and self.managed == [account]:
            return  # connectAsync subscribes the only managed account itself
        try:
            if previous is not None and switching:
                self.streams.portfolio.pop(previous, None)
                ib.client.reqAccountUpdates(False, previous)
            await asyncio.wait_for(ib.reqAccountUpdatesAsync(account), timeout)
        except (TimeoutError, ConnectionError) as exc:
            log.warning("IB portfolio stream for %s at %s did not complete: %r", account, self.where, exc)

    def _switch_portfolio_account(self) -> None:
        candidate = self._portfolio_candidate()
        if candidate == self.portfolio_account or self.state is not _State.READY:
            return
        self._spawn(self._subscribe_portfolio(candidate, self.connect_timeout))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A side task of the current connection, cancelled when the connection goes."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _cancel_side_tasks(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _become_ready(self, verb: str) -> None:
        self.state = _State.READY
        self.kind = ReadErrorKind.NETWORK
        self.reason = ""
        if self._outage is not None or verb.startswith("re"):
            log.info("%s TWS/IB Gateway at %s (client_id %s)", verb, self.where, self.client_id)
        else:
            log.debug("%s TWS/IB Gateway at %s (client_id %s)", verb, self.where, self.client_id)
        self._outage = None

    def _begin_or_continue_outage(self, failure: _Failure) -> None:
        """Fix the outage's sentence at its first cause; later causes are logged quietly.

        One exception: a cause only the user can remove (client id in use) replaces the sentence
        once, since it is what the user must act on.
        """
        self.kind, self.reason = failure.kind, failure.reason
        outage = self._outage
        if outage is None or (failure.needs_user and not outage.needs_user):
            self._outage = failure
            log.warning("%s", failure.reason)
        else:
            log.debug("%s", failure.reason)

    def _go_down(self, failure: _Failure) -> None:
        """Mark the connection unusable; the first sentence of an outage is a warning, retries are quiet."""
        if self.state is _State.CLOSED:  # closed meanwhile: nothing to reconnect
            return
        self.state = _State.DOWN
        self.streams.clear()
        self._begin_or_continue_outage(replace(failure, reason=f"{failure.reason}; {RECONNECTING}"))

    def _lose(self, kind: ReadErrorKind, reason: str, needs_user: bool = False) -> None:
        """The working connection broke: drop it and let the supervisor reconnect."""
        if self.state not in (_State.READY, _State.DEGRADED, _State.RESYNCING):
            return
        self._go_down(_Failure(kind, reason, needs_user))
        self._cancel_side_tasks()
        self._discard_ib()
        if self._lost is not None:
            self._lost.set()

    def _discard_ib(self) -> None:
        ib, self._ib = self._ib, None
        if ib is None:
            return
        for event, handler in (
            (ib.errorEvent, self._on_error),
            (ib.positionEvent, self._on_position),
            (ib.updatePortfolioEvent, self._on_portfolio),
            (ib.disconnectedEvent, self._on_disconnected),
            (ib.client.apiError, self._on_api_error),
            (ib.client.conn.disconnected, self._on_api_error),
        ):
            event -= handler
        with contextlib.suppress(Exception):
            ib.disconnect()

    async def release(self, adapter: IbkrAdapter) -> None:
        if adapter in self.adapters:
            self.adapters.remove(adapter)
        if self.adapters:
            if self._loop is not None and self._loop.is_running() and self.state is _State.READY:
                self._switch_portfolio_account()
            return
        self.state = _State.CLOSED
        if _POOL.get((self.host, self.port, self.client_id)) is self:
            del _POOL[(self.host, self.port, self.client_id)]
        tasks = [t for t in (self._supervisor, *self._tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        current = asyncio.current_task()
        for task in tasks:
            if task is not current and task.get_loop() is asyncio.get_running_loop():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._discard_ib()
        self._finish_attempt()

    # ------------------------------------------------------------------ IB events

    def _on_position(self, position: Any) -> None:
        self.streams.take_position(position, self._now())
        if self.state is _State.READY:
            self._push_account(position.account)

    def _on_portfolio(self, item: Any) -> None:
        self.streams.take_portfolio(item, self._now())
        if self.state is _State.READY:
            self._push_account(item.account)

    def _now(self) -> float | None:
        return self._loop.time() if self._loop is not None else None

    def _on_disconnected(self) -> None:
        self._lose(ReadErrorKind.NETWORK, f"the connection to TWS/IB Gateway at {self.where} was lost")

    def _on_api_error(self, message: str) -> None:
        if self.state is _State.CONNECTING and self._handshake_failed is not None:
            log.debug("IB client at %s: %s", self.where, message)
            if not self._handshake_failed.done():
                self._handshake_failed.set_result(None)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        if code == CLIENT_ID_IN_USE:
            sentence = (
                f"client_id {self.client_id} is already in use at {self.where}; set a different "
                f"client_id for {self._accounts_phrase()}"
            )
            self._fail_handshake_or_lose(_Failure(ReadErrorKind.NETWORK, sentence, needs_user=True))
        elif code == CANNOT_CONNECT:
            self._fail_handshake_or_lose(
                _Failure(
                    ReadErrorKind.NETWORK,
                    f"cannot connect to TWS/IB Gateway at {self.where} (error 502; is it running with "
                    f"the API enabled on that port?)",
                )
            )
        elif code == NOT_CONNECTED:
            self._lose(ReadErrorKind.NETWORK, f"not connected to TWS/IB Gateway at {self.where} (error 504)")
        elif code in CONNECTIVITY_CODES:
            self._degrade(code)
        elif code in (DATA_LOST, DATA_MAINTAINED):
            self._restored(code)
        elif code == SOCKET_RESET:
            log.info("TWS at %s reset its API socket (error 1300); reconnecting when it closes", self.where)
        elif code in FARM_OK_CODES and SERVER_CONNECTIVITY_BROKEN in (
            self._degraded_by if self.state is _State.DEGRADED else None,
            self._pending_notice if self.state is _State.CONNECTING else None,
        ):
            self._restored(code)
        elif is_notice(code):
            log.debug("IB notice %s at %s: %s", code, self.where, message)
        elif is_price_warning(code):
            if code in self._warned_codes:
                log.debug("IB warning %s at %s: %s", code, self.where, message)
            else:
                self._warned_codes.add(code)
                log.warning(
                    "IB warning %s at %s: %s (prices may be missing or late; positions are not affected)",
                    code,
                    self.where,
                    message,
                )
        elif req_id == -1:
            log.warning("IB message %s at %s: %s", code, self.where, message)
        else:
            log.debug("IB message %s for request %s at %s: %s", code, req_id, self.where, message)

    def _fail_handshake_or_lose(self, failure: _Failure) -> None:
        if self.state is _State.CONNECTING:
            self._connect_error = failure
            if self._handshake_failed is not None and not self._handshake_failed.done():
                self._handshake_failed.set_result(None)
        else:
            self._lose(failure.kind, failure.reason, failure.needs_user)

    def _on_bad_message(self, bad: BadMessage) -> None:
        """A quantity that cannot be read: the download is not complete, whatever else came."""
        self._fail_handshake_or_lose(_Failure(ReadErrorKind.MALFORMED, bad.sentence(self.where)))

    def _replay_connect_notice(self) -> None:
        """Act on the last connectivity notice of the handshake now that the link is up.

        TWS sends 1100/2110 among its first messages when it starts cut off from IB; the
        positions it then sends are not to be trusted until it says the link is back and sends
        them again, however good the download looked.
        """
        code, self._pending_notice = self._pending_notice, None
        if code in CONNECTIVITY_CODES:
            self._degrade(code)
        elif code is not None:
            self._restored(code)

    def _degrade(self, code: int) -> None:
        """1100 or 2110: the socket is fine but TWS is cut off from IB, so its positions may be
        old. Stale until 1101/1102 and a complete re-download (``_restored``)."""
        if self.state is _State.CONNECTING:
            self._pending_notice = code  # acted on once connected (``_replay_connect_notice``)
            return
        if self.state not in (_State.READY, _State.RESYNCING):
            return
        self.state = _State.DEGRADED
        self._degraded_by = code
        if self._resync_task is not None and not self._resync_task.done():
            self._resync_task.cancel()  # cut off again: that download proves nothing
        self.streams.collecting = None
        self._begin_or_continue_outage(
            _Failure(
                ReadErrorKind.NETWORK,
                f"TWS at {self.where} has lost its connection to IB's servers (error {code}), so its "
                f"positions may be out of date; waiting for TWS to restore it",
            )
        )

    def _restored(self, code: int) -> None:
        if self.state is _State.CONNECTING:
            if self._pending_notice is not None:  # back, but what was downloaded may predate it
                self._pending_notice = code
            return
        if self.state not in (_State.READY, _State.DEGRADED, _State.RESYNCING):
            return
        self.state = _State.RESYNCING
        self.kind = ReadErrorKind.NETWORK
        self.reason = (
            f"TWS at {self.where} has just regained its connection to IB (error {code}) and is "
            f"re-sending positions"
        )
        if self._outage is None:  # a restore without a loss we saw: stale for the re-download
            self._outage = _Failure(self.kind, self.reason)
        log.info("%s", self.reason)
        if self._resync_task is not None and not self._resync_task.done():
            self._resync_task.cancel()  # a newer notice restarts the resync; its positionEnd counts
        self._resync_task = self._spawn(self._resync(code == DATA_LOST))

    async def _resync(self, data_lost: bool) -> None:
        """Ask for the whole position list again and trust nothing until its positionEnd."""
        ib = self._ib
        if ib is None:
            return
        collecting = self.streams.collect()
        account = self.portfolio_account
        if data_lost and account is not None:
            self.streams.portfolio.pop(account, None)
            self._spawn(self._subscribe_portfolio(account, self.connect_timeout, force=True))
        try:
            await asyncio.wait_for(ib.reqPositionsAsync(), self.connect_timeout)
        except (TimeoutError, ConnectionError):
            if self._ib is ib and self.state is _State.RESYNCING:
                self._lose(
                    ReadErrorKind.TIMEOUT,
                    f"TWS at {self.where} did not re-send its positions within "
                    f"{self.connect_timeout:g} s after regaining its connection to IB",
                )
            return
        if (
            self._ib is not ib
            or self.streams.collecting is not collecting
            or self.state is not _State.RESYNCING
        ):
            return  # lost again, or a newer resync took over
        self.streams.adopt(collecting)
        self._become_ready("resynchronised with")
        self._push_all()

    # ------------------------------------------------------------------ push

    def _push_account(self, account: str) -> None:
        for adapter in self.adapters:
            if adapter.followed(self.managed) == account:
                adapter.schedule_push()

    def _push_all(self) -> None:
        for adapter in self.adapters:
            adapter.schedule_push()


_POOL: dict[tuple[str, int, int], _Link] = {}


def _options(account: AccountConfig) -> tuple[str, int, int, str | None]:
    where = f"accounts.{account.id}"
    unknown = sorted(set(account.options) - set(OPTION_KEYS))
    if unknown:
        raise ConfigError(
            account.config_path,
            f"{where}.{unknown[0]}",
            f"is not a setting of an IB account (known: {', '.join(OPTION_KEYS)})",
        )
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


def create(account: AccountConfig, context: AdapterContext) -> IbkrAdapter:
    """Check the settings and join (or open) the pooled connection; nothing connects until fetch.

    The account's conId -> key map is read here, from its file in the data directory, so the
    first rows of this run carry the keys of the last one.
    """
    host, port, client_id, ib_account = _options(account)
    keys = ContractKeys.load(context.data_dir / key_file_name(account.id))
    quieten_library_log(ibapi.__name__)
    key = (host.lower(), port, client_id)
    link = _POOL.get(key)
    if link is None or link.state is _State.CLOSED:
        link = _Link(host.lower(), port, client_id)
        _POOL[key] = link
    adapter = IbkrAdapter(account.id, ib_account, account.timeout, link, keys)
    link.adapters.append(adapter)
    return adapter


__all__ = ["BACKOFF", "Backoff", "IbkrAdapter", "create", "ibapi"]

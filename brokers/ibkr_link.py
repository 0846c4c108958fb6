"""One connection to TWS/IB Gateway: connecting, noticing it is unusable, and reconnecting.

The connection is a state machine rather than a socket because TWS has more ways to be half-up
than up or down: the socket may stand while TWS is cut off from IB (1100/2110), or TWS may have
regained IB and be re-sending positions (1101/1102), and through all of it a fetch must get an
error, never a stale or partial picture. It reconnects by itself, with the backoff it is given,
and is shared by every adapter on the same host, port and client id (the module ``ibkr`` says
why: one client id, one socket, every account of the login on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING, Any

from position_sync.app.domain import BrokerSnapshot
from position_sync.app.errors import ReadError, ReadErrorKind
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
    AttemptFailed,
    Failure,
    is_notice,
    is_price_warning,
)
from position_sync.brokers.ibkr_handshake import handshake
from position_sync.brokers.ibkr_positions import Streams
from position_sync.brokers.ibkr_wire import BadMessage, WireGuard

if TYPE_CHECKING:
    from position_sync.brokers.ibkr import IbkrAdapter


# The adapter speaks under one logger name, whichever of its modules holds the line.
log = logging.getLogger(f"{__package__}.ibkr")

RECONNECTING = "reconnecting with backoff"


def client_library() -> ModuleType:
    """The one place the client library is chosen: ``ib_async``, or ``ib_insync`` (same API) for
    users who must stay on it. Imported when the first IB adapter is built, not with this
    family's modules: it takes about a quarter of a second, which a config that merely names an
    IB account (``status``, ``--version``) must not pay."""
    try:
        import ib_async as library
    except ImportError:  # pragma: no cover - for users who must stay on ib_insync (same API)
        import ib_insync as library  # type: ignore[no-redef]
    return library


class _State(Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    DEGRADED = "degraded"  # socket up, TWS cut off from IB (1100)
    RESYNCING = "resyncing"  # 1101/1102 seen, positions being re-sent
    DOWN = "down"
    CLOSED = "closed"


class Link:
    """One socket to TWS/IB Gateway, shared by every adapter with the same host, port and client id."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: int,
        retry_delay: Callable[[int], float],
        on_closed: Callable[[Link], None],
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.retry_delay = retry_delay  # seconds before retrying after so many failures in a row
        self._on_closed = on_closed  # the pool lets go of it
        self.adapters: list[IbkrAdapter] = []
        self.state = _State.IDLE
        self.kind = ReadErrorKind.NETWORK
        self.reason = f"not connected to TWS/IB Gateway at {self.where} yet"  # the latest cause, for logs
        # What fetch says from the first failure until the connection is ready again. Fixed for
        # the outage, because the core records a new sync_failed event whenever the sentence
        # changes: IB's nightly restart (lost, refused, refused...) must be one event, not dozens.
        self._outage: Failure | None = None
        self.managed: list[str] = []
        self.portfolio_account: str | None = None
        self.streams = Streams(self.where)
        self._ib: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._attempt: asyncio.Future[None] | None = None
        self._lost: asyncio.Event | None = None
        self._handshake_failed: asyncio.Future[None] | None = None
        self._connect_error: Failure | None = None
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
        account = adapter.account_among(self.managed, self.where)
        if self.portfolio_account is None:
            self._switch_portfolio_account()
        if account == self.portfolio_account and await self.streams.catch_up(
            account, lambda: self.state is _State.READY and account == self.portfolio_account
        ):
            self._raise_unless_ready()
        return self.streams.snapshot(account, self.portfolio_account, adapter.keys, adapter.memo)

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
            except Exception as exc:  # an unexpected library error must not end the retries either
                failures += 1
                if isinstance(exc, AttemptFailed):
                    failure = Failure(exc.kind, exc.reason, exc.needs_user)
                else:
                    log.warning(
                        "connecting to TWS/IB Gateway at %s failed unexpectedly", self.where, exc_info=True
                    )
                    failure = Failure(
                        ReadErrorKind.NETWORK, f"connecting to TWS/IB Gateway at {self.where} failed: {exc}"
                    )
                self._go_down(failure)
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
        await asyncio.sleep(self.retry_delay(attempt))

    def _finish_attempt(self) -> None:
        if self._attempt is not None and not self._attempt.done():
            self._attempt.set_result(None)

    async def _connect_once(self) -> None:
        self._discard_ib()
        self.streams.clear()
        self.portfolio_account = None
        self._warned_codes = set()  # a new connection may warn about a broken data farm again
        loop = asyncio.get_running_loop()
        ib = client_library().IB()
        self._ib = ib
        self._pending_notice = None
        WireGuard(self._on_bad_message).install(ib.client.decoder)
        self._connect_error = None
        self._handshake_failed = refused = loop.create_future()
        for event, handler in self._handlers(ib):
            event += handler
        timeout = self.connect_timeout
        deadline = loop.time() + timeout
        await handshake(
            ib, self.host, self.port, self.client_id, timeout, refused, lambda: self._connect_error
        )
        self.managed = list(ib.managedAccounts())
        # connectAsync only logs a first download that timed out (raiseSyncErrors, which would
        # raise instead, is ib_async's alone), so the positions are asked for once more here and
        # trusted only after the positionEnd of this request
        collecting = self.streams.collect()
        try:
            await asyncio.wait_for(ib.reqPositionsAsync(), max(0.5, deadline - loop.time()))
        except TimeoutError:
            raise AttemptFailed(
                ReadErrorKind.TIMEOUT,
                f"TWS/IB Gateway at {self.where} did not send its positions within {timeout:g} s",
            ) from None
        except ConnectionError:
            raise AttemptFailed(
                ReadErrorKind.NETWORK, f"the connection to TWS/IB Gateway at {self.where} was lost"
            ) from None
        self.streams.adopt(collecting)
        # prices get what is left of the time; late ones arrive as pushes once ready
        await self._subscribe_portfolio(self._portfolio_candidate(), max(0.5, deadline - loop.time()))
        if self._connect_error is not None:  # a message of the download could not be read
            error = self._connect_error
            raise AttemptFailed(error.kind, error.reason, error.needs_user)
        if not ib.isConnected():  # dropped while the portfolio downloaded; nothing saw it as ready
            raise AttemptFailed(
                ReadErrorKind.NETWORK, f"the connection to TWS/IB Gateway at {self.where} was lost"
            )

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

    def _begin_or_continue_outage(self, failure: Failure) -> None:
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

    def _go_down(self, failure: Failure) -> None:
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
        self._go_down(Failure(kind, reason, needs_user))
        self._cancel_side_tasks()
        self._discard_ib()
        if self._lost is not None:
            self._lost.set()

    def _handlers(self, ib: Any) -> list[tuple[Any, Callable[..., None]]]:
        """The events of ``ib`` this link listens to, each with its handler."""
        return [
            (ib.errorEvent, self._on_error),
            (ib.positionEvent, self._on_position),
            (ib.updatePortfolioEvent, self._on_portfolio),
            (ib.disconnectedEvent, self._on_disconnected),
            (ib.client.apiError, self._on_api_error),
            # a socket TWS closes before its handshake reply (connections from a host it does not
            # trust) gets no apiError from the client; the connection object still says so
            (ib.client.conn.disconnected, self._on_api_error),
        ]

    def _discard_ib(self) -> None:
        ib, self._ib = self._ib, None
        if ib is None:
            return
        for event, handler in self._handlers(ib):
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
        self._on_closed(self)
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
            self._fail_handshake_or_lose(Failure(ReadErrorKind.NETWORK, sentence, needs_user=True))
        elif code == CANNOT_CONNECT:
            self._fail_handshake_or_lose(
                Failure(
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

    def _fail_handshake_or_lose(self, failure: Failure) -> None:
        if self.state is _State.CONNECTING:
            self._connect_error = failure
            if self._handshake_failed is not None and not self._handshake_failed.done():
                self._handshake_failed.set_result(None)
        else:
            self._lose(failure.kind, failure.reason, failure.needs_user)

    def _on_bad_message(self, bad: BadMessage) -> None:
        """A quantity that cannot be read: the download is not complete, whatever else came."""
        self._fail_handshake_or_lose(Failure(ReadErrorKind.MALFORMED, bad.sentence(self.where)))

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
            Failure(
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
            self._outage = Failure(self.kind, self.reason)
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


class LinkPool:
    """The links of one runtime, one per (host, port, client id); a link leaves as it closes.

    It lives in the runtime's ``AdapterContext``, not in this module, so two runtimes in one
    process (the window rebuilding its own after new settings, tests) never share a socket.
    """

    def __init__(self, retry_delay: Callable[[int], float]) -> None:
        self._retry_delay = retry_delay
        self._links: dict[tuple[str, int, int], Link] = {}

    def join(self, host: str, port: int, client_id: int) -> Link:
        """The link to ``host:port`` as ``client_id``, made anew if there is none or it closed."""
        key = (host, port, client_id)
        link = self._links.get(key)
        if link is None or link.state is _State.CLOSED:
            link = Link(host, port, client_id, self._retry_delay, self._leave)
            self._links[key] = link
        return link

    def _leave(self, link: Link) -> None:
        key = (link.host, link.port, link.client_id)
        if self._links.get(key) is link:
            del self._links[key]

    def __len__(self) -> int:
        return len(self._links)

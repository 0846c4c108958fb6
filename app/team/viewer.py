"""A desktop watching a shared store: the pictures the daemons saved, live, with no broker at all.

``StoreViewer`` stands where the window's ``SyncWorker`` would (``app.feed.Feed``): it publishes
one ``SyncResult`` per account whenever the store holds a newer picture of it, so the window,
its notifications and its event list behave exactly as after a sync of its own. It needs the
store's URL and nothing else: no config of accounts, no broker credential, no book, no adapter.

How it learns of a change, cheapest first:

- a hint (``app.team.listener``, PostgreSQL only): ``{"account": A, "revision": N}`` after a save;
  an account whose revision is above the one read is read again (state, rows, new events);
- a slow poll of every account's revision and the newest acknowledgement: the safety net for a
  hint lost in a reconnect or sent by a writer that does not send any; on SQLite (a viewer of
  a daemon on the same machine, no NOTIFY) this poll is the only way, so it runs every second;
- after every (re)connection of the listener: everything is compared again, since the hints of
  the time away were announced to nobody.

When the store cannot be read the viewer keeps the last picture and says so (``status``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from position_sync.app.backoff import Backoff
from position_sync.app.config import Settings
from position_sync.app.domain import Event
from position_sync.app.reconcile import AccountMemory
from position_sync.app.runtime import Runtime
from position_sync.app.store import Store
from position_sync.app.store.acks import local_user
from position_sync.app.store.revisions import CHANGES, Hint
from position_sync.app.supervise import supervised
from position_sync.app.sync import SyncResult, utcnow
from position_sync.app.team import picture
from position_sync.app.team.listener import RECONNECT, HintListener
from position_sync.app.team.picture import AccountPicture, Feeder, Marks, Privileges
from position_sync.app.team.requests import request_sync

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
Subscriber = Callable[[SyncResult], None]

# The safety net's pace: slow while hints arrive, quick on SQLite where it is the only way.
POLL_SECONDS_LISTENING = 30.0
POLL_SECONDS_SQLITE = 1.0
# How long a resync waits for the daemon's answer before saying nobody answered.
REQUEST_SECONDS = 30.0


class ViewerRefused(Exception):
    """A viewer cannot do what was asked (its database role only reads); one sentence."""


@dataclass(frozen=True)
class ViewerStatus:
    """What the window says about its feed: reachable or not, live or polled, how old, from whom."""

    reachable: bool
    problem: str | None  # why the store cannot be read, while it cannot
    live: bool  # hints arrive (a listener is connected)
    read_at: datetime | None  # when the store was last read successfully
    written_at: datetime | None  # the newest save of any account, by whichever daemon
    feeders: dict[str, Feeder] = field(default_factory=dict)
    notice: str | None = None  # e.g. a resync nobody answered


@dataclass
class _Waiter:
    revision: int  # answered once the account's revision passes this
    future: asyncio.Future[SyncResult]


class StoreViewer:
    """The viewer's ``Feed``; everything but the store reads runs on the loop thread."""

    def __init__(
        self,
        store: Store,
        *,
        user: str | None = None,
        clock: Clock = utcnow,
        listen: bool | None = None,
        poll_seconds: float | None = None,
        request_seconds: float = REQUEST_SECONDS,
        application_name: str = "position-sync viewer",
        reconnect: Backoff = RECONNECT,
    ) -> None:
        self.store = store
        postgres = store.engine.dialect.name == "postgresql"
        self._listen = postgres if listen is None else listen
        self.poll_seconds = poll_seconds or (POLL_SECONDS_LISTENING if self._listen else POLL_SECONDS_SQLITE)
        self.request_seconds = request_seconds
        self.user = user or store.user or local_user()
        self._clock = clock
        self._application_name = application_name
        self._reconnect = reconnect
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-sync-viewer")
        self._memories: dict[str, AccountMemory] = {}
        self._revisions: dict[str, int] = {}
        self._last_event: dict[str, int] = {}
        self._written: dict[str, datetime | None] = {}
        self._brokers: dict[str, str | None] = {}
        self._newest_ack = 0
        self._subscribers: list[Subscriber] = []
        self._ack_subscribers: list[Callable[[], object]] = []
        self._account_subscribers: list[Callable[[], object]] = []
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()  # a newer hint came while the account was being read
        self._waiters: dict[str, list[_Waiter]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._listener: HintListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loaded = False
        self._paused = False
        self._missed_while_paused = False
        self.privileges = Privileges(acknowledge=True, resync=True)
        self._feeders: dict[str, Feeder] = {}
        self._problem: str | None = None
        self._read_at: datetime | None = None
        self._notice: str | None = None
        self.published = 0  # pictures published since start
        self.caught_up = 0  # comparisons of every revision done (after each poll and reconnect)

    # -- set-up ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Every account the store holds, read once; nothing is published for it."""
        if self._loaded:
            return
        self._loop = asyncio.get_running_loop()
        engine = self.store.engine

        def first_read() -> tuple[Marks, dict[str, int], dict[str, AccountPicture], Privileges]:
            marks = picture.marks(engine)
            newest = picture.newest_events(engine)
            pictures = {}
            for account in sorted(marks.revisions):
                found = picture.read_account(engine, account, newest.get(account, 0))
                if found is not None:
                    pictures[account] = found
            return marks, newest, pictures, picture.privileges(engine)

        marks, newest, pictures, self.privileges = await self._in_db(first_read)
        self._newest_ack = marks.newest_ack
        for account, found in pictures.items():
            # A save between the two reads brought its events along: they are in the picture shown.
            self._last_event[account] = found.events[-1].id if found.events else newest.get(account, 0)
            self._take(account, found)
        self._read_at = self._clock()
        self._loaded = True
        await self._read_feeders()

    async def start(self) -> None:
        """Listen for hints (PostgreSQL) and poll the revisions as the safety net."""
        await self.load()
        self._loop = asyncio.get_running_loop()
        if self._listen and self._listener is None:
            try:
                self._listener = self._listener_for(self._loop)
            except ImportError:  # psycopg 3 missing beside a psycopg2 URL: poll as on SQLite
                log.warning(
                    "psycopg 3 is not installed, so the store is checked every %g s instead of being "
                    "listened to (pip install 'psycopg[binary]')",
                    POLL_SECONDS_SQLITE,
                )
                self._listen = False
                self.poll_seconds = min(self.poll_seconds, POLL_SECONDS_SQLITE)
            else:
                self._listener.start()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(
                supervised("the store viewer's poll", self._poll_loop), name="store-viewer-poll"
            )

    def _listener_for(self, loop: asyncio.AbstractEventLoop) -> HintListener:
        return HintListener(
            self.store.url,
            [CHANGES],
            lambda hint: loop.call_soon_threadsafe(self._hint, hint),
            on_reconnect=lambda: loop.call_soon_threadsafe(self._listening),
            on_state=lambda up, why: loop.call_soon_threadsafe(self._listener_state, up, why),
            application_name=self._application_name,
            reconnect=self._reconnect,
        )

    async def stop(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await asyncio.to_thread(listener.close)
        tasks = [t for t in (self._loop_task, *self._tasks, *self._reading.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.future.cancel()
        self._waiters.clear()
        self._db.shutdown(wait=True)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def subscribe_acks(self, subscriber: Callable[[], object]) -> Callable[[], None]:
        """Called (on the loop thread) when acknowledgements were written somewhere: re-read them."""
        self._ack_subscribers.append(subscriber)
        return lambda: self._ack_subscribers.remove(subscriber)

    def subscribe_accounts(self, subscriber: Callable[[], object]) -> Callable[[], None]:
        """Called when the store holds an account this viewer had not seen (a new daemon account)."""
        self._account_subscribers.append(subscriber)
        return lambda: self._account_subscribers.remove(subscriber)

    # -- what the window sees --------------------------------------------------------------

    @property
    def account_ids(self) -> list[str]:
        return list(self._memories)

    def memory(self, account_id: str) -> AccountMemory:
        return self._memories[account_id]

    def revision(self, account_id: str) -> int:
        return self._revisions.get(account_id, 0)

    def broker(self, account_id: str) -> str | None:
        """The account's broker as the daemon saved it (for its label)."""
        return self._brokers.get(account_id)

    def saved_at(self, account_id: str) -> datetime | None:
        """When a daemon last saved a sync of the account (its attempt, good or not)."""
        return self._written.get(account_id)

    def is_syncing(self, account_id: str | None = None) -> bool:
        """A re-read under way, or a resync asked of the daemon and not answered yet."""
        ids = [account_id] if account_id else list(self._memories)
        return any(
            ((task := self._reading.get(a)) is not None and not task.done()) or bool(self._waiters.get(a))
            for a in ids
        )

    def next_due(self, account_id: str) -> datetime | None:
        return None  # the daemons decide when accounts sync

    def status(self) -> ViewerStatus:
        listener = self._listener
        written = [w for w in self._written.values() if w is not None]
        return ViewerStatus(
            reachable=self._problem is None,
            problem=self._problem,
            live=listener is not None and listener.connected,
            read_at=self._read_at,
            written_at=max(written) if written else None,
            feeders=dict(self._feeders),
            notice=self._notice,
        )

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Hold the picture still: changes are noticed but shown only on ``resume``."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        if self._missed_while_paused:
            self._missed_while_paused = False
            self._spawn(self.catch_up("resumed"))

    # -- asking the daemon -----------------------------------------------------------------

    def trigger(self, account_id: str, reason: str = "push") -> None:
        """Re-read the account from the store (a viewer has nothing else to sync from)."""
        if account_id in self._memories:
            self._read_soon(account_id, reason)

    async def sync(self, account_id: str, reason: str = "manual") -> SyncResult:
        """Ask the daemon holding the account to sync it now; its saved result is the answer.

        Raises ``ViewerRefused`` when this database role may not ask. When no answer comes within
        ``request_seconds`` (no daemon holds the account, or it is stuck), the current picture is
        returned and ``status().notice`` says that nobody answered.
        """
        if not self.privileges.resync:
            raise ViewerRefused(self.privileges.refusal("a resync"))
        engine = self.store.engine
        at = self._clock()
        request, revision = await self._in_db(lambda: request_sync(engine, account_id, self.user, at))
        log.info("resync of %s asked of its daemon (request %d, revision %d)", account_id, request, revision)
        if self.revision(account_id) > revision:  # already newer than when asked: wait for the next
            revision = self.revision(account_id)
        future: asyncio.Future[SyncResult] = self._on_loop().create_future()
        waiter = _Waiter(revision, future)
        self._waiters.setdefault(account_id, []).append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.request_seconds)
        except TimeoutError:
            self._notice = (
                f"no daemon answered the resync of {account_id} within {self.request_seconds:g} s; "
                "is a daemon running for it?"
            )
            log.warning("%s", self._notice)
            return self._result(account_id, reason, self._memories[account_id], [], None, False)
        finally:
            waiters = self._waiters.get(account_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(account_id, None)

    async def sync_all(self, reason: str = "manual") -> list[SyncResult]:
        return list(await asyncio.gather(*(self.sync(a, reason) for a in list(self._memories))))

    # -- noticing changes ------------------------------------------------------------------

    def _hint(self, hint: Hint) -> None:
        if hint.kind == "revision" and hint.number > self.revision(hint.account):
            self._changed(hint.account, "store")
        elif hint.kind == "acks" and hint.number > self._newest_ack:
            self._newest_ack = hint.number
            self._acks_changed()

    def _changed(self, account: str, reason: str) -> None:
        if self._paused:
            self._missed_while_paused = True
        elif account in self._memories:
            self._read_soon(account, reason)
        else:
            self._spawn(self.catch_up(reason))  # an account this viewer has not seen yet

    def _listening(self) -> None:
        """LISTEN is in place: compare everything, since what changed before it was told nobody."""
        listener = self._listener
        again = listener is not None and listener.connections > 1
        self._spawn(self.catch_up("reconnect" if again else "listening"))

    def _listener_state(self, up: bool, why: str | None) -> None:
        if not up:
            self._problem = (
                f"the shared store cannot be reached ({why})" if why else "the store cannot be reached"
            )

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self.catch_up("store")

    async def catch_up(self, reason: str) -> None:
        """Compare every revision and the newest acknowledgement with what was read; read what moved."""
        engine = self.store.engine
        try:
            marks = await self._in_db(lambda: picture.marks(engine))
        except (SQLAlchemyError, OSError) as exc:
            self._unreachable(exc)
            return
        self._reachable()
        await self._read_feeders()
        if marks.newest_ack > self._newest_ack:
            self._newest_ack = marks.newest_ack
            self._acks_changed()
        elif reason == "reconnect":
            self._acks_changed()  # a clear or a snooze ending is no new id; re-read them anyway
        new = [a for a in marks.revisions if a not in self._memories]
        if new:
            await self._add_accounts(new)
        for account, revision in marks.revisions.items():
            if revision > self.revision(account):
                self._changed(account, reason)
        self.caught_up += 1

    async def _add_accounts(self, accounts: list[str]) -> None:
        engine = self.store.engine

        def read() -> dict[str, AccountPicture]:
            found = {}
            for account in accounts:
                found_one = picture.read_account(engine, account, 0)
                if found_one is not None:
                    found[account] = found_one
            return found

        pictures = await self._in_db(read)
        for account, found in pictures.items():
            if account in self._memories:
                continue
            self._last_event[account] = max((e.id for e in found.events), default=0)
            self._take(account, found)
        if pictures:
            log.info("the store holds new accounts: %s", ", ".join(sorted(pictures)))
            for subscriber in list(self._account_subscribers):
                self._call(subscriber)

    async def _read_feeders(self) -> None:
        engine = self.store.engine
        try:
            self._feeders = await self._in_db(lambda: picture.feeders(engine))
        except (SQLAlchemyError, OSError) as exc:
            log.debug("the leases could not be read: %s", exc)

    def _read_soon(self, account: str, reason: str) -> None:
        """One read of an account at a time; a change noticed during it makes one more."""
        running = self._reading.get(account)
        if running is not None and not running.done():
            self._again.add(account)
            return
        self._reading[account] = self._on_loop().create_task(self._read(account, reason))

    async def _read(self, account: str, reason: str) -> None:
        engine = self.store.engine
        while True:
            self._again.discard(account)
            after = self._last_event.get(account, 0)
            try:
                found = await self._in_db(functools.partial(picture.read_account, engine, account, after))
            except (SQLAlchemyError, OSError) as exc:
                self._unreachable(exc)
                return
            self._reachable()
            if found is not None and found.revision > self.revision(account):
                self._publish(account, reason, found)
            if account not in self._again:
                return

    def _publish(self, account: str, reason: str, found: AccountPicture) -> None:
        if found.events:
            self._last_event[account] = found.events[-1].id
        self._take(account, found)
        result = self._result(
            account, reason, found.memory, [e.event for e in found.events], found.run_id, found.held
        )
        self.published += 1
        for subscriber in list(self._subscribers):
            try:
                subscriber(result)
            except Exception:
                log.exception("a subscriber failed on the store's picture of %s", account)
        for waiter in list(self._waiters.get(account, [])):
            if found.revision > waiter.revision and not waiter.future.done():
                waiter.future.set_result(result)
                self._notice = None

    def _take(self, account: str, found: AccountPicture) -> None:
        self._memories[account] = found.memory
        self._revisions[account] = found.revision
        self._written[account] = found.last_attempt_at
        self._brokers[account] = found.broker

    def _result(
        self,
        account: str,
        reason: str,
        memory: AccountMemory,
        events: list[Event],
        run_id: int | None,
        held: bool,
    ) -> SyncResult:
        written = self._written.get(account) or self._clock()
        return SyncResult(
            account=account,
            reason=reason,
            started_at=written,
            finished_at=written,
            state=memory.state,
            error=memory.error,
            rows=memory.rows,
            events=events,
            last_success_at=memory.last_success_at,
            held=held,
            run_id=run_id,
        )

    def _acks_changed(self) -> None:
        for subscriber in list(self._ack_subscribers):
            self._call(subscriber)

    def _unreachable(self, exc: BaseException) -> None:
        cause = getattr(exc, "orig", None) or exc
        text = " ".join(str(cause).split("\n", 1)[0].split()) or type(cause).__name__
        if self._problem is None:
            log.warning("the shared store cannot be read (%s); the last picture stays on screen", text)
        self._problem = f"the shared store cannot be read ({text})"

    def _reachable(self) -> None:
        if self._problem is not None:
            log.info("the shared store can be read again")
        self._problem = None
        self._read_at = self._clock()

    # -- plumbing --------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task: asyncio.Task[None] = self._on_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _call(subscriber: Callable[[], object]) -> None:
        try:
            subscriber()
        except Exception:
            log.exception("a subscriber of the store viewer failed")

    async def _in_db(self, function: Callable[[], T]) -> T:
        return await self._on_loop().run_in_executor(self._db, function)

    def _on_loop(self) -> asyncio.AbstractEventLoop:
        """The loop started on: the listener's callbacks reach it from another thread, and under
        qasync a callback may run while Qt, not asyncio, is turning the loop."""
        return self._loop or asyncio.get_running_loop()


def viewer_runtime(settings: Settings, data_dir: Path) -> Runtime:
    """The window's runtime as a viewer: the store and a ``StoreViewer``, nothing else.

    No broker, book or adapter is built and no secret is read; the store is not claimed either,
    since a viewer does not sync (the daemons own the syncing, and several viewers watch at once).
    Raises ``StoreError`` with one sentence when the store cannot be opened.
    """
    store = Store(Store.url_for(data_dir, settings.store_url), user=settings.team.user)
    viewer = StoreViewer(store)  # the store carries the user's name
    return Runtime(settings, data_dir, store, viewer, books={}, claim=None)


def as_viewer(settings: Settings) -> Settings:
    """``settings`` for a window opened with ``--viewer``, as if ``[store] viewer = true`` said so."""
    return replace(settings, team=replace(settings.team, viewer=True))

"""The asyncio sync worker: triggers, single flight, timeouts, backoff, publishing.

One loop drives everything (the Qt loop through qasync in the window, a plain asyncio loop
headless). What blocks runs elsewhere: book reads on daemon threads that a timeout abandons for
real (``app.books.runner``), and reconciliation plus the store on one dedicated thread, because
a SQLAlchemy engine is used from a single thread and a 10,000-row reconciliation must not stall
the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from position_sync.app.backoff import Backoff
from position_sync.app.books.base import Book, Forgetful
from position_sync.app.books.runner import DaemonThreadExecutor
from position_sync.app.books.watch import BookWatcher
from position_sync.app.broker import BrokerAdapter
from position_sync.app.config import AccountConfig, Settings
from position_sync.app.domain import AccountState, BookSnapshot, BrokerSnapshot, Event, Row
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.reconcile import AccountMemory, JudgeSettings, Outcome, failed, reconcile
from position_sync.app.store import Store, StoreError
from position_sync.app.store.ownership import StoreBusy
from position_sync.app.supervise import supervised
from position_sync.app.symbols import Resolver
from position_sync.app.team.leases import LeaseKeeper, LeaseLost, holder_name, leases_of
from position_sync.app.team.requests import serve_requests

log = logging.getLogger(__name__)

T = TypeVar("T")

# The reasons a person gave for a sync (the resync button, a fix written to the book, a viewer's
# request): the book is read in full, not answered from a read its change probe vouches for.
FRESH_READS = frozenset({"manual", "book fixed", "requested"})
Clock = Callable[[], datetime]
Subscriber = Callable[["SyncResult"], None]
# Each account's memory and learned aliases, as ``Store.load_memories`` reads them.
StoredMemories = tuple[dict[str, AccountMemory], dict[str, dict[str, str]]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def judge_settings(account: AccountConfig) -> JudgeSettings:
    return JudgeSettings(
        price_tolerance_rel=account.price_tolerance_rel,
        price_tolerance_abs=account.price_tolerance_abs,
        confirm_syncs=account.confirm_syncs,
        settle_seconds=account.settle_seconds,
        mass_change_fraction=account.mass_change_fraction,
        mass_change_min=account.mass_change_min,
    )


@dataclass(frozen=True)
class SyncResult:
    """What one sync of one account published."""

    account: str
    reason: str
    started_at: datetime
    finished_at: datetime
    state: AccountState
    error: str | None
    rows: dict[str, Row]
    events: list[Event]
    last_success_at: datetime | None
    held: bool = False
    run_id: int | None = None

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class _Account:
    config: AccountConfig
    adapter: BrokerAdapter
    book: Book
    resolver: Resolver
    memory: AccountMemory
    failures: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    running: asyncio.Task[SyncResult] | None = None
    rerun: str | None = None  # the reason of a trigger that came while a sync was running
    next_due: datetime | None = None


class SyncWorker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        adapters: dict[str, BrokerAdapter],
        books: dict[str, Book],
        *,
        clock: Clock = utcnow,
        rng: Callable[[], float] = random.random,
        backoff_cap: float = 300.0,
        leases: LeaseKeeper | None = None,
    ) -> None:
        self.settings = settings
        # On a shared store: the accounts this process holds are the ones it syncs.
        self.leases = leases
        self._lease_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-sync-leases") if leases else None
        )
        self.store = store
        self._adapters = adapters
        self._books = books
        self._clock = clock
        self._rng = rng
        self.backoff_cap = backoff_cap
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-sync-store")
        # Not a pool: a read stuck past its timeout must neither starve later reads nor keep the
        # process alive at exit (a pool's threads are joined then).
        self._io = DaemonThreadExecutor("position-sync-books")
        # Per book, reads abandoned at their timeout and still running: while one is, the book
        # is not read again, so a source that blocks forever costs one thread, not one a sync.
        self._abandoned: dict[str, list[Future[BookSnapshot]]] = {}
        self._accounts: dict[str, _Account] = {}
        self._subscribers: list[Subscriber] = []
        self._tasks: set[asyncio.Task[object]] = set()
        self._loops: list[asyncio.Task[object]] = []
        self._paused = asyncio.Event()
        self._paused.set()  # set = running; cleared = paused
        self._loaded = False
        self._watcher: BookWatcher | None = None
        # Each follow-up timer with its deadline on the loop's clock. The deadline is kept here
        # rather than asked of the handle: qasync's ``call_later`` returns a plain ``Handle``
        # without ``when()``, and asking it killed the book watcher on the window's loop.
        self._timers: dict[asyncio.Handle, float] = {}

    # -- set-up ----------------------------------------------------------------------------

    async def load(self, stored: StoredMemories | None = None) -> None:
        """Read what the store remembers; nothing touches the network here.

        ``stored``: what ``Store.load_memories`` returned already (the window paints it before
        the adapters are built), so the rows on screen are the worker's own and are not read
        twice.
        """
        if self._loaded:
            return
        memories, learned = stored if stored is not None else await self._in_db(self.store.load_memories)
        for account in self.settings.accounts:
            if not account.enabled:
                continue
            resolver = Resolver(
                account.exchange, account.market, account.aliases, dict(learned.get(account.id, {}))
            )
            memory = memories.get(account.id) or AccountMemory(account.id)
            self._accounts[account.id] = _Account(
                account, self._adapters[account.id], self._books[account.book], resolver, memory
            )
        self._loaded = True

    async def start(self) -> None:
        """Start-up trigger, then every account on its own interval; pushes sync at once.

        On a shared store the leases are taken before the memories are loaded, so the accounts
        gained are read once, after they became this process's (a caller that loaded earlier
        has them read again by the beat, since another daemon may have saved meanwhile).
        """
        if self.leases is not None:
            await self.beat()
        await self.load()
        loop = asyncio.get_running_loop()

        def pusher(account_id: str) -> Callable[[], None]:
            # Adapters may call from their own threads: hop onto the loop first.
            def push() -> None:
                loop.call_soon_threadsafe(self.trigger, account_id, "push")

            return push

        if self.leases is not None:
            self._loops.append(
                asyncio.create_task(supervised("the lease keeper", self._lease_loop), name="sync-leases")
            )
        for account_id, state in self._accounts.items():
            state.adapter.on_push(pusher(account_id))
            loop_of = supervised(
                f"the sync loop of {account_id}",
                functools.partial(self._interval_loop, state),
            )
            self._loops.append(asyncio.create_task(loop_of, name=f"sync-loop-{account_id}"))
        self._loops.append(
            asyncio.create_task(supervised("the resync requests", self._requests_loop), name="sync-requests")
        )
        used = {state.config.book: self._books[state.config.book] for state in self._accounts.values()}
        self._watcher = BookWatcher(used, self._book_changed, self._io, wanted=self._book_wanted)
        self._watcher.start()

    def _book_changed(self, book_id: str) -> None:
        """Sync the book's accounts now, and once more when the book has settled.

        The first sync shows the new picture at once; a problem it finds is only reported once
        the book stayed unchanged for ``settle_seconds``, so the follow-up makes that happen on
        time instead of at the next interval.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._timers = {t: due for t, due in self._timers.items() if due > now}  # forget fired ones
        for account_id, state in self._accounts.items():
            if state.config.book == book_id:
                self.trigger(account_id, "book changed")
                delay = state.config.settle_seconds + 0.1
                self._timers[loop.call_later(delay, self.trigger, account_id, "book settled")] = now + delay

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._watcher is not None:
            await self._watcher.stop()
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        for state in self._accounts.values():
            if state.running is not None:
                state.running.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        running = [s.running for s in self._accounts.values() if s.running is not None]
        await asyncio.gather(*running, return_exceptions=True)
        self._loops.clear()
        for state in self._accounts.values():
            with contextlib.suppress(Exception):
                await state.adapter.close()
        self._db.shutdown(wait=True)
        self._io.shutdown(wait=False, cancel_futures=True)
        if self.leases is not None and self._lease_thread is not None:
            # Last: nothing of this process saves any more, so another daemon may take over now.
            await asyncio.get_running_loop().run_in_executor(self._lease_thread, self.leases.close)
            self._lease_thread.shutdown(wait=True)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    # -- what the UI and CLI see -----------------------------------------------------------

    @property
    def account_ids(self) -> list[str]:
        return list(self._accounts)

    def memory(self, account_id: str) -> AccountMemory:
        return self._accounts[account_id].memory

    def is_syncing(self, account_id: str | None = None) -> bool:
        states = [self._accounts[account_id]] if account_id else list(self._accounts.values())
        return any(s.running is not None and not s.running.done() for s in states)

    def next_due(self, account_id: str) -> datetime | None:
        return self._accounts[account_id].next_due

    @property
    def paused(self) -> bool:
        return not self._paused.is_set()

    def pause(self) -> None:
        """Stop interval syncs; manual resync and pushes still work."""
        self._paused.clear()

    def resume(self) -> None:
        self._paused.set()

    # -- triggers --------------------------------------------------------------------------

    def trigger(self, account_id: str, reason: str = "push") -> None:
        """Fire-and-forget sync (pushes, file watchers); a running sync is followed by one more."""
        state = self._accounts.get(account_id)
        if state is None:
            return
        if state.running is not None and not state.running.done():
            state.rerun = reason
            return
        self._keep(asyncio.create_task(self.sync(account_id, reason)))

    async def sync(self, account_id: str, reason: str = "manual") -> SyncResult:
        """Sync one account now; a sync already running for it is joined, not repeated."""
        state = self._accounts[account_id]
        if not self._ours(account_id):
            return self._unsaved(state, reason, self._clock())
        if state.running is None or state.running.done():
            state.running = asyncio.create_task(self._run(state, reason), name=f"sync-{account_id}")
        return await asyncio.shield(state.running)

    async def sync_all(self, reason: str = "manual") -> list[SyncResult]:
        return list(await asyncio.gather(*(self.sync(a, reason) for a in self._accounts)))

    def _keep(self, task: asyncio.Task[object]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def delay_after(self, state: _Account) -> float:
        """The interval, or after failures an exponential backoff with jitter, capped."""
        interval = state.config.interval
        if state.failures == 0 or state.memory.state is AccountState.LOGIN_REQUIRED:
            return interval
        # Never sooner than the interval itself: after a 429 or a 5xx the broker wants fewer
        # requests, not a retry drawn from below the normal pace. Each failure doubles the step,
        # which starts at the interval (attempt 1 is the first sync, before any failure).
        policy = Backoff(initial=interval, cap=self.backoff_cap, minimum=interval)
        return policy.delay(state.failures + 1, self._rng)

    async def _interval_loop(self, state: _Account) -> None:
        delay = 0.0  # the start-up trigger
        while True:
            state.next_due = self._clock() + timedelta(seconds=delay)
            # ``asyncio.timeout`` awaits the wait itself: ``wait_for`` would wrap it in a task,
            # which a loop stopping at that moment leaves never started (a warning at exit).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await state.wake.wait()
            state.wake.clear()
            await self._paused.wait()
            if not self._ours(state.config.id):
                delay = state.config.interval
                continue
            try:
                await self.sync(state.config.id, "interval")
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one sync
                log.exception("sync of %s failed unexpectedly", state.config.id)
            delay = self.delay_after(state)

    # -- one sync --------------------------------------------------------------------------

    # -- leases (a shared store) -------------------------------------------------------------

    def _ours(self, account_id: str) -> bool:
        return self.leases is None or self.leases.holds(account_id)

    def _book_wanted(self, book_id: str) -> bool:
        """A book is watched while an account this process syncs reads it."""
        return any(s.config.book == book_id and self._ours(a) for a, s in self._accounts.items())

    async def _lease_loop(self) -> None:
        assert self.leases is not None
        while True:
            await asyncio.sleep(self.leases.beat_seconds)
            await self.beat()

    async def beat(self) -> None:
        """Renew and take leases; an account gained continues from what its last holder saved."""
        assert self.leases is not None and self._lease_thread is not None
        loop = asyncio.get_running_loop()
        beat = await loop.run_in_executor(self._lease_thread, self.leases.beat)
        for account_id in sorted(beat.lost):
            log.warning("%s: lease lost; another daemon syncs it now", account_id)
        gained = [a for a in sorted(beat.gained) if a in self._accounts]
        if gained:
            memories, learned = await self._in_db(lambda: self.store.load_memories(gained))
            for account_id in gained:
                state = self._accounts[account_id]
                state.memory = memories.get(account_id) or AccountMemory(account_id)
                state.resolver.learned.clear()
                state.resolver.learned.update(learned.get(account_id, {}))
                state.failures = 0
                state.wake.set()
                log.info("%s: leased to %s", account_id, self.leases.holder)

    async def _requests_loop(self) -> None:
        holder = self.leases.holder if self.leases is not None else holder_name("position-sync")
        await serve_requests(
            self.store,
            lambda: [a for a in self._accounts if self._ours(a)],
            lambda account_id: self.trigger(account_id, "requested"),
            self._in_db,
            holder,
            self._clock,
        )

    async def claim_accounts(self, ids: list[str], wait: float) -> None:
        """Lease exactly ``ids`` (``sync --once``), waiting up to ``wait`` s; ``StoreBusy`` if not."""
        if self.leases is None:
            return
        self.leases.accounts = list(ids)
        deadline = asyncio.get_running_loop().time() + max(wait, 0.0)
        while True:
            await self.beat()
            missing = [a for a in ids if not self.leases.holds(a)]
            if not missing or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(min(1.0, self.leases.beat_seconds))
        if missing:
            holders = await self._in_db(lambda: leases_of(self.store.engine))
            named = "; ".join(
                f"{a} by {holders[a].holder}" if a in holders else f"{a} by another process" for a in missing
            )
            raise StoreBusy(
                f"the shared store at {self.leases.where} has these accounts leased: {named}; only the "
                "holder syncs an account, so read the picture with 'position-sync status'"
            )

    async def _run(self, state: _Account, reason: str) -> SyncResult:
        try:
            result = await self._sync_once(state, reason)
            # The follow-up keeps its trigger's reason ("book changed" is not a "push").
            while state.rerun is not None:
                follow_up, state.rerun = state.rerun, None
                result = await self._sync_once(state, follow_up)
            return result
        finally:
            state.running = None

    async def _sync_once(self, state: _Account, reason: str) -> SyncResult:
        """One sync; whatever fails inside it leaves the account stale, never a crashed sync."""
        started = self._clock()
        try:
            return await self._judge(state, reason, started)
        except asyncio.CancelledError:
            raise
        except LeaseLost as exc:
            # Not a failure of the account: another daemon syncs it now and reports for it.
            log.warning("%s: %s", state.config.id, exc)
            return self._unsaved(state, reason, started)
        except Exception as exc:  # a store, keying or reconciliation failure alike
            return await self._failed(state, reason, started, exc)

    async def _judge(self, state: _Account, reason: str, started: datetime) -> SyncResult:
        account = state.config
        fresh = reason in FRESH_READS
        broker, book = await asyncio.gather(self._read_broker(state), self._read_book(state, fresh=fresh))
        settings = judge_settings(account)

        def judge_and_save() -> tuple[Outcome, int]:
            broker_keyed = broker
            book_keyed = book
            if not isinstance(broker, ReadError) and not isinstance(book, ReadError):
                broker_keyed, book_keyed = _key_sides(state.resolver, broker, book)
            now = self._clock()
            memory = state.memory
            outcome = reconcile(account.id, broker_keyed, book_keyed, memory, settings, now)
            if not isinstance(broker, ReadError) and not isinstance(book, ReadError):
                state.resolver.forget_except(set(outcome.rows))
            # The store compares against the memory reconciled from: the rows as last saved.
            run_id = self.store.save(
                account.id,
                outcome,
                started,
                now,
                dict(state.resolver.learned),
                previous=memory.rows,
                broker=account.broker,
                fence=self.leases,
            )
            return outcome, run_id

        outcome, run_id = await self._in_db(judge_and_save)
        state.memory = outcome.memory
        state.failures = 0 if outcome.state is AccountState.OK else state.failures + 1
        result = SyncResult(
            account=account.id,
            reason=reason,
            started_at=started,
            finished_at=self._clock(),
            state=outcome.state,
            error=outcome.memory.error,
            rows=outcome.rows,
            events=outcome.events,
            last_success_at=outcome.memory.last_success_at,
            held=outcome.held,
            run_id=run_id,
        )
        self._publish(result)
        return result

    async def _failed(self, state: _Account, reason: str, started: datetime, exc: Exception) -> SyncResult:
        """Safety rule 1 for a sync that failed after its reads: the account is stale.

        The failure is recorded like an unreadable side (rows marked stale, one ``sync_failed``
        event, the state ``status`` shows) unless the store itself failed: then nothing can be
        recorded, and the result keeps the rows as stored and announces nothing the store lacks.
        The traceback goes to the debug log; the user gets one sentence.
        """
        account = state.config
        error = failure_sentence(exc)
        log.error("%s: %s", account.id, error)
        log.debug("the sync of %s failed", account.id, exc_info=exc)
        now = self._clock()
        outcome = failed(account.id, error, state.memory, now)
        run_id: int | None = None
        if not isinstance(exc, StoreError):
            recorded, previous = outcome, state.memory.rows
            try:
                fence = self.leases
                run_id = await self._in_db(
                    lambda: self.store.save(
                        account.id,
                        recorded,
                        started,
                        now,
                        previous=previous,
                        broker=account.broker,
                        fence=fence,
                    )
                )
            except asyncio.CancelledError:
                raise
            except LeaseLost as lost:
                log.warning("%s: %s", account.id, lost)
                return self._unsaved(state, reason, started)
            except Exception as again:
                log.error("%s: recording the failure failed too: %s", account.id, failure_sentence(again))
                log.debug("recording the failure of %s failed", account.id, exc_info=again)
        if run_id is None:
            memory = replace(state.memory, state=AccountState.STALE, error=error)
            outcome = Outcome(state.memory.rows, [], memory)
        state.memory = outcome.memory
        state.failures += 1
        result = SyncResult(
            account.id,
            reason,
            started,
            self._clock(),
            outcome.state,
            error,
            outcome.rows,
            outcome.events,
            outcome.memory.last_success_at,
            run_id=run_id,
        )
        self._publish(result)
        return result

    def _unsaved(self, state: _Account, reason: str, started: datetime) -> SyncResult:
        """The account as this process last saved it, for a sync that was not its to save."""
        memory = state.memory
        return SyncResult(
            state.config.id,
            reason,
            started,
            self._clock(),
            memory.state,
            memory.error,
            memory.rows,
            [],
            memory.last_success_at,
        )

    async def _read_broker(self, state: _Account) -> BrokerSnapshot | ReadError:
        account = state.config
        try:
            async with asyncio.timeout(account.timeout):
                snapshot = await state.adapter.fetch()
        except ReadError as exc:
            return exc
        except TimeoutError:
            return ReadError(
                ReadErrorKind.TIMEOUT,
                f"{account.broker} broker of account {account.id} did not answer within {account.timeout:g} s",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an adapter bug must read as a failure, never as an empty broker
            log.debug("unexpected error reading the broker of %s", account.id, exc_info=True)
            return ReadError(
                ReadErrorKind.NETWORK, f"reading {account.broker} for {account.id} failed: {exc!r}"
            )
        if not isinstance(snapshot, BrokerSnapshot):
            # An adapter bug (returning None or a bare list) must read as a failure too: handed
            # to reconciliation it would crash the sync, or worse pass for an empty broker.
            return ReadError(
                ReadErrorKind.MALFORMED,
                f"{account.broker} adapter of {account.id} returned {type(snapshot).__name__}, "
                "not a BrokerSnapshot",
            )
        return snapshot

    async def _read_book(self, state: _Account, *, fresh: bool = False) -> BookSnapshot | ReadError:
        """The account's book; ``fresh``: nothing reused on a sign the source cannot vouch for."""
        account = state.config
        if fresh and isinstance(state.book, Forgetful):
            state.book.forget()
        loop = asyncio.get_running_loop()
        key = account.book_account or account.id
        blocked = self._still_blocked(account.book)
        if blocked is not None:
            return blocked
        try:
            submitted = self._io.submit(state.book.read, key)
        except RuntimeError:  # the worker is stopping
            return ReadError(ReadErrorKind.SOURCE, f"book '{account.book}' was not read: stopping")
        try:
            return await asyncio.wait_for(asyncio.wrap_future(submitted, loop=loop), timeout=account.timeout)
        except ReadError as exc:
            return exc
        except TimeoutError:
            self._abandoned.setdefault(account.book, []).append(submitted)
            return ReadError(
                ReadErrorKind.TIMEOUT, f"book '{account.book}' was not read within {account.timeout:g} s"
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("unexpected error reading book %s", account.book, exc_info=True)
            return ReadError(ReadErrorKind.SOURCE, f"book '{account.book}' could not be read: {exc!r}")

    def _still_blocked(self, book_id: str) -> ReadError | None:
        """A failed read when an earlier read of this book, abandoned at its timeout, still runs."""
        pending = [f for f in self._abandoned.get(book_id, []) if not f.done()]
        if pending:
            self._abandoned[book_id] = pending
            return ReadError(
                ReadErrorKind.TIMEOUT,
                f"book '{book_id}' was not read: an earlier read of it is still blocked",
            )
        self._abandoned.pop(book_id, None)
        return None

    async def _in_db(self, function: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, function)

    def _publish(self, result: SyncResult) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(result)
            except Exception:
                log.exception("a subscriber failed on the result of %s", result.account)


def failure_sentence(exc: Exception) -> str:
    """One line for the user about a failure they did not cause; the traceback stays in the log.

    A store failure already names the store and what failed. Anything else is a defect of ours
    (an overflow in reconciliation, a keying bug): the type and the first words of its message,
    kept short and on one line, and the same every time, so a repeated failure is reported once.
    """
    if isinstance(exc, StoreError):
        return f"store: {exc}"
    text = " ".join(str(exc).split())
    if text.startswith("[<class "):  # decimal signals print as a list of classes
        text = ""
    if len(text) > 160:
        text = text[:157] + "..."
    cause = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"internal error ({cause}); the sync was abandoned and the details are in the debug log"


def _key_sides(
    resolver: Resolver, broker: BrokerSnapshot, book: BookSnapshot
) -> tuple[BrokerSnapshot, BookSnapshot]:
    return resolver.key_sides(broker, book)

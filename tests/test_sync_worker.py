"""The sync worker with small in-test adapters and the real file book and store.

Every test runs on plain asyncio (the daemon's loop) and on qasync (the window's): see
``BOTH_LOOPS`` in ``tests/conftest.py``.

Waiting is done on events (an adapter's ``entered``, a subscriber's queue); the only timed waits
are the few that check that something does *not* happen while paused, which no event can show.
"""

from __future__ import annotations

import asyncio
import decimal
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from position_sync.app import sync as sync_module
from position_sync.app.books.base import Book
from position_sync.app.broker import BrokerAdapter, PushHandler
from position_sync.app.config import parse_settings
from position_sync.app.domain import AccountState, BrokerSnapshot, EventKind, Position, Status
from position_sync.app.errors import LoginRequired, ReadError, ReadErrorKind
from position_sync.app.runtime import build_books
from position_sync.app.secrets import Secrets
from position_sync.app.store import Store, StoreError
from position_sync.app.sync import SyncResult, SyncWorker
from tests.conftest import write_book

WAIT = 5.0  # a generous ceiling on awaited events; a healthy run takes milliseconds

BOOK = [
    {"symbol": "NSE:INFY", "quantity": 100, "average_price": 1500},
    {"symbol": "NSE:TCS", "quantity": -50, "average_price": 4100},
]


def snapshot(**quantities: int) -> BrokerSnapshot:
    """``snapshot(INFY=100)``: NSE positions at the book's prices."""
    prices = {"INFY": Decimal(1500), "TCS": Decimal(4100)}
    return BrokerSnapshot(
        tuple(
            Position(f"NSE:{name}", Decimal(qty), prices.get(name, Decimal(10)), label="CNC")
            for name, qty in quantities.items()
        )
    )


MATCHING = snapshot(INFY=100, TCS=-50)


class ScriptedBroker:
    """Answers from a script whose last entry repeats; an exception entry is raised."""

    def __init__(self, account_id: str, *script: BrokerSnapshot | BaseException | Any) -> None:
        self.account_id = account_id
        self.script = list(script)
        self.calls = 0
        self.closed = False
        self.push: PushHandler | None = None

    async def fetch(self) -> BrokerSnapshot:
        self.calls += 1
        item = self.script[min(self.calls, len(self.script)) - 1]
        if isinstance(item, BaseException):
            raise item
        return item

    def on_push(self, handler: PushHandler) -> None:
        self.push = handler

    async def close(self) -> None:
        self.closed = True


class GatedBroker(ScriptedBroker):
    """Holds every fetch open until the test opens the gate."""

    def __init__(self, account_id: str, *script: BrokerSnapshot | BaseException) -> None:
        super().__init__(account_id, *script)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def fetch(self) -> BrokerSnapshot:
        self.entered.set()
        await self.gate.wait()
        return await super().fetch()


class SilentBroker(ScriptedBroker):
    """Never answers; records that the worker gave up on it."""

    def __init__(self, account_id: str) -> None:
        super().__init__(account_id, MATCHING)
        self.entered = asyncio.Event()
        self.cancelled = 0

    async def fetch(self) -> BrokerSnapshot:
        self.calls += 1
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


Factory = Callable[..., SyncWorker]


@pytest.fixture
async def make_worker(tmp_path: Path) -> AsyncIterator[Factory]:
    workers: list[SyncWorker] = []
    stores: list[Store] = []

    def factory(
        adapters: Mapping[str, BrokerAdapter],
        *,
        book: list[dict[str, Any]] | None = None,
        account: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> SyncWorker:
        write_book(tmp_path / "book.json", BOOK if book is None else book)
        raw = {
            "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
            "accounts": [
                {
                    "id": account_id,
                    "broker": "simulated",
                    "scenario": "unused.toml",
                    "book": "bot",
                    **(account or {}),
                }
                for account_id in adapters
            ],
        }
        settings = parse_settings(raw, tmp_path / "config.toml")
        books: dict[str, Book] = build_books(settings, Secrets(environ={}))
        store = Store.open(tmp_path / f"data{len(stores)}")
        stores.append(store)
        for adapter in adapters.values():
            assert isinstance(adapter, BrokerAdapter)
        worker = SyncWorker(settings, store, dict(adapters), books, **options)
        workers.append(worker)
        return worker

    yield factory
    for worker in workers:
        await worker.stop()
    for store in stores:
        store.close()


def statuses(result: SyncResult) -> dict[str, Status]:
    return {key: row.status for key, row in result.rows.items()}


def kinds(result: SyncResult) -> list[EventKind]:
    return [event.kind for event in result.events]


# -- single flight and triggers ----------------------------------------------------------


async def test_two_syncs_while_one_runs_share_one_fetch(make_worker: Factory) -> None:
    broker = GatedBroker("a", MATCHING)
    worker = make_worker({"a": broker})
    await worker.load()
    first = asyncio.ensure_future(worker.sync("a"))
    await asyncio.wait_for(broker.entered.wait(), WAIT)
    assert worker.is_syncing("a")
    second = asyncio.ensure_future(worker.sync("a"))
    everything = asyncio.ensure_future(worker.sync_all())
    await asyncio.sleep(0)  # one loop turn: both callers reach the running sync and join it
    broker.gate.set()
    one, two, [three] = await asyncio.wait_for(asyncio.gather(first, second, everything), WAIT)
    assert broker.calls == 1
    assert one is two is three
    assert statuses(one) == {"NSE:INFY": Status.MATCH, "NSE:TCS": Status.MATCH}
    assert not worker.is_syncing("a")

    await worker.sync("a")  # once it finished, the next sync fetches again
    assert broker.calls == 2


async def test_a_trigger_during_a_sync_causes_exactly_one_follow_up(make_worker: Factory) -> None:
    broker = GatedBroker("a", MATCHING)
    worker = make_worker({"a": broker})
    await worker.load()
    published: list[SyncResult] = []
    worker.subscribe(published.append)
    running = asyncio.ensure_future(worker.sync("a"))
    await asyncio.wait_for(broker.entered.wait(), WAIT)
    worker.trigger("a", "push")
    worker.trigger("a", "push")
    worker.trigger("a", "book changed")
    broker.gate.set()
    final = await asyncio.wait_for(running, WAIT)
    assert broker.calls == 2
    assert [r.reason for r in published] == ["manual", "book changed"]
    assert final is published[-1]
    assert not worker.is_syncing("a")

    # Idle, a trigger starts a sync of its own.
    queue: asyncio.Queue[SyncResult] = asyncio.Queue()
    worker.subscribe(queue.put_nowait)
    worker.trigger("a", "push")
    assert (await asyncio.wait_for(queue.get(), WAIT)).reason == "push"
    assert broker.calls == 3
    worker.trigger("nobody")  # an unknown account is ignored, not an error


# -- failures ----------------------------------------------------------------------------


async def test_a_broker_that_never_answers_times_out_as_stale(make_worker: Factory) -> None:
    broker = SilentBroker("a")
    worker = make_worker({"a": broker}, account={"timeout": 0.2})
    await worker.load()
    result = await asyncio.wait_for(worker.sync("a"), WAIT)
    assert result.state is AccountState.STALE
    assert result.error == "broker: simulated broker of account a did not answer within 0.2 s"
    assert broker.cancelled == 1
    assert kinds(result) == [EventKind.SYNC_FAILED]
    assert result.rows == {}  # nothing known yet, and certainly no untracked book rows


def backoff_worker(make_worker: Factory, jitter: Callable[[], float]) -> tuple[SyncWorker, ScriptedBroker]:
    down = ReadError(ReadErrorKind.NETWORK, "connection refused")
    broker = ScriptedBroker("a", *([down] * 7), MATCHING)
    worker = make_worker({"a": broker}, account={"interval": 10}, rng=jitter, backoff_cap=60.0)
    return worker, broker


def account_state(worker: SyncWorker, account_id: str) -> Any:
    return worker._accounts[account_id]  # delay_after takes the worker's own per-account state


async def test_backoff_grows_exponentially_is_capped_and_resets(make_worker: Factory) -> None:
    jitter = [0.0]
    worker, _broker = backoff_worker(make_worker, lambda: jitter[0])
    await worker.load()
    state = account_state(worker, "a")
    assert worker.delay_after(state) == 10.0  # no failure yet: the interval
    lows, highs = [], []
    for _ in range(7):
        result = await worker.sync("a")
        assert result.state is AccountState.STALE
        jitter[0] = 0.0
        lows.append(worker.delay_after(state))
        jitter[0] = 0.999999
        highs.append(worker.delay_after(state))
    # The ceiling doubles from twice the interval, up to the cap; jitter spreads over its upper
    # half, and no retry comes sooner than the interval.
    ceilings = [20.0, 40.0, 60.0, 60.0, 60.0, 60.0, 60.0]
    assert lows == [10.0, 20.0, 30.0, 30.0, 30.0, 30.0, 30.0]
    assert highs == pytest.approx(ceilings, rel=1e-5)
    assert all(h <= c for h, c in zip(highs, ceilings, strict=True))

    result = await worker.sync("a")
    assert result.state is AccountState.OK
    assert worker.delay_after(state) == 10.0


async def test_backoff_jitter_stays_within_bounds(make_worker: Factory) -> None:
    draws = random.Random(20261121)
    worker, _broker = backoff_worker(make_worker, draws.random)
    await worker.load()
    state = account_state(worker, "a")
    for failures in range(1, 8):
        await worker.sync("a")
        ceiling = min(60.0, 10.0 * 2**failures)
        delays = {worker.delay_after(state) for _ in range(50)}
        assert all(max(10.0, ceiling / 2) <= d <= ceiling for d in delays), (failures, delays)
        assert len(delays) > 1  # jittered, not one fixed delay


async def test_a_failing_broker_keeps_the_last_good_rows_as_stale(make_worker: Factory) -> None:
    down = ReadError(ReadErrorKind.NETWORK, "the broker is unreachable")
    broker = ScriptedBroker("a", snapshot(INFY=100, TCS=-50, SBIN=20), down, down, MATCHING)
    worker = make_worker({"a": broker})
    await worker.load()
    good = await worker.sync("a")
    assert statuses(good) == {
        "NSE:INFY": Status.MATCH,
        "NSE:TCS": Status.MATCH,
        "NSE:SBIN": Status.UNTRACKED,
    }

    stale = await worker.sync("a")
    assert stale.state is AccountState.STALE
    assert stale.error == "broker: the broker is unreachable"
    assert stale.last_success_at == good.last_success_at
    assert set(stale.rows) == set(good.rows)
    for key, row in stale.rows.items():
        assert row.status is Status.STALE
        assert row.previous_status is good.rows[key].status
        assert row.broker_qty == good.rows[key].broker_qty
        assert row.local_qty == good.rows[key].local_qty
    assert kinds(stale) == [EventKind.SYNC_FAILED]

    again = await worker.sync("a")
    assert again.state is AccountState.STALE
    assert kinds(again) == []  # the same failure is not reported twice

    back = await worker.sync("a")  # SBIN was closed while the broker could not be read
    assert back.state is AccountState.OK
    assert statuses(back)["NSE:INFY"] is Status.MATCH
    assert EventKind.PHANTOM_DETECTED not in kinds(back)
    assert EventKind.UNTRACKED_DETECTED not in kinds(back)


async def test_a_book_that_cannot_be_read_is_stale_not_empty(make_worker: Factory, tmp_path: Path) -> None:
    broker = ScriptedBroker("a", MATCHING)
    worker = make_worker({"a": broker})
    await worker.load()
    assert (await worker.sync("a")).state is AccountState.OK
    (tmp_path / "book.json").unlink()
    result = await worker.sync("a")
    assert result.state is AccountState.STALE
    assert result.error is not None
    assert result.error.startswith("book: book 'bot': ") and "file not found" in result.error
    assert {row.status for row in result.rows.values()} == {Status.STALE}
    assert kinds(result) == [EventKind.SYNC_FAILED]  # no untracked: the book is unknown, not empty


async def test_login_required_is_reported_once(make_worker: Factory) -> None:
    expired = LoginRequired("Kite session expired for AB1234; log in again")
    broker = ScriptedBroker("a", MATCHING, expired)
    worker = make_worker({"a": broker})
    await worker.load()
    await worker.sync("a")
    first = await worker.sync("a")
    assert first.state is AccountState.LOGIN_REQUIRED
    assert kinds(first) == [EventKind.LOGIN_REQUIRED]
    assert first.events[0].detail == "broker: Kite session expired for AB1234; log in again"
    second = await worker.sync("a")
    assert second.state is AccountState.LOGIN_REQUIRED
    assert kinds(second) == []
    assert {row.status for row in second.rows.values()} == {Status.STALE}
    assert worker.delay_after(account_state(worker, "a")) == 60.0  # no backoff: waiting on a person
    assert worker.store.account_statuses()["a"].state is AccountState.LOGIN_REQUIRED


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (RuntimeError("boom in the adapter"), "RuntimeError('boom in the adapter')"),
        (KeyError("net_quantity"), "KeyError('net_quantity')"),
        (None, "returned NoneType, not a BrokerSnapshot"),
        ([], "returned list, not a BrokerSnapshot"),
    ],
)
async def test_an_adapter_bug_is_stale_never_an_empty_broker(
    make_worker: Factory, answer: Any, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = ScriptedBroker("a", MATCHING, answer)
    worker = make_worker({"a": broker})
    await worker.load()
    await worker.sync("a")
    with caplog.at_level(logging.ERROR):
        result = await worker.sync("a")
    assert result.state is AccountState.STALE
    assert result.error is not None and words in result.error
    assert {key: row.previous_status for key, row in result.rows.items()} == {
        "NSE:INFY": Status.MATCH,
        "NSE:TCS": Status.MATCH,
    }
    assert kinds(result) == [EventKind.SYNC_FAILED]


async def test_a_store_failure_is_stale_and_keeps_the_previous_picture(
    make_worker: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = ScriptedBroker("a", MATCHING, snapshot(INFY=100))
    worker = make_worker({"a": broker})
    await worker.load()
    good = await worker.sync("a")

    def full(*_args: Any, **_kwargs: Any) -> int:
        raise StoreError("saving the sync of a failed: database or disk is full")

    monkeypatch.setattr(worker.store, "save", full)
    result = await worker.sync("a")
    assert result.state is AccountState.STALE
    assert result.error == "store: saving the sync of a failed: database or disk is full"
    assert result.rows == good.rows
    assert result.events == []
    assert worker.memory("a").rows == good.rows


async def test_an_unexpected_failure_in_a_sync_is_stale_recorded_once_and_recovers(
    make_worker: Factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broker = ScriptedBroker("a", MATCHING)
    worker = make_worker({"a": broker})
    await worker.load()
    good = await worker.sync("a")
    real = sync_module.reconcile

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise decimal.Overflow("[<class 'decimal.Overflow'>]")

    monkeypatch.setattr(sync_module, "reconcile", broken)
    with caplog.at_level(logging.DEBUG, logger="position_sync.app.sync"):
        first = await worker.sync("a")
        second = await worker.sync("a")
    assert first.state is second.state is AccountState.STALE
    assert (
        first.error
        == "internal error (Overflow); the sync was abandoned and the details are in the debug log"
    )
    assert {key: row.status for key, row in first.rows.items()} == dict.fromkeys(good.rows, Status.STALE)
    assert kinds(first) == [EventKind.SYNC_FAILED]
    assert kinds(second) == []  # the same failure again is not announced again
    assert first.run_id is not None
    # The traceback is in the debug log only; what is shown at error level is the one sentence.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(r.exc_info is None for r in errors)
    assert any(r.exc_info is not None for r in caplog.records if r.levelno == logging.DEBUG)
    stored = worker.store.account_statuses()["a"]
    assert (stored.state, stored.error) == (AccountState.STALE, first.error)
    assert [e.event.kind for e in worker.store.events()][-1] is EventKind.SYNC_FAILED

    monkeypatch.setattr(sync_module, "reconcile", real)
    again = await worker.sync("a")
    assert again.state is AccountState.OK
    assert statuses(again) == statuses(good)


async def test_a_failure_that_cannot_be_recorded_either_is_stale_in_memory(
    make_worker: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = ScriptedBroker("a", MATCHING)
    worker = make_worker({"a": broker})
    await worker.load()
    good = await worker.sync("a")

    def broken(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("codec bug")

    monkeypatch.setattr(worker.store, "save", broken)
    result = await worker.sync("a")
    assert result.state is AccountState.STALE
    assert result.error is not None and "RuntimeError: codec bug" in result.error
    assert result.rows == good.rows and result.events == [] and result.run_id is None
    assert worker.memory("a").state is AccountState.STALE


# -- pushes, pause, stop, subscribers ----------------------------------------------------


async def test_a_push_from_another_thread_syncs_and_publishes(make_worker: Factory) -> None:
    broker = ScriptedBroker("a", MATCHING, snapshot(INFY=100, TCS=-25))
    worker = make_worker({"a": broker}, account={"interval": 3600})
    queue: asyncio.Queue[SyncResult] = asyncio.Queue()
    worker.subscribe(queue.put_nowait)
    await worker.start()
    startup = await asyncio.wait_for(queue.get(), WAIT)
    assert startup.reason == "interval"
    assert broker.push is not None

    thread = threading.Thread(target=broker.push, name="feed")
    thread.start()
    thread.join()
    pushed = await asyncio.wait_for(queue.get(), WAIT)
    assert pushed.reason == "push"
    assert broker.calls == 2
    assert statuses(pushed)["NSE:TCS"] is Status.QTY_MISMATCH
    assert queue.empty()


async def test_pause_stops_interval_syncs_and_resume_restarts_them(make_worker: Factory) -> None:
    broker = ScriptedBroker("a", MATCHING)
    worker = make_worker({"a": broker}, account={"interval": 0.02})
    queue: asyncio.Queue[SyncResult] = asyncio.Queue()
    worker.subscribe(queue.put_nowait)

    worker.pause()
    assert worker.paused
    await worker.start()
    await asyncio.sleep(0.2)  # ten intervals: no event can show that nothing happened
    assert broker.calls == 0  # not even the start-up sync

    manual = await worker.sync("a")  # a manual resync still works while paused
    assert manual.reason == "manual" and broker.calls == 1
    await asyncio.wait_for(queue.get(), WAIT)

    worker.resume()
    assert not worker.paused
    for _ in range(3):
        assert (await asyncio.wait_for(queue.get(), WAIT)).reason == "interval"

    worker.pause()
    at_pause = broker.calls
    await asyncio.sleep(0.15)
    settled = broker.calls
    assert settled <= at_pause + 1  # at most the sync that was already under way
    await asyncio.sleep(0.15)
    assert broker.calls == settled

    worker.resume()
    assert (await asyncio.wait_for(queue.get(), WAIT)).reason == "interval"


async def test_stop_closes_adapters_and_returns_promptly(make_worker: Factory) -> None:
    hanging = SilentBroker("a")
    quiet = ScriptedBroker("b", MATCHING)
    worker = make_worker({"a": hanging, "b": quiet}, account={"timeout": 600, "interval": 3600})
    await worker.start()
    await asyncio.wait_for(hanging.entered.wait(), WAIT)
    assert worker.is_syncing("a")
    # The broker's own timeout is ten minutes: returning within WAIT means it was not waited for.
    await asyncio.wait_for(worker.stop(), WAIT)
    assert hanging.closed and quiet.closed
    assert hanging.cancelled == 1
    assert not worker.is_syncing()


async def test_subscribers_are_plain_callbacks_and_one_failing_breaks_no_other(
    make_worker: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    broker = ScriptedBroker("a", MATCHING)
    worker = make_worker({"a": broker})
    await worker.load()
    seen: list[str] = []

    def broken(result: SyncResult) -> None:
        seen.append("broken")
        raise ValueError("a UI bug")

    def first(result: SyncResult) -> None:
        seen.append(f"first {result.account}")

    def second(result: SyncResult) -> None:
        seen.append(f"second {result.state.value}")

    worker.subscribe(first)
    worker.subscribe(broken)
    unsubscribe = worker.subscribe(second)
    with caplog.at_level(logging.ERROR):
        result = await worker.sync("a")
    assert result.state is AccountState.OK
    assert seen == ["first a", "broken", "second ok"]
    assert "a subscriber failed on the result of a" in caplog.text

    unsubscribe()
    seen.clear()
    await worker.sync("a")
    assert seen == ["first a", "broken"]


async def test_accounts_sync_independently(make_worker: Factory) -> None:
    slow = GatedBroker("a", MATCHING)
    fast = ScriptedBroker("b", MATCHING)
    worker = make_worker({"a": slow, "b": fast})
    await worker.load()
    held = asyncio.ensure_future(worker.sync("a"))
    await asyncio.wait_for(slow.entered.wait(), WAIT)
    other = await asyncio.wait_for(worker.sync("b"), WAIT)  # not blocked by a's sync
    assert other.state is AccountState.OK and not held.done()
    slow.gate.set()
    assert (await asyncio.wait_for(held, WAIT)).state is AccountState.OK
    assert sorted(worker.account_ids) == ["a", "b"]


# -- chart figures -----------------------------------------------------------------------


async def test_a_headless_sync_records_the_chart_series_when_a_figure_changed(make_worker: Factory) -> None:
    """Exposure and unrealised P&L are written by the worker's own save, no window needed."""
    from position_sync.app.store.series import account_series

    def priced(last: str) -> BrokerSnapshot:
        return BrokerSnapshot(
            (
                Position("NSE:INFY", Decimal(100), Decimal(1500), Decimal(last), unrealised_pnl=Decimal(0)),
                Position("NSE:TCS", Decimal(-50), Decimal(4100), Decimal(4100), unrealised_pnl=Decimal(7)),
            )
        )

    broker = ScriptedBroker(
        "a", priced("1500"), priced("1500"), priced("1510"), ReadError(ReadErrorKind.NETWORK, "down")
    )
    worker = make_worker({"a": broker})
    await worker.load()
    for _ in range(3):
        await worker.sync("a")
    series = account_series(worker.store, "a")
    # The first sync records a point, the unchanged second none, the new price one more.
    assert series.gross_exposure.values == [100 * 1500 + 50 * 4100, 100 * 1510 + 50 * 4100]
    assert series.unrealised_pnl.values == [7.0, 7.0]
    assert len(series.problems) == 3  # problem counts stay per sync run
    await worker.sync("a")  # a failed read records no figure
    assert len(account_series(worker.store, "a").gross_exposure) == 2

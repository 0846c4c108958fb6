"""Long-lived tasks are logged and restarted when they die, never silent."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from position_sync.app.backoff import Backoff
from position_sync.app.books.watch import BookWatcher
from position_sync.app.supervise import supervised

QUICK = Backoff(initial=0.01, cap=0.02)


async def test_a_task_that_dies_is_logged_and_started_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    third = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 3:
            third.set()
            await asyncio.Event().wait()  # the third run stays up
        raise RuntimeError(f"boom {len(runs)}")

    with caplog.at_level(logging.INFO, logger="position_sync.app.supervise"):
        task = asyncio.create_task(supervised("the test loop", flaky, QUICK))
        await asyncio.wait_for(third.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["the test loop failed; it is started again"] * 2
    assert all(r.exc_info and "boom" in str(r.exc_info[1]) for r in failures)  # with the traceback


async def test_a_task_that_ends_by_itself_is_started_again(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0
    again = asyncio.Event()

    async def returns() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            again.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(supervised("the quiet loop", returns, QUICK))
    await asyncio.wait_for(again.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert "the quiet loop ended although it should run until stopped" in caplog.text


class Changing:
    """A watchable book whose token the test sets."""

    id = "bot"
    watch_interval = 0.01

    def __init__(self) -> None:
        self.token = "1"

    def change_token(self) -> str | None:
        return self.token


async def test_the_watcher_outlives_a_failing_reaction(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    book = Changing()
    seen: list[str] = []
    second = asyncio.Event()

    def on_change(book_id: str) -> None:
        seen.append(book_id)
        if len(seen) == 1:
            raise RuntimeError("the reaction failed")
        second.set()

    watcher = BookWatcher({"bot": book}, on_change)
    watcher.start()
    try:
        await asyncio.sleep(0.05)
        book.token = "2"
        await asyncio.sleep(0.1)
        book.token = "3"
        await asyncio.wait_for(second.wait(), 5)
    finally:
        await watcher.stop()
    assert seen == ["bot", "bot"]
    assert "reacting to a change of book bot failed" in caplog.text


class Counting(Changing):
    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def change_token(self) -> str | None:
        self.asked += 1
        return self.token


async def test_a_book_nobody_here_syncs_is_not_probed_until_it_matters() -> None:
    """A standby daemon on a shared store holds no account: probing its books (a thread and a
    stat, or a SQL query, four times a second each) would be work for another daemon."""
    book = Counting()
    wanted = False
    seen: list[str] = []
    watcher = BookWatcher({"bot": book}, seen.append, wanted=lambda _book_id: wanted)
    watcher.start()
    try:
        await asyncio.sleep(0.2)
        assert book.asked == 1  # the baseline only
        book.token = "2"
        await asyncio.sleep(0.1)
        assert seen == [] and book.asked == 1
        wanted = True  # the account was leased to this process
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        assert seen == ["bot"] and book.asked > 1
    finally:
        await watcher.stop()

""" "Fix my book" from the window: offered only where it fits, shown before writing, undoable."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from position_sync.app.config import load_settings
from position_sync.app.domain import EventKind, Status
from tests.ui.conftest import App, make_app, run

SCENARIO = """
[[steps]]
positions = [{ symbol = "NSE:INFY", quantity = "100", average_price = "1500" }]
"""

WRITE = """writable = true

[books.write]
key = "id"
closed_at = "closed_at"
reason = "close_reason"
external = "source"
"""


def project(tmp_path: Path, *, writable: bool) -> tuple[Path, Path]:
    """A simulated broker holding INFY and a SQLite book holding INFY and TCS: TCS is a phantom."""
    book = tmp_path / "bot.db"
    with sqlite3.connect(book) as db:
        db.execute(
            "CREATE TABLE positions (id INTEGER PRIMARY KEY, symbol TEXT, quantity NUMERIC, "
            "average_price NUMERIC, closed_at TEXT, close_reason TEXT, source TEXT)"
        )
        db.execute(
            "INSERT INTO positions (symbol, quantity, average_price, source) VALUES "
            "('INFY', 100, 1500, 'bot'), ('TCS', 5, 4100, 'bot')"
        )
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[[accounts]]
id = "sim"
broker = "simulated"
scenario = "scenario.toml"
book = "bot"
exchange = "NSE"
interval = 3600
confirm_syncs = 1
settle_seconds = 0

[[books]]
id = "bot"
kind = "sql"
url = "sqlite:///bot.db"
table = "positions"
where = "closed_at IS NULL"
{WRITE if writable else ""}"""
    )
    return config, book


def book_rows(book: Path) -> list[tuple[str, str | None, str | None]]:
    with sqlite3.connect(book) as db:
        return db.execute("SELECT symbol, closed_at, close_reason FROM positions ORDER BY id").fetchall()


def until(loop: asyncio.AbstractEventLoop, condition: Callable[[], object], seconds: float = 10) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    run(loop, wait(), timeout=seconds)


def synced_app(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, *, writable: bool
) -> tuple[App, Path]:
    config, book = project(tmp_path, writable=writable)
    app = make_app(qtbot, load_settings(config), tmp_path / "data")
    run(qloop, app.controller.load_cached())
    run(qloop, app.runtime.worker.sync_all("test"))
    run(qloop, app.controller.drain())
    return app, book


@pytest.fixture
def writable_app(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> Iterator[tuple[App, Path]]:
    app, book = synced_app(qtbot, qloop, tmp_path, writable=True)
    yield app, book
    run(qloop, app.controller.close())


def test_close_phantom_shows_the_writes_waits_for_the_user_then_writes_and_undoes(
    qloop: asyncio.AbstractEventLoop, writable_app: tuple[App, Path]
) -> None:
    app, book = writable_app
    window, fixes = app.window, app.controller.fixes
    assert window.model.row_for(("sim", "NSE:TCS")).status is Status.PHANTOM  # type: ignore[union-attr]
    app.controller.select_row("sim", "NSE:TCS")
    assert window.act_fix_close.isEnabled()
    assert not window.act_fix_adopt.isEnabled() and not window.act_fix_take.isEnabled()

    window.act_fix_close.trigger()
    until(qloop, lambda: fixes.dialog is not None)
    dialog = fixes.dialog
    assert dialog is not None
    text = dialog.lines.toPlainText()
    assert "close-phantom for NSE:TCS at sim: 1 write(s) to book 'bot'" in text
    assert "UPDATE positions WHERE id = 2: closed_at: NULL -> '" in text
    assert "close_reason: NULL -> 'closed_at_broker'" in text
    # Shown is not written: the book is untouched until the user says so.
    assert book_rows(book) == [("INFY", None, None), ("TCS", None, None)]

    dialog.write_button.click()
    until(qloop, lambda: book_rows(book)[1][1] is not None)
    symbol, closed_at, reason = book_rows(book)[1]
    assert (symbol, reason) == ("TCS", "closed_at_broker") and closed_at
    assert len(book_rows(book)) == 2  # marked closed, never deleted
    # The book is written on the store thread before the loop adds the event: wait for it.
    until(qloop, lambda: any(e.kind is EventKind.BOOK_FIXED for e in window.events.model.events()))
    # The fix triggers a sync of the account: the phantom is gone from the table.
    until(qloop, lambda: window.model.row_for(("sim", "NSE:TCS")) is None)

    window.act_fix_undo.trigger()
    until(qloop, lambda: fixes.dialog is not None)
    assert fixes.dialog is not None
    assert "undo of fix #1" in fixes.dialog.lines.toPlainText()
    fixes.dialog.write_button.click()
    until(qloop, lambda: book_rows(book)[1] == ("TCS", None, None))
    # The book is written on the store thread before the loop adds the event: wait for it.
    until(qloop, lambda: any(e.kind is EventKind.BOOK_FIX_UNDONE for e in window.events.model.events()))


def test_cancel_writes_nothing(qloop: asyncio.AbstractEventLoop, writable_app: tuple[App, Path]) -> None:
    app, book = writable_app
    app.controller.select_row("sim", "NSE:TCS")
    app.window.act_fix_close.trigger()
    until(qloop, lambda: app.controller.fixes.dialog is not None)
    dialog = app.controller.fixes.dialog
    assert dialog is not None
    dialog.reject()
    run(qloop, asyncio.sleep(0.3))
    assert book_rows(book) == [("INFY", None, None), ("TCS", None, None)]
    assert not any(e.kind is EventKind.BOOK_FIXED for e in app.window.events.model.events())


def test_a_read_only_book_offers_no_fix_and_says_why(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> None:
    app, book = synced_app(qtbot, qloop, tmp_path, writable=False)
    try:
        app.controller.select_row("sim", "NSE:TCS")
        action = app.window.act_fix_close
        assert not action.isEnabled()
        assert "book 'bot' is read-only" in action.statusTip()
        # Even asked directly (a stale enabled state, a script), planning refuses: nothing written.
        app.controller.fixes.request("close-phantom")
        until(qloop, lambda: "No fix written" in app.window.statusBar().currentMessage())
        assert app.controller.fixes.dialog is None
        assert book_rows(book) == [("INFY", None, None), ("TCS", None, None)]
    finally:
        run(qloop, app.controller.close())

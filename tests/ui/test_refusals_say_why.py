"""Every disabled action and refused write says why, where the user is looking.

Qt shows no status tip for a disabled menu item, so the Fix book menu carries the reason at its
top; the demo's settings dialog says beside Save why Save is off; adopting into a book that tells
open lines by status, without ``open_value``, is refused before any plan is shown.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QMenu, QWidgetAction
from pytestqt.qtbot import QtBot

from position_sync.app.config import load_settings
from position_sync.ui.settings_dialog import SettingsDialog
from position_sync.ui.window import MainWindow
from tests.ui.conftest import App, demo_project, make_app, run
from tests.ui.test_book_fix import synced_app, until

SCENARIO = """
[[steps]]
positions = [{ symbol = "NSE:INFY", quantity = "100", average_price = "1500" }]
"""


def status_book_project(tmp_path: Path) -> Path:
    """Broker: INFY. Book: TCS, open by its status column, no open_value: INFY is untracked."""
    with sqlite3.connect(tmp_path / "bot.db") as db:
        db.execute(
            "CREATE TABLE positions (id INTEGER PRIMARY KEY, symbol TEXT, quantity NUMERIC, "
            "average_price NUMERIC, status TEXT)"
        )
        db.execute(
            "INSERT INTO positions (symbol, quantity, average_price, status) VALUES ('TCS', 5, 4100, 'open')"
        )
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    config = tmp_path / "config.toml"
    config.write_text(
        """
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
where = "status = 'open'"
writable = true

[books.write]
key = "id"
status = "status"
"""
    )
    return config


@pytest.fixture
def status_app(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> Iterator[App]:
    app = make_app(qtbot, load_settings(status_book_project(tmp_path)), tmp_path / "data")
    run(qloop, app.controller.load_cached())
    run(qloop, app.runtime.worker.sync_all("test"))
    run(qloop, app.controller.drain())
    yield app
    run(qloop, app.controller.close())


def fix_menu(window: MainWindow) -> QMenu:
    """The menu bar's Row → Fix book, as the user opens it."""
    row = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Row")
    assert isinstance(row, QMenu)
    fix = next(a.menu() for a in row.actions() if a.menu() is not None and a.text() == "&Fix book")
    assert isinstance(fix, QMenu)
    return fix


def note_in(menu: QMenu) -> str:
    """The sentence the menu shows at its top (a word-wrapped label, visible in the menu)."""
    first = menu.actions()[0]
    assert isinstance(first, QWidgetAction) and first.isVisible()
    labels = [w for w in first.createdWidgets() if isinstance(w, QLabel) and w.parent() is menu]
    assert labels and labels[0].wordWrap()
    return labels[0].text()


def test_a_read_only_book_says_why_at_the_top_of_the_fix_menu(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> None:
    app, _ = synced_app(qtbot, qloop, tmp_path, writable=False)
    try:
        app.controller.select_row("sim", "NSE:TCS")
        assert "book 'bot' is read-only" in note_in(fix_menu(app.window))
        assert "Not now: book 'bot' is read-only" in app.window.act_fix_close.toolTip()
    finally:
        run(qloop, app.controller.close())


def test_a_row_a_fix_does_not_fit_says_what_applies(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> None:
    app, _ = synced_app(qtbot, qloop, tmp_path, writable=True)
    try:
        window = app.window
        app.controller.select_row("sim", "NSE:INFY")
        assert note_in(fix_menu(window)) == "NSE:INFY matches: nothing to fix in the book."
        assert "only for phantom rows; NSE:INFY matches" in window.act_fix_close.toolTip()
        app.controller.select_row("sim", "NSE:TCS")
        assert note_in(fix_menu(window)) == "NSE:TCS is a phantom: only Close phantom applies."
        assert window.act_fix_close.isEnabled()
        assert "only for untracked rows; NSE:TCS is a phantom" in window.act_fix_adopt.toolTip()
    finally:
        run(qloop, app.controller.close())


def test_adopt_without_open_value_is_off_with_the_reason_and_refused_if_asked(
    qloop: asyncio.AbstractEventLoop, status_app: App
) -> None:
    window = status_app.window
    status_app.controller.select_row("sim", "NSE:INFY")
    assert not window.act_fix_adopt.isEnabled()
    assert "[books.write] open_value" in window.act_fix_adopt.statusTip()
    note = note_in(fix_menu(window))
    assert note.startswith("NSE:INFY is untracked: Adopt would apply, but book 'bot' tells open lines")
    assert "[books.write] open_value" in note
    status_app.controller.fixes.request("adopt")  # asked anyway: refused before any plan
    until(qloop, lambda: "No fix written" in window.statusBar().currentMessage())
    assert "open_value" in window.statusBar().currentMessage()
    assert status_app.controller.fixes.dialog is None


def test_the_demo_settings_say_beside_save_why_it_is_off(qtbot: QtBot, tmp_path: Path) -> None:
    config = demo_project(tmp_path)
    dialog = SettingsDialog(load_settings(config), tmp_path / "data", read_only=True)
    qtbot.addWidget(dialog)
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Save).isEnabled()
    assert dialog.save_reason.isVisibleTo(dialog)
    assert "demo" in dialog.save_reason.text() and "--config" in dialog.save_reason.text()
    own = SettingsDialog(load_settings(config), tmp_path / "data", read_only=False)
    qtbot.addWidget(own)
    assert not own.save_reason.isVisibleTo(own)


def test_resync_says_why_it_is_off_while_one_runs(app: App) -> None:
    app.window.set_resync_enabled(False)
    assert "a resync is running" in app.window.act_resync.toolTip()
    app.window.set_resync_enabled(True)
    assert "running" not in app.window.act_resync.toolTip()

"""Rows do not jump under the cursor: the selection follows its instrument, the current row keeps
its place on screen, and nothing re-sorts while a key is held or a menu is open on the rows."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from position_sync.app.domain import AccountState, Row, Status
from position_sync.app.sync import SyncResult
from tests.ui.conftest import T0, App, run


def phantoms(count: int, account: str = "demo") -> dict[str, Row]:
    """Phantoms whose exposure falls with their number: the default order is I000, I001..."""
    return {
        f"I{i:03}": Row(
            account=account,
            instrument=f"I{i:03}",
            status=Status.PHANTOM,
            since=T0,
            local_qty=Decimal(1000 - i),
            last_price=Decimal(100),
            confirmed=True,
        )
        for i in range(count)
    }


def show(app: App, qloop: asyncio.AbstractEventLoop, rows: dict[str, Row]) -> None:
    app.controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, rows, [], T0))
    run(qloop, app.controller.drain())


def order(app: App) -> list[str]:
    model = app.window.model
    return [model.row_at(i).instrument for i in range(model.rowCount())]


def test_the_selection_follows_its_instrument_through_acks_status_changes_and_re_sorts(
    app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window, table = app.window, app.window.table
    rows = phantoms(5)
    show(app, qloop, rows)
    assert table.select_key(("demo", "I001"))
    run(qloop, app.controller.acks.acknowledge([rows["I001"]], "known"))
    assert order(app)[-1] == "I001"  # acknowledged: after the loud ones
    assert table.current_key() == ("demo", "I001") and table.selected_keys() == [("demo", "I001")]

    rows = {**rows, "I001": replace(rows["I001"], status=Status.MATCH, broker_qty=Decimal(999))}
    show(app, qloop, rows)
    assert table.current_key() == ("demo", "I001")

    many = phantoms(120)
    many["I001"] = rows["I001"]
    flipped = {k: replace(r, local_qty=Decimal(10 + int(k[1:]))) for k, r in many.items()}
    show(app, qloop, flipped)  # every row moves: one re-sort
    assert order(app)[0] == "I119"
    assert table.current_key() == ("demo", "I001") and table.selected_keys() == [("demo", "I001")]
    window.act_default_order.trigger()
    assert table.current_key() == ("demo", "I001")


def test_the_current_row_keeps_its_place_on_screen_when_rows_move_around_it(
    qtbot: QtBot, app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window, table = app.window, app.window.table
    window.resize(1200, 800)
    window.show()
    rows = phantoms(200)
    show(app, qloop, rows)
    assert table.select_key(("demo", "I100"))  # scrolled to the middle of the view
    top = table.visualRect(table.currentIndex()).top()
    assert 0 < top < table.viewport().height()
    bigger = {k: replace(r, local_qty=Decimal(5000 + i)) for i, (k, r) in enumerate(rows.items()) if i >= 150}
    show(app, qloop, {**rows, **bigger})  # fifty rows jump above it
    assert order(app).index("I100") == 150
    assert table.current_key() == ("demo", "I100")
    assert table.visualRect(table.currentIndex()).top() == top  # still under the cursor


def test_nothing_re_sorts_while_a_key_is_held_on_the_table(
    qtbot: QtBot, app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window, table = app.window, app.window.table
    window.show()
    rows = phantoms(5)
    show(app, qloop, rows)
    table.setFocus()
    assert table.select_key(("demo", "I002"))
    qtbot.keyPress(table, Qt.Key.Key_Shift)  # held
    show(app, qloop, {**rows, "I004": replace(rows["I004"], local_qty=Decimal(5000))})
    assert order(app) == ["I000", "I001", "I002", "I003", "I004"]  # it waits
    qtbot.keyRelease(table, Qt.Key.Key_Shift)
    assert order(app) == ["I004", "I000", "I001", "I002", "I003"]
    assert table.current_key() == ("demo", "I002")


def test_nothing_re_sorts_under_an_open_context_menu(
    qtbot: QtBot, app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window, table = app.window, app.window.table
    window.show()
    rows = phantoms(5)
    show(app, qloop, rows)
    assert table.select_key(("demo", "I000"))
    table.customContextMenuRequested.emit(QPoint(10, 10))
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    menu = QApplication.activePopupWidget()
    run(qloop, app.controller.acks.acknowledge([rows["I000"]], "known"))
    assert order(app)[0] == "I000"  # acknowledged, but it stays under the menu
    assert isinstance(menu, QMenu)
    menu.close()
    assert order(app)[-1] == "I000"  # the menu closed: now it moves
    assert table.current_key() == ("demo", "I000")

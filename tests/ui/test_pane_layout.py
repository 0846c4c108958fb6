"""The grid gets the room: the pane of events, history and notifications starts small, gives the
grid every pixel the window grows by, folds away, and is remembered folded."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from position_sync.ui.window import SETTINGS_APP, SETTINGS_ORG, TAB_HISTORY, MainWindow


def shown_window(qtbot: QtBot, width: int = 1280, height: int = 720) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(width, height)
    window.show()
    qtbot.waitExposed(window)
    return window


def heights(window: MainWindow) -> tuple[int, int]:
    grid, pane = window.splitter.sizes()
    return grid, pane


def test_at_1280x720_the_grid_has_the_room_and_the_pane_a_few_lines(qtbot: QtBot) -> None:
    window = shown_window(qtbot)
    grid, pane = heights(window)
    assert pane <= 200  # its tabs, its filters and a few lines of events
    assert grid >= 2.5 * pane
    assert window.act_pane.isChecked()


def test_a_bigger_window_grows_the_grid_not_the_pane(qtbot: QtBot) -> None:
    window = shown_window(qtbot)
    grid, pane = heights(window)
    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: heights(window)[0] > grid)
    bigger_grid, same_pane = heights(window)
    assert same_pane == pane and bigger_grid >= grid + 300


def test_the_pane_folds_away_and_comes_back_at_its_height(qtbot: QtBot) -> None:
    window = shown_window(qtbot)
    grid, pane = heights(window)
    window.act_pane.trigger()  # View → Event pane (Ctrl+J)
    assert heights(window) == (grid + pane, 0)  # the grid has it all
    assert not window.act_pane.isChecked()
    window.act_pane.trigger()
    assert heights(window)[1] == pane and window.act_pane.isChecked()


def test_dragging_the_pane_shut_unchecks_the_toggle_and_a_tab_shortcut_reopens_it(qtbot: QtBot) -> None:
    window = shown_window(qtbot)
    total = sum(heights(window))
    window.splitter.moveSplitter(total, 1)  # the handle dragged to the bottom
    assert heights(window)[1] == 0 and not window.act_pane.isChecked()
    window.act_history.trigger()  # Ctrl+2 must show the history, so the pane unfolds
    assert heights(window)[1] > 0 and window.tabs.currentIndex() == TAB_HISTORY
    assert window.act_pane.isChecked()


def test_a_folded_pane_is_remembered_with_the_window_layout(qtbot: QtBot) -> None:
    layout = QSettings(SETTINGS_ORG, SETTINGS_APP)  # redirected into tmp_path by the conftest
    window = shown_window(qtbot)
    window.act_pane.trigger()
    window.save_layout(layout)
    layout.sync()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.restore_layout(layout)
    again.show()
    qtbot.waitExposed(again)
    assert heights(again)[1] == 0 and not again.act_pane.isChecked()

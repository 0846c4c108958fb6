"""Alerts stay until read: no timer hides them, unread ones are counted on the tab and in the title.

Without a tray the in-window message stays until dismissed or until what it told resolved; the
Notifications tab carries a count and an icon only while something is unread.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from position_sync.app.domain import AccountState, Event, EventKind
from position_sync.app.sync import SyncResult
from position_sync.ui.window import TAB_EVENTS, TAB_NOTIFICATIONS
from tests.ui.conftest import T0, App, phantom_result, run


def resolved_result(account: str = "demo", instrument: str = "NSE:TCS") -> SyncResult:
    event = Event(T0, account, EventKind.PHANTOM_RESOLVED, instrument, "resolved")
    return SyncResult(account, "test", T0, T0, AccountState.OK, None, {}, [event], T0)


def alert(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    app.controller.tray.ensure_visible()
    assert not app.controller.tray.is_shown()  # the no_tray fixture: messages go to the window
    app.controller.on_result(phantom_result())
    run(qloop, app.controller.drain())
    app.controller.notifier.flush()


def test_the_notifications_tab_is_plain_while_nothing_is_unread(app: App) -> None:
    tabs = app.window.tabs
    assert tabs.tabIcon(TAB_NOTIFICATIONS).isNull()  # no red icon over an empty list
    assert tabs.tabText(TAB_NOTIFICATIONS) == "Notifications"
    assert "unread" not in app.window.windowTitle()


def test_an_alert_stays_until_dismissed_and_is_counted_until_read(
    app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window = app.window
    alert(app, qloop)
    toast = window.toast
    assert toast.current() is not None
    assert not any(timer.isActive() for timer in toast.findChildren(QTimer))  # nothing hides it on a timer
    assert window.tabs.tabText(TAB_NOTIFICATIONS) == "Notifications (1)"
    assert not window.tabs.tabIcon(TAB_NOTIFICATIONS).isNull()
    assert window.windowTitle().startswith("1 problem · 1 unread alert — ")

    toast.dismiss.click()
    assert toast.current() is None
    assert window.tabs.tabText(TAB_NOTIFICATIONS) == "Notifications"
    assert window.tabs.tabIcon(TAB_NOTIFICATIONS).isNull()
    assert window.windowTitle().startswith("1 problem — ")  # read; the problem itself remains
    assert window.notifications.count() == 1  # and the message stays in the list


def test_the_message_goes_once_its_problem_resolved_but_stays_unread(
    app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    alert(app, qloop)
    assert app.window.toast.current() is not None
    app.controller.on_result(resolved_result())
    run(qloop, app.controller.drain())
    assert app.window.toast.current() is None  # nothing left to act on
    assert app.window.notifications.unread() == 1  # but nobody has read it yet
    assert app.window.windowTitle().startswith("1 unread alert — ")


def test_looking_at_the_notifications_tab_reads_them(
    qtbot: QtBot, app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window = app.window
    window.show_tab(TAB_EVENTS)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    alert(app, qloop)
    assert window.notifications.unread() == 1  # the Events tab was in front
    window.act_notifications.trigger()
    assert window.notifications.unread() == 0
    assert window.tabs.tabText(TAB_NOTIFICATIONS) == "Notifications"


def test_following_a_message_from_the_list_reads_it(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    alert(app, qloop)
    item = app.window.notifications.item(0)
    assert item.font().bold()
    app.window.notifications.itemClicked.emit(item)
    assert app.window.notifications.unread() == 0 and not item.font().bold()
    assert app.window.table.current_key() == ("demo", "NSE:TCS")

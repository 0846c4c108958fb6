"""The main window: widgets, actions and their shortcuts; no sync logic of its own.

Every action carries its shortcut in its tooltip and sits in a menu, so the keyboard is never a
second-class way in. The window says what the user asked for as its own signals (its intents:
``resync_requested``, ``acknowledge_requested``, ...) and offers small view methods for what
belongs to no pane (the status bar, the banner, the tab in front); the controller
(``ui.controller``) connects the intents to the presenters (``ui.presenters``), and each pane's
widget is driven by its own presenter only. The window shows what it is given and decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QEvent, QPoint, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from position_sync.ui.about import AboutDialog, AboutInfo
from position_sync.ui.accounts_strip import AccountsStrip
from position_sync.ui.actions import describe, make_action, shortcut_names, shortcut_table
from position_sync.ui.events_pane import EventsPane
from position_sync.ui.history import HistoryPane
from position_sync.ui.menu_note import MenuNote
from position_sync.ui.notify import SEVERITY_ICONS, NotificationList, Toast
from position_sync.ui.plain_text import plain_label, tooltip
from position_sync.ui.positions_model import PositionsModel
from position_sync.ui.positions_view import FilterBar, PositionsView
from position_sync.ui.resources import icon
from position_sync.ui.status_style import is_dark
from position_sync.ui.totals_footer import TotalsFooter

SNOOZES: tuple[tuple[str, int, str], ...] = (
    ("15 minutes", 15, "Ctrl+Alt+1"),
    ("1 hour", 60, "Ctrl+Alt+2"),
    ("4 hours", 240, "Ctrl+Alt+3"),
    ("24 hours", 24 * 60, "Ctrl+Alt+4"),
)
SETTINGS_ORG = "position-sync"
SETTINGS_APP = "Position Sync"
TAB_EVENTS, TAB_HISTORY, TAB_NOTIFICATIONS = 0, 1, 2
GRID_HEIGHT, PANE_HEIGHT = 640, 160  # the pane: its tabs, its filters and four lines of events


class MainWindow(QMainWindow):
    """Emits ``close_requested`` instead of closing: hide to tray or quit is the controller's call."""

    close_requested = Signal()
    quit_requested = Signal()
    hide_requested = Signal()
    resync_requested = Signal()
    resync_account_requested = Signal()  # the selected row's account
    pause_requested = Signal(bool)
    acknowledge_requested = Signal()
    snooze_requested = Signal(int)  # minutes
    clear_ack_requested = Signal()
    login_requested = Signal()  # the selected row's account, or the first that needs one
    settings_requested = Signal()
    fix_requested = Signal(str)  # "close-phantom", "adopt" or "take-broker"
    undo_fix_requested = Signal()
    history_opened = Signal()  # the History tab came to the front

    def __init__(self, title: str = "Position Sync") -> None:
        super().__init__()
        self._title = title
        self._title_status = ""
        self._unread = 0
        self.setWindowTitle(title)
        self.setWindowIcon(icon("app"))
        self.setObjectName("mainWindow")
        self.quitting = False
        self.may_hide: Callable[[], bool] = lambda: False
        self.about_info: AboutInfo | None = None  # this run's paths, set by ui.main; defaults otherwise
        self._build_actions()
        self.model = PositionsModel(self)
        self.table = PositionsView(self.model)
        self.filters = FilterBar()
        self.totals = TotalsFooter()  # driven by ui.presenters.totals
        self.accounts = AccountsStrip()
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        # The banner quotes an account's error sentence, outside text: plain, never markup.
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setContentsMargins(10, 5, 10, 5)
        self.banner.hide()
        self.toast = Toast()
        self.events = EventsPane()
        self.history = HistoryPane()
        self.notifications = NotificationList()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.events, icon("status-closed"), "Events")
        self.tabs.addTab(self.history, icon("resume"), "History")
        self.tabs.addTab(self.notifications, "Notifications")
        self.tabs.setTabToolTip(TAB_EVENTS, "The event log, newest first (Ctrl+1)")
        self.tabs.setTabToolTip(TAB_HISTORY, "Charts of the account and of the selected row (Ctrl+2)")
        self.tabs.setTabToolTip(TAB_NOTIFICATIONS, "Every notification of this session (Ctrl+3)")
        self._build_layout()
        self._build_menus()
        self._build_status_bar()
        self._connect_intents()
        self.table.customContextMenuRequested.connect(self._row_menu)

    # -- construction ----------------------------------------------------------------------

    def _build_actions(self) -> None:
        a = make_action
        self.act_resync = a(self, "&Resync now", ["F5", "Ctrl+R"], "Sync every account now", "resync")
        self.act_resync_account = a(
            self, "Resync &account", ["Shift+F5"], "Sync only the selected row's account", "resync"
        )
        self.act_pause = a(
            self,
            "&Pause auto-sync",
            ["Ctrl+Shift+P"],
            "Stop the interval syncs (Resync now still works)",
            "pause",
            checkable=True,
        )
        self.act_pause.toggled.connect(self._pause_toggled)
        self.act_ack = a(
            self,
            "&Acknowledge…",
            ["Ctrl+K"],
            "Mark the selected mismatch as known, with a note; it stops notifying until it changes",
            "ack",
        )
        self.act_snooze = a(
            self,
            "&Snooze 1 hour",
            ["Ctrl+Shift+K"],
            "Silence the selected row's notifications for an hour",
            "snooze",
        )
        self.snooze_actions: list[QAction] = []
        for label, minutes, keys in SNOOZES:
            action = a(
                self, f"Snooze {label}", [keys], f"Silence the selected row's notifications for {label}"
            )
            action.setText(label)  # in the "Snooze for" menu, the label alone reads best
            action.triggered.connect(lambda _=False, m=minutes: self.snooze_requested.emit(m))
            self.snooze_actions.append(action)
        self.act_clear_ack = a(
            self,
            "&Clear acknowledgement",
            ["Ctrl+Alt+K"],
            "Withdraw the acknowledgement and snooze of the selected row",
        )
        self.act_fix_close = a(
            self,
            "&Close phantom in book…",
            ["Ctrl+Shift+X"],
            "Mark the book's lines of this phantom closed (never deleted); shows every write first",
        )
        self.act_fix_adopt = a(
            self,
            "&Adopt into book…",
            ["Ctrl+Shift+A"],
            "Insert the broker's untracked position into the book, marked external; shows it first",
        )
        self.act_fix_take = a(
            self,
            "&Take broker's figures…",
            ["Ctrl+Shift+B"],
            "Set the book's quantity and average price to the broker's; shows every write first",
        )
        self.act_fix_undo = a(
            self,
            "&Undo last book fix…",
            ["Ctrl+Shift+Z"],
            "Revert the last fix written to a book, if the trading system has not changed those rows since",
        )
        self.fix_actions = {
            "close-phantom": self.act_fix_close,
            "adopt": self.act_fix_adopt,
            "take-broker": self.act_fix_take,
        }
        self._fix_tips = {name: action.statusTip() for name, action in self.fix_actions.items()}
        self.fix_note = MenuNote(self)
        self.act_copy = a(self, "&Copy rows", ["Ctrl+C"], "Copy the selected rows as tab-separated text")
        self.act_find = a(self, "&Find…", ["Ctrl+F"], "Filter the rows by text")
        self.act_only_problems = a(
            self,
            "&Only problems",
            ["Ctrl+Shift+M"],
            "Hide matches and closed rows; stale rows stay, their account could not be read",
            checkable=True,
        )
        self.act_default_order = a(
            self, "&Problems first", ["Ctrl+0"], "Sort problems first, largest exposure first"
        )
        self.act_events = a(self, "&Events", ["Ctrl+1"], "Show the event log")
        self.act_history = a(self, "&History", ["Ctrl+2"], "Show the history charts")
        self.act_notifications = a(self, "&Notifications", ["Ctrl+3"], "Show this session's notifications")
        self.act_settings = a(
            self,
            "&Settings…",
            ["Ctrl+,"],
            "Accounts, books, intervals, tolerances, notifications",
            "settings",
        )
        self.act_login = a(
            self, "&Log in…", ["Ctrl+L"], "Start the broker login for the selected account", "login"
        )
        self.act_hide = a(
            self,
            "&Hide to tray",
            ["Ctrl+W"],
            "Hide the window (minimise it where there is no tray); Position Sync keeps syncing",
        )
        self.act_quit = a(self, "&Quit", ["Ctrl+Q"], "Stop syncing and exit")
        self.act_show = a(self, "&Show Position Sync", ["Ctrl+Shift+S"], "Bring the window to the front")
        self.act_shortcuts = a(self, "&Keyboard shortcuts", ["F1"], "List every shortcut")
        self.act_about = a(
            self, "&About Position Sync", ["Ctrl+F1"], "The version, and where the config and the data are"
        )
        self.act_about.setMenuRole(QAction.MenuRole.AboutRole)  # macOS puts it in the application menu
        for action in self._all_actions():
            self.addAction(action)
        self.act_events.triggered.connect(lambda: self.show_tab(TAB_EVENTS))
        self.act_history.triggered.connect(lambda: self.show_tab(TAB_HISTORY))
        self.act_notifications.triggered.connect(lambda: self.show_tab(TAB_NOTIFICATIONS))
        self.act_shortcuts.triggered.connect(self.show_shortcuts)
        self.act_about.triggered.connect(self.show_about)
        self.act_show.triggered.connect(self.bring_to_front)

    def _all_actions(self) -> list[QAction]:
        named = [v for k, v in vars(self).items() if k.startswith("act_") and isinstance(v, QAction)]
        return named + self.snooze_actions

    def _connect_intents(self) -> None:
        """Actions into the window's intents; actions that only touch the window's own widgets
        (find, only problems, the default order, copy) are wired here too."""
        self.act_quit.triggered.connect(lambda: self.quit_requested.emit())
        self.act_hide.triggered.connect(lambda: self.hide_requested.emit())
        self.act_resync.triggered.connect(lambda: self.resync_requested.emit())
        self.act_resync_account.triggered.connect(lambda: self.resync_account_requested.emit())
        self.act_pause.toggled.connect(self.pause_requested.emit)
        self.act_ack.triggered.connect(lambda: self.acknowledge_requested.emit())
        self.act_snooze.triggered.connect(lambda: self.snooze_requested.emit(60))
        self.act_clear_ack.triggered.connect(lambda: self.clear_ack_requested.emit())
        self.act_login.triggered.connect(lambda: self.login_requested.emit())
        self.act_settings.triggered.connect(lambda: self.settings_requested.emit())
        for name, action in self.fix_actions.items():
            action.triggered.connect(lambda _=False, n=name: self.fix_requested.emit(n))
        self.act_fix_undo.triggered.connect(lambda: self.undo_fix_requested.emit())
        self.act_copy.triggered.connect(self._copy_rows)
        self.act_find.triggered.connect(self.filters.focus_text)
        self.act_only_problems.toggled.connect(self.filters.only_problems.setChecked)
        self.filters.only_problems.toggled.connect(self.act_only_problems.setChecked)
        self.act_default_order.triggered.connect(self.table.default_order)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.notifications.unread_changed.connect(self._unread_changed)

    def _tab_changed(self, index: int) -> None:
        if index == TAB_HISTORY:
            self.history_opened.emit()
        self._read_if_seen()

    def _read_if_seen(self) -> None:
        """The Notifications tab in front of an active window: its messages have been seen."""
        if self.tabs.currentIndex() == TAB_NOTIFICATIONS and self.isVisible() and self.isActiveWindow():
            self.notifications.mark_read()

    def _unread_changed(self, count: int, severity: int) -> None:
        """Unread messages: counted on the tab, its icon their worst severity, and in the title."""
        self.tabs.setTabText(TAB_NOTIFICATIONS, f"Notifications ({count})" if count else "Notifications")
        self.tabs.setTabIcon(TAB_NOTIFICATIONS, icon(SEVERITY_ICONS[severity]) if count else QIcon())
        self._unread = count
        self._retitle()
        if count:
            self._read_if_seen()

    def _copy_rows(self) -> None:
        QApplication.clipboard().setText(self.table.copy_rows())

    def _pause_toggled(self, paused: bool) -> None:
        """The action says what pressing it does now: Pause, or Resume, with its shortcut."""
        if paused:
            describe(self.act_pause, "&Resume auto-sync", "Restart the interval syncs")
        else:
            describe(self.act_pause, "&Pause auto-sync", "Stop the interval syncs (Resync now still works)")
        self.act_pause.setIcon(icon("resume" if paused else "pause"))

    def _build_layout(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(18, 18))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (
            self.act_resync,
            self.act_pause,
            None,
            self.act_ack,
            self.act_snooze,
            None,
            self.act_settings,
        ):
            if action is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.accounts)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(8, 6, 8, 0)
        top_layout.setSpacing(6)
        top_layout.addWidget(self.banner)
        top_layout.addWidget(self.toast)
        top_layout.addWidget(self.filters)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.totals)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.tabs)
        self.setCentralWidget(self.splitter)
        self._build_pane_toggle()

    def _build_pane_toggle(self) -> None:
        """The grid gets the room: every pixel the window grows by goes to it, and the pane of
        events, history and notifications starts at a few lines and folds away entirely (drag
        the handle down, or the View menu's toggle). Its state is the splitter's, kept with the
        window's layout (``save_layout``)."""
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setCollapsible(0, False)
        self.splitter.setCollapsible(1, True)
        self.splitter.setSizes([GRID_HEIGHT, PANE_HEIGHT])
        self._pane_height = PANE_HEIGHT
        self.act_pane = make_action(
            self,
            "Event &pane",
            ["Ctrl+J"],
            "Show or fold away the Events, History and Notifications pane under the grid",
            checkable=True,
        )
        self.act_pane.setChecked(True)
        self.addAction(self.act_pane)
        self.act_pane.toggled.connect(self.show_pane)
        self.splitter.splitterMoved.connect(lambda *_: self._pane_moved())

    def pane_shown(self) -> bool:
        return self.splitter.sizes()[1] > 0

    def show_pane(self, shown: bool) -> None:
        """Unfold the pane at its last height, or fold it away leaving the grid everything."""
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if shown and not sizes[1]:
            height = min(self._pane_height, max(total // 2, 1))
            self.splitter.setSizes([total - height, height])
        elif not shown and sizes[1]:
            self._pane_height = sizes[1]
            self.splitter.setSizes([total, 0])
        self._pane_moved()

    def _pane_moved(self) -> None:
        self.act_pane.blockSignals(True)
        self.act_pane.setChecked(self.pane_shown())
        self.act_pane.blockSignals(False)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_settings, self.act_login])
        file_menu.addSeparator()
        file_menu.addActions([self.act_hide, self.act_quit])
        sync_menu = bar.addMenu("&Sync")
        sync_menu.addActions([self.act_resync, self.act_resync_account, self.act_pause])
        row_menu = bar.addMenu("&Row")
        self._holds_rows(row_menu)
        row_menu.addActions([self.act_ack, self.act_snooze, self.act_clear_ack])
        row_menu.addMenu(self._snooze_menu())
        row_menu.addSeparator()
        row_menu.addMenu(self._fix_menu())
        row_menu.addSeparator()
        row_menu.addAction(self.act_copy)
        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.act_find, self.act_only_problems, self.act_default_order])
        view_menu.addSeparator()
        view_menu.addActions([self.act_events, self.act_history, self.act_notifications, self.act_pane])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_shortcuts)
        help_menu.addSeparator()
        help_menu.addAction(self.act_about)

    def _fix_menu(self) -> QMenu:
        """Writes to the trading system's book, apart from the rest: opt-in per SQL book."""
        menu = QMenu("&Fix book", self)
        menu.setToolTipsVisible(True)
        menu.addAction(self.fix_note)
        menu.addSeparator()  # collapsed with the note when there is nothing to say
        menu.addActions([self.act_fix_close, self.act_fix_adopt, self.act_fix_take])
        menu.addSeparator()
        menu.addAction(self.act_fix_undo)
        return menu

    def _snooze_menu(self) -> QMenu:
        menu = QMenu("Snooze &for", self)
        menu.setIcon(icon("snooze"))
        menu.setToolTipsVisible(True)
        menu.addActions(self.snooze_actions)
        return menu

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.last_sync = plain_label("Not synced yet")
        # Long texts here must never widen the window past the screen: the labels may shrink.
        self.last_sync.setMinimumWidth(120)
        self.countdown = plain_label()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setMaximumHeight(16)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.paused_label = QLabel("<b>Auto-sync paused</b> (Ctrl+Shift+P to resume)")
        self.paused_label.hide()
        self.counts = QLabel()
        self.counts.setMinimumWidth(120)
        bar.addWidget(self.last_sync)
        bar.addWidget(self.countdown)
        bar.addWidget(self.progress)
        bar.addWidget(self.paused_label)
        bar.addPermanentWidget(self.counts)

    # -- behaviour -------------------------------------------------------------------------

    def _holds_rows(self, menu: QMenu) -> None:
        """While the menu is open, no row moves from under it (the moves wait for it to close)."""
        menu.aboutToShow.connect(lambda: self.model.hold_order("menu"))
        menu.aboutToHide.connect(lambda: self.model.hold_order("menu", False))

    def _row_menu(self, position: QPoint) -> None:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._holds_rows(menu)
        menu.addAction(self.act_resync_account)
        menu.addSeparator()
        menu.addAction(self.act_ack)
        menu.addMenu(self._snooze_menu())
        menu.addAction(self.act_clear_ack)
        menu.addSeparator()
        menu.addMenu(self._fix_menu())
        menu.addSeparator()
        menu.addAction(self.act_copy)
        menu.addAction(self.act_history)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def show_tab(self, index: int) -> None:
        self.show_pane(True)
        self.tabs.setCurrentIndex(index)
        self.tabs.currentWidget().setFocus()

    def bring_to_front(self) -> None:
        self.show()
        self.setWindowState(
            (self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive
        )
        self.raise_()
        self.activateWindow()

    def set_banner(self, text: str | None, kind: str = "info") -> None:
        if not text:
            self.banner.hide()
            return
        colour = {"info": "#0072B2", "warn": "#E69F00"}.get(kind, "#0072B2")
        self.banner.setStyleSheet(
            f"#banner {{ border: 1px solid {colour}; border-left: 6px solid {colour}; border-radius: 4px; }}"
        )
        self.banner.setText(text)
        self.banner.show()

    def hide_or_minimise(self) -> None:
        """To the tray when closing hides there, else minimised."""
        if self.may_hide():
            self.hide()
        else:
            self.showMinimized()

    def show_if_hidden(self) -> None:
        if not self.isVisible():
            self.show()

    def exposed_screen(self) -> str | None:
        """The screen's name once the window is really on one (mapped and exposed), else None."""
        handle = self.windowHandle()
        if handle is None or not handle.isExposed():
            return None
        return handle.screen().name() if handle.screen() else "?"

    def is_dark(self) -> bool:
        return is_dark(self.palette())

    def history_in_view(self) -> bool:
        return self.isVisible() and self.tabs.currentIndex() == TAB_HISTORY

    # -- the status bar and the actions' state ------------------------------------------------

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def set_summary(self, text: str, short: str | None = None) -> None:
        """The counts, rich text of our own: whole in the status bar; beside the filters, where
        room is short, ``short`` (the loud parts), the whole in its tooltip."""
        self.counts.setText(text)
        self.filters.summary.setText(short or text)
        self.filters.summary.setToolTip(text if short else "")

    def set_title_status(self, text: str) -> None:
        """What needs the trader ("3 problems · demo-us stale"), ahead of the window's own title,
        so the taskbar and the window switcher say it too."""
        self._title_status = text
        self._retitle()

    def _retitle(self) -> None:
        unread = f"{self._unread} unread alert{'s' if self._unread != 1 else ''}" if self._unread else ""
        status = " · ".join(part for part in (self._title_status, unread) if part)
        self.setWindowTitle(f"{status} — {self._title}" if status else self._title)

    def set_last_sync(self, text: str) -> None:
        self.last_sync.setText(text)
        self.last_sync.setToolTip(tooltip(text))  # whole, should a narrow window cut the label

    def set_countdown(self, text: str) -> None:
        self.countdown.setText(text)

    def set_paused(self, paused: bool) -> None:
        self.paused_label.setVisible(paused)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"Syncing {done}/{total}")
        self.progress.show()

    def show_busy(self) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()

    def hide_progress(self) -> None:
        self.progress.hide()

    def set_resync_enabled(self, enabled: bool) -> None:
        """Off while a resync runs, and its tips say so (a greyed button that says nothing reads
        as broken)."""
        for action, text, tip in (
            (self.act_resync, "&Resync now", "Sync every account now"),
            (self.act_resync_account, "Resync &account", "Sync only the selected row's account"),
        ):
            action.setEnabled(enabled)
            describe(
                action, text, tip if enabled else "Not now: a resync is running; press again once it ends"
            )

    def set_fix_state(self, name: str, reason: str | None) -> None:
        """A "Fix book" action enabled unless there is a ``reason`` not to, which its tips then say."""
        action = self.fix_actions[name]
        action.setEnabled(reason is None)
        label = action.iconText()
        keys = shortcut_names(action)
        if reason is None:
            action.setStatusTip(self._fix_tips[name])
            action.setToolTip(f"{label} ({keys})\n{self._fix_tips[name]}")
        else:
            action.setStatusTip(reason)
            action.setToolTip(f"{label} ({keys})\nNot now: {reason}")

    def set_fix_note(self, text: str | None) -> None:
        """Why the "Fix book" actions that are off are off, at the top of that menu."""
        self.fix_note.set_note(text)

    def tray_actions(self) -> list[QAction | None]:
        """The tray menu's actions, None for a separator."""
        return [self.act_show, self.act_resync, self.act_pause, None, self.act_quit]

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange:
            self._read_if_seen()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.quitting:
            event.accept()
            return
        event.ignore()
        if self.may_hide():
            self.hide()
        else:
            self.close_requested.emit()

    def show_shortcuts(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(0, 2, dialog)
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        for text, keys in shortcut_table(self._all_actions()):
            row = table.rowCount()
            table.insertRow(row)
            table.setItem(row, 0, QTableWidgetItem(text))
            table.setItem(row, 1, QTableWidgetItem(keys))
        table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        layout.addWidget(buttons)
        dialog.resize(440, 520)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # not exec(): a nested event loop inside the qasync loop is asking for trouble

    def show_about(self) -> AboutDialog:
        dialog = AboutDialog(self.about_info or AboutInfo.defaults(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # not exec(), as above
        return dialog

    # -- remembered layout -----------------------------------------------------------------

    def save_layout(self, settings: QSettings) -> None:
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.setValue("window/history_splitter", self.history.splitter.saveState())
        settings.setValue("window/columns", self.table.column_state())
        settings.setValue("window/tab", self.tabs.currentIndex())

    def restore_layout(self, settings: QSettings) -> bool:
        geometry = settings.value("window/geometry")
        if not isinstance(geometry, QByteArray):
            return False
        self.restoreGeometry(geometry)
        for key, restore in (
            ("window/state", self.restoreState),
            ("window/splitter", self.splitter.restoreState),
            ("window/history_splitter", self.history.splitter.restoreState),
            ("window/columns", self.table.restore_column_state),
        ):
            value = settings.value(key)
            if isinstance(value, QByteArray):
                restore(value)
                if key == "window/columns":
                    self.table.fitter.keep_widths()  # widened where texts need it, never narrowed
        tab = settings.value("window/tab")
        if tab is not None:
            self.tabs.setCurrentIndex(int(str(tab)))
        self._pane_moved()  # a pane folded away at the last quit stays folded, and says so
        return True

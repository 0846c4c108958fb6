"""Wires the window to the core: sync results into the model, actions into the worker.

Everything here runs on the one asyncio loop that qasync puts on the Qt loop. The worker calls
``on_result`` on that thread after reconciliation and the store already ran elsewhere, so the work
left here is cheap and incremental: a model diff, a few labels, a notification policy. Store
reads the window needs (history, acknowledgements, the event log) run on a reader thread of
their own, never on the UI thread. The window writes no sync data: the chart figures are
recorded by the worker's own save; only what the user asks for is written from here, on that
same thread (acknowledgements, snoozes, and the "fix my book" actions of ``ui.book_fix``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QProcess, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QInputDialog, QLabel, QLineEdit

from position_sync.app.config import Settings
from position_sync.app.display import ago, clock
from position_sync.app.domain import AccountState, Row, Status
from position_sync.app.notify_policy import Notification, NotifyPolicy
from position_sync.app.runtime import Runtime, RuntimeMaker
from position_sync.app.store import acks as ack_store
from position_sync.app.store import series as series_store
from position_sync.app.sync import SyncResult, SyncWorker, utcnow
from position_sync.ui import status_style, theme
from position_sync.ui.accounts_strip import BadgeState
from position_sync.ui.book_fix import BookFixes
from position_sync.ui.history import TimelineItem
from position_sync.ui.login import LoginSupport, login_support
from position_sync.ui.notify import InWindowBackend, NotificationCenter, TrayBackend
from position_sync.ui.plain_text import make_plain
from position_sync.ui.positions_model import AccountInfo, Key, Plan
from position_sync.ui.preferences import Preferences, preferences
from position_sync.ui.responsiveness import CollectorPolicy
from position_sync.ui.status_style import Health
from position_sync.ui.timeline import row_timeline
from position_sync.ui.tray import Tray
from position_sync.ui.window import TAB_HISTORY, MainWindow

log = logging.getLogger(__name__)
T = TypeVar("T")
TICK_MS = 1000
INLINE_ROWS = 2000  # above this a picture is diffed off the UI thread
APPLY_CHUNK = 500  # rows of one diff applied between two turns of the loop
AGE_EVERY_TICKS = 30
ACK_RELOAD = timedelta(seconds=30)  # acknowledgements written elsewhere (CLI, another desktop)


@dataclass
class AccountView:
    """What the window knows of one account beyond its rows."""

    state: AccountState = AccountState.OK
    error: str | None = None
    last_success_at: datetime | None = None
    ok_this_session: bool = False
    read_this_session: bool = False  # any result yet: until then the picture is unverified


def one_sentence(exc: BaseException) -> str:
    """A failure as the sentence a person reads: our own errors already are one."""
    from position_sync.app.errors import ConfigError
    from position_sync.app.store import StoreError

    if isinstance(exc, (ConfigError, StoreError)):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Controller(QObject):
    """The window's side of one run: owns the runtime, swaps it on new settings."""

    def __init__(
        self,
        runtime: Runtime,
        window: MainWindow,
        *,
        prefs: Preferences,
        quit_event: asyncio.Event,
        make_runtime: RuntimeMaker,
        demo: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()  # not the window's child: it outlives the window's C++ side at quit
        self.runtime = runtime
        # Handed in by the entry point: building a runtime needs the adapters, which the window
        # does not reach past the registry.
        self._make_runtime = make_runtime
        self.window = window
        self.prefs = prefs
        self.demo = demo
        self.quit_event = quit_event
        self._clock = clock
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-sync-ui-store")
        self._differ = ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-sync-ui-diff")
        self._builder: ThreadPoolExecutor | None = None  # builds a new runtime, off the UI thread
        self._queue: deque[SyncResult] = deque()
        self._generation = 0  # bumped when a new runtime replaces the old; older work is dropped
        self._consumer: asyncio.Future[None] | None = None
        self._applying: asyncio.Future[str | None] | None = None
        self._acks_read_at: datetime | None = None
        self._acks_reading: asyncio.Future[int] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._resync: asyncio.Future[Any] | None = None
        self._resync_pending: set[str] = set()
        self._resync_total = 0
        self.accounts: dict[str, AccountView] = {}
        self._processes: dict[str, QProcess] = {}
        self._ticks = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._history_dirty = True
        self._closed = False
        self.results_seen = 0
        self.collector = CollectorPolicy()
        self.settings_dialog: QDialog | None = None

        self.tray = Tray([window.act_show, window.act_resync, window.act_pause, None, window.act_quit], self)
        self.policy = NotifyPolicy(prefs.notify, muted=self._muted, currency_of=self._currency_of)
        self.notifier = NotificationCenter(
            self.policy,
            [TrayBackend(self.tray), InWindowBackend(window.toast)],
            window.notifications,
            self,
        )
        self.notifier.activated.connect(self._notification_activated)
        window.toast.activated.connect(self._notification_activated)
        self.tray.message_clicked.connect(self.notifier.tray_message_clicked)
        self.tray.show_requested.connect(window.bring_to_front)
        self.tray.availability_changed.connect(self._tray_availability)
        window.may_hide = lambda: self.prefs.close_to_tray and self.tray.is_shown()
        window.close_requested.connect(self.request_quit)

        window.act_resync.triggered.connect(lambda: self.resync())
        window.act_resync_account.triggered.connect(self.resync_selected_account)
        window.act_pause.toggled.connect(self.set_paused)
        window.act_quit.triggered.connect(self.request_quit)
        window.act_hide.triggered.connect(self.hide_window)
        window.act_ack.triggered.connect(self.acknowledge_selected)
        window.act_snooze.triggered.connect(lambda: self.snooze_selected(60))
        window.snooze_requested.connect(self.snooze_selected)
        window.act_clear_ack.triggered.connect(self.clear_selected)
        self.fixes = BookFixes(window, lambda: self.runtime, self._read, self._keep)
        window.act_copy.triggered.connect(self.copy_selected)
        window.act_find.triggered.connect(window.filters.focus_text)
        window.act_only_problems.toggled.connect(window.filters.only_problems.setChecked)
        window.filters.only_problems.toggled.connect(window.act_only_problems.setChecked)
        window.act_default_order.triggered.connect(window.table.default_order)
        window.act_login.triggered.connect(self.login_selected)
        window.act_settings.triggered.connect(self.open_settings)
        window.filters.changed.connect(self._filter_changed)
        window.accounts.login_requested.connect(self.login)
        window.accounts.account_clicked.connect(self._account_clicked)
        window.events.row_requested.connect(self.select_row)
        window.events.set_currency_of(self._currency_of)
        window.history.account_changed.connect(lambda *_: self._load_account_history())
        window.history.range_changed.connect(self._load_account_history)
        window.tabs.currentChanged.connect(self._tab_changed)
        window.table.selectionModel().currentRowChanged.connect(lambda *_: self._row_history_soon())
        self._row_timer = QTimer(self)
        self._row_timer.setSingleShot(True)
        self._row_timer.setInterval(150)
        self._row_timer.timeout.connect(self._load_row_history)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self.tick)
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(self._scheme_changed)
        self._bind(runtime)

    # -- life cycle ------------------------------------------------------------------------

    @property
    def worker(self) -> SyncWorker:
        return self.runtime.worker

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def _bind(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._unsubscribe = runtime.worker.subscribe(self.on_result)

    async def load_cached(self) -> None:
        """The picture the store remembers, on screen before any network.

        Also what a new runtime starts from after the settings changed: the event log is
        replaced (not added to), since the stored events include those already shown.
        """
        await self.worker.load()
        store = self.runtime.store
        ids = self.worker.account_ids
        acks, events = await asyncio.gather(
            self._read(lambda: ack_store.current(store, ids)),
            self._read(lambda: store.events(limit=1000)),
        )
        self._acks_read_at = self._clock()
        model = self.window.model
        model.set_acks(acks)
        model.set_dark(status_style.is_dark(self.window.palette()))
        for account in list(self.accounts):
            if account not in ids:
                model.remove_account(account)
                del self.accounts[account]
        for account in ids:
            memory = self.worker.memory(account)
            view = AccountView(memory.state, memory.error, memory.last_success_at)
            self.accounts[account] = view
            model.set_account_info(account, self._info(account, view))
            model.apply_account(account, memory.rows)
        self.window.events.replace(e.event for e in reversed(events))
        self._accounts_changed()
        self._refresh_banner()
        self._refresh_summary()
        self._history_dirty = True
        self.collector.settled()

    async def start(self) -> None:
        self.tray.ensure_visible()
        self._tick.start()
        self.tick()
        await self.worker.start()

    def report_exposed(self, attempts: int = 50) -> None:
        """Log once the window is really on a screen (mapped and exposed), for the Xvfb check.

        Retries stop at quit: the window may be gone by the next one (a quick quit, a test).
        """
        if self._closed or self.window.quitting:
            return
        handle = self.window.windowHandle()
        if handle is not None and handle.isExposed():
            log.info("window exposed on screen %s", handle.screen().name() if handle.screen() else "?")
        elif attempts > 0:
            QTimer.singleShot(100, lambda: self.report_exposed(attempts - 1))

    def request_quit(self) -> None:
        self.window.quitting = True
        self.quit_event.set()

    async def close(self) -> None:
        """Cancel what runs, close the runtime (worker, brokers, store) and the reader thread."""
        if self._closed:
            return
        self._closed = True
        self._tick.stop()
        self._row_timer.stop()
        self.notifier.stop()
        self.tray.hide()
        for process in self._processes.values():
            process.kill()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.runtime.close()
        self._reader.shutdown(wait=True)
        self._differ.shutdown(wait=True)
        if self._builder is not None:
            self._builder.shutdown(wait=True)

    async def apply_settings(
        self,
        settings: Settings,
        build: Callable[[Settings], Runtime] | None = None,
        commit: Callable[[], Awaitable[None]] | None = None,
    ) -> str | None:
        """New settings: a new runtime built off the UI thread, swapped in only once it stands.

        Building opens the store (migrations, a PostgreSQL connection) and the adapters, which
        may block or fail; meanwhile the old runtime keeps syncing and the window stays live.
        ``commit`` (the settings dialog writing the file) runs only after a successful build,
        so a refused configuration leaves the file as it was. Returns None once the new runtime
        runs, or the one sentence that says why not (also shown in the status bar); the old
        runtime then simply carries on.
        """
        if self._applying is not None and not self._applying.done():
            return "the previous settings are still being applied; try again in a moment"
        self._applying = self._keep(self._apply(settings, build, commit))
        return await asyncio.shield(self._applying)

    async def _apply(
        self,
        settings: Settings,
        build: Callable[[Settings], Runtime] | None,
        commit: Callable[[], Awaitable[None]] | None,
    ) -> str | None:
        # The same store is claimed again by this process: the claim is shared, not refused.
        maker = build or self._make_runtime
        if self._builder is None:
            self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-sync-ui-build")
        bar = self.window.statusBar()
        bar.showMessage("Starting the new settings…")
        try:
            runtime = await asyncio.get_running_loop().run_in_executor(self._builder, maker, settings)
        except Exception as exc:
            return self._settings_refused(one_sentence(exc))
        if commit is not None:
            try:
                await commit()
            except Exception as exc:
                await runtime.close()
                return self._settings_refused(one_sentence(exc))
        if self._closed:  # quit while building: the new runtime has nowhere to go
            await runtime.close()
            return None
        old = self.runtime
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._generation += 1
        self._queue.clear()
        self._resync_pending.clear()
        self._bind(runtime)
        self._use_preferences(preferences(settings))
        await old.close()
        await self.load_cached()
        await self.worker.start()
        bar.showMessage("New settings applied.", 5000)
        return None

    def _settings_refused(self, reason: str) -> str:
        log.error("the new settings could not be started: %s", reason)
        self.window.statusBar().showMessage(
            f"The new settings could not be started ({reason.rstrip('.')}); the previous ones keep running.",
            20000,
        )
        return reason

    def _use_preferences(self, prefs: Preferences) -> None:
        self.prefs = prefs
        self.policy.kinds = frozenset(prefs.notify)
        self._scheme_changed()

    def open_settings(self) -> None:
        """The settings dialog; on save it asks ``apply_settings`` to start what it would write."""
        from position_sync.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(
            self.settings,
            self.runtime.data_dir,
            read_only=self.demo,
            parent=self.window,
            applier=lambda settings, commit: self.apply_settings(settings, commit=commit),
        )
        dialog.open()
        self.settings_dialog = dialog

    def _keep(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a window task failed", exc_info=task.exception())

    async def _read(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, function)

    # -- sync results ----------------------------------------------------------------------

    def on_result(self, result: SyncResult) -> None:
        """One account's complete new picture; called on the loop thread by the worker.

        A small picture is diffed and shown at once. A large one is diffed on a thread of its
        own, so the UI thread only applies the changes; results queue behind it in order.
        """
        # The worker's new picture lives on (its memory, the store's cache): freezing it now
        # keeps the collections the diff and the model's new entries trigger from walking it.
        self.collector.settled()
        if self._queue or len(result.rows) > INLINE_ROWS:
            self._queue.append(result)
            if self._consumer is None or self._consumer.done():
                self._consumer = self._keep(self._consume())
            return
        self._show_result(result, self.window.model.plan(result.account, result.rows))

    async def _consume(self) -> None:
        """Diff queued results on the diff thread, in order, and show each.

        A new runtime (``apply_settings``) clears the queue while a diff may be running: a
        result that is no longer at the head of the queue when its diff comes back belongs to
        the old runtime and is dropped, never popped from (or shown over) the new one's queue.
        """
        loop = asyncio.get_running_loop()
        model = self.window.model
        while self._queue:
            result = self._queue[0]
            generation = self._generation
            plan: Plan | None = await loop.run_in_executor(
                self._differ, model.plan, result.account, result.rows
            )
            if generation != self._generation or not self._queue or self._queue[0] is not result:
                continue
            if plan is not None and plan.size > APPLY_CHUNK:
                await self._apply_in_pieces(plan)
                plan = None
                if generation != self._generation or not self._queue or self._queue[0] is not result:
                    continue
            self._queue.popleft()
            self._show_result(result, plan)

    async def _apply_in_pieces(self, plan: Plan) -> None:
        """Many changed rows (a price tick on 10,000): applied in pieces with the loop turning in
        between, rows re-sorted once at the end, the table repainted once."""
        model = self.window.model
        table = self.window.table
        table.setUpdatesEnabled(False)
        try:
            for piece in plan.split(APPLY_CHUNK):
                model.apply_plan(piece, defer_moves=True)
                self.collector.settled()  # this piece's entries stay: later collections skip them
                await asyncio.sleep(0)
            model.settle_moves()
        finally:
            table.setUpdatesEnabled(True)
        await asyncio.sleep(0)

    async def drain(self) -> None:
        """Wait until every queued result is on screen (tests, the screenshot)."""
        while self._queue or (self._consumer is not None and not self._consumer.done()):
            await asyncio.sleep(0.01)

    def _show_result(self, result: SyncResult, plan: Plan | None) -> None:
        self.results_seen += 1
        log.info(
            "sync %s (%s): %s, %d rows, %d events%s",
            result.account,
            result.reason,
            result.state.value,
            len(result.rows),
            len(result.events),
            f" ({result.error})" if result.error else "",
        )
        view = self.accounts.setdefault(result.account, AccountView())
        view.state = result.state
        view.error = result.error
        view.last_success_at = result.last_success_at
        view.read_this_session = True
        if result.state is AccountState.OK:
            view.ok_this_session = True
        model = self.window.model
        if result.state is not AccountState.OK:
            model.set_now(self._clock())  # its rows turn stale now: their age counts from now
        model.set_account_info(result.account, self._info(result.account, view))
        if plan is not None:
            model.apply_plan(plan)
        if result.events:
            self.window.events.add(result.events)
        selected = self.window.table.current_key()
        if selected is not None and selected[0] == result.account:
            self.fixes.refresh()  # the selected row's status may allow other fixes now
        self.notifier.offer(result.account, result.state, result.rows, result.events)
        self._resync_pending.discard(result.account)
        # The worker publishes before it marks the sync finished: this account is done now,
        # whatever ``is_syncing`` still says for the rest of this turn of the loop.
        self._show_badge(result.account, finished=True)
        self._refresh_banner()
        self._refresh_summary()
        self._show_progress(finished=result.account)
        self.window.last_sync.setText(f"Last sync {result.finished_at.astimezone():%H:%M:%S}")
        if result.account == self.window.history.current_account():
            self._history_dirty = True  # the worker's save recorded the new chart point
            if self._history_visible():
                self._load_account_history()
        if selected is not None and selected[0] == result.account and self._history_visible():
            self._row_history_soon()
        self.collector.settled()

    # -- actions ---------------------------------------------------------------------------

    def resync(self, account: str | None = None) -> bool:
        """Sync every account (or one) now; False when a resync is already running."""
        if self._resync is not None and not self._resync.done():
            return False
        ids = [account] if account else list(self.worker.account_ids)
        if not ids:
            return False
        self._resync_pending = set(ids)
        self._resync_total = len(ids)
        self.window.act_resync.setEnabled(False)
        self.window.act_resync_account.setEnabled(False)
        self._resync = self._keep(self._run_resync(account))
        self._show_progress()
        for account_id in ids:
            self._show_badge(account_id)
        return True

    async def _run_resync(self, account: str | None) -> None:
        try:
            if account:
                await self.worker.sync(account, "manual")
            else:
                await self.worker.sync_all("manual")
        finally:
            self._resync_pending.clear()
            self.window.act_resync.setEnabled(True)
            self.window.act_resync_account.setEnabled(True)
            self._show_progress()

    def resyncing(self) -> bool:
        return self._resync is not None and not self._resync.done()

    def resync_selected_account(self) -> None:
        key = self.window.table.current_key()
        self.resync(key[0] if key else None)

    def set_paused(self, paused: bool) -> None:
        """The worker's half of Pause; the action's own text follows in ``MainWindow``."""
        if paused:
            self.worker.pause()
        else:
            self.worker.resume()
        self.window.paused_label.setVisible(paused)
        self.tick()

    def hide_window(self) -> None:
        """Ctrl+W: to the tray when there is one (and closing hides to it), else minimised.

        Never a quit: that is Ctrl+Q's job, and a trader reaching for "hide" must not stop
        the monitoring by accident.
        """
        if self.window.may_hide():
            self.window.hide()
        else:
            self.window.showMinimized()

    def _selected_problem_rows(self) -> list[Row]:
        model = self.window.model
        rows = [model.row_for(key) for key in self.window.table.selected_keys()]
        return [r for r in rows if r is not None and r.effective_status.is_problem]

    def acknowledge_selected(self) -> None:
        rows = self._selected_problem_rows()
        if not rows:
            self.window.statusBar().showMessage("Select a mismatch to acknowledge it.", 5000)
            return
        dialog = QInputDialog(self.window)
        dialog.setWindowTitle("Acknowledge mismatch")
        names = ", ".join(r.instrument for r in rows[:3]) + (
            f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        )
        dialog.setLabelText(
            f"Acknowledge {names}.\nIt stays visible and marked, and stops notifying until it changes.\nNote:"
        )
        for label in dialog.findChildren(QLabel):
            make_plain(label)  # the instruments are a book's or broker's spelling: text, not markup
        dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dialog.setOkButtonText("Acknowledge")
        dialog.textValueSelected.connect(lambda note: self._keep(self.acknowledge(rows, note)))
        dialog.open()

    async def acknowledge(self, rows: list[Row], note: str) -> None:
        store = self.runtime.store
        now = self._clock()
        records = await self._read(
            lambda: [ack_store.acknowledge(store, row, note.strip(), now) for row in rows]
        )
        self._apply_records(records)
        self.window.statusBar().showMessage(f"Acknowledged {len(records)} row(s).", 5000)

    def snooze_selected(self, minutes: int) -> None:
        rows = self._selected_problem_rows() or [
            r
            for r in (self.window.model.row_for(k) for k in self.window.table.selected_keys())
            if r is not None
        ]
        if not rows:
            self.window.statusBar().showMessage("Select a row to snooze it.", 5000)
            return
        self._keep(self.snooze(rows, timedelta(minutes=minutes)))

    async def snooze(self, rows: list[Row], duration: timedelta) -> None:
        store = self.runtime.store
        now = self._clock()
        until = now + duration
        records = await self._read(
            lambda: [ack_store.snooze(store, r.account, r.instrument, until, now) for r in rows]
        )
        self._apply_records(records)
        self.window.statusBar().showMessage(f"Snoozed {len(records)} row(s) until {clock(until)}.", 5000)

    def clear_selected(self) -> None:
        keys = self.window.table.selected_keys()
        if keys:
            self._keep(self.clear(keys))

    async def clear(self, keys: list[Key]) -> None:
        store = self.runtime.store
        now = self._clock()
        await self._read(lambda: [ack_store.clear(store, a, i, now) for a, i in keys])
        for key in keys:
            self.window.model.set_ack(key, None)
        self._refresh_summary()
        self._row_history_soon()

    def reload_acks_soon(self) -> None:
        """Start a reload of the acknowledgements unless one is running."""
        if self._acks_reading is None or self._acks_reading.done():
            self._acks_read_at = self._clock()
            self._acks_reading = self._keep(self.reload_acks())

    async def reload_acks(self) -> int:
        """Acknowledgements written elsewhere (``position-sync ack``, another desktop sharing the
        store) reach this window: read off the UI thread, only the rows whose state differs are
        touched. Returns how many rows changed."""
        store = self.runtime.store
        ids = self.worker.account_ids
        generation = self._generation
        states = await self._read(lambda: ack_store.current(store, ids))
        self._acks_read_at = self._clock()
        if generation != self._generation:
            return 0  # a new runtime loaded its own
        changed = self.window.model.update_acks(states)
        if changed:
            self.notifier.release()  # a cleared snooze may let a kept-aside alert through
            self._refresh_summary()
            self._row_history_soon()
        return changed

    def _apply_records(self, records: list[ack_store.Acknowledgement]) -> None:
        model = self.window.model
        for record in records:
            current = model.ack_for(record.key) or ack_store.AckState()
            state = ack_store.fold([r for r in (current.ack, current.snooze, record) if r is not None])
            model.set_ack(record.key, state.get(record.key))
        self._refresh_summary()
        self._row_history_soon()

    def copy_selected(self) -> None:
        QApplication.clipboard().setText(self.window.table.copy_rows())

    def select_row(self, account: str, instrument: str | None) -> None:
        """Raise the window with the row selected (a notification or an event asked for it)."""
        self.window.bring_to_front()
        if instrument is None:
            return
        table = self.window.table
        if not table.select_key((account, instrument)):
            filters = self.window.filters  # the row is filtered out: show everything, then select
            filters.account.setCurrentIndex(0)
            filters.status.setCurrentIndex(0)
            filters.text.clear()
            filters.only_problems.setChecked(False)
            table.select_key((account, instrument))
        table.setFocus()

    def _notification_activated(self, notification: Notification) -> None:
        self.select_row(*notification.target)

    # -- login -----------------------------------------------------------------------------

    def login_support(self, account: str) -> LoginSupport:
        try:
            return login_support(self.settings, self.settings.account(account))
        except Exception as exc:
            return LoginSupport(False, f"No login available: {exc}")

    def login_selected(self) -> None:
        key = self.window.table.current_key()
        needing = [a for a, v in self.accounts.items() if v.state is AccountState.LOGIN_REQUIRED]
        account = key[0] if key else (needing[0] if needing else None)
        if account is None:
            self.window.statusBar().showMessage("Select a row of the account to log in to.", 5000)
            return
        self.login(account)

    def login(self, account: str) -> None:
        support = self.login_support(account)
        if not support.possible:
            self.window.statusBar().showMessage(support.reason, 8000)
            return
        if account in self._processes:
            return
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.finished.connect(lambda code, _status: self._login_finished(account, process, code))
        self._processes[account] = process
        process.start(support.command[0], support.command[1:])
        self.window.statusBar().showMessage(f"Login for {account} started…", 5000)

    def _login_finished(self, account: str, process: QProcess, code: int) -> None:
        self._processes.pop(account, None)
        output = bytes(process.readAll().data()).decode(errors="replace").strip().splitlines()
        if code == 0:
            self.window.statusBar().showMessage(f"Logged in to {account}; syncing it now.", 8000)
            self.worker.trigger(account, "login")
        else:
            last = output[-1] if output else f"exit code {code}"
            self.window.statusBar().showMessage(f"Login for {account} failed: {last}", 15000)
        process.deleteLater()

    # -- periodic and derived display ------------------------------------------------------

    def tick(self) -> None:
        """Once a second: countdown, syncing badges, progress, snoozes that ran out; stale ages
        every half minute; acknowledgements written elsewhere every ``ACK_RELOAD``."""
        now = self._clock()
        self._ticks += 1
        if self._ticks % AGE_EVERY_TICKS == 0:
            self.window.model.set_now(now)
            self._refresh_banner()
        if self.policy.waiting and self.notifier.release():
            self.window.model.set_now(now)  # the row's "snoozed" mark goes with it
            self._refresh_summary()
        if self._acks_read_at is not None and now - self._acks_read_at >= ACK_RELOAD:
            self.reload_acks_soon()
        worker = self.worker
        if worker.paused:
            self.window.countdown.setText("")
        else:
            dues = [d for d in (worker.next_due(a) for a in worker.account_ids) if d is not None]
            if dues:
                seconds = max(0, int((min(dues) - now).total_seconds() + 0.999))
                self.window.countdown.setText(f"· next sync in {seconds} s" if seconds else "· syncing…")
        for account in self.accounts:
            self._show_badge(account)
        self._show_progress()
        if not worker.is_syncing() and not self._queue:
            self.collector.idle()

    def _syncing(self, finished: str | None = None) -> bool:
        """Whether any account syncs, ``finished`` (whose result is being shown) excepted."""
        worker = self.worker
        return any(worker.is_syncing(a) for a in worker.account_ids if a != finished)

    def _show_progress(self, finished: str | None = None) -> None:
        bar = self.window.progress
        if self.resyncing():
            bar.setRange(0, self._resync_total)
            done = self._resync_total - len(self._resync_pending)
            bar.setValue(done)
            bar.setFormat(f"Syncing {done}/{self._resync_total}")
            bar.show()
        elif self._syncing(finished):
            bar.setRange(0, 0)
            bar.show()
        else:
            bar.hide()

    def _show_badge(self, account: str, *, finished: bool = False) -> None:
        view = self.accounts.get(account)
        if view is None:
            return
        syncing = not finished and (
            account in self._resync_pending
            or (account in self.worker.account_ids and self.worker.is_syncing(account))
        )
        support = (
            self.login_support(account) if view.state is AccountState.LOGIN_REQUIRED else LoginSupport(False)
        )
        self.window.accounts.show_state(
            BadgeState(
                account,
                view.state,
                syncing,
                view.last_success_at,
                view.error,
                view.ok_this_session,
                support.possible,
                support.reason,
            ),
            self._clock(),
        )

    def _accounts_changed(self) -> None:
        ids = list(self.worker.account_ids)
        self.window.accounts.set_accounts(ids)
        self.window.filters.set_accounts(ids)
        self.window.events.set_accounts(ids)
        self.window.history.set_accounts(ids)
        for account in ids:
            self._show_badge(account)

    def _refresh_banner(self) -> None:
        waiting = [a for a, v in self.accounts.items() if not v.ok_this_session]
        if not waiting:
            self.window.set_banner(None)
            return
        now = self._clock()
        pictures = [v.last_success_at for v in self.accounts.values() if v.last_success_at is not None]
        failing = [a for a in waiting if self.accounts[a].state is not AccountState.OK]
        reason = ""
        if failing:
            view = self.accounts[failing[0]]
            reason = f" — {failing[0]} could not be read: {view.error or view.state.value}"
        if pictures:
            newest = max(pictures)
            text = (
                f"Showing cached data from {clock(newest, now)} ({ago(newest, now)}){reason or ' — syncing…'}"
            )
        else:
            text = f"No cached picture yet: waiting for the first sync of every account{reason}"
        self.window.set_banner(text, "warn" if failing else "info")

    def _refresh_summary(self) -> None:
        """Status bar counts and the tray's colour: the worst of what is known.

        An account with no result yet this session is unknown, not good: its cached picture
        (or its absence) has not been confirmed by a read, so it makes the summary amber.
        """
        model = self.window.model
        counts = model.counts()
        problems = sum(n for status, n in counts.items() if status.is_problem)
        loud = model.unmuted_problems()
        quiet = problems - loud
        stale_accounts = [a for a, v in self.accounts.items() if v.state is AccountState.STALE]
        login = [a for a, v in self.accounts.items() if v.state is AccountState.LOGIN_REQUIRED]
        waiting = [a for a, v in self.accounts.items() if not v.read_this_session]
        parts = [f"{model.total()} positions"]
        if problems:
            parts.append(f"<b style='color:#D1362F'>{problems} problem{'s' if problems != 1 else ''}</b>")
            if quiet:
                parts.append(f"{quiet} acknowledged or snoozed")
        elif waiting:
            parts.append("<span style='color:#B07800'>waiting for the first sync</span>")
        else:
            parts.append("<span style='color:#009E73'>all matching</span>")
        closed = counts.get(Status.CLOSED, 0)
        if closed:
            parts.append(f"{closed} closed today")
        text = " · ".join(parts)
        self.window.counts.setText(text)
        self.window.filters.summary.setText(text)
        if login or loud:
            health = Health.BAD
        elif stale_accounts or quiet or waiting:
            health = Health.WARN
        else:
            health = Health.GOOD
        if login:
            summary = f"login required for {', '.join(login)}"
        elif loud:
            summary = f"{loud} unacknowledged problem{'s' if loud != 1 else ''}"
        elif stale_accounts:
            summary = f"{', '.join(stale_accounts)} stale"
        elif waiting:
            summary = f"waiting for the first sync of {', '.join(waiting)}"
        else:
            summary = status_style.HEALTH_WORDS[health]
        self.tray.set_health(health, summary)
        self.health = health

    def _muted(self, account: str, instrument: str) -> bool:
        """Judged by this controller's clock, so a snooze ends when the clock says so."""
        return self.window.model.muted(account, instrument, self._clock())

    def _info(self, account: str, view: AccountView) -> AccountInfo:
        return AccountInfo(self._currency_of(account), view.state, view.last_success_at, view.error)

    def _currency_of(self, account: str) -> str | None:
        try:
            return self.settings.account(account).currency
        except Exception:
            return None

    def _filter_changed(self, spec: Any) -> None:
        key = self.window.table.current_key()
        self.window.model.set_filter(spec)
        if key is not None:
            self.window.table.select_key(key)

    def _account_clicked(self, account: str) -> None:
        index = self.window.filters.account.findData(account)
        if index >= 0:
            current = self.window.filters.account.currentIndex()
            self.window.filters.account.setCurrentIndex(0 if current == index else index)

    def _tray_availability(self, available: bool) -> None:
        if not available and not self.window.isVisible():
            self.window.show()  # without a tray the window is the only way back in

    def _scheme_changed(self, *_: Any) -> None:
        """The system's scheme or the user's choice changed: palette, row colours, charts."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, self.prefs.theme)
        dark = status_style.is_dark(self.window.palette())
        self.window.model.set_dark(dark)
        self.window.history.apply_palette(self.window.palette())

    # -- history ---------------------------------------------------------------------------

    def _history_visible(self) -> bool:
        return self.window.isVisible() and self.window.tabs.currentIndex() == TAB_HISTORY

    def _tab_changed(self, index: int) -> None:
        if index == TAB_HISTORY:
            if self._history_dirty:
                self._load_account_history()
            self._row_history_soon()

    def _load_account_history(self) -> None:
        account = self.window.history.current_account()
        if account is None:
            return
        self._history_dirty = False
        self._keep(self.load_account_history(account))

    async def load_account_history(self, account: str) -> series_store.AccountSeries:
        store = self.runtime.store
        since = self.window.history.since(self._clock())
        series = await self._read(lambda: series_store.account_series(store, account, since))
        if self.window.history.current_account() == account:
            self.window.history.show_account(series, self._clock())
        return series

    def _row_history_soon(self) -> None:
        if self._history_visible():
            self._row_timer.start()

    def _load_row_history(self) -> None:
        self._keep(self.load_row_history(self.window.table.current_key()))

    async def load_row_history(self, key: Key | None) -> None:
        if key is None:
            self.window.history.show_row(None, [])
            return
        store = self.runtime.store
        account, instrument = key
        currency = self._currency_of(account)

        def read() -> tuple[series_store.QuantitySeries, list[TimelineItem]]:
            quantities = series_store.quantity_series(store, account, instrument)
            return quantities, row_timeline(store, account, instrument, currency)

        quantities, timeline = await self._read(read)
        if self.window.table.current_key() == key:
            self.window.history.show_row(quantities, timeline, self._clock())

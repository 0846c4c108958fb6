"""Runs the window: owns the runtime and the work in flight, and connects the window's intents.

Everything here runs on the one asyncio loop that qasync puts on the Qt loop. The controller
owns what outlives any one pane: the runtime (swapped whole when the settings change), the
tasks it started, the store thread, the worker's results on their way to the screen
(``ui.result_queue``), the tray and the periodic tick. What each area of the window shows is
its presenter's business (``ui.presenters``); a sync result, the one thing that crosses every
area, is handed to each of them here, in one place and one order.

Store reads the window needs (history, acknowledgements, the event log) run on a reader thread
of their own, never on the UI thread. The window writes no sync data: the chart figures are
recorded by the worker's own save; only what the user asks for is written, on that same thread
(acknowledgements and snoozes, and the "fix my book" actions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog

from position_sync.app.config import Settings
from position_sync.app.domain import AccountState
from position_sync.app.feed import Feed
from position_sync.app.notify_policy import NotifyPolicy
from position_sync.app.runtime import Runtime, RuntimeMaker
from position_sync.app.sync import SyncResult, utcnow
from position_sync.app.team.viewer import ViewerRefused
from position_sync.ui import theme
from position_sync.ui.positions_index import Plan, snapshot
from position_sync.ui.preferences import Preferences, preferences
from position_sync.ui.presenters.accounts import AccountsPresenter, AccountView
from position_sync.ui.presenters.acks import AcksPresenter
from position_sync.ui.presenters.context import Context
from position_sync.ui.presenters.events import EventsPresenter
from position_sync.ui.presenters.fixes import FixesPresenter
from position_sync.ui.presenters.history import HistoryPresenter
from position_sync.ui.presenters.login import LoginPresenter
from position_sync.ui.presenters.notifications import NotificationsPresenter
from position_sync.ui.presenters.positions import PositionsPresenter
from position_sync.ui.presenters.status import StatusPresenter, summarise
from position_sync.ui.presenters.totals import TotalsPresenter
from position_sync.ui.presenters.viewer import ViewerPresenter
from position_sync.ui.responsiveness import CollectorPolicy
from position_sync.ui.result_queue import Arrival, ResultQueue
from position_sync.ui.status_style import Health
from position_sync.ui.tray import Tray
from position_sync.ui.window import MainWindow

log = logging.getLogger(__name__)
T = TypeVar("T")
TICK_MS = 1000
AGE_EVERY_TICKS = 30


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
        self._builder: ThreadPoolExecutor | None = None  # builds a new runtime, off the UI thread
        self._applying: asyncio.Future[str | None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._resync: asyncio.Future[Any] | None = None
        self._resync_pending: set[str] = set()
        self._resync_total = 0
        self._ticks = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False
        self.results_seen = 0
        self.collector = CollectorPolicy()
        self.settings_dialog: QDialog | None = None

        context = Context(
            lambda: self.runtime, self._read, self._keep, clock, lambda: self.results.generation
        )
        self.tray = Tray(window.tray_actions(), self)
        self.policy = NotifyPolicy(prefs.notify, muted=self._muted, currency_of=context.currency_of)
        self.positions = PositionsPresenter(window, self.collector.settled, self)
        self.events = EventsPresenter(window, context, self)
        self.login = LoginPresenter(window, context, self.positions.current_key, self._needing_login, self)
        self.badges = AccountsPresenter(window, context, self._is_syncing, self.login.support, self)
        self.notifications = NotificationsPresenter(window, self.tray, self.policy, self)
        self.notifier = self.notifications.center
        self.fixes = FixesPresenter(window, context, self.positions, self.events, self)
        self.history = HistoryPresenter(window, context, self.positions.current_key, self)
        self.totals = TotalsPresenter(window, context, self)
        self.acks = AcksPresenter(
            window, context, self.positions, self._acks_changed, self.notifications.release, self
        )
        self.status = StatusPresenter(window, self.tray)
        self.viewer = ViewerPresenter(window, context, self.badges, self)  # inert unless a viewer
        self.results = ResultQueue(self.positions, self._show_result, self._keep, self.collector.settled)
        self._connect_intents(window)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self.tick)
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(self._scheme_changed)
        self._bind(runtime)

    def _connect_intents(self, window: MainWindow) -> None:
        """What the user asks for (the window's intents, the tray, a pane) to who answers it."""
        self.tray.show_requested.connect(window.bring_to_front)
        self.tray.availability_changed.connect(self._tray_availability)
        window.may_hide = lambda: self.prefs.close_to_tray and self.tray.is_shown()
        window.close_requested.connect(self.request_quit)
        window.quit_requested.connect(self.request_quit)
        window.hide_requested.connect(self.hide_window)
        window.resync_requested.connect(lambda: self.resync())
        window.resync_account_requested.connect(self.resync_selected_account)
        window.pause_requested.connect(self.set_paused)
        window.settings_requested.connect(self.open_settings)
        self.notifications.row_requested.connect(self.select_row)
        self.events.row_requested.connect(self.select_row)
        self.badges.login_requested.connect(self.login.login)
        self.badges.account_clicked.connect(self.positions.toggle_account)
        self.positions.current_changed.connect(self.history.row_history_soon)

    # -- life cycle ------------------------------------------------------------------------

    @property
    def worker(self) -> Feed:
        return self.runtime.worker

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def accounts(self) -> dict[str, AccountView]:
        """What the window knows of each account beyond its rows."""
        return self.badges.views

    @property
    def health(self) -> Health:
        return self.status.health

    def _bind(self, runtime: Runtime) -> None:
        self.runtime = runtime
        unsubscribe = runtime.worker.subscribe(self.on_result)
        unbind = self.viewer.bind(
            runtime.worker, self.acks.reload_soon, lambda: self._keep(self.load_cached())
        )

        def off() -> None:
            unsubscribe()
            unbind()

        self._unsubscribe = off

    async def load_cached(self) -> None:
        """The picture the store remembers, on screen before any network.

        Also what a new runtime starts from after the settings changed: the event log is
        replaced (not added to), since the stored events include those already shown.
        """
        await self.worker.load()
        store = self.runtime.store
        ids = self.worker.account_ids
        acks, events = await asyncio.gather(self.acks.read(), self._read(lambda: store.events(limit=1000)))
        self.acks.loaded(acks)
        self.positions.set_dark(self.window.is_dark())
        for account in list(self.accounts):
            if account not in ids:
                self.positions.remove_account(account)
                self.totals.remove(account)
                self.badges.forget(account)
        for account in ids:
            memory = self.worker.memory(account)
            self.badges.load(account, memory)
            rows = snapshot(memory.rows)
            self.positions.load_account(account, self.badges.info(account), rows)
            self.totals.show(account, rows)
        self.events.replace(e.event for e in reversed(events))
        self._accounts_changed()
        self.badges.refresh_banner()
        self._refresh_summary()
        self.status.show_last_sync(self.accounts, self._clock())
        self.history.mark_out_of_date()
        self.viewer.loaded()
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
        screen = self.window.exposed_screen()
        if screen is not None:
            log.info("window exposed on screen %s", screen)
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
        self.history.stop()
        self.notifications.stop()
        self.tray.hide()
        self.login.stop()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.runtime.close()
        self._reader.shutdown(wait=True)
        self.results.close()
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
        self.window.show_message("Starting the new settings…")
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
        self.results.renew()
        self._resync_pending.clear()
        self._bind(runtime)
        self._use_preferences(preferences(settings))
        await old.close()
        await self.load_cached()
        await self.worker.start()
        self.window.show_message("New settings applied.", 5000)
        return None

    def _settings_refused(self, reason: str) -> str:
        log.error("the new settings could not be started: %s", reason)
        self.window.show_message(
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
            # Through the loop's handler: with the window's hooks installed that is the log file
            # and the short error dialog (``ui.error_hook``), never a line nobody reads.
            task.get_loop().call_exception_handler(
                {"message": "a window task failed", "exception": task.exception(), "future": task}
            )

    async def _read(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, function)

    # -- sync results ----------------------------------------------------------------------

    def on_result(self, result: SyncResult) -> None:
        """One account's complete new picture; called on the loop thread by the worker."""
        self.results.offer(result)

    async def drain(self) -> None:
        """Wait until every queued result is on screen (tests, the screenshot)."""
        await self.results.drain()

    def _show_result(self, arrival: Arrival, plan: Plan | None) -> None:
        """One result into every area of the window; ``plan`` None when already applied."""
        result = arrival.result
        self.results_seen += 1
        log.info(
            "sync %s (%s): %s, %d rows, %d events%s",
            result.account,
            result.reason,
            result.state.value,
            len(arrival.rows),
            len(result.events),
            f" ({result.error})" if result.error else "",
        )
        account = result.account
        self.badges.record(result)
        stale_from = self._clock() if result.state is not AccountState.OK else None
        self.positions.show(account, self.badges.info(account), plan, stale_from)
        self.totals.show(account, arrival.rows)
        if result.events:
            self.events.add(result.events)
        selected = self.positions.current_key()
        if selected is not None and selected[0] == account:
            self.fixes.refresh()  # the selected row's status may allow other fixes now
        self.notifications.offer(account, result.state, arrival.rows, result.events)
        self._resync_pending.discard(account)
        # The worker publishes before it marks the sync finished: this account is done now,
        # whatever ``is_syncing`` still says for the rest of this turn of the loop.
        self.badges.show_badge(account, finished=True)
        self.badges.refresh_banner()
        self._refresh_summary()
        self._show_progress(finished=account)
        self.status.show_last_sync(self.accounts, self._clock())
        self.history.result_shown(account, selected)
        self.collector.settled()

    # -- actions ---------------------------------------------------------------------------

    def resync(self, account: str | None = None) -> bool:
        """Sync every account (or one) now; False when a resync is already running."""
        if self._resync is not None and not self._resync.done():
            return False
        refusal = self.viewer.may_resync()
        if refusal is not None:
            self.window.show_message(f"No resync: {refusal}.", 10000)
            return False
        ids = [account] if account else list(self.worker.account_ids)
        if not ids:
            return False
        self._resync_pending = set(ids)
        self._resync_total = len(ids)
        self.window.set_resync_enabled(False)
        self._resync = self._keep(self._run_resync(account))
        self._show_progress()
        for account_id in ids:
            self.badges.show_badge(account_id)
        return True

    async def _run_resync(self, account: str | None) -> None:
        try:
            if account:
                await self.worker.sync(account, "manual")
            else:
                await self.worker.sync_all("manual")
        except ViewerRefused as exc:  # the database role changed under a running viewer
            self.window.show_message(f"No resync: {exc}.", 10000)
        finally:
            self._resync_pending.clear()
            self.window.set_resync_enabled(True)
            self._show_progress()

    def resyncing(self) -> bool:
        return self._resync is not None and not self._resync.done()

    def resync_selected_account(self) -> None:
        key = self.positions.current_key()
        self.resync(key[0] if key else None)

    def set_paused(self, paused: bool) -> None:
        """The worker's half of Pause; the action's own text follows in ``MainWindow``."""
        if paused:
            self.worker.pause()
        else:
            self.worker.resume()
        self.status.show_paused(paused)
        self.tick()

    def hide_window(self) -> None:
        """Ctrl+W: to the tray when there is one (and closing hides to it), else minimised.

        Never a quit: that is Ctrl+Q's job, and a trader reaching for "hide" must not stop
        the monitoring by accident.
        """
        self.window.hide_or_minimise()

    def select_row(self, account: str, instrument: str | None) -> None:
        """Raise the window with the row selected (a notification or an event asked for it)."""
        self.window.bring_to_front()
        if instrument is not None:
            self.positions.reveal((account, instrument))

    # -- periodic and derived display ------------------------------------------------------

    def tick(self) -> None:
        """Once a second: countdown, syncing badges, progress, snoozes that ran out; stale ages
        every half minute; acknowledgements written elsewhere every ``acks.ACK_RELOAD``."""
        now = self._clock()
        self._ticks += 1
        if self._ticks % AGE_EVERY_TICKS == 0:
            self.positions.set_now(now)
            self.badges.refresh_banner()
        if self.policy.waiting and self.notifications.release():
            self.positions.set_now(now)  # the row's "snoozed" mark goes with it
            self._refresh_summary()
        self.acks.reload_if_due(now)
        self.viewer.tick(now)
        worker = self.worker
        self.status.show_countdown(worker, now)
        self.status.show_last_sync(self.accounts, now)
        self.badges.show_badges()
        self._show_progress()
        if not worker.is_syncing() and not self.results.waiting:
            self.collector.idle()

    def _syncing(self, finished: str | None = None) -> bool:
        """Whether any account syncs, ``finished`` (whose result is being shown) excepted."""
        worker = self.worker
        return any(worker.is_syncing(a) for a in worker.account_ids if a != finished)

    def _is_syncing(self, account: str) -> bool:
        """One account's badge: syncing while a resync waits for it or the worker runs it."""
        worker = self.worker
        return account in self._resync_pending or (
            account in worker.account_ids and worker.is_syncing(account)
        )

    def _show_progress(self, finished: str | None = None) -> None:
        resync = None
        if self.resyncing():
            resync = (self._resync_total - len(self._resync_pending), self._resync_total)
        self.status.show_progress(resync, resync is None and self._syncing(finished))

    def _accounts_changed(self) -> None:
        ids = list(self.worker.account_ids)
        self.badges.set_accounts(ids)
        self.positions.set_accounts(ids)
        self.events.set_accounts(ids)
        self.history.set_accounts(ids)
        for account in ids:
            self.badges.show_badge(account)

    def _refresh_summary(self) -> None:
        """Status bar counts and the tray's colour: the worst of what is known."""
        self.status.show_summary(summarise(self.positions.tally(), self.accounts))

    def _acks_changed(self) -> None:
        self._refresh_summary()
        self.history.row_history_soon()

    def _needing_login(self) -> list[str]:
        return self.badges.needing_login()

    def _muted(self, account: str, instrument: str) -> bool:
        """Judged by this controller's clock, so a snooze ends when the clock says so."""
        return self.positions.muted(account, instrument, self._clock())

    def _tray_availability(self, available: bool) -> None:
        if not available:
            self.window.show_if_hidden()  # without a tray the window is the only way back in

    def _scheme_changed(self, *_: Any) -> None:
        """The system's scheme or the user's choice changed: palette, row colours, charts."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, self.prefs.theme)
        self.positions.set_dark(self.window.is_dark())
        self.history.apply_palette(self.window.palette())

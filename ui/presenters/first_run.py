"""The first-run page in front of the grid while no account would sync, and its three ways on.

Shown at start when the config file is missing or has no enabled account, and again whenever
new settings leave none (``app.first_run.setup_needed``). "Start" checks the new account with the
parser the CLI uses and goes the settings dialog's way: the new settings are started first
(``Controller.apply_settings``) and the file is written only once they stand, by the dialog's
own ``write_config`` (secrets to the keyring first, the old file kept as ``.bak``); a refusal
leaves the file as it was and says why on the page. "Open the demo" starts ``--demo`` as a
process of its own, so its throw-away data never mixes with the user's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from PySide6.QtCore import QObject, QProcess
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QStackedWidget, QWidget

from position_sync.app.config import Settings, parse_settings
from position_sync.app.errors import ConfigError
from position_sync.app.first_run import read_tables, setup_needed, with_account
from position_sync.app.paths import cli_command
from position_sync.app.private import private_dir
from position_sync.brokers.registry import check_account_options
from position_sync.ui.window import MainWindow

if TYPE_CHECKING:  # the page and the dialog's forms are imported when first needed, after the first paint
    from position_sync.ui.first_run import FirstRunPage
    from position_sync.ui.settings_dialog import Applier

log = logging.getLogger(__name__)
IDLE_ACTIONS = ("act_resync", "act_resync_account", "act_pause", "act_ack", "act_snooze", "act_clear_ack")
DemoLauncher = Callable[[], str | None]  # starts the demo; None, or why it could not


def launch_demo() -> str | None:
    """``position-sync --demo`` as a detached process (the same executable when frozen)."""
    program, *arguments = [*cli_command(), "--demo"]
    started, _pid = QProcess.startDetached(program, arguments)
    return None if started else f"the demo could not be started ({program} {' '.join(arguments)})"


class FirstRunPresenter(QObject):
    """Puts the page and the grid in one stack in the window, and shows the one that fits."""

    def __init__(
        self,
        window: MainWindow,
        settings: Callable[[], Settings],
        apply: Applier,
        settings_dialog: Callable[[], QDialog | None],
        parent: QObject,
        demo: DemoLauncher = launch_demo,
    ) -> None:
        super().__init__(parent)
        self._window = window
        self._settings = settings
        self._apply = apply
        self._settings_dialog = settings_dialog
        self._demo = demo
        self._tasks: set[asyncio.Future[Any]] = set()
        self._raw: dict[str, Any] = {}
        self._put_aside: dict[str, tuple[bool, str]] = {}
        # Built the first time it is shown: it lists every broker with its declared options,
        # which imports every broker's module (and client library) — half a second that a
        # window on a working config must not pay at start.
        self._page: FirstRunPage | None = None
        grid = window.takeCentralWidget()
        assert grid is not None, "the window builds its grid before the first-run page"
        self.grid = grid
        self.stack = QStackedWidget()
        self.stack.setObjectName("centralStack")
        self.stack.addWidget(grid)
        window.setCentralWidget(self.stack)
        # After the controller opened the dialog (connected before us): follow what it saves.
        window.settings_requested.connect(self._settings_opened)

    @property
    def page(self) -> FirstRunPage:
        if self._page is None:
            from position_sync.ui.first_run import FirstRunPage

            page = self._page = FirstRunPage()
            self.stack.addWidget(page)
            page.start_requested.connect(self.start)
            page.test_requested.connect(self.test)
            page.demo_requested.connect(self.open_demo)
            page.settings_requested.connect(self._window.settings_requested.emit)
        return self._page

    @property
    def showing(self) -> bool:
        return self._page is not None and self.stack.currentWidget() is self._page

    def refresh(self) -> None:
        """The page while no account would sync, else the grid."""
        settings = self._settings()
        situation = setup_needed(settings)
        if situation is None:
            self._show(self.grid)
            return
        try:
            raw = read_tables(settings.path)
        except ConfigError as exc:  # the file changed under us; start from nothing, say why
            raw = {}
            situation = f"{situation} ({exc})"
        where = str(settings.path) if settings.path else "the configuration file"
        if not self.showing or raw != self._raw:  # what is typed stays, unless the file changed
            self.page.describe(situation, where, raw)
        self._raw = raw
        self._show(self.page)

    def _show(self, widget: QWidget) -> None:
        page = self._page is not None and widget is self._page
        self.stack.setCurrentWidget(widget)
        # The status bar's counts and "not synced yet" say nothing while nothing is set up.
        self._window.statusBar().setVisible(not page)
        self._idle_actions(page)
        if page:
            self.page.broker.account_id.setFocus()

    def _idle_actions(self, idle: bool) -> None:
        """The toolbar's sync and row actions have nothing to act on before an account: off,
        and their tooltips say so; back as they were once there is one."""
        for name in IDLE_ACTIONS:
            action: QAction = getattr(self._window, name)
            if idle and name not in self._put_aside:
                self._put_aside[name] = (action.isEnabled(), action.toolTip())
                action.setEnabled(False)
                action.setToolTip(f"{action.iconText()}: nothing to act on until an account is added")
            elif not idle and name in self._put_aside:
                enabled, tip = self._put_aside.pop(name)
                action.setEnabled(enabled)
                action.setToolTip(tip)

    # -- intents ---------------------------------------------------------------------------

    def _checked(self) -> tuple[Settings, dict[str, Any], dict[tuple[str, str], str]] | None:
        """The file with the new account, checked as the program would; None when refused."""
        path = self._settings().path
        try:
            account, book, secrets = self.page.collect()
            raw = with_account(self._raw, account, book)
            settings = parse_settings(raw, path)
            # The broker's own checks (a required key), before anything starts.
            check_account_options(settings.account(account["id"]))
        except ConfigError as exc:
            self.page.show_error(str(exc))
            return None
        self.page.show_error(None)
        return settings, raw, secrets

    def start(self) -> asyncio.Future[bool] | None:
        if self._busy():
            return None
        checked = self._checked()
        if checked is None:
            return None
        return self._keep(self._start(*checked))

    async def _start(
        self, settings: Settings, raw: dict[str, Any], secrets: dict[tuple[str, str], str]
    ) -> bool:
        path = settings.path
        assert path is not None
        text = tomli_w.dumps(raw)
        loop = asyncio.get_running_loop()

        async def commit() -> None:
            await loop.run_in_executor(None, _write, path, text, secrets)

        self.page.set_busy(True)
        self.page.show_result(None)
        try:
            error = await self._apply(settings, commit)
        finally:
            self.page.set_busy(False)
        if error:
            self.page.show_error(f"Not started: {error}")
            return False
        log.info("first run: %s written with account %s", path, settings.accounts[-1].id)
        self.refresh()
        self._window.show_message(f"Configuration written to {path}; syncing.", 8000)
        return True

    def test(self) -> asyncio.Future[str] | None:
        if self._busy():
            return None
        checked = self._checked()
        if checked is None:
            return None
        settings, _raw, secrets = checked
        return self._keep(self._test(settings, secrets))

    async def _test(self, settings: Settings, secrets: dict[tuple[str, str], str]) -> str:
        self.page.set_busy(True, "Testing…")
        self.page.show_result("Testing…")
        from position_sync.ui.settings_dialog import connection_report

        try:
            report = await connection_report(settings, settings.accounts[-1].id, secrets)
        finally:
            self.page.set_busy(False)
        self.page.show_result(report)
        return report

    def open_demo(self) -> None:
        problem = self._demo()
        if problem:
            self.page.show_error(f"Not opened: {problem}.")
            return
        self.page.show_result(
            "The demo opens in a window of its own (simulated broker, throw-away data); "
            "this page stays here for your own setup."
        )

    def _settings_opened(self) -> None:
        """File → Settings (or the page's button): a first file's folder must exist for its
        Save, and what it saves decides between the page and the grid."""
        path = self._settings().path
        if path is not None and not path.parent.exists():
            private_dir(path.parent)
        dialog = self._settings_dialog()
        saved = getattr(dialog, "saved", None)
        if saved is not None:
            saved.connect(lambda _settings: self.refresh())

    # -- tasks -----------------------------------------------------------------------------

    def _busy(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def _keep(self, coroutine: Any) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[Any]) -> None:
        """A failure nobody awaits goes to the loop's handler now (the window's error hook),
        not whenever the task happens to be collected."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            task.get_loop().call_exception_handler(
                {"message": "a first-run task failed", "exception": task.exception(), "future": task}
            )

    async def close(self) -> None:
        """Cancel a test or a start in flight (the window is quitting)."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _write(path: Path, text: str, secrets: dict[tuple[str, str], str]) -> None:
    """The settings dialog's write, into a folder made first (a first file's may not exist)."""
    from position_sync.ui.settings_dialog import write_config

    private_dir(path.parent)
    write_config(path, text, secrets)

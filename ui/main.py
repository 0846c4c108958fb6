"""Start the window: one asyncio loop on the Qt loop (qasync), the cached picture first.

Order matters for the trader's first second: the store's picture is loaded (no network) and
painted, then the tray appears, then the worker starts its start-up sync. With no account to
sync, the first-run page stands in front of the grid (``ui.presenters.first_run``). For the
whole run, unexpected errors go to the log file and a short dialog (``ui.error_hook``). Quit
(menu, tray, Ctrl+Q, SIGINT/SIGTERM) only sets an event; ``_main`` then cancels and awaits what
runs, closes brokers and the store, and returns, so ``qasync.run`` ends cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from position_sync.app.config import Settings
from position_sync.app.errors import ConfigError
from position_sync.app.exit_codes import ExitCode
from position_sync.app.log_file import active_log_file
from position_sync.app.runtime import Runtime, RuntimeMaker
from position_sync.app.store import StoreError
from position_sync.ui import theme
from position_sync.ui.about import AboutInfo
from position_sync.ui.controller import Controller
from position_sync.ui.error_hook import TITLE, ErrorReporter, ExceptionHooks, error_sentence, where_logged
from position_sync.ui.plain_text import message_box
from position_sync.ui.preferences import preferences
from position_sync.ui.presenters.first_run import FirstRunPresenter
from position_sync.ui.resources import icon
from position_sync.ui.responsiveness import tune_interpreter
from position_sync.ui.window import SETTINGS_APP, SETTINGS_ORG, MainWindow

log = logging.getLogger(__name__)
SCREENSHOT_SIZE = (1500, 940)


def application() -> QApplication:
    """The one ``QApplication`` (reused when a test or a benchmark made it already)."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName(SETTINGS_APP)
    app.setOrganizationName(SETTINGS_ORG)
    app.setApplicationDisplayName("Position Sync")
    app.setDesktopFileName("position-sync")
    app.setWindowIcon(icon("app"))
    app.setQuitOnLastWindowClosed(False)  # closing the window hides it to the tray
    theme.apply(app)
    tune_interpreter()
    return app


def headless() -> bool:
    return QGuiApplication.platformName() in ("offscreen", "minimal")


def run_window(
    settings: Settings, data_dir: Path, args: argparse.Namespace, make_runtime: RuntimeMaker
) -> int:
    """The window on ``settings``; ``make_runtime`` (from the entry point's wiring) builds the
    runtime now and again whenever the settings change."""
    app = application()
    try:
        runtime = make_runtime(settings)
    except (ConfigError, StoreError) as exc:
        print(f"position-sync: {exc}", file=sys.stderr)
        if not headless() and not getattr(args, "screenshot", None):
            message_box(QMessageBox.Icon.Critical, "Position Sync cannot start", str(exc)).exec()
        return ExitCode.CONFIG
    hooks = ExceptionHooks(ErrorReporter(active_log_file(), _main_window))
    hooks.install()
    try:
        result: int = qasync.run(_main(app, runtime, settings, args, make_runtime, hooks))
    except Exception as exc:
        # Out of the loop itself: logged with its traceback, and said before the process ends.
        log.critical("the window stopped on an unexpected error", exc_info=exc)
        if not headless():
            box = message_box(
                QMessageBox.Icon.Critical,
                TITLE,
                error_sentence(exc, stopped=True),
            )
            box.setInformativeText(where_logged(active_log_file()))
            box.exec()
        raise
    finally:
        hooks.uninstall()
    return result


def _main_window() -> QWidget | None:
    """The window an error dialog belongs to, once there is one."""
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow) and not widget.quitting:
            return widget
    return None


def window_title(settings: Settings, demo: bool) -> str:
    if demo:
        return "Position Sync — demo (simulated broker, throw-away data)"
    where = f" — {settings.path}" if settings.path else ""
    if settings.team.viewer:
        return f"Position Sync — viewer (the daemons' picture, no broker here){where}"
    return f"Position Sync{where}"


async def _main(
    app: QApplication,
    runtime: Runtime,
    settings: Settings,
    args: argparse.Namespace,
    make_runtime: RuntimeMaker,
    hooks: ExceptionHooks | None = None,
) -> int:
    quit_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    if hooks is not None:
        hooks.watch_loop(loop)
    demo = bool(getattr(args, "demo", False))
    screenshot: Path | None = getattr(args, "screenshot", None)
    prefs = preferences(settings)
    theme.apply(app, prefs.theme)
    window = MainWindow(window_title(settings, demo))
    window.about_info = AboutInfo.for_runtime(runtime, demo=demo)
    controller = Controller(
        runtime, window, prefs=prefs, quit_event=quit_event, make_runtime=make_runtime, demo=demo
    )
    first_run = FirstRunPresenter(
        window,
        lambda: controller.settings,
        lambda new, commit: controller.apply_settings(new, commit=commit),
        lambda: controller.settings_dialog,
        controller,
    )
    first_run.refresh()
    previous = _install_signal_handlers(loop, quit_event)
    layout = QSettings(SETTINGS_ORG, SETTINGS_APP)
    remember = remembers_layout(demo=demo, screenshot=screenshot)
    if not remember or not window.restore_layout(layout):
        window.resize(*SCREENSHOT_SIZE)
    shooter = None
    try:
        await controller.load_cached()
        window.show()
        log.info("window shown: %s (pid %d)", window.windowTitle(), os.getpid())
        controller.report_exposed()
        if screenshot is not None:
            from position_sync.ui.screenshot import ScreenshotWhenReady

            shooter = ScreenshotWhenReady(controller, screenshot, quit_event)
        await controller.start()
        await quit_event.wait()
    finally:
        if remember:
            window.save_layout(layout)
            layout.sync()
        window.quitting = True
        window.hide()
        await first_run.close()
        await controller.close()
        window.close()
        window.deleteLater()
        _restore_signal_handlers(previous)
        log.info("window closed")
    return shooter.exit_code if shooter is not None else 0


def remembers_layout(*, demo: bool, screenshot: Path | None) -> bool:
    """Only a real session keeps its window layout: a demo or a screenshot run starts at the
    standard size and leaves the user's own QSettings alone."""
    return not demo and screenshot is None


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, quit_event: asyncio.Event) -> dict[int, object]:
    """SIGINT/SIGTERM quit cleanly; Python runs the handler at the next tick of Python code."""
    previous: dict[int, object] = {}

    def handler(_signum: int, _frame: object) -> None:
        loop.call_soon_threadsafe(quit_event.set)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread (tests)
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(sig, handler)  # type: ignore[arg-type]

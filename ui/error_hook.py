"""Unexpected errors in the window: written to the log with their traceback, and said on screen.

Started from the desktop menu, the window has no terminal: an exception in a Qt slot, in a
thread or in an asyncio callback would print a traceback nobody sees, and whatever it was doing
would quietly stop. Three hooks catch what nothing else caught (``sys.excepthook``, which
PySide6 calls for an exception in a slot; ``threading.excepthook``; the window loop's exception
handler) and hand it to one reporter, which logs it (to the log file, see ``app.log_file``) and
shows a short dialog: one sentence and where the log is. Further errors while the dialog is open
are counted in it, not stacked as more dialogs. A hook that was there before (a test runner's)
still gets the error after us.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from position_sync.app.redact import mask_urls_in
from position_sync.ui.plain_text import message_box

log = logging.getLogger("position_sync.errors")
TITLE = "Position Sync: unexpected error"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def error_sentence(exc: BaseException, *, stopped: bool = False) -> str:
    """The sentence of the dialog: what failed, in its own words, first line only, URLs masked;
    and whether the program carries on (it does, unless the error ended the window's loop)."""
    lines = str(exc).strip().splitlines()
    what = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    what = mask_urls_in(what)
    if len(what) > 300:
        what = what[:299] + "…"
    after = "it stopped" if stopped else "it keeps running"
    return f"Something went wrong inside Position Sync ({what.rstrip('.')}); {after}."


def where_logged(path: Path | None) -> str:
    if path is None:
        return "The details were printed to standard error: this run writes no log file."
    return f"The details are in the log: {path}"


class ErrorReporter(QObject):
    """Logs an unexpected error and shows it; callable from any thread.

    The dialog is shown on the GUI thread: a signal emitted elsewhere is queued to it.
    """

    shown = Signal(str)  # the sentence on screen (tests)
    _report = Signal(str)

    def __init__(
        self, log_path: Path | None, parent_window: Callable[[], QWidget | None] = lambda: None
    ) -> None:
        super().__init__()
        self.log_path = log_path
        self.parent_window = parent_window
        self.box: QMessageBox | None = None
        self.more = 0
        self.reported = 0
        self._report.connect(self._show)

    def report(self, info: ExcInfo, where: str) -> None:
        self.reported += 1
        log.error("unexpected error %s", where, exc_info=info)
        self._report.emit(error_sentence(info[1]))

    def _show(self, sentence: str) -> None:
        if self.box is not None and self.box.isVisible():
            self.more += 1
            self.box.setInformativeText(
                f"{self.more} more unexpected error{'s' if self.more > 1 else ''} since. {where_logged(self.log_path)}"
            )
            return
        self.more = 0
        box = message_box(
            QMessageBox.Icon.Warning, TITLE, sentence, QMessageBox.StandardButton.Close, self.parent_window()
        )
        box.setObjectName("unexpectedError")
        box.setInformativeText(where_logged(self.log_path))
        if self.log_path is not None:
            folder = self.log_path.parent
            opener: QPushButton = box.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
            opener.setToolTip(str(folder))
            # An action button closes the box; the folder opens in the file manager.
            opener.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
        box.finished.connect(box.deleteLater)
        self.box = box
        box.open()  # not exec(): no nested event loop inside the qasync loop
        self.shown.emit(sentence)


class ExceptionHooks:
    """Installs the three hooks for one window run, and puts back what was there before."""

    def __init__(self, reporter: ErrorReporter) -> None:
        self.reporter = reporter
        self._previous_sys: Callable[..., Any] | None = None
        self._previous_thread: Callable[[threading.ExceptHookArgs], Any] | None = None
        self._loops: list[tuple[asyncio.AbstractEventLoop, Any]] = []

    def install(self) -> None:
        self._previous_sys = sys.excepthook
        self._previous_thread = threading.excepthook
        sys.excepthook = self._on_exception
        threading.excepthook = self._on_thread_exception

    def watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loops.append((loop, loop.get_exception_handler()))
        loop.set_exception_handler(self._on_loop_exception)

    def uninstall(self) -> None:
        if self._previous_sys is not None and sys.excepthook == self._on_exception:
            sys.excepthook = self._previous_sys
        if self._previous_thread is not None and threading.excepthook == self._on_thread_exception:
            threading.excepthook = self._previous_thread
        for loop, previous in self._loops:
            if not loop.is_closed():
                loop.set_exception_handler(previous)
        self._loops.clear()

    def _on_exception(
        self, kind: type[BaseException], value: BaseException, traceback: TracebackType | None
    ) -> None:
        previous = self._previous_sys or sys.__excepthook__
        if issubclass(kind, (KeyboardInterrupt, SystemExit)):
            previous(kind, value, traceback)
            return
        self.reporter.report((kind, value, traceback), "in the window")
        if previous is not sys.__excepthook__:  # the default would print it a second time
            previous(kind, value, traceback)

    def _on_thread_exception(self, args: threading.ExceptHookArgs) -> None:
        previous = self._previous_thread or threading.__excepthook__
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            previous(args)
            return
        name = args.thread.name if args.thread is not None else "?"
        self.reporter.report((args.exc_type, args.exc_value, args.exc_traceback), f"in thread {name}")
        if previous is not threading.__excepthook__:
            previous(args)

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = context.get("message") or "unhandled exception in the event loop"
        if not isinstance(exc, Exception):  # no exception (a task destroyed pending), or a cancel
            log.error("event loop: %s (%s)", message, ", ".join(f"{k}={v!r}" for k, v in context.items()))
            return
        self.reporter.report((type(exc), exc, exc.__traceback__), f"in the event loop ({message})")

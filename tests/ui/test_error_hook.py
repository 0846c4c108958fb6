"""Unexpected errors in the window: in the log file with their traceback, and said on screen."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot

from position_sync.app.log_file import install_log_file, remove_log_file
from position_sync.ui.about import AboutDialog, AboutInfo
from position_sync.ui.error_hook import ErrorReporter, ExceptionHooks, error_sentence
from tests.ui.conftest import App, run


@pytest.fixture
def log_path(tmp_path: Path) -> Iterator[Path]:
    """The log file on the root logger, as the entry point sets it up for the window."""
    root = logging.getLogger()
    level = root.level
    path = install_log_file(root, tmp_path / "log")
    assert path is not None
    yield path
    remove_log_file(root)
    root.setLevel(level)


@pytest.fixture
def hooks(qtbot: QtBot, log_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ExceptionHooks]:
    """Installed over hooks that take the test's deliberate errors (pytest-qt would fail the test
    on them, pytest's thread hook turn them into warnings): the chain to them is kept."""
    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    installed = ExceptionHooks(ErrorReporter(log_path))
    with qtbot.capture_exceptions():
        installed.install()
        yield installed
        installed.uninstall()
    box = installed.reporter.box
    if box is not None:
        box.close()


class Emitter(QObject):
    fired = Signal()


def log_text(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_an_exception_in_a_slot_is_logged_and_shown(qtbot: QtBot, log_path: Path) -> None:
    emitter = Emitter()

    def broken() -> None:
        raise ValueError("the book row had no symbol, see https://desk.example/p?token=s3cret")

    emitter.fired.connect(broken)
    with qtbot.capture_exceptions() as caught:
        hooks = ExceptionHooks(ErrorReporter(log_path))
        hooks.install()  # over the runner's hook, as the window's run installs over the default
        try:
            with qtbot.waitSignal(hooks.reporter.shown, timeout=5000):
                emitter.fired.emit()  # PySide6 hands an exception in a slot to sys.excepthook
        finally:
            hooks.uninstall()
    assert len(caught) == 1  # a hook that was there before still gets it
    box = hooks.reporter.box
    assert box is not None and box.isVisible()
    assert box.text() == (
        "Something went wrong inside Position Sync (ValueError: the book row had no symbol, see "
        "https://desk.example/p?token=***); it keeps running."
    )
    assert str(log_path) in box.informativeText()
    assert any(b.text() == "Open log folder" for b in box.buttons())
    box.close()
    text = log_text(log_path)
    assert "ERROR position_sync.errors" in text and "unexpected error in the window" in text
    assert "Traceback (most recent call last)" in text and "in broken" in text
    assert "s3cret" not in text


def test_an_exception_in_a_thread_is_logged_and_shown_on_the_gui_thread(
    qtbot: QtBot, hooks: ExceptionHooks, log_path: Path
) -> None:
    def work() -> None:
        raise RuntimeError("store thread gave up")

    with qtbot.waitSignal(hooks.reporter.shown, timeout=5000) as shown:
        thread = threading.Thread(target=work, name="position-sync-ui-store_0")
        thread.start()
        thread.join()
    assert shown.args == [
        "Something went wrong inside Position Sync (RuntimeError: store thread gave up); it keeps running."
    ]
    text = log_text(log_path)
    assert "unexpected error in thread position-sync-ui-store_0" in text and "in work" in text


def test_an_exception_in_a_loop_callback_is_logged_and_shown(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, hooks: ExceptionHooks, log_path: Path
) -> None:
    hooks.watch_loop(qloop)

    def callback() -> None:
        raise KeyError("demo-us")

    async def tick() -> None:
        qloop.call_soon(callback)
        await asyncio.sleep(0.05)

    with qtbot.waitSignal(hooks.reporter.shown, timeout=5000):
        qloop.run_until_complete(tick())
    assert "KeyError: 'demo-us'" in hooks.reporter.box.text()  # type: ignore[union-attr]
    assert "unexpected error in the event loop" in log_text(log_path)
    hooks.uninstall()
    assert qloop.get_exception_handler() is None  # the loop's handler is put back


def test_further_errors_are_counted_in_the_open_dialog_not_stacked(
    qtbot: QtBot, hooks: ExceptionHooks
) -> None:
    for number in range(3):
        try:
            raise OSError(f"disk full {number}")
        except OSError:
            sys.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: hooks.reporter.more == 2)
    box = hooks.reporter.box
    assert box is not None and "disk full 0" in box.text()
    assert box.informativeText().startswith("2 more unexpected errors since.")
    assert hooks.reporter.reported == 3


def test_uninstall_puts_back_the_hooks_that_were_there(log_path: Path) -> None:
    before_sys, before_thread = sys.excepthook, threading.excepthook
    installed = ExceptionHooks(ErrorReporter(log_path))
    installed.install()
    assert sys.excepthook != before_sys and threading.excepthook != before_thread
    installed.uninstall()
    assert sys.excepthook == before_sys and threading.excepthook == before_thread


def test_a_long_error_is_one_short_sentence() -> None:
    sentence = error_sentence(ValueError("x" * 1000 + "\nsecond line"))
    assert len(sentence) < 400 and "second line" not in sentence and sentence.endswith("it keeps running.")


def test_the_about_dialog_names_the_log_file(qtbot: QtBot, log_path: Path) -> None:
    dialog = AboutDialog(AboutInfo.defaults())
    qtbot.addWidget(dialog)
    shown = dialog.fields["logs"].text()
    assert shown.startswith(str(log_path)) and "rotated" in shown
    assert f"Logs: {log_path}" in dialog.info.as_text()


def test_without_a_log_file_the_about_dialog_says_so(qtbot: QtBot) -> None:
    dialog = AboutDialog(AboutInfo.defaults())
    qtbot.addWidget(dialog)
    assert "standard error only" in dialog.fields["logs"].text()


def test_a_window_task_that_fails_reaches_the_log_and_the_dialog(
    qtbot: QtBot, app: App, qloop: asyncio.AbstractEventLoop, hooks: ExceptionHooks, log_path: Path
) -> None:
    """A task the controller runs for the window (a resync, an acknowledgement) that raises is
    shown like any other unexpected error, not only logged."""
    hooks.watch_loop(qloop)

    async def broken() -> None:
        raise LookupError("no such row any more")

    with qtbot.waitSignal(hooks.reporter.shown, timeout=5000) as shown:
        app.controller._keep(broken())
        run(qloop, asyncio.sleep(0.05))
    assert "LookupError: no such row any more" in shown.args[0]
    assert "a window task failed" in log_text(log_path)

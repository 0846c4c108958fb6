"""Broker logins started from the window: a badge's button or Ctrl+L, run as the CLI's command.

The login itself is the adapter's (``position-sync login``, see ``ui.login``); the window only
starts it in a ``QProcess``, one per account at a time, says how it went, and syncs the
account as soon as it succeeded.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QProcess
from PySide6.QtWidgets import QInputDialog, QLineEdit

from position_sync.app.broker import LoginQuestion
from position_sync.ui.login import LoginSupport, login_support
from position_sync.ui.positions_index import Key
from position_sync.ui.presenters.context import Context
from position_sync.ui.window import MainWindow


class LoginPresenter(QObject):
    def __init__(
        self,
        window: MainWindow,
        context: Context,
        current_key: Callable[[], Key | None],
        needing_login: Callable[[], list[str]],
        parent: QObject,
    ) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self._window = window
        self._context = context
        self._current_key = current_key
        self._needing_login = needing_login
        self._processes: dict[str, QProcess] = {}
        window.login_requested.connect(self.login_selected)

    def support(self, account: str) -> LoginSupport:
        settings = self._context.settings
        try:
            return login_support(settings, settings.account(account))
        except Exception as exc:
            return LoginSupport(False, f"No login available: {exc}")

    def login_selected(self) -> None:
        """Ctrl+L: the selected row's account, else the first account that needs a login."""
        key = self._current_key()
        needing = self._needing_login()
        account = key[0] if key else (needing[0] if needing else None)
        if account is None:
            self._window.show_message("Select a row of the account to log in to.", 5000)
            return
        self.login(account)

    def login(self, account: str) -> None:
        support = self.support(account)
        if not support.possible:
            self._window.show_message(support.reason, 8000)
            return
        if account in self._processes:
            return
        answers = self._answers(account, support.questions)
        if answers is None:
            self._window.show_message(f"Login for {account} cancelled.", 5000)
            return
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.finished.connect(lambda code, _status: self._finished(account, process, code))
        self._processes[account] = process
        process.start(support.command[0], support.command[1:])
        if support.questions:
            # One answer a line, in the order the login asks; then the input ends, so a login
            # that wants more fails with its sentence instead of waiting for ever.
            process.write("".join(f"{answer}\n" for answer in answers).encode())
            process.closeWriteChannel()
        self._window.show_message(f"Login for {account} started…", 5000)

    def _answers(self, account: str, questions: tuple[LoginQuestion, ...]) -> list[str] | None:
        """The user's answers to the login's questions (None when one was cancelled)."""
        answers = []
        for question in questions:
            mode = QLineEdit.EchoMode.Password if question.secret else QLineEdit.EchoMode.Normal
            text, ok = self.ask(f"Log in to {account}", f"{question.label}:", mode)
            if not ok:
                return None
            answers.append(text.strip())
        return answers

    def ask(self, title: str, label: str, mode: QLineEdit.EchoMode) -> tuple[str, bool]:
        """One question in a modal dialog; tests replace it."""
        return QInputDialog.getText(self._window, title, label, mode)

    def stop(self) -> None:
        """At quit: no login outlives the window."""
        for process in self._processes.values():
            process.kill()

    def _finished(self, account: str, process: QProcess, code: int) -> None:
        self._processes.pop(account, None)
        output = bytes(process.readAll().data()).decode(errors="replace").strip().splitlines()
        if code == 0:
            self._window.show_message(f"Logged in to {account}; syncing it now.", 8000)
            self._context.worker.trigger(account, "login")
        else:
            last = output[-1] if output else f"exit code {code}"
            self._window.show_message(f"Login for {account} failed: {last}", 15000)
        process.deleteLater()

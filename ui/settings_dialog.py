"""Settings: accounts and books (with "Test connection"), intervals, tolerances, notifications.

The dialog edits the TOML file's tables directly and checks the result with the same
``parse_settings`` the CLI uses, so what it refuses is exactly what the program would refuse,
with the same sentence. Secrets typed here go to the keyring on save and never into the file
(the parser itself rejects a secret-looking key). Saving keeps a ``.bak`` of the previous file,
since rewriting TOML does not keep its comments.

What the dialog does not edit is never lost: every form binds its widgets to keys (see
``ui.form_bindings``), untouched widgets give back the values exactly as read, and keys without
a widget of their own are shown and kept as TOML lines. Saving runs off the UI thread (the
keyring can block on a D-Bus prompt); with an ``applier`` (the window's controller) the new
settings are first started, and the file is written only once they stand, so a refusal leaves
both the file and the running program as they were, with the reason shown here.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import tempfile
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import tomli_w
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from position_sync.app.broker import AdapterContext
from position_sync.app.config import ACCOUNT_OPTIONS, SECRET_FIELDS, Settings, parse_settings
from position_sync.app.display import event_label
from position_sync.app.errors import ConfigError, ReadError
from position_sync.app.notify_policy import NOTIFIABLE_KINDS
from position_sync.app.options import defaults_of
from position_sync.app.secrets import Secrets
from position_sync.brokers.registry import broker_defaults, broker_spec, create_adapter, known_brokers
from position_sync.ui.book_form import BookForm
from position_sync.ui.form_bindings import BoolBinding, OtherKeys, SpinBinding, Table, TextBinding, toml_lines
from position_sync.ui.plain_text import plain_label
from position_sync.ui.preferences import THEMES, Preferences, preferences

# Keys with a widget of their own on the account form; the rest are "broker options".
_ACCOUNT_FIELDS = (
    "id",
    "broker",
    "book",
    "enabled",
    "interval",
    "timeout",
    "confirm_syncs",
    "settle_seconds",
    "price_tolerance_rel",
    "price_tolerance_abs",
    "currency",
    "exchange",
)
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}

Commit = Callable[[], Awaitable[None]]
# The window's half of saving: start the new settings, call ``commit`` (which writes the file)
# once they stand, and return None, or the one sentence saying why they could not be started.
Applier = Callable[[Settings, Commit], Awaitable[str | None]]


class PendingSecrets(Secrets):
    """Secrets typed in the dialog, used by "Test connection" before they reach the keyring."""

    def __init__(self, pending: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self.pending = pending

    def get(self, owner: str, options: dict[str, Any], name: str) -> str | None:
        return self.pending.get((owner, name)) or super().get(owner, options, name)


class SaveError(Exception):
    """Writing the file or the keyring failed; the message is the sentence shown."""


def write_config(path: Path, text: str, secrets: dict[tuple[str, str], str]) -> None:
    """Blocking (a keyring may wait on a D-Bus unlock prompt): run it off the UI thread.

    Secrets first, so a keyring that refuses leaves the file untouched; then a .bak and an
    atomic replace of the file.
    """
    store = Secrets()
    for (owner, name), value in secrets.items():
        try:
            store.store(owner, name, value)
        except Exception as exc:
            raise SaveError(f"the keyring refused the secret {owner}:{name}: {exc}") from None
    try:
        if path.exists():
            path.with_suffix(path.suffix + ".bak").write_text(
                path.read_text(encoding="utf-8"), encoding="utf-8"
            )
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise SaveError(f"{path} could not be written: {exc}") from None


class SettingsDialog(QDialog):
    """Emits ``saved(Settings)`` once the file was written (and applied); stays open on refusal."""

    saved = Signal(object)

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        *,
        read_only: bool = False,
        parent: QWidget | None = None,
        applier: Applier | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Position Sync settings")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.path = settings.path
        self.data_dir = data_dir
        self.read_only = read_only
        self.applier = applier
        raw: dict[str, Any] = {}
        if self.path is not None and self.path.exists():
            raw = tomllib.loads(self.path.read_text(encoding="utf-8"))
        self.raw = raw
        self.accounts: list[dict[str, Any]] = copy.deepcopy(raw.get("accounts", []))
        self.books: list[dict[str, Any]] = copy.deepcopy(raw.get("books", []))
        self.pending_secrets: dict[tuple[str, str], str] = {}
        self._account_row = -1
        self._book_row = -1
        self._test_task: asyncio.Future[None] | None = None
        self._save_task: asyncio.Future[bool] | None = None
        self.prefs = preferences(settings)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._accounts_tab(), "Accounts")
        self.tabs.addTab(self._books_tab(), "Books")
        self.tabs.addTab(self._general_tab(self.prefs), "Notifications and window")
        self.error = plain_label()  # config errors quote the values they refuse
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #D1362F; font-weight: bold;")
        self.error.hide()
        note = plain_label(
            f"Writes {self.path} (the previous file is kept as .bak; comments are not kept). "
            "Secrets go to the system keyring, never into the file."
        )
        note.setWordWrap(True)
        note.setVisible(not read_only)
        note.setStyleSheet("color: palette(placeholder-text);")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setToolTip("Check, start and write the configuration (Ctrl+S)")
        save.setShortcut("Ctrl+S")
        # Why Save is off, beside it: a greyed button alone reads as broken.
        self.save_reason = plain_label(
            "Save is off: the demo's configuration is built in and thrown away at quit. "
            "To keep settings, run position-sync with your own --config FILE."
        )
        self.save_reason.setWordWrap(True)
        self.save_reason.setStyleSheet("font-weight: bold;")
        self.save_reason.setVisible(read_only)
        if read_only:
            save.setEnabled(False)
            save.setToolTip(
                "The demo's configuration is built in; run position-sync with your own --config to edit one"
            )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_reason, 1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error)
        layout.addWidget(note)
        layout.addLayout(bottom)
        self.resize(820, 640)
        self.account_list.setCurrentRow(0 if self.accounts else -1)
        self.book_list.setCurrentRow(0 if self.books else -1)
        self._refresh_enabled()

    # -- accounts --------------------------------------------------------------------------

    def _accounts_tab(self) -> QWidget:
        self.account_list = QListWidget()
        for account in self.accounts:
            self.account_list.addItem(str(account.get("id", "")))
        self.a_id = QLineEdit()
        self.a_broker = QComboBox()
        for name in known_brokers():
            self.a_broker.addItem(name, name)
        self.a_book = QComboBox()
        self.a_enabled = QCheckBox("Sync this account")
        self.a_interval = QDoubleSpinBox()
        self.a_interval.setRange(0.1, 86400)  # the parser's own limit is "above 0"
        self.a_interval.setSuffix(" s")
        self.a_timeout = QDoubleSpinBox()
        self.a_timeout.setRange(0.1, 3600)
        self.a_timeout.setSuffix(" s")
        self.a_confirm = QSpinBox()
        self.a_confirm.setRange(1, 20)
        self.a_settle = QDoubleSpinBox()
        self.a_settle.setRange(0, 3600)
        self.a_settle.setSuffix(" s")
        self.a_tol_rel = QLineEdit()
        self.a_tol_rel.setPlaceholderText("0.001 (0.1 %)")
        self.a_tol_abs = QLineEdit()
        self.a_tol_abs.setPlaceholderText("0.01")
        self.a_currency = QLineEdit()
        self.a_currency.setPlaceholderText("INR, USD…")
        self.a_exchange = QLineEdit()
        self.a_exchange.setPlaceholderText("NFO, NSE, SMART…")
        self.a_options = QPlainTextEdit()
        self.a_options.setPlaceholderText(
            'Broker options as TOML lines, e.g.\napi_key = "abc123"\nhost = "127.0.0.1"'
        )
        self.a_options.setMaximumHeight(90)
        self._account_bindings = [
            BoolBinding("enabled", self.a_enabled, default=True),
            SpinBinding("interval", self.a_interval),
            SpinBinding("timeout", self.a_timeout),
            SpinBinding("confirm_syncs", self.a_confirm),
            SpinBinding("settle_seconds", self.a_settle),
            TextBinding("price_tolerance_rel", self.a_tol_rel),
            TextBinding("price_tolerance_abs", self.a_tol_abs),
            TextBinding("currency", self.a_currency),
            TextBinding("exchange", self.a_exchange),
        ]
        self._account_other = OtherKeys(self.a_options)
        declared = {option.key: option for option in ACCOUNT_OPTIONS}
        for binding in self._account_bindings:
            widget = getattr(binding, "widget", None)
            if isinstance(widget, QWidget) and binding.key in declared:
                widget.setToolTip(declared[binding.key].sentence)
        self.a_broker.currentIndexChanged.connect(
            lambda _: self._describe_broker_options(str(self.a_broker.currentData()))
        )
        self.a_secret_name = QComboBox()
        self.a_secret_name.addItems(sorted(SECRET_FIELDS))
        self.a_secret_value = QLineEdit()
        self.a_secret_value.setEchoMode(QLineEdit.EchoMode.Password)
        self.a_secret_value.setPlaceholderText("stored in the keyring on Save")
        secret_row = QHBoxLayout()
        secret_row.addWidget(self.a_secret_name)
        secret_row.addWidget(self.a_secret_value, 1)
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Read the broker and the book once with these settings (Alt+T)")
        self.test_button.setShortcut("Alt+T")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = plain_label()  # a broker's or a book's own error sentence
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Id", self.a_id)
        form.addRow("Broker", self.a_broker)
        form.addRow("Book", self.a_book)
        form.addRow("", self.a_enabled)
        form.addRow("Sync interval", self.a_interval)
        form.addRow("Timeout", self.a_timeout)
        form.addRow("Confirm after syncs", self.a_confirm)
        form.addRow("Book settle time", self.a_settle)
        form.addRow("Price tolerance (relative)", self.a_tol_rel)
        form.addRow("Price tolerance (absolute)", self.a_tol_abs)
        form.addRow("Currency", self.a_currency)
        form.addRow("Default exchange", self.a_exchange)
        form.addRow("Broker options", self.a_options)
        form.addRow("Secret", secret_row)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        self.account_form = QGroupBox("Account")
        self.account_form.setLayout(form)
        self.account_list.currentRowChanged.connect(self._account_selected)
        return _list_and_form(
            self.account_list,
            self.account_form,
            "account",
            ("Alt+A", "Alt+R"),
            self.add_account,
            self.remove_account,
        )

    def _account_selected(self, row: int) -> None:
        with contextlib.suppress(ConfigError):
            self._commit_account()
        with contextlib.suppress(ConfigError):
            self._commit_book()  # a book just added or renamed must be among the choices
        self._account_row = row
        self._refresh_book_choices()
        enabled = 0 <= row < len(self.accounts)
        self.account_form.setEnabled(enabled)
        if not enabled:
            return
        entry = self.accounts[row]
        broker = str(entry.get("broker", "simulated"))
        defaults: Table = defaults_of(ACCOUNT_OPTIONS)
        with contextlib.suppress(KeyError):
            defaults.update(broker_defaults(broker))
        merged = {**defaults, **entry}
        self._describe_broker_options(broker)
        self.a_id.setText(str(entry.get("id", "")))
        index = self.a_broker.findData(broker)
        if index < 0:  # a broker this build does not know: shown as written, for the parser to judge
            self.a_broker.addItem(broker, broker)
            index = self.a_broker.count() - 1
        self.a_broker.setCurrentIndex(index)
        self.a_book.setCurrentText(str(entry.get("book", "")))
        for binding in self._account_bindings:
            binding.load(merged if isinstance(binding, SpinBinding) else entry)
        self._account_other.load_rest(entry, _ACCOUNT_FIELDS)
        self.a_secret_value.clear()
        self.test_result.clear()

    def _describe_broker_options(self, broker: str) -> None:
        """The options box shows the broker's declared keys: an example of each as its
        placeholder, and each key's type, default and meaning as its tooltip."""
        try:
            spec = broker_spec(broker)
        except KeyError:
            self.a_options.setPlaceholderText("Broker options as TOML lines")
            self.a_options.setToolTip("")
            return
        examples = [
            toml_lines({o.key: o.example or o.default}).strip()
            for o in spec.options
            if o.example or o.default
        ]
        self.a_options.setPlaceholderText(f"{spec.title} options as TOML lines, e.g.\n" + "\n".join(examples))
        self.a_options.setToolTip(
            "\n".join(
                f"{o.key} ({o.type_name}{', required' if o.required else ''}): {o.help}" for o in spec.options
            )
        )

    def _commit_account(self) -> None:
        """Write the form back into its table; untouched values exactly as they were read."""
        row = self._account_row
        if not 0 <= row < len(self.accounts):
            return
        old = self.accounts[row]
        where = f"accounts[{row}]"
        entry: Table = {
            "id": self.a_id.text().strip(),
            "broker": self.a_broker.currentData() or self.a_broker.currentText(),
            "book": self.a_book.currentText(),
        }
        for binding in self._account_bindings:
            binding.commit(old, entry, where)
        self._account_other.commit(old, entry, f"{where} broker options")
        self.accounts[row] = entry
        item = self.account_list.item(row)
        if item is not None:
            item.setText(entry["id"])
        secret = self.a_secret_value.text()
        if secret:
            self.pending_secrets[(entry["id"], self.a_secret_name.currentText())] = secret

    def add_account(self) -> None:
        with contextlib.suppress(ConfigError):
            self._commit_account()
        book = str(self.books[0].get("id", "")) if self.books else ""
        number = len(self.accounts) + 1
        self.accounts.append({"id": f"account{number}", "broker": "simulated", "book": book})
        self.account_list.addItem(f"account{number}")
        self.account_list.setCurrentRow(len(self.accounts) - 1)
        self._refresh_enabled()

    def remove_account(self) -> None:
        row = self.account_list.currentRow()
        if 0 <= row < len(self.accounts):
            self._account_row = -1
            del self.accounts[row]
            self.account_list.takeItem(row)
            self._account_selected(self.account_list.currentRow())
        self._refresh_enabled()

    # -- books -----------------------------------------------------------------------------

    def _books_tab(self) -> QWidget:
        self.book_list = QListWidget()
        for book in self.books:
            self.book_list.addItem(str(book.get("id", "")))
        self.book_form = BookForm()
        if self.path is not None:
            self.book_form.base_dir = self.path.parent
        self.book_list.currentRowChanged.connect(self._book_selected)
        return _list_and_form(
            self.book_list, self.book_form, "book", ("Alt+B", "Alt+E"), self.add_book, self.remove_book
        )

    def _book_selected(self, row: int) -> None:
        with contextlib.suppress(ConfigError):
            self._commit_book()
        self._book_row = row
        enabled = 0 <= row < len(self.books)
        self.book_form.setEnabled(enabled)
        if enabled:
            self.book_form.load(self.books[row])

    def _commit_book(self) -> None:
        row = self._book_row
        if not 0 <= row < len(self.books):
            return
        old = self.books[row]
        entry = self.book_form.commit(f"books[{row}]")
        renamed = old.get("id")
        self.books[row] = entry
        if renamed and renamed != entry["id"]:
            for account in self.accounts:
                if account.get("book") == renamed:
                    account["book"] = entry["id"]
        secret = self.book_form.secret()
        if secret is not None:
            self.pending_secrets[(entry["id"], secret[0])] = secret[1]
        item = self.book_list.item(row)
        if item is not None:
            item.setText(entry["id"])
        self._refresh_book_choices()

    def add_book(self) -> None:
        with contextlib.suppress(ConfigError):
            self._commit_book()
        number = len(self.books) + 1
        self.books.append({"id": f"book{number}", "kind": "file", "path": ""})
        self.book_list.addItem(f"book{number}")
        self.book_list.setCurrentRow(len(self.books) - 1)
        self._refresh_book_choices()

    def remove_book(self) -> None:
        row = self.book_list.currentRow()
        if 0 <= row < len(self.books):
            self._book_row = -1
            del self.books[row]
            self.book_list.takeItem(row)
            self._book_selected(self.book_list.currentRow())
        self._refresh_book_choices()

    def _refresh_book_choices(self) -> None:
        current = self.a_book.currentText() if hasattr(self, "a_book") else ""
        if 0 <= self._account_row < len(self.accounts):
            current = str(self.accounts[self._account_row].get("book", current))
        self.a_book.blockSignals(True)
        self.a_book.clear()
        self.a_book.addItems([str(b.get("id", "")) for b in self.books])
        self.a_book.setCurrentText(current)
        self.a_book.blockSignals(False)

    # -- general ---------------------------------------------------------------------------

    def _general_tab(self, prefs: Preferences) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        group = QGroupBox("Notify me about")
        inner = QVBoxLayout(group)
        self.notify_boxes: dict[str, QCheckBox] = {}
        for kind in NOTIFIABLE_KINDS:
            box = QCheckBox(event_label(kind))
            box.setChecked(kind in prefs.notify)
            self.notify_boxes[kind.value] = box
            inner.addWidget(box)
        layout.addWidget(group)
        self.close_to_tray = QCheckBox("Closing the window hides it to the tray (Quit with Ctrl+Q)")
        self.close_to_tray.setChecked(prefs.close_to_tray)
        layout.addWidget(self.close_to_tray)
        theme_row = QHBoxLayout()
        theme_row.addWidget(QLabel("Colours"))
        self.theme = QComboBox()
        for name in THEMES:
            self.theme.addItem(THEME_LABELS[name], name)
        self.theme.setCurrentIndex(max(self.theme.findData(prefs.theme), 0))
        self.theme.setToolTip(
            "Light or dark palette; 'Follow the system' uses the desktop's choice where it reports one"
        )
        theme_row.addWidget(self.theme)
        theme_row.addStretch(1)
        layout.addLayout(theme_row)
        layout.addStretch(1)
        return page

    def _ui_table(self) -> Table:
        """The [ui] table: keys the user changed, or that the file had, and nothing else."""
        old = self.raw.get("ui")
        ui: Table = dict(old) if isinstance(old, dict) else {}
        chosen = {k for k, box in self.notify_boxes.items() if box.isChecked()}
        values: dict[str, tuple[Any, Any]] = {
            "close_to_tray": (self.close_to_tray.isChecked(), self.prefs.close_to_tray),
            "theme": (self.theme.currentData(), self.prefs.theme),
            "notify": (chosen, {k.value for k in self.prefs.notify}),
        }
        for key, (now, loaded) in values.items():
            if now != loaded:  # otherwise as the file has it, or absent as it was
                ui[key] = [k for k in self.notify_boxes if k in now] if key == "notify" else now
        return ui

    # -- checking and saving ---------------------------------------------------------------

    def _refresh_enabled(self) -> None:
        self.account_form.setEnabled(0 <= self.account_list.currentRow() < len(self.accounts))
        self.book_form.setEnabled(0 <= self.book_list.currentRow() < len(self.books))

    def collect(self) -> dict[str, Any]:
        """The whole file as it would be written; ``ConfigError`` for unparsable lines."""
        self._commit_account()
        self._commit_book()
        raw = {k: v for k, v in self.raw.items() if k not in ("accounts", "books", "ui")}
        ui = self._ui_table()
        if ui:
            raw["ui"] = ui
        raw["books"] = self.books
        raw["accounts"] = self.accounts
        return raw

    def check(self) -> Settings | None:
        """Parse as the program would; show the refusal and return None when it is refused."""
        try:
            raw = self.collect()
            settings = parse_settings(raw, self.path)
        except ConfigError as exc:
            self.show_error(str(exc))
            return None
        self.show_error(None)
        return settings

    def show_error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    def saving(self) -> bool:
        return self._save_task is not None and not self._save_task.done()

    def save(self) -> asyncio.Future[bool] | None:
        """Check at once; write (and apply) off the UI thread. Returns the task, if one started."""
        if self.read_only or self.path is None or self.saving():
            return None
        settings = self.check()
        if settings is None:
            return None
        self._save_task = asyncio.ensure_future(self.save_checked(settings, tomli_w.dumps(self.collect())))
        return self._save_task

    async def save_checked(self, settings: Settings, text: str) -> bool:
        """Apply and write checked settings; True once saved (the dialog then closes)."""
        assert self.path is not None
        path = self.path
        secrets = dict(self.pending_secrets)
        loop = asyncio.get_running_loop()

        async def commit() -> None:
            await loop.run_in_executor(None, write_config, path, text, secrets)

        self._busy(True)
        try:
            if self.applier is not None:
                error = await self.applier(settings, commit)
            else:
                try:
                    await commit()
                    error = None
                except SaveError as exc:
                    error = str(exc)
        finally:
            self._busy(False)
        if error:
            # Built first, written after: a refusal left the file and the running program as
            # they were, and says so.
            self.show_error(f"Not saved: {error}")
            return False
        self.pending_secrets.clear()
        self.a_secret_value.clear()
        self.book_form.clear_secret()
        self.saved.emit(settings)
        self.accept()
        return True

    def _busy(self, busy: bool) -> None:
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setEnabled(not busy and not self.read_only)
        save.setText("Saving…" if busy else "Save")
        if busy:
            self.show_error(None)

    def test_connection(self) -> None:
        if self._test_task is not None and not self._test_task.done():
            return
        settings = self.check()
        row = self.account_list.currentRow()
        if settings is None or not 0 <= row < len(self.accounts):
            return
        account_id = self.accounts[row]["id"]
        self.test_result.setText("Testing…")
        self.test_button.setEnabled(False)
        self._test_task = asyncio.ensure_future(self._test(settings, account_id))

    async def _test(self, settings: Settings, account_id: str) -> None:
        try:
            self.test_result.setText(await connection_report(settings, account_id, self.pending_secrets))
        finally:
            self.test_button.setEnabled(True)


async def connection_report(settings: Settings, account_id: str, pending: dict[tuple[str, str], str]) -> str:
    """One sentence on reading the broker and the book once (in a scratch data directory)."""
    from position_sync.app.books import open_book

    account = settings.account(account_id)
    secrets = PendingSecrets(pending)
    parts = []
    with tempfile.TemporaryDirectory(prefix="position-sync-test-") as scratch:
        try:
            adapter = create_adapter(account, AdapterContext(Path(scratch), secrets))
            try:
                snapshot = await asyncio.wait_for(adapter.fetch(), timeout=account.timeout)
                held = sum(1 for p in snapshot.positions if p.quantity)
                parts.append(f"Broker: connected, {held} open position(s).")
            finally:
                await adapter.close()
        except (ReadError, ConfigError) as exc:
            parts.append(f"Broker: {exc}")
        except TimeoutError:
            parts.append(f"Broker: no answer within {account.timeout:g} s.")
        except Exception as exc:
            parts.append(f"Broker: failed ({exc.__class__.__name__}: {exc}).")
        try:
            book = open_book(settings.books[account.book], secrets, settings.path)
            loop = asyncio.get_running_loop()
            snapshot_book = await loop.run_in_executor(None, book.read, account.book_account or account.id)
            parts.append(f"Book: read, {len(snapshot_book.positions)} position(s).")
        except (ReadError, ConfigError) as exc:
            parts.append(f"Book: {exc}")
        except Exception as exc:
            parts.append(f"Book: failed ({exc.__class__.__name__}: {exc}).")
    return " ".join(parts)


def _list_and_form(
    items: QListWidget,
    form: QWidget,
    noun: str,
    keys: tuple[str, str],
    on_add: Callable[[], None],
    on_remove: Callable[[], None],
) -> QWidget:
    """A tab of the dialog: the list with Add and Remove under it, the selected entry's form beside."""
    add = QPushButton("Add")
    add.setToolTip(f"Add {'an' if noun[0] in 'aeiou' else 'a'} {noun} ({keys[0]})")
    add.setShortcut(keys[0])
    remove = QPushButton("Remove")
    remove.setToolTip(f"Remove the selected {noun} ({keys[1]})")
    remove.setShortcut(keys[1])
    add.clicked.connect(on_add)
    remove.clicked.connect(on_remove)
    left = QVBoxLayout()
    left.addWidget(items)
    buttons = QHBoxLayout()
    buttons.addWidget(add)
    buttons.addWidget(remove)
    left.addLayout(buttons)
    page = QWidget()
    layout = QHBoxLayout(page)
    layout.addLayout(left, 1)
    layout.addWidget(form, 3)
    return page

"""The first-run page: shown instead of the positions grid while no account would sync.

A first launch (no config file) or a file without an enabled account used to give an empty grid
that read "all matching", or, started from the menu, nothing at all. This page says what is
missing and offers the three ways on: add an account (at any broker of the registry: its title
and declared options come from its ``SPEC``, so a broker added later appears here by itself),
point it at a book (the settings dialog's book form: a JSON or CSV file with a Browse button, or
any book kind of ``app.books.kinds``), or open the demo first. The page only collects; what
happens on "Start" (check, apply, write) is its presenter's (``ui.presenters.first_run``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from position_sync.app.config import SECRET_FIELDS
from position_sync.app.first_run import Table, unique_id
from position_sync.app.options import Option, key_label
from position_sync.brokers.registry import broker_spec, known_brokers
from position_sync.ui.book_form import BookForm
from position_sync.ui.form_bindings import Binding
from position_sync.ui.option_widgets import option_row
from position_sync.ui.plain_text import plain_label
from position_sync.ui.resources import icon

NEW_BOOK = ""  # the "use a book" choice that means the form below
WELCOME = "Welcome to Position Sync"
NOTHING_TO_SYNC = "Nothing to sync yet"
PITCH = (
    "It puts the positions your broker holds next to the ones your trading system's book says "
    "it holds, and shows every difference. Tell it where both are, or look at the demo first."
)


def secret_of(option: Option) -> str | None:
    """The secret an ``X_env`` option names a variable for (``api_secret_env``: ``api_secret``)."""
    stem = option.key.removesuffix("_env")
    return stem if option.key.endswith("_env") and stem in SECRET_FIELDS else None


def _muted(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


class BrokerForm(QGroupBox):
    """Step 1: the broker (by its title) and its declared options; secrets go to the keyring.

    A broker's ``X_env`` option (a variable holding a secret) is offered here as the secret
    itself, stored in the keyring on Start: the simple way for a desktop; the variable stays
    available in Settings.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("1 · Your broker account", parent)
        self.setObjectName("firstRunBroker")
        self.broker = QComboBox()
        self.broker.setToolTip("Where the account is; every broker Position Sync can read")
        self.account_id = QLineEdit()
        self.account_id.setToolTip("The account's name in the window, the command line and the store")
        self.form = QFormLayout(self)
        self.form.addRow("Broker", self.broker)
        self.form.addRow("Account name", self.account_id)
        self.rows: dict[str, list[QWidget]] = {}
        self.bindings: dict[str, list[Binding]] = {}
        self.secrets: dict[str, dict[str, QLineEdit]] = {}
        self.titles: dict[str, str] = {}
        for name in known_brokers():
            self._add_broker(name)
        self.note = _muted(plain_label())
        self.form.addRow(self.note)
        self._suggested = ""
        self.taken: set[str] = set()
        self.broker.currentIndexChanged.connect(lambda _: self._broker_selected())
        self._broker_selected()

    def _add_broker(self, name: str) -> None:
        spec = broker_spec(name)
        self.titles[name] = spec.title
        self.broker.addItem(spec.title, name)
        rows: list[QWidget] = []
        bindings: list[Binding] = []
        secrets: dict[str, QLineEdit] = {}
        for option in spec.options:
            secret = secret_of(option)
            if secret is not None:
                field = QLineEdit()
                field.setEchoMode(QLineEdit.EchoMode.Password)
                field.setPlaceholderText("optional: kept in the system keyring, never in the file")
                field.setToolTip(f"{option.sentence}; typed here it goes to the keyring")
                field.setObjectName(f"secret_{name}_{secret}")
                self.form.addRow(key_label(secret), field)
                secrets[secret] = field
                rows.append(field)
                continue
            row = option_row(option)
            row.editor.setObjectName(f"option_{name}_{option.key}")
            row.binding.load({})
            label = option.title
            self.form.addRow(f"{label} *" if option.required else label, row.editor)
            rows.append(row.editor)
            bindings.append(row.binding)
        self.rows[name] = rows
        self.bindings[name] = bindings
        self.secrets[name] = secrets

    def current(self) -> str:
        return str(self.broker.currentData())

    def choose(self, name: str) -> None:
        index = self.broker.findData(name)
        if index >= 0:
            self.broker.setCurrentIndex(index)

    def _broker_selected(self) -> None:
        name = self.current()
        for broker, rows in self.rows.items():
            for widget in rows:
                self.form.setRowVisible(widget, broker == name)
        spec = broker_spec(name)
        notes = ["* required."] if any(o.required for o in spec.options) else []
        if spec.login is not None:
            notes.append("Its sessions expire daily: once it is added, log in with File → Log in (Ctrl+L).")
        self.note.setText(" ".join(notes))
        if self.account_id.text().strip() in ("", self._suggested):
            self._suggested = unique_id(name, self.taken)
            self.account_id.setText(self._suggested)

    def use_taken(self, taken: set[str]) -> None:
        """Ids already in the file: the suggested name avoids them."""
        self.taken = taken
        self._broker_selected()

    def table(self, book: str) -> Table:
        """The ``[[accounts]]`` table; ``ConfigError`` for a value that does not parse."""
        name = self.current()
        entry: Table = {"id": self.account_id.text().strip(), "broker": name, "book": book}
        for binding in self.bindings[name]:
            binding.commit({}, entry, "the new account")
        return entry

    def typed_secrets(self) -> dict[str, str]:
        return {key: field.text() for key, field in self.secrets[self.current()].items() if field.text()}


class BookChoice(QGroupBox):
    """Step 2: a book already in the file, or a new one in the settings dialog's book form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("2 · Your trading system's book", parent)
        self.setObjectName("firstRunBook")
        intro = _muted(
            plain_label(
                "What your trading system believes it holds: a JSON or CSV file it writes, a table "
                "in its database, or an HTTP endpoint."
            )
        )
        self.existing = QComboBox()
        self.existing.setToolTip("A book the configuration already has, or a new one")
        self.existing_row = QWidget()
        row = QHBoxLayout(self.existing_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Use"))
        row.addWidget(self.existing, 1)
        self.form = BookForm()
        self.form.setObjectName("firstRunBookForm")
        self.form.setTitle("")
        self.form.setStyleSheet("QGroupBox#firstRunBookForm { border: none; margin: 0; padding: 0; }")
        self.form.form.setContentsMargins(0, 0, 0, 0)
        self.form.form.setRowVisible(self.form.other, False)  # the rest waits for Settings
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.existing_row)
        layout.addWidget(self.form)
        layout.addStretch(1)
        self.existing.currentIndexChanged.connect(lambda _: self._existing_selected())

    def offer(self, books: list[Table], taken: set[str]) -> None:
        """The file's books to choose from (the row hides when there are none), and a fresh form."""
        self.existing.blockSignals(True)
        self.existing.clear()
        for book in books:
            label = (
                f"{book.get('id')} ({book.get('kind', 'file')}: {book.get('path') or book.get('url') or '?'})"
            )
            self.existing.addItem(label, str(book.get("id")))
        self.existing.addItem("A new book (below)", NEW_BOOK)
        self.existing.blockSignals(False)
        self.existing_row.setVisible(bool(books))
        self.form.load({"id": unique_id("book", taken, "book"), "kind": "file", "path": ""})
        self._existing_selected()

    def chosen(self) -> str:
        return str(self.existing.currentData() or NEW_BOOK)

    def _existing_selected(self) -> None:
        self.form.setVisible(self.chosen() == NEW_BOOK)

    def table(self) -> Table | None:
        """The new ``[[books]]`` table, or None when a book of the file was chosen."""
        return self.form.commit("the new book") if self.chosen() == NEW_BOOK else None

    def book_id(self) -> str:
        chosen = self.chosen()
        return chosen if chosen != NEW_BOOK else self.form.id.text().strip()


class FirstRunPage(QScrollArea):
    """The page: what is missing, the two steps, and Start, Test and the demo.

    Its intents are signals; the presenter answers them and calls ``show_error``,
    ``show_result`` and ``set_busy`` back.
    """

    start_requested = Signal()
    test_requested = Signal()
    demo_requested = Signal()
    settings_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunPage")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("firstRunBody")
        body.setMaximumWidth(1180)

        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(56, 56))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        pitch = plain_label(PITCH)
        pitch.setWordWrap(True)
        self.situation = plain_label()  # names the config file: a path, shown as it is
        self.situation.setObjectName("firstRunSituation")
        self.situation.setWordWrap(True)
        self.situation.setStyleSheet("font-weight: bold;")
        words = QVBoxLayout()
        words.setSpacing(4)
        words.addWidget(self.title)
        words.addWidget(pitch)
        words.addWidget(self.situation)
        head = QHBoxLayout()
        head.addWidget(logo)
        head.addLayout(words, 1)

        self.broker = BrokerForm()
        self.book = BookChoice()
        for group in (self.broker, self.book):
            group.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        steps = QHBoxLayout()
        steps.setSpacing(12)
        steps.addWidget(self.broker, 1, Qt.AlignmentFlag.AlignTop)
        steps.addWidget(self.book, 1, Qt.AlignmentFlag.AlignTop)

        self.error = plain_label()  # config errors quote the values they refuse
        self.error.setObjectName("firstRunError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #D1362F; font-weight: bold;")
        self.error.hide()
        self.result = plain_label()  # a broker's or a book's own sentence
        self.result.setObjectName("firstRunResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result.hide()

        self.demo = QPushButton(icon("resume"), "Open the demo")
        self.demo.setToolTip(
            "The demo in a window of its own: a simulated broker walking through every status, "
            "in a throw-away folder (Alt+D)"
        )
        self.demo.setShortcut("Alt+D")
        self.settings = QPushButton("Settings…")
        self.settings.setToolTip("Every setting, including intervals, tolerances and notifications (Ctrl+,)")
        self.test = QPushButton("Test connection")
        self.test.setToolTip("Read the broker and the book once with these settings, writing nothing (Alt+T)")
        self.test.setShortcut("Alt+T")
        self.start = QPushButton(icon("resync"), "Add account and start")
        self.start.setObjectName("firstRunStart")
        self.start.setDefault(True)
        self.start.setToolTip("Check, write the configuration and start syncing (Ctrl+Return)")
        self.start.setShortcut("Ctrl+Return")
        buttons = QHBoxLayout()
        buttons.addWidget(self.demo)
        buttons.addWidget(self.settings)
        buttons.addStretch(1)
        buttons.addWidget(self.test)
        buttons.addWidget(self.start)
        self.where = _muted(plain_label())
        self.where.setObjectName("firstRunWhere")

        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(12)
        layout.addLayout(head)
        layout.addLayout(steps)
        layout.addWidget(self.error)
        layout.addWidget(self.result)
        layout.addLayout(buttons)
        layout.addWidget(self.where)
        layout.addStretch(1)
        outer = QWidget()
        centred = QHBoxLayout(outer)
        centred.setContentsMargins(0, 0, 0, 0)
        centred.addWidget(body, 1)
        self.setWidget(outer)

        self.start.clicked.connect(lambda: self.start_requested.emit())
        self.test.clicked.connect(lambda: self.test_requested.emit())
        self.demo.clicked.connect(lambda: self.demo_requested.emit())
        self.settings.clicked.connect(lambda: self.settings_requested.emit())

    def describe(self, situation: str, where: str, raw: Table) -> None:
        """What is missing, where it will be written, and the file's own ids and books."""
        accounts = [a for a in raw.get("accounts", []) if isinstance(a, dict)]
        books = [b for b in raw.get("books", []) if isinstance(b, dict)]
        # A first launch is welcomed; a file that is there but syncs nothing is named for what it is.
        self.title.setText(f"<h2 style='margin:0'>{WELCOME if not raw else NOTHING_TO_SYNC}</h2>")
        if accounts:
            self.situation.setText(f"{situation} Enable one in Settings (Ctrl+,), or add one here.")
        else:
            self.situation.setText(f"{situation} Add an account to start.")
        self.where.setText(
            f"Start writes {where} (an existing file is kept as .bak). Everything here, and more "
            "(intervals, tolerances, notifications), can be changed later in File → Settings (Ctrl+,)."
        )
        self.broker.use_taken({str(a.get("id")) for a in accounts})
        self.book.offer(books, {str(b.get("id")) for b in books})
        self.show_error(None)
        self.show_result(None)

    def show_error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    def show_result(self, text: str | None) -> None:
        self.result.setText(text or "")
        self.result.setVisible(bool(text))

    def set_busy(self, busy: bool, what: str = "Starting…") -> None:
        self.start.setEnabled(not busy)
        self.test.setEnabled(not busy)
        self.start.setText(what if busy else "Add account and start")

    def collect(self) -> tuple[Table, Table | None, dict[tuple[str, str], str]]:
        """(account, new book or None, secrets by (owner, name)); ``ConfigError`` for bad lines."""
        book = self.book.table()
        account = self.broker.table(self.book.book_id())
        secrets = {(account["id"], name): value for name, value in self.broker.typed_secrets().items()}
        book_secret = self.book.form.secret() if book is not None else None
        if book is not None and book_secret is not None:
            secrets[(book["id"], book_secret[0])] = book_secret[1]
        return account, book, secrets

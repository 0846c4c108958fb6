"""The form of one ``[[books]]`` table: file, SQL or HTTP, each with the keys its reader takes.

Which keys exist is decided by the readers (``app.books.file``, ``app.books.sql``,
``app.books.http``) and documented in the README's ``[[books]]`` section; this form shows each
kind's keys on a page of its own and everything else under "Other settings", so a book written
by hand survives the dialog untouched. Secrets (a database password, a bearer token) are typed
here but go to the keyring on save, under the book's id, where the readers look for them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from position_sync.ui.form_bindings import (
    Binding,
    BoolBinding,
    ChoiceBinding,
    NumberBinding,
    OtherKeys,
    Table,
    TableBinding,
    TextBinding,
)

KINDS = ("file", "sql", "http")
KIND_LABELS = {
    "file": "file (JSON or CSV)",
    "sql": "SQL table or query",
    "http": "HTTP endpoint (JSON)",
}
# The secret each kind may need, by the name its reader asks the keyring for.
SECRET_OF_KIND = {"sql": "password", "http": "token"}
COMMON_KEYS = ("id", "kind", "fields")


def _line(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    return edit


def _text(placeholder: str, height: int = 70) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setPlaceholderText(placeholder)
    edit.setMaximumHeight(height)
    return edit


class _Page:
    """One kind's keys: rows of the book's form (shown for that kind only) and their bindings.

    The rows live in the one form of the book, not in a nested one, so every field of every
    kind lines up under the same label column.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[str, QWidget]] = []
        self.bindings: list[Binding] = []

    def add(self, label: str, binding: Binding, widget: QWidget | None = None, tip: str = "") -> None:
        shown = widget or getattr(binding, "widget", None)
        assert shown is not None
        if tip:
            shown.setToolTip(tip)
        self.rows.append((label, shown))
        self.bindings.append(binding)

    @property
    def keys(self) -> list[str]:
        return [b.key for b in self.bindings]

    @property
    def widgets(self) -> list[QWidget]:
        return [widget for _, widget in self.rows]


class BookForm(QGroupBox):
    """Loads one book table, and commits it back with untouched keys exactly as they were."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Book", parent)
        self.base_dir: Path = Path.home()
        self.id = QLineEdit()
        self.kind = QComboBox()
        for kind in KINDS:
            self.kind.addItem(KIND_LABELS[kind], kind)
        self.kind.setToolTip("Where your trading system keeps its positions")
        self.page = {"file": self._file_page(), "sql": self._sql_page(), "http": self._http_page()}
        self.fields = _text(
            'Column names, as TOML lines, e.g.\nsymbol = "tradingsymbol"\nquantity = "qty"', 90
        )
        self.fields_binding = TableBinding("fields", self.fields)
        self.secret_value = QLineEdit()
        self.secret_value.setEchoMode(QLineEdit.EchoMode.Password)
        self.other = _text("Any other keys of this book, as TOML lines", 60)
        self.other_binding = OtherKeys(self.other)
        form = QFormLayout(self)
        form.addRow("Id", self.id)
        form.addRow("Kind", self.kind)
        for kind in KINDS:
            for text, widget in self.page[kind].rows:
                form.addRow(text, widget)
        form.addRow("Fields", self.fields)
        self.form = form
        form.addRow("Secret", self.secret_value)
        form.addRow("Other settings", self.other)
        label = form.labelForField(self.secret_value)
        self._secret_row_label = label if isinstance(label, QLabel) else None
        self._loaded_kind = "file"
        self._base: Table = {}
        self._browser: QFileDialog | None = None
        self.kind.currentIndexChanged.connect(self._kind_selected)

    # -- pages -----------------------------------------------------------------------------

    def _file_page(self) -> _Page:
        page = _Page()
        self.path = _line("positions.json (relative to the config file)")
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the book's JSON or CSV file (Alt+W)")
        browse.setShortcut("Alt+W")
        browse.clicked.connect(self.browse)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.path, 1)
        layout.addWidget(browse)
        page.add("Path", TextBinding("path", self.path), row, "The JSON or CSV file your system writes")
        self.format = QComboBox()
        self.format.addItem("from the file name", None)
        self.format.addItem("json", "json")
        self.format.addItem("csv", "csv")
        page.add("Format", ChoiceBinding("format", self.format), tip="Only when the extension does not say")
        self.file_list_key = _line("positions")
        page.add(
            "List key",
            TextBinding("list_key", self.file_list_key),
            tip="For a JSON object: the key holding the list of positions",
        )
        return page

    def _sql_page(self) -> _Page:
        page = _Page()
        self.sql_url = _line("sqlite:///bot.db or postgresql+psycopg2://user@host/db (no password)")
        page.add("URL", TextBinding("url", self.sql_url), tip="Any SQLAlchemy URL, without a password in it")
        self.table = _line("positions or schema.positions")
        page.add(
            "Table", TextBinding("table", self.table), tip="Read this table with Fields (or give a Query)"
        )
        self.where = _line("closed_at IS NULL")
        page.add("Where", TextBinding("where", self.where), tip="A condition on the table's open lines")
        self.query = _text("SELECT symbol, qty AS quantity, avg AS average_price FROM …", 60)
        page.add("Query", TextBinding("query", self.query), tip="Instead of Table: a whole SELECT")
        self.change_probe = _line("SELECT max(updated_at) FROM positions")
        page.add(
            "Change probe",
            TextBinding("change_probe", self.change_probe),
            tip="Polled; a new answer syncs the book's accounts at once",
        )
        self.probe_interval = _line("2")
        page.add(
            "Probe interval (s)",
            NumberBinding("probe_interval", self.probe_interval, minimum=0),
            tip="Seconds between two change probes",
        )
        self.password_env = _line("TRADING_DB_PASSWORD")
        page.add(
            "Password variable",
            TextBinding("password_env", self.password_env),
            tip="An environment variable holding the password (else the keyring entry BOOK:password)",
        )
        self.writable = QCheckBox("Allow the opt-in book fixes (close phantom, adopt, take broker's)")
        page.add("Writable", BoolBinding("writable", self.writable))
        self.write = _text('[books.write] as TOML lines, e.g.\nkey = "id"\nclosed_at = "closed_at"', 80)
        page.add("Write mapping", TableBinding("write", self.write), tip="Columns the fixes write")
        return page

    def _http_page(self) -> _Page:
        page = _Page()
        self.http_url = _line("https://bot.local/api/v1/positions")
        page.add(
            "URL", TextBinding("url", self.http_url), tip="GET returns a list, or an object with List key"
        )
        self.http_list_key = _line("positions")
        page.add("List key", TextBinding("list_key", self.http_list_key))
        self.token_env = _line("BOT_API_TOKEN")
        page.add(
            "Token variable",
            TextBinding("token_env", self.token_env),
            tip="An environment variable holding a bearer token",
        )
        self.auth = QComboBox()
        self.auth.addItem("none (or Token variable)", None)
        self.auth.addItem("bearer token from the keyring", "bearer")
        page.add("Authentication", ChoiceBinding("auth", self.auth))
        self.http_timeout = _line("10")
        page.add("Timeout (s)", NumberBinding("timeout", self.http_timeout, minimum=0))
        self.poll_interval = _line("5")
        page.add("Poll interval (s)", NumberBinding("poll_interval", self.poll_interval, minimum=0))
        return page

    # -- loading and committing ------------------------------------------------------------

    def current_kind(self) -> str:
        return str(self.kind.currentData())

    def _bindings(self, kind: str) -> list[Binding]:
        return [*self.page[kind].bindings, self.fields_binding]

    def load(self, table: Table) -> None:
        kind = str(table.get("kind", "file"))
        self.kind.blockSignals(True)
        index = self.kind.findData(kind)
        if index < 0:  # an unknown kind is the parser's to refuse; shown, not rewritten
            self.kind.addItem(kind, kind)
            index = self.kind.count() - 1
        self.kind.setCurrentIndex(index)
        self.kind.blockSignals(False)
        self._loaded_kind = kind
        self._base = dict(table)
        self.id.setText(str(table.get("id", "")))
        page = self.page.get(kind)
        self._show_rows(kind)
        for binding in self._bindings(kind) if page is not None else [self.fields_binding]:
            binding.load(table)
        self.other_binding.load_rest(table, self._known(kind))
        self._show_secret(kind)

    def _show_rows(self, kind: str) -> None:
        for name, page in self.page.items():
            for widget in page.widgets:
                self.form.setRowVisible(widget, name == kind)

    def shown_kind(self) -> str | None:
        """The kind whose rows are on screen (for tests)."""
        for name, page in self.page.items():
            if page.widgets and not page.widgets[0].isHidden():
                return name
        return None

    def _known(self, kind: str) -> set[str]:
        page = self.page.get(kind)
        return {*COMMON_KEYS, *(page.keys if page is not None else ())}

    def commit(self, where: str) -> Table:
        """The table as the form now says; raises ``ConfigError`` for lines that do not parse.

        Untouched widgets give back the values of the table last loaded, exactly as read.
        """
        kind = self.current_kind()
        base = self._base
        new: Table = {"id": self.id.text().strip(), "kind": kind}
        for binding in self._bindings(kind) if kind in self.page else [self.fields_binding]:
            binding.commit(base, new, where)
        self.other_binding.commit(base, new, where)
        return new

    def secret(self) -> tuple[str, str] | None:
        """(name, value) of a secret typed for this book, for the keyring."""
        name = SECRET_OF_KIND.get(self.current_kind())
        value = self.secret_value.text()
        return (name, value) if name and value else None

    def clear_secret(self) -> None:
        self.secret_value.clear()

    def _show_secret(self, kind: str) -> None:
        name = SECRET_OF_KIND.get(kind)
        self.secret_value.clear()
        self.secret_value.setEnabled(name is not None)
        self.secret_value.setPlaceholderText(
            f"the book's {name}, stored in the keyring on Save" if name else "this kind of book needs none"
        )
        if self._secret_row_label is not None:
            self._secret_row_label.setText(name.capitalize() if name else "Secret")

    def _kind_selected(self, _index: int) -> None:
        """A new kind: keys of the old kind's page go; the URL (SQL and HTTP share it), the
        fields and the other settings stay as typed."""
        kind = self.current_kind()
        previous = self._loaded_kind
        kept = {"fields": self.fields.toPlainText(), "other": self.other.toPlainText()}
        table: Table = {"id": self.id.text(), "kind": kind}
        if previous in ("sql", "http") and kind in ("sql", "http"):
            url = (self.sql_url if previous == "sql" else self.http_url).text().strip()
            if url:
                table["url"] = url
        self.load(table)
        self.fields.setPlainText(kept["fields"])
        self.other.setPlainText(kept["other"])

    # -- browsing --------------------------------------------------------------------------

    def browse(self) -> QFileDialog:
        """A file dialog opened with ``open()``: no nested event loop inside the qasync loop."""
        start = self.path.text().strip() or str(self.base_dir)
        dialog = QFileDialog(self, "Choose the book file", str(self.base_dir / start), "Books (*.json *.csv)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self._chosen)
        dialog.finished.connect(dialog.deleteLater)
        self._browser = dialog
        dialog.open()
        return dialog

    def _chosen(self, name: str) -> None:
        if not name:
            return
        chosen = Path(name)
        try:
            self.path.setText(str(chosen.relative_to(self.base_dir)))
        except ValueError:
            self.path.setText(str(chosen))

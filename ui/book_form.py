"""The form of one ``[[books]]`` table: each kind with the keys its reader takes.

Which kinds and keys exist is declared by the readers (each book module's ``KIND``, listed in
``app.books.kinds``), from which the README's reference is generated too; this form builds each
kind's keys into a page of its own and everything else under "Other settings", so a book written
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

from position_sync.app.books.kinds import BookKind, book_kind, known_kinds
from position_sync.ui.form_bindings import (
    Binding,
    OtherKeys,
    Table,
    TableBinding,
)
from position_sync.ui.option_widgets import option_row

COMMON_KEYS = ("id", "kind", "fields")


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
        self.editors: dict[str, QWidget] = {}

    def add(self, label: str, binding: Binding, widget: QWidget | None = None, tip: str = "") -> None:
        shown = widget or getattr(binding, "widget", None)
        assert shown is not None
        if tip:
            shown.setToolTip(tip)
        self.rows.append((label, shown))
        self.bindings.append(binding)
        self.editors[binding.key] = getattr(binding, "widget", shown)

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
        self.kinds = {name: book_kind(name) for name in known_kinds()}
        for kind in self.kinds.values():
            self.kind.addItem(kind.label, kind.name)
        self.kind.setToolTip("Where your trading system keeps its positions")
        self.page = {name: self._page(kind) for name, kind in self.kinds.items()}
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
        for page in self.page.values():
            for text, widget in page.rows:
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
        self._path_editor: QLineEdit | None = None
        self.kind.currentIndexChanged.connect(self._kind_selected)

    # -- pages -----------------------------------------------------------------------------

    def _page(self, kind: BookKind) -> _Page:
        """The kind's declared keys as rows; a file's path gets a Browse button beside it."""
        page = _Page()
        for option in kind.options:
            row = option_row(option)
            shown = row.editor
            if option.type is Path:
                shown = self._with_browse(row.editor)
            page.add(row.label, row.binding, shown)
        return page

    def _with_browse(self, editor: QWidget) -> QWidget:
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the book's JSON or CSV file (Alt+W)")
        browse.setShortcut("Alt+W")
        browse.clicked.connect(lambda: self.browse(editor))
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(editor, 1)
        layout.addWidget(browse)
        return row

    def field(self, kind: str, key: str) -> QWidget:
        """The widget editing ``key`` of a ``kind`` book."""
        return self.page[kind].editors[key]

    def line(self, kind: str, key: str) -> QLineEdit:
        editor = self.field(kind, key)
        assert isinstance(editor, QLineEdit), key
        return editor

    def text_box(self, kind: str, key: str) -> QPlainTextEdit:
        editor = self.field(kind, key)
        assert isinstance(editor, QPlainTextEdit), key
        return editor

    def check_box(self, kind: str, key: str) -> QCheckBox:
        editor = self.field(kind, key)
        assert isinstance(editor, QCheckBox), key
        return editor

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
        name = self._secret_name(self.current_kind())
        value = self.secret_value.text()
        return (name, value) if name and value else None

    def clear_secret(self) -> None:
        self.secret_value.clear()

    def _secret_name(self, kind: str) -> str | None:
        declared = self.kinds.get(kind)
        return declared.secret if declared is not None else None

    def _show_secret(self, kind: str) -> None:
        name = self._secret_name(kind)
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
        before, after = self.kinds.get(previous), self.kinds.get(kind)
        if before is not None and after is not None and before.location == after.location:
            editor = self.field(previous, before.location)
            location = editor.text().strip() if isinstance(editor, QLineEdit) else ""
            if location:
                table[after.location] = location
        self.load(table)
        self.fields.setPlainText(kept["fields"])
        self.other.setPlainText(kept["other"])

    # -- browsing --------------------------------------------------------------------------

    def browse(self, editor: QWidget | None = None) -> QFileDialog:
        """A file dialog opened with ``open()``: no nested event loop inside the qasync loop."""
        path = editor or self.field("file", "path")
        assert isinstance(path, QLineEdit)
        self._path_editor = path
        start = path.text().strip() or str(self.base_dir)
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
        if self._path_editor is None:
            return
        try:
            self._path_editor.setText(str(chosen.relative_to(self.base_dir)))
        except ValueError:
            self._path_editor.setText(str(chosen))

"""Widgets bound to one key of a TOML table, so that saving what was not touched changes nothing.

The settings dialog edits the user's own file. A value the user did not change must come back
exactly as it was read (``probe_interval = 2`` stays the integer 2, an ``enabled = true`` the
user wrote stays written), so each binding remembers what its widget showed when the table was
loaded and, if the widget still shows that, copies the original value back untouched. Only a
changed widget is parsed, and a parse error is a ``ConfigError`` naming the field.
"""

from __future__ import annotations

import re
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import tomli_w
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox

from position_sync.app.errors import ConfigError

Table = dict[str, Any]
_INTEGER = re.compile(r"^[+-]?\d+$")


def toml_lines(values: Table) -> str:
    return tomli_w.dumps(values).strip()


def parse_lines(text: str, where: str) -> Table:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(None, where, f'must be TOML lines such as api_key = "abc" ({exc})') from None


class Binding(ABC):
    """One key of a table shown in one widget; subclasses say how the widget holds a value."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._loaded: Any = None

    # -- what subclasses provide -----------------------------------------------------------

    @abstractmethod
    def _show(self, value: Any) -> None:
        """Put ``value`` (None: the key is absent) into the widget."""

    @abstractmethod
    def _state(self) -> Any:
        """What the widget shows, comparable with the state right after loading."""

    @abstractmethod
    def _parse(self, where: str) -> tuple[bool, Any]:
        """(present, value) from the widget; ``present`` False removes the key."""

    # -- shared ----------------------------------------------------------------------------

    def load(self, table: Table) -> None:
        self._show(table.get(self.key))
        self._loaded = self._state()

    def changed(self) -> bool:
        return bool(self._state() != self._loaded)

    def commit(self, old: Table, new: Table, where: str) -> None:
        """Write the key into ``new``: the old value when untouched, the parsed one otherwise."""
        if not self.changed():
            if self.key in old:
                new[self.key] = old[self.key]
            return
        present, value = self._parse(f"{where}.{self.key}")
        if present:
            new[self.key] = value
        else:
            new.pop(self.key, None)


class TextBinding(Binding):
    """A string; blank removes the key."""

    def __init__(self, key: str, widget: QLineEdit | QPlainTextEdit) -> None:
        super().__init__(key)
        self.widget = widget

    def _text(self) -> str:
        widget = self.widget
        return widget.toPlainText() if isinstance(widget, QPlainTextEdit) else widget.text()

    def _show(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if isinstance(self.widget, QPlainTextEdit):
            self.widget.setPlainText(text)
        else:
            self.widget.setText(text)

    def _state(self) -> Any:
        return self._text()

    def _parse(self, where: str) -> tuple[bool, Any]:
        text = self._text().strip()
        return bool(text), text


class NumberBinding(TextBinding):
    """A number typed as text: ``2`` stays an integer, ``2.5`` a float; blank removes the key."""

    def __init__(self, key: str, widget: QLineEdit, *, minimum: float | None = None) -> None:
        super().__init__(key, widget)
        self.minimum = minimum

    def _parse(self, where: str) -> tuple[bool, Any]:
        text = self._text().strip()
        if not text:
            return False, None
        try:
            value: float = int(text) if _INTEGER.match(text) else float(text)
        except ValueError:
            raise ConfigError(None, where, f"must be a number of seconds, not {text!r}") from None
        if self.minimum is not None and value <= self.minimum:
            raise ConfigError(None, where, f"must be above {self.minimum:g}, not {text}")
        return True, value


class BoolBinding(Binding):
    """A checkbox; unchecked removes the key unless the file said ``false`` itself."""

    def __init__(self, key: str, widget: QCheckBox, *, default: bool = False) -> None:
        super().__init__(key)
        self.widget = widget
        self.default = default

    def _show(self, value: Any) -> None:
        self.widget.setChecked(self.default if value is None else bool(value))

    def _state(self) -> Any:
        return self.widget.isChecked()

    def _parse(self, where: str) -> tuple[bool, Any]:
        checked = self.widget.isChecked()
        return checked != self.default, checked


class ChoiceBinding(Binding):
    """A combo box whose items carry the value; the item with data None removes the key."""

    def __init__(self, key: str, widget: QComboBox) -> None:
        super().__init__(key)
        self.widget = widget

    def _show(self, value: Any) -> None:
        index = self.widget.findData(value)
        if index < 0 and value is not None:
            self.widget.addItem(str(value), value)  # a value the dialog does not list is kept
            index = self.widget.count() - 1
        self.widget.setCurrentIndex(max(index, 0))

    def _state(self) -> Any:
        return self.widget.currentData()

    def _parse(self, where: str) -> tuple[bool, Any]:
        value = self.widget.currentData()
        return value is not None, value


class SpinBinding(Binding):
    """A spin box; loaded from the table merged with its defaults, written only when changed.

    An integral value is written as an integer (``interval = 7``, not ``7.0``).
    """

    def __init__(self, key: str, widget: QSpinBox | QDoubleSpinBox) -> None:
        super().__init__(key)
        self.widget = widget

    def _show(self, value: Any) -> None:
        if value is None:
            return
        if isinstance(self.widget, QSpinBox):
            self.widget.setValue(int(value))
        else:
            self.widget.setValue(float(value))

    def _state(self) -> Any:
        return self.widget.value()

    def _parse(self, where: str) -> tuple[bool, Any]:
        value = self.widget.value()
        return True, int(value) if float(value).is_integer() else value


class TableBinding(TextBinding):
    """A sub-table (``fields``, ``write``) as TOML lines; blank removes it."""

    def __init__(self, key: str, widget: QPlainTextEdit) -> None:
        super().__init__(key, widget)

    def _show(self, value: Any) -> None:
        assert isinstance(self.widget, QPlainTextEdit)
        self.widget.setPlainText(toml_lines(value) if isinstance(value, dict) and value else "")

    def _parse(self, where: str) -> tuple[bool, Any]:
        table = parse_lines(self._text(), where)
        return bool(table), table


class OtherKeys(TextBinding):
    """Every key no other binding shows, as TOML lines: nothing in the file is hidden or lost."""

    def __init__(self, widget: QPlainTextEdit) -> None:
        super().__init__("", widget)
        self.known: frozenset[str] = frozenset()
        self._old: Table = {}

    def load_rest(self, table: Table, known: Iterable[str]) -> None:
        self.known = frozenset(known)
        self._old = {k: v for k, v in table.items() if k not in self.known}
        assert isinstance(self.widget, QPlainTextEdit)
        self.widget.setPlainText(toml_lines(self._old) if self._old else "")
        self._loaded = self._state()

    def commit(self, old: Table, new: Table, where: str) -> None:
        if not self.changed():
            new.update(self._old)
            return
        rest = parse_lines(self._text(), f"{where} other settings")
        taken = sorted(set(rest) & self.known)
        if taken:
            raise ConfigError(None, f"{where}.{taken[0]}", "has a field of its own above; set it there")
        new.update(rest)

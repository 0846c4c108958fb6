"""A form row for a declared option (``app.options.Option``): the widget follows the type.

The settings dialog builds the rows of a book kind's (and any other declared table's) keys from
the declarations, so a key added to a kind appears in the dialog, with its help as tooltip and
its default as the placeholder, without touching the dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPlainTextEdit, QWidget

from position_sync.app.options import Option
from position_sync.ui.form_bindings import (
    Binding,
    BoolBinding,
    ChoiceBinding,
    NumberBinding,
    TableBinding,
    TextBinding,
)

NUMBER_TYPES = (int, float, Decimal)


@dataclass(frozen=True)
class OptionRow:
    """The label, the widget the user edits, and its binding to the table's key."""

    option: Option
    editor: QWidget
    binding: Binding

    @property
    def label(self) -> str:
        return self.option.title


def _placeholder(option: Option) -> str:
    if option.example:
        return option.example.replace("\\n", "\n")
    if option.default is not None and not isinstance(option.default, bool):
        return str(option.default)
    return ""


def _text_box(option: Option, height: int) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setPlaceholderText(_placeholder(option))
    edit.setMaximumHeight(height)
    return edit


def option_row(option: Option) -> OptionRow:
    """The widget and binding for ``option``: a check box for a boolean, a list for choices, a
    TOML box for a table, a line (or a box for ``multiline``) for text and numbers."""
    editor: QWidget
    binding: Binding
    if option.type is bool:
        box = QCheckBox(option.sentence)
        editor, binding = box, BoolBinding(option.key, box, default=bool(option.default))
    elif option.choices:
        combo = QComboBox()
        combo.addItem(option.example or "(not set)", None)
        for choice in option.choices:
            combo.addItem(choice, choice)
        editor, binding = combo, ChoiceBinding(option.key, combo)
    elif option.type is dict:
        table = _text_box(option, 80)
        editor, binding = table, TableBinding(option.key, table)
    elif option.multiline:
        text = _text_box(option, 60)
        editor, binding = text, TextBinding(option.key, text)
    else:
        line = QLineEdit()
        line.setPlaceholderText(_placeholder(option))
        editor = line
        if option.type in NUMBER_TYPES:
            binding = NumberBinding(option.key, line, minimum=0)
        else:
            binding = TextBinding(option.key, line)
    editor.setToolTip(option.sentence)
    return OptionRow(option, editor, binding)

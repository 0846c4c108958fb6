"""Text from outside is shown as text, never as markup: the one place the window decides.

Qt renders HTML wherever it is allowed to guess: a ``QLabel`` in its default ``AutoText``
format, every tooltip and a ``QMessageBox`` all take a string that merely looks like markup
(``Qt.mightBeRichText``) for rich text. A broker's error sentence, a book's symbol, an account id
or a config value is outside text: a Kite 500 whose message held ``<font size=6>…</font><img …>``
showed big red text and an image box. So:

- labels that only show text are made plain (``plain_label``, ``make_plain``);
- labels that mix our own markup with outside text build it with ``markup``, which escapes every
  value it is given;
- tooltips go through ``tooltip`` (escaped, then given to Qt as rich text, so no guess is made);
- message boxes come from ``message_box``, plain;
- desktop notifications go through ``notification_text``.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


def escape(text: object) -> str:
    """Outside text made safe inside our own markup; line breaks stay line breaks.

    Quotes stay as they are: outside text goes into element content, never into an attribute.
    """
    return html.escape(str(text), quote=False).replace("\n", "<br>")


def markup(template: str, /, **values: Any) -> str:
    """``template`` (our own markup) with every ``{name}`` filled by an escaped value.

    >>> markup("<b>{who}</b>", who="<img src=x>")
    '<b>&lt;img src=x&gt;</b>'
    """
    return template.format(**{name: escape(value) for name, value in values.items()})


def make_plain(label: QLabel) -> QLabel:
    """``label`` shows its text exactly as given, whatever it looks like."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label for text that is, or may hold, outside text."""
    return make_plain(QLabel(text, parent))


def tooltip(text: object) -> str:
    """A tooltip showing ``text`` literally.

    Tooltips have no text format of their own: Qt guesses from the string. Converting the plain
    text to its rich-text form (escaped, line breaks kept) leaves nothing to guess.
    """
    value = str(text)
    return GuiQt.convertFromPlainText(value, GuiQt.WhiteSpaceMode.WhiteSpaceNormal) if value else ""


def message_box(
    icon: QMessageBox.Icon,
    title: str,
    text: str,
    buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok,
    parent: QWidget | None = None,
) -> QMessageBox:
    """A message box whose sentence (an error, often quoting outside text) is plain text."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box


def notification_text(text: str, *, platform: str | None = None) -> str:
    """A tray message's title or body, shown literally by the desktop's notification server.

    On Linux the tray message becomes a freedesktop notification, whose servers (GNOME, KDE)
    read a subset of HTML in the body, ``<img>`` included: the text is escaped there. Windows
    and macOS show the string as it is, so it stays as it is.
    """
    where = platform if platform is not None else sys.platform
    if where.startswith(("win", "darwin")):
        return text
    return html.escape(text, quote=False)

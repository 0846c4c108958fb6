"""Book kinds by name: the second extension point, built like the brokers' registry.

``BOOK_KINDS`` is the whole list: a new kind of book is its module (declaring ``KIND``, a
``BookKind``) plus one line here. The config parser, the settings dialog's book form and the
README's reference read the declaration, so none of them names a kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from position_sync.app.declared import declaration
from position_sync.app.options import Option

if TYPE_CHECKING:
    from position_sync.app.books.base import Book
    from position_sync.app.config import BookConfig
    from position_sync.app.secrets import Secrets

BOOK_KINDS: dict[str, str] = {
    "file": "position_sync.app.books.file",
    "sql": "position_sync.app.books.sql",
    "http": "position_sync.app.books.http",
}

# Checks of a kind's settings beyond each value's type (a URL with a password, two SQL
# statements): ``(url, options, where, path)``, raising ``ConfigError``; may normalise ``options``.
ConfigCheck = Callable[[str | None, dict[str, Any], str, Path | None], None]
Opener = Callable[["BookConfig", "Secrets", Path | None], "Book"]


@dataclass(frozen=True)
class BookKind:
    """What a book module declares about its kind (its ``KIND``).

    ``location`` is the option saying where the book is (``path`` or ``url``): the parser
    resolves it and ``BookConfig`` carries it apart from the other options. ``secret`` is the
    keyring name the reader asks for (``password``, ``token``), which the settings dialog offers
    to store under the book's id. ``open`` builds the reader; config mistakes it finds are
    raised at once, unreachable sources only when read.
    """

    name: str
    label: str
    what: str
    options: tuple[Option, ...]
    location: str
    open: Opener
    secret: str | None = None
    check: ConfigCheck | None = None


def known_kinds() -> list[str]:
    return list(BOOK_KINDS)


def book_kind(name: str) -> BookKind:
    """The kind's declaration; ``KeyError`` with the sentence for an unknown name."""
    return declaration(BOOK_KINDS, name, "KIND", BookKind)

"""Local books by kind (``app.books.kinds``): a file, a SQL table or query, an HTTP endpoint."""

from __future__ import annotations

from pathlib import Path

from position_sync.app.books.base import Book
from position_sync.app.books.file import FileBook
from position_sync.app.books.http import HttpBook
from position_sync.app.books.kinds import book_kind
from position_sync.app.books.sql import SqlBook
from position_sync.app.config import BookConfig
from position_sync.app.errors import ConfigError
from position_sync.app.secrets import Secrets


def open_book(config: BookConfig, secrets: Secrets | None = None, config_path: Path | None = None) -> Book:
    """Build a book by its kind's declaration; config mistakes are raised now, unreachable
    sources only when read."""
    try:
        kind = book_kind(config.kind)
    except KeyError:
        raise ConfigError(
            config_path, f"books.{config.id}.kind", f"'{config.kind}' is not supported"
        ) from None
    return kind.open(config, secrets or Secrets(), config_path)


def check_books(books: dict[str, Book]) -> None:
    """The config check that needs the source: a mapped column the table does not have."""
    for book in books.values():
        check = getattr(book, "check", None)
        if callable(check):
            check()


__all__ = ["Book", "FileBook", "HttpBook", "SqlBook", "check_books", "open_book"]

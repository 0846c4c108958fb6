"""Local books by kind: a file, a SQL table or query, an HTTP endpoint."""

from __future__ import annotations

from pathlib import Path

from position_sync.app.books.base import Book
from position_sync.app.books.file import FileBook
from position_sync.app.books.http import HttpBook
from position_sync.app.books.sql import SqlBook
from position_sync.app.config import BookConfig
from position_sync.app.errors import ConfigError
from position_sync.app.secrets import Secrets


def open_book(config: BookConfig, secrets: Secrets | None = None, config_path: Path | None = None) -> Book:
    """Build a book; config mistakes are raised now, unreachable sources only when read."""
    secrets = secrets or Secrets()
    if config.kind == "file":
        return FileBook(config)
    if config.kind == "sql":
        return SqlBook(config, secrets, config_path)
    if config.kind == "http":
        return HttpBook(config, secrets, config_path)
    raise ConfigError(config_path, f"books.{config.id}.kind", f"'{config.kind}' is not supported")


def check_books(books: dict[str, Book]) -> None:
    """The config check that needs the source: a mapped column the table does not have."""
    for book in books.values():
        check = getattr(book, "check", None)
        if callable(check):
            check()


__all__ = ["Book", "FileBook", "HttpBook", "SqlBook", "check_books", "open_book"]

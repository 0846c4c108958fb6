"""Local books by kind."""

from __future__ import annotations

from app.books.base import Book
from app.books.file import FileBook
from app.config import BookConfig
from app.errors import ConfigError
from app.secrets import Secrets


def open_book(config: BookConfig, secrets: Secrets | None = None, config_path: object = None) -> Book:
    if config.kind == "file":
        return FileBook(config)
    raise ConfigError(
        str(config_path) if config_path else None,
        f"books.{config.id}.kind",
        f"'{config.kind}' is not supported",
    )


__all__ = ["Book", "FileBook", "open_book"]

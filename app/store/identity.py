"""Which database a URL or a path really names, so the store is never a book's own database.

A store pointed at the trading system's SQLite file would create Position Sync's tables inside it
and switch it to WAL; a store on the book's PostgreSQL database would do the same there. Two
spellings name one database when their files are the same after resolving relative paths and
symbolic links (or are hard links of one file), or when a server URL names the same backend,
host, port and database. The schema is not compared: sharing the trading system's database at
all is refused, which is the safe side of a guess.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:
    from position_sync.app.config import BookConfig

_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}


@dataclass(frozen=True)
class DatabaseIdentity:
    """A file on this machine, or a database on a server; exactly one of the two is set."""

    file: Path | None = None
    server: tuple[str, str, int | None, str] | None = None

    def same_as(self, other: DatabaseIdentity) -> bool:
        if self.file is not None and other.file is not None:
            if self.file == other.file:
                return True
            try:
                return os.path.samefile(self.file, other.file)
            except OSError:
                return False
        return self.server is not None and self.server == other.server


def sqlite_file(database: str) -> str | None:
    """The file path of a SQLite URL's database part (``file:`` URIs included), None in memory."""
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
        if database.startswith("//"):  # file:///abs/path
            database = database[2:]
        if not database or database == ":memory:":
            return None
    return database


def file_identity(path: Path, base_dir: Path | None) -> DatabaseIdentity:
    path = path.expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return DatabaseIdentity(file=path.resolve())


def url_identity(url: str, base_dir: Path | None) -> DatabaseIdentity | None:
    """None for a URL that names no lasting database (SQLite in memory) or is not a URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = sqlite_file(parsed.database or "")
        return None if database is None else file_identity(Path(database), base_dir)
    host = (parsed.host or "").lower()
    host = "local" if host in _LOCAL_HOSTS else host
    port = parsed.port or _DEFAULT_PORTS.get(backend)
    return DatabaseIdentity(server=(backend, host, port, parsed.database or ""))


def book_identity(book: BookConfig, base_dir: Path | None) -> DatabaseIdentity | None:
    if book.path is not None:
        return file_identity(book.path, base_dir)
    if book.kind == "sql" and book.url is not None:
        return url_identity(book.url, base_dir)
    return None


def book_sharing_store(store_url: str, books: dict[str, BookConfig], base_dir: Path | None) -> str | None:
    """The id of the first configured book whose database is the store's, or None."""
    store = url_identity(store_url, base_dir)
    if store is None:
        return None
    for book_id, book in books.items():
        identity = book_identity(book, base_dir)
        if identity is not None and store.same_as(identity):
            return book_id
    return None


def refuse_store_on_book(
    store_url: str,
    books: dict[str, BookConfig],
    config_path: Path | None,
    *,
    field: str | None = "store.url",
) -> None:
    """A ``ConfigError`` (exit 3) when the store would live in a configured book's database.

    ``field`` names the setting that chose the store; None when it is the data directory's
    default file, and the book's own setting is named instead.
    """
    from position_sync.app.errors import ConfigError

    base_dir = config_path.parent.resolve() if config_path else Path.cwd()
    book_id = book_sharing_store(store_url, books, base_dir)
    if book_id is None:
        return
    if field is not None:
        raise ConfigError(
            config_path,
            field,
            f"names the database of book '{book_id}', the trading system's own; Position Sync "
            "would create its tables in it, so give the store a database of its own",
        )
    where = "url" if books[book_id].url is not None else "path"
    raise ConfigError(
        config_path,
        f"books.{book_id}.{where}",
        "names Position Sync's own store in the data directory; point it at the trading "
        "system's positions, or choose another data directory (--data-dir)",
    )

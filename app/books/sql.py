"""A book kept in a SQL table by the user's trading system (any SQLAlchemy URL).

Reading never writes: SQLite is opened read-only (``mode=ro``) and PostgreSQL reads inside a
``READ ONLY`` transaction, so a mistaken ``where`` or ``query`` cannot change the user's data.
The only writes to a book are the opt-in "fix my book" actions in ``app.fix``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from app.books.rows import RecordError, belongs, label_lines, to_position
from app.config import BookConfig
from app.domain import BookSnapshot, Position
from app.errors import ConfigError, ReadError, ReadErrorKind
from app.secrets import Secrets, SecretUnavailable

DEFAULT_PROBE_INTERVAL = 2.0


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def describe_db_error(exc: SQLAlchemyError) -> str:
    """The driver's first line, which names the cause (refused, bad password, no such column)."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return first.rstrip(".")


class SqlBook:
    """Reads ``table`` (with ``fields`` and an optional ``where``) or a whole ``query``."""

    def __init__(self, config: BookConfig, secrets: Secrets, config_path: Path | None = None) -> None:
        self.id = config.id
        self.config = config
        self.config_path = config_path
        options = config.options
        self.table: str | None = _opt_str(options, "table", config, config_path)
        self.where: str | None = _opt_str(options, "where", config, config_path)
        self.query: str | None = _opt_str(options, "query", config, config_path)
        self.change_probe: str | None = _opt_str(options, "change_probe", config, config_path)
        interval = options.get("probe_interval", DEFAULT_PROBE_INTERVAL)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
            raise ConfigError(
                config_path, f"books.{self.id}.probe_interval", "must be a number of seconds above 0"
            )
        self.watch_interval = float(interval)
        if (self.table is None) == (self.query is None):
            raise ConfigError(config_path, f"books.{self.id}", "needs either 'table' or 'query' (not both)")
        if self.query is not None and self.where is not None:
            raise ConfigError(
                config_path, f"books.{self.id}.where", "goes with 'table'; put the condition into 'query'"
            )
        assert config.url is not None
        try:
            url = make_url(config.url)
        except ArgumentError:
            raise ConfigError(
                config_path, f"books.{self.id}.url", "is not a SQLAlchemy URL such as sqlite:///positions.db"
            ) from None
        if url.password is not None:
            raise ConfigError(
                config_path,
                f"books.{self.id}.url",
                "must not hold a password; store it in the keyring or name a variable with 'password_env'",
            )
        self.where_text = safe_url(url)
        self._secrets = secrets
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            database = Path(url.database)
            if not database.is_absolute() and config_path is not None:
                database = config_path.parent / database
            url = url.set(database=f"file:{database}", query={"mode": "ro", "uri": "true"})
        self.url = url
        self._engine: Engine | None = None

    # -- engine ----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = self.url
            if url.username is not None:
                # Looked up when first needed, so a locked keyring is a failed read (stale), not a
                # crash at start-up.
                password = self._secrets.get(self.id, self.config.options, "password")
                if password:
                    url = url.set(password=password)
            try:
                self._engine = create_engine(url, pool_pre_ping=True)
            except NoSuchModuleError:
                raise ConfigError(
                    self.config_path,
                    f"books.{self.id}.url",
                    f"names a database driver that is not installed ({self.url.drivername})",
                ) from None
            except ModuleNotFoundError as exc:
                raise ConfigError(
                    self.config_path,
                    f"books.{self.id}.url",
                    f"needs the driver '{exc.name}': pip install \"position-sync[postgres]\"",
                ) from None
        return self._engine

    @contextmanager
    def _read_only(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # First statement of the transaction SQLAlchemy begins implicitly.
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            try:
                yield connection
            finally:
                connection.rollback()  # nothing is ever committed by a read

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _fail(self, cause: str) -> ReadError:
        return ReadError(ReadErrorKind.SOURCE, f"book '{self.id}' ({self.where_text}): {cause}")

    # -- reading ---------------------------------------------------------------------------

    def _quoted_table(self, connection: Connection) -> str:
        assert self.table is not None
        preparer = connection.dialect.identifier_preparer
        return ".".join(preparer.quote(part) for part in self.table.split("."))

    def _statement(self, connection: Connection) -> str:
        if self.query is not None:
            return self.query
        preparer = connection.dialect.identifier_preparer
        columns = ", ".join(preparer.quote(c) for c in self.mapped_columns())
        statement = f"SELECT {columns} FROM {self._quoted_table(connection)}"
        if self.where:
            statement += f" WHERE {self.where}"
        return statement

    def mapped_columns(self) -> list[str]:
        names = [
            "symbol",
            "quantity",
            "average_price",
            *[k for k in ("side", "account", "label") if k in self.config.fields],
        ]
        return [self.config.field_name(name) for name in names]

    def read(self, account: str | None) -> BookSnapshot:
        try:
            with self._read_only() as connection:
                records = [dict(r) for r in connection.execute(text(self._statement(connection))).mappings()]
        except ConfigError:
            raise
        except (DBAPIError, SQLAlchemyError) as exc:
            raise self._fail(describe_db_error(exc)) from None
        except OSError as exc:
            raise self._fail(f"cannot be reached ({exc})") from None
        except SecretUnavailable as exc:
            raise self._fail(str(exc)) from None
        lines: list[tuple[str, Position]] = []
        for number, record in enumerate(records, 1):
            if not belongs(record, self.config, account):
                continue
            try:
                lines.append((f"row {number}", to_position(record, self.config)))
            except RecordError as exc:
                raise self._fail(f"row {number}: {exc}") from None
        digest = hashlib.sha1(repr(sorted(tuple(sorted(map(str, r.items()))) for r in records)).encode())
        return BookSnapshot(tuple(label_lines(lines)), digest.hexdigest())

    def check(self) -> None:
        """Config check: every mapped column exists; unreachable databases are left to the reads."""
        try:
            with self._read_only() as connection:
                if self.query is not None:
                    result = connection.execute(
                        text(f"SELECT * FROM ({self.query}) AS position_sync_q WHERE 1 = 0")
                    )
                    available = list(result.keys())
                else:
                    assert self.table is not None
                    schema, _, name = self.table.rpartition(".")
                    inspector = inspect(connection)
                    if not inspector.has_table(name, schema=schema or None):
                        return  # a missing table is a read failure (stale), reported by read()
                    available = [c["name"] for c in inspector.get_columns(name, schema=schema or None)]
        except (DBAPIError, SQLAlchemyError, OSError, SecretUnavailable):
            return
        lowered = {c.lower() for c in available}
        for field in ("symbol", "quantity", "average_price", "side", "account", "label"):
            if field not in self.config.fields and field not in ("symbol", "quantity", "average_price"):
                continue
            column = self.config.field_name(field)
            if column.lower() not in lowered:
                source = f"table '{self.table}'" if self.table else "the query"
                raise ConfigError(
                    self.config_path,
                    f"books.{self.id}.fields.{field}",
                    f"names column '{column}', which {source} does not have (it has: {', '.join(available)})",
                )

    def change_token(self) -> str | None:
        """The change probe's answer; None when the book names no probe (then it is not watched)."""
        if self.change_probe is None:
            return None
        try:
            with self._read_only() as connection:
                return repr(connection.execute(text(self.change_probe)).all())
        except (DBAPIError, SQLAlchemyError, OSError, SecretUnavailable):
            return None


def _opt_str(options: Mapping[str, Any], key: str, config: BookConfig, path: Path | None) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"books.{config.id}.{key}", "must be a non-empty string")
    return value.strip()

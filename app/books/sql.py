"""A book kept in a SQL table by the user's trading system (any SQLAlchemy URL).

Reading never writes, in depth, so a mistaken or hostile ``where``, ``query`` or ``change_probe``
cannot change the user's data:

1. each of them must be one statement (``app.config.single_statement``), checked at config and
   again here, because psycopg2 sends a whole string at once and ``SELECT 1; COMMIT; DELETE``
   would end the read-only transaction and delete;
2. SQLite is opened read-only (``mode=ro``);
3. PostgreSQL sessions open with ``default_transaction_read_only=on``, so every transaction of
   the session is read-only, even one begun after a ``COMMIT`` smuggled past the first check;
   each read also begins with ``SET TRANSACTION READ ONLY``;
4. on SQLite, an authorizer allows only reads (``app.books.sqlite_guard``): ``mode=ro`` alone
   still let ``VACUUM INTO`` and ``ATTACH`` write other files.

Reading never outlives its time either: every statement of a book's session is bounded by the
read limit (the longest timeout of the accounts reading the book, see ``limit_reads``), as
``statement_timeout`` and ``lock_timeout`` on PostgreSQL and a busy timeout plus a progress
handler on SQLite, so a table the trading system keeps locked ends the read instead of leaving
a connection waiting behind an abandoned read.

The only writes to a book are the opt-in "fix my book" actions in ``app.fix``, on an engine of
their own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError

from position_sync.app.books.kinds import BookKind
from position_sync.app.books.rows import LineReader, RecordError, belongs
from position_sync.app.books.sqlite_guard import ReadGuard
from position_sync.app.config import STATEMENT_KEYS, BookConfig, check_sql_book
from position_sync.app.config_values import seconds_value
from position_sync.app.domain import BookSnapshot
from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.app.secrets import Secrets, SecretUnavailable

DEFAULT_PROBE_INTERVAL = 2.0
# Seconds a read may answer from the last full read while the change probe says nothing changed:
# a probe such as ``max(updated_at)`` misses a deleted row, and a full read this often bounds how
# long such a miss can last.
DEFAULT_FULL_READ_SECONDS = 60.0
# Seconds a statement of a book may run (or wait for a lock) when no account said otherwise:
# the default account timeout.
DEFAULT_READ_LIMIT = 15.0
# Seconds to wait for a database server to answer a connection: the config check runs before
# `sync --once` syncs anything, and an unreachable host must not stall it for minutes.
CONNECT_TIMEOUT = 5
# Drivers built on libpq take its connection options (psycopg2, psycopg 3).
_LIBPQ_DRIVERS = frozenset({"psycopg2", "psycopg", "psycopg2cffi"})
# Dialects that compare unquoted and quoted column names without regard to case.
_CASELESS_COLUMNS = frozenset({"sqlite", "mysql", "mariadb", "mssql"})


def connect_args(url: URL, *, read_only: bool, limit: float | None = None) -> dict[str, Any]:
    """Driver arguments: a connect timeout, and for a book's reads a read-only, bounded session.

    ``default_transaction_read_only`` makes every transaction of the session read-only, not only
    the one the read begins, so even a statement that commits cannot write afterwards. Given to
    libpq as ``options`` at connect time, it is in force before the first statement runs, and so
    are ``statement_timeout`` and ``lock_timeout`` when ``limit`` (seconds) is given. On SQLite,
    ``limit`` is the busy timeout: how long a read waits for a writer's lock.
    """
    backend, driver = url.get_backend_name(), url.get_driver_name()
    connect = CONNECT_TIMEOUT if limit is None else max(2, min(CONNECT_TIMEOUT, math.ceil(limit)))
    if backend == "postgresql" and driver in _LIBPQ_DRIVERS:
        args: dict[str, Any] = {"connect_timeout": connect}
        options = []
        if read_only:
            options.append("-c default_transaction_read_only=on")
        if limit is not None:
            milliseconds = max(1, round(limit * 1000))
            options += [f"-c statement_timeout={milliseconds}", f"-c lock_timeout={milliseconds}"]
        if options:
            args["options"] = " ".join(options)
        return args
    if backend == "postgresql" and driver == "pg8000":
        return {"timeout": connect}
    if backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb"):
        return {"connect_timeout": connect}
    if backend == "sqlite" and limit is not None:
        return {"timeout": limit}
    return {}


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def describe_db_error(exc: SQLAlchemyError) -> str:
    """The driver's first line, which names the cause (refused, bad password, no such column)."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return first.rstrip(".")


@dataclass(frozen=True)
class GoodRead:
    """The last good full read of one account's lines, with what the change probe answered just
    before it (in the same session) and when it began (``SqlBook.clock``)."""

    answer: str
    at: float
    snapshot: BookSnapshot


class SqlBook:
    """Reads ``table`` (with ``fields`` and an optional ``where``) or a whole ``query``.

    With a ``change_probe``, a read asks the probe first and, while it answers what it answered
    before the last good full read of the account and that read is younger than
    ``full_read_seconds``, returns that read's snapshot again (the very object, so the sync's
    at-rest path knows it at once) without running the query.
    """

    def __init__(self, config: BookConfig, secrets: Secrets, config_path: Path | None = None) -> None:
        self.id = config.id
        self.config = config
        self.config_path = config_path
        options = config.options
        self.table: str | None = _opt_str(options, "table", config, config_path)
        assert config.url is not None
        # Checked at config already; again here for a book built without the config file. The
        # check also leaves each statement as the one statement it must be.
        options = dict(options)
        check_sql_book(config.url, options, f"books.{self.id}", config_path)
        statements = {key: options.get(key) for key in STATEMENT_KEYS}
        self.where: str | None = statements["where"]
        self.query: str | None = statements["query"]
        self.change_probe: str | None = statements["change_probe"]
        self.watch_interval = (
            seconds_value(options, "probe_interval", f"books.{self.id}", config_path)
            if "probe_interval" in options
            else DEFAULT_PROBE_INTERVAL
        )
        self.full_read_seconds = (
            seconds_value(options, "full_read_seconds", f"books.{self.id}", config_path)
            if "full_read_seconds" in options
            else DEFAULT_FULL_READ_SECONDS
        )
        # What ages a good read (monotonic: a clock set back must not make a read young again);
        # a test replaces it.
        self.clock: Callable[[], float] = time.monotonic
        # Reads of several accounts run on threads of their own.
        self._good: dict[str | None, GoodRead] = {}
        self._good_lock = threading.Lock()
        if (self.table is None) == (self.query is None):
            raise ConfigError(config_path, f"books.{self.id}", "needs either 'table' or 'query' (not both)")
        if self.query is not None and self.where is not None:
            raise ConfigError(
                config_path, f"books.{self.id}.where", "goes with 'table'; put the condition into 'query'"
            )
        url = make_url(config.url)
        self.where_text = safe_url(url)
        self._secrets = secrets
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            database = Path(url.database)
            if not database.is_absolute() and config_path is not None:
                database = config_path.parent / database
            url = url.set(database=f"file:{database}", query={"mode": "ro", "uri": "true"})
        self.url = url
        self._engine: Engine | None = None
        self.read_limit = DEFAULT_READ_LIMIT
        self._guard: ReadGuard | None = None

    def limit_reads(self, seconds: float) -> None:
        """Bound every statement to ``seconds``: the runtime passes the accounts' longest timeout.

        Takes effect for connections made afterwards, so it is called before the first read.
        """
        if math.isfinite(seconds) and seconds > 0:
            self.read_limit = float(seconds)

    # -- engine ----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = self.url
            if url.username is not None:
                # Looked up when first needed, so a locked keyring is a failed read (stale), not a
                # crash at start-up.
                password = self._secrets.get(self.id, self.config.options, "password")
                env_name = self.config.options.get("password_env")
                if not password and isinstance(env_name, str) and env_name:
                    # Named, the variable is meant to hold the password: say it is missing rather
                    # than pass on the driver's "fe_sendauth: no password supplied".
                    raise self._fail(f"environment variable {env_name} is not set (it holds the password)")
                if password:
                    url = url.set(password=password)
            try:
                engine = create_engine(
                    url,
                    pool_pre_ping=True,
                    connect_args=connect_args(url, read_only=True, limit=self.read_limit),
                )
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
            if engine.dialect.name == "sqlite":
                self._guard = ReadGuard(self.read_limit)
                self._guard.install(engine)
            self._engine = engine
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

    def _describe(self, exc: SQLAlchemyError) -> str:
        """The driver's sentence; for a statement the authorizer refused, what and why."""
        refused = self._guard.refused() if self._guard is not None else None
        if refused is not None:
            return f"statement refused: a book is read-only here, and {refused} is not a read"
        if self._guard is not None and "interrupted" in describe_db_error(exc).lower():
            return f"the statement ran longer than {self.read_limit:g} s and was stopped"
        return describe_db_error(exc)

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
        # Each column aliased to the name as mapped: where names are case-insensitive (SQLite), a
        # mapping to "Symbol" reads column symbol, and the row must then be keyed "Symbol".
        columns = ", ".join(f"{preparer.quote(c)} AS {preparer.quote(c)}" for c in self.mapped_columns())
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
        """The account's lines; answered from its last good read while the probe allows it.

        The probe runs first, in the session that then runs the query, so the rows read are at
        least as new as the answer recorded with them (a change between the two only makes the
        next read a full one). A failed probe or read is a ``ReadError`` as ever, and forgets the
        account's last good read: the read after a failure is a full one.
        """
        # Without an account column every account reads the same lines: one entry serves all.
        key = account if "account" in self.config.fields else None
        try:
            return self._read(account, key)
        except ReadError:
            with self._good_lock:
                self._good.pop(key, None)
            raise

    def forget(self) -> None:
        """The next read of every account is a full one, whatever the probe answers."""
        with self._good_lock:
            self._good.clear()

    def _read(self, account: str | None, key: str | None) -> BookSnapshot:
        trusted = self.change_probe is not None and self.full_read_seconds > 0
        answer: str | None = None
        try:
            with self._read_only() as connection:
                started = self.clock()
                if trusted:
                    answer = self._probe(connection)
                    with self._good_lock:
                        last = self._good.get(key)
                    if (
                        last is not None
                        and last.answer == answer
                        and started - last.at < self.full_read_seconds
                    ):
                        return last.snapshot
                records = [dict(r) for r in connection.execute(text(self._statement(connection))).mappings()]
        except ConfigError:
            raise
        except (DBAPIError, SQLAlchemyError) as exc:
            raise self._fail(self._describe(exc)) from None
        except OSError as exc:
            raise self._fail(f"cannot be reached ({exc})") from None
        except SecretUnavailable as exc:
            raise self._fail(str(exc)) from None
        # (A ReadError of this book's own, such as a password variable not set, passes as it is.)
        lines = LineReader(self.config)
        for number, record in enumerate(records, 1):
            if not belongs(record, self.config, account):
                continue
            try:
                lines.add(record, f"row {number}")
            except RecordError as exc:
                raise self._fail(f"row {number}: {exc}") from None
        # What the lines say, not the rows' other columns (an updated_at stamp is no change).
        snapshot = lines.snapshot()
        if answer is not None:
            with self._good_lock:
                self._good[key] = GoodRead(answer, started, snapshot)
        return snapshot

    def _probe(self, connection: Connection) -> str:
        """The change probe's answer, as one text (every row and column of its result)."""
        assert self.change_probe is not None
        return repr(connection.execute(text(self.change_probe)).all())

    def check(self) -> None:
        """Config check: every mapped column exists; unreachable databases are left to the reads.

        Names are compared as the read will use them. A table's columns are quoted in the
        SELECT, and quoted identifiers are case-sensitive on PostgreSQL (``"Symbol"`` is not
        ``symbol``) but not on SQLite; a query's rows are looked up by the exact names its
        result carries, on every database.
        """
        try:
            with self._read_only() as connection:
                dialect = connection.dialect.name
                if self.query is not None:
                    result = connection.execute(
                        text(f"SELECT * FROM ({self.query}) AS position_sync_q WHERE 1 = 0")
                    )
                    available = list(result.keys())
                    caseless = False
                else:
                    assert self.table is not None
                    schema, _, name = self.table.rpartition(".")
                    inspector = inspect(connection)
                    if not inspector.has_table(name, schema=schema or None):
                        return  # a missing table is a read failure (stale), reported by read()
                    available = [c["name"] for c in inspector.get_columns(name, schema=schema or None)]
                    caseless = dialect in _CASELESS_COLUMNS
        except (DBAPIError, SQLAlchemyError, OSError, ReadError):
            return
        names = {c.lower() for c in available} if caseless else set(available)
        for field in ("symbol", "quantity", "average_price", "side", "account", "label"):
            if field not in self.config.fields and field not in ("symbol", "quantity", "average_price"):
                continue
            column = self.config.field_name(field)
            if (column.lower() if caseless else column) not in names:
                source = f"table '{self.table}'" if self.table else "the query"
                same_but_case = [c for c in available if c.lower() == column.lower()]
                hint = f"; names are case-sensitive here, write '{same_but_case[0]}'" if same_but_case else ""
                raise ConfigError(
                    self.config_path,
                    f"books.{self.id}.fields.{field}",
                    f"names column '{column}', which {source} does not have "
                    f"(it has: {', '.join(available)}){hint}",
                )

    def change_token(self) -> str | None:
        """The change probe's answer; None when the book names no probe (then it is not watched)."""
        if self.change_probe is None:
            return None
        try:
            with self._read_only() as connection:
                return self._probe(connection)
        except (DBAPIError, SQLAlchemyError, OSError, ReadError):
            return None


def _opt_str(options: Mapping[str, Any], key: str, config: BookConfig, path: Path | None) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"books.{config.id}.{key}", "must be a non-empty string")
    return value.strip()


KIND = BookKind(
    name="sql",
    label="SQL table or query",
    what="a SQL book",
    options=(
        Option(
            "url",
            str,
            "any SQLAlchemy URL, without a password in it",
            required=True,
            label="URL",
            example="sqlite:///bot.db or postgresql+psycopg2://user@host/db",
        ),
        Option(
            "password_env",
            str,
            "an environment variable holding the password (else the keyring entry BOOK:password)",
            label="Password variable",
            example="TRADING_DB_PASSWORD",
        ),
        Option(
            "table",
            str,
            "the table to read with fields (it may be schema-qualified); or give a query",
            example="positions or schema.positions",
        ),
        Option("where", str, "a condition selecting the table's open lines", example="closed_at IS NULL"),
        Option(
            "query",
            str,
            "instead of table: a whole SELECT whose columns are named as fields expects",
            example="SELECT symbol, qty AS quantity, avg AS average_price FROM …",
            multiline=True,
        ),
        Option(
            "change_probe",
            str,
            "polled; a new answer syncs the book's accounts at once, the same one spares a read",
            example="SELECT max(updated_at) FROM positions",
        ),
        Option(
            "probe_interval",
            float,
            "seconds between two change probes",
            default=DEFAULT_PROBE_INTERVAL,
            label="Probe interval (s)",
        ),
        Option(
            "full_read_seconds",
            float,
            "with a change_probe: the longest a read is answered from the last full one while the "
            "probe answers as before; 0: always read in full",
            default=DEFAULT_FULL_READ_SECONDS,
            label="Full read every (s)",
        ),
        Option(
            "writable",
            bool,
            "allow the opt-in book fixes (close phantom, adopt, take broker's); see Fix my book",
            default=False,
        ),
        Option(
            "write",
            dict,
            "[books.write]: the columns the fixes write (see Fix my book)",
            label="Write mapping",
            example='key = "id"\nclosed_at = "closed_at"',
            multiline=True,
        ),
    ),
    location="url",
    open=SqlBook,  # built as (config, secrets, config path), as every reader is
    secret="password",
    check=check_sql_book,
)

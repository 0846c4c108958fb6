"""TOML settings: accounts, books and their tolerances.

Every mistake becomes one ``ConfigError`` sentence naming the file, the field and what was
expected, so the CLI can exit 3 without a traceback. Secrets are never read from this file:
a ``*_env`` field names the environment variable that holds one (see ``app.secrets``).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from position_sync.app.broker import broker_catalog
from position_sync.app.domain import to_decimal
from position_sync.app.errors import ConfigError
from position_sync.app.redact import url_has_credentials

APP_NAME = "position-sync"
CONFIG_ENV = "POSITION_SYNC_CONFIG"
HOME_ENV = "POSITION_SYNC_HOME"

SECRET_FIELDS = frozenset(
    {"api_secret", "access_token", "password", "token", "secret", "api_key_secret", "request_token"}
)
BOOK_KINDS = frozenset({"file", "sql", "http"})
FIELD_NAMES = ("symbol", "quantity", "average_price", "side", "account", "label")

# What the file may hold, table by table. A key outside these is a typo far more often than a
# setting from a newer version, and a silently ignored typo (``tabel``, ``[[account]]``) is a
# setting the user believes is in force: each is refused with the keys that are accepted.
TOP_LEVEL_KEYS = ("accounts", "books", "store", "ui")
STORE_KEYS = ("url", "url_env")
BOOK_COMMON_KEYS = ("id", "kind", "fields")
BOOK_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "file": ("path", "format", "list_key"),
    "sql": (
        "url",
        "password_env",
        "table",
        "where",
        "query",
        "change_probe",
        "probe_interval",
        "writable",
        "write",
    ),
    "http": ("url", "list_key", "token_env", "auth", "timeout", "poll_interval"),
}
# The columns ``[books.write]`` may name (see ``app.fix.WriteMapping``).
WRITE_KEYS = (
    "table",
    "key",
    "closed_at",
    "status",
    "closed_value",
    "open_value",
    "reason",
    "external",
    "external_value",
)
# SQL a book runs on every read: each must be one statement (see ``single_statement``).
STATEMENT_KEYS = ("query", "where", "change_probe")

HTTP_CREDENTIALS_REFUSED = (
    "must not hold a user name or password (they would show in messages and events); name an "
    "environment variable holding a bearer token with 'token_env', or use auth = \"bearer\" for "
    "a token in the keyring"
)

ACCOUNT_KEYS = frozenset(
    {
        "id",
        "broker",
        "book",
        "exchange",
        "aliases",
        "interval",
        "timeout",
        "confirm_syncs",
        "settle_seconds",
        "price_tolerance_rel",
        "price_tolerance_abs",
        "mass_change_fraction",
        "mass_change_min",
        "currency",
        "market",
        "book_account",
        "enabled",
    }
)


@dataclass(frozen=True)
class BookConfig:
    id: str
    kind: str
    path: Path | None = None
    url: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def field_name(self, name: str) -> str:
        return self.fields.get(name, name)


@dataclass(frozen=True)
class AccountConfig:
    """One broker login and how to judge it.

    ``options`` holds the broker-specific keys (``api_key``, ``host``, ``scenario``...), checked
    by the broker's adapter; relative paths in it are resolved against ``base_dir``.
    """

    id: str
    broker: str
    book: str
    exchange: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    interval: float = 60.0
    timeout: float = 15.0
    confirm_syncs: int = 2
    settle_seconds: float = 5.0
    price_tolerance_rel: Decimal = Decimal("0.001")
    price_tolerance_abs: Decimal = Decimal("0.01")
    mass_change_fraction: Decimal = Decimal("0.5")
    mass_change_min: int = 3
    currency: str | None = None
    market: str | None = None
    book_account: str | None = None
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")
    config_path: Path | None = None

    def path_option(self, name: str) -> Path | None:
        value = self.options.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(self.config_path, f"accounts.{self.id}.{name}", "must be a path")
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def str_option(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.options.get(name, default)
        if value is None:
            if required:
                raise ConfigError(
                    self.config_path, f"accounts.{self.id}.{name}", "is required for this broker"
                )
            return None
        if not isinstance(value, str):
            raise ConfigError(self.config_path, f"accounts.{self.id}.{name}", "must be a string")
        return value

    def int_option(self, name: str, default: int | None = None) -> int | None:
        value = self.options.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.config_path, f"accounts.{self.id}.{name}", "must be a whole number")
        return value


@dataclass(frozen=True)
class Settings:
    path: Path | None
    accounts: tuple[AccountConfig, ...]
    books: dict[str, BookConfig]
    store_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def account(self, account_id: str) -> AccountConfig:
        for account in self.accounts:
            if account.id == account_id:
                return account
        known = ", ".join(a.id for a in self.accounts) or "none"
        raise ConfigError(self.path, "accounts", f"has no account '{account_id}' (known: {known})")


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_data_dir() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME))


def require_enabled_accounts(settings: Settings) -> None:
    """The headless commands (``sync``, ``status``, ``daemon``) have nothing to do without one.

    Not part of ``load_settings``: the window starts on such a file so that the user can add an
    account in its settings dialog.
    """
    if not any(account.enabled for account in settings.accounts):
        state = "no [[accounts]] table" if not settings.accounts else "no account with enabled = true"
        raise ConfigError(
            settings.path,
            "accounts",
            f"has {state}: add one (id, broker, book) or enable one, then run this again",
        )


def single_statement(sql: str) -> str | None:
    """``sql`` without its one trailing ``;`` (and spaces), or None when it holds a second one.

    A book's ``query``, ``where`` and ``change_probe`` run on every read, and drivers such as
    psycopg2 send a whole string at once: ``SELECT 1; COMMIT; DELETE FROM t`` would end the
    read-only transaction and delete. Any other ``;`` is refused, even one inside a string
    literal, rather than parsed: a refusal is safe, a wrong parse is not (write ``chr(59)`` for
    a literal semicolon).
    """
    text = sql.strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    return None if ";" in text else text


def refuse_unknown_keys(
    table: dict[str, Any], accepted: tuple[str, ...], field_prefix: str, what: str, path: Path | None
) -> None:
    """One sentence for the first key outside ``accepted``, with a "did you mean" when one is close."""
    unknown = sorted(key for key in table if key not in accepted)
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(
        path,
        f"{field_prefix}{key}",
        f"is not a key of {what}{hint}; it accepts {', '.join(sorted(accepted))}",
    )


def load_settings(path: Path) -> Settings:
    """Read and check the whole file; the first mistake found is raised as one sentence."""
    if not path.exists():
        raise ConfigError(path, "", "does not exist (pass --config PATH or set POSITION_SYNC_CONFIG)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot be read: {exc}") from None
    return parse_settings(raw, path)


def parse_settings(raw: dict[str, Any], path: Path | None) -> Settings:
    base_dir = path.parent.resolve() if path else Path.cwd()
    books_raw = _table_list(raw, "books", path)
    accounts_raw = _table_list(raw, "accounts", path)
    books: dict[str, BookConfig] = {}
    for index, entry in enumerate(books_raw):
        book = _parse_book(entry, index, path, base_dir)
        if book.id in books:
            raise ConfigError(path, f"books[{index}].id", f"'{book.id}' is used twice; ids must be unique")
        books[book.id] = book
    accounts: list[AccountConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(accounts_raw):
        account = _parse_account(entry, index, path, base_dir)
        if account.id in seen:
            raise ConfigError(
                path, f"accounts[{index}].id", f"'{account.id}' is used twice; ids must be unique"
            )
        if account.book not in books:
            known = ", ".join(sorted(books)) or "none defined"
            raise ConfigError(
                path,
                f"accounts[{index}].book",
                f"names book '{account.book}', which is not among [[books]] (known: {known})",
            )
        seen.add(account.id)
        accounts.append(account)
    store_url = _parse_store(raw, path, base_dir)
    if store_url is not None:
        from position_sync.app.store.identity import refuse_store_on_book

        field_name = "store.url_env" if "url_env" in raw.get("store", {}) else "store.url"
        refuse_store_on_book(store_url, books, path, field=field_name)
    # Last, so a mistake inside a known table is named first; then ``[[account]]`` for
    # ``[[accounts]]``, which would otherwise leave a file with no account and no complaint.
    refuse_unknown_keys(raw, TOP_LEVEL_KEYS, "", "the config file", path)
    options = {k: v for k, v in raw.items() if k not in {"books", "accounts", "store"}}
    return Settings(path, tuple(accounts), books, store_url, options)


def _parse_store(raw: dict[str, Any], path: Path | None, base_dir: Path) -> str | None:
    store = raw.get("store", {})
    if not isinstance(store, dict):
        raise ConfigError(path, "store", "must be a table ([store])")
    refuse_unknown_keys(store, STORE_KEYS, "store.", "[store]", path)
    store_url = store.get("url")
    field_name = "store.url"
    if store_url is not None and (not isinstance(store_url, str) or not store_url.strip()):
        raise ConfigError(path, field_name, "must be a SQLAlchemy URL string")
    url_env = store.get("url_env")
    from_env = False
    if url_env is not None:
        # A shared PostgreSQL store's URL holds a password: it comes from the environment.
        if store_url is not None or not isinstance(url_env, str) or not url_env.strip():
            raise ConfigError(path, "store.url_env", "names the variable holding the URL, instead of 'url'")
        store_url = os.environ.get(url_env)
        if not store_url:
            raise ConfigError(path, "store.url_env", f"names {url_env}, which is not set")
        field_name, from_env = "store.url_env", True
    if store_url is None:
        return None
    try:
        url = make_url(store_url.strip())
    except ArgumentError:
        where = f"names {url_env}, whose value" if from_env else "holds a value that"
        raise ConfigError(
            path, field_name, f"{where} is not a SQLAlchemy URL such as sqlite:///store.db"
        ) from None
    if url.password is not None and not from_env:
        raise ConfigError(
            path,
            "store.url",
            "must not hold a password (the config file is no place for a secret); put the whole URL "
            "in an environment variable and name it with 'url_env'",
        )
    database = url.database
    if (
        url.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
        and not Path(database).expanduser().is_absolute()
    ):
        # Like book paths: relative to the config file, not to wherever the program started.
        url = url.set(database=str(base_dir / Path(database).expanduser()))
    require_driver(url, path, field_name)
    return url.render_as_string(hide_password=False)


def require_driver(url: URL, path: Path | None, field_name: str) -> None:
    """The URL's database kind and its Python driver are there, or one sentence (exit 3).

    Opening an engine imports the driver: ``mysql://`` without ``MySQLdb`` was a traceback, and a
    NUL in a SQLite path a ``ValueError``, long after the file was read.
    """
    parts = (url.username, url.host, url.database, *map(str, url.query.values()))
    if any("\x00" in part for part in parts if part):
        raise ConfigError(path, field_name, "must not hold a NUL character")
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            path, field_name, f"names the database kind '{url.drivername}', which is not one SQLAlchemy knows"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = exc.name or str(exc)
        raise ConfigError(
            path,
            field_name,
            f"needs the Python driver '{missing}' for '{url.drivername}', which is not installed; "
            "install it or use sqlite:/// or postgresql+psycopg://",
        ) from None


def _table_list(raw: dict[str, Any], name: str, path: Path | None) -> list[dict[str, Any]]:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(path, name, f"must be an array of tables ([[{name}]])")
    return value


# Ids name accounts and books in events, file names, keyring entries and the command line: letters,
# digits and ``. _ - : @`` (``kite:AB1234``, ``demo-us-book``, ``ops@desk``), starting with a
# letter, digit or ``_``, so an id is never a path (``../x``), an option (``-x``), a line break,
# a NUL or a terminal escape.
ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:@-]*")
ID_MAX_LENGTH = 64
ID_RULE = (
    f"must be at most {ID_MAX_LENGTH} characters: letters, digits and . _ - : @, "
    "starting with a letter, a digit or _"
)


def _require_id(entry: dict[str, Any], where: str, path: Path | None) -> str:
    """An account's or book's ``id``: required, and from the safe character set."""
    value = _require_str(entry, "id", where, path)
    if len(value) > ID_MAX_LENGTH or not ID_PATTERN.fullmatch(value):
        # The value itself is not quoted: it may hold the very characters that are refused.
        raise ConfigError(path, f"{where}.id", ID_RULE)
    return value


def _require_str(entry: dict[str, Any], key: str, where: str, path: Path | None) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"{where}.{key}", "is required and must be a non-empty string")
    if "\x00" in value:
        # No id, kind, path or URL can hold one; left in, it crashes the first open() instead.
        raise ConfigError(path, f"{where}.{key}", "must not hold a NUL character")
    return value.strip()


def _check_no_secrets(entry: dict[str, Any], where: str, path: Path | None) -> None:
    for key in entry:
        if key in SECRET_FIELDS:
            raise ConfigError(
                path,
                f"{where}.{key}",
                f"must not hold a secret; store it in the keyring or name an environment "
                f"variable with '{key}_env'",
            )


def _parse_book(entry: dict[str, Any], index: int, path: Path | None, base_dir: Path) -> BookConfig:
    where = f"books[{index}]"
    book_id = _require_id(entry, where, path)
    where = f"books.{book_id}"
    _check_no_secrets(entry, where, path)
    kind = _require_str(entry, "kind", where, path)
    if kind not in BOOK_KINDS:
        raise ConfigError(
            path, f"{where}.kind", f"must be one of {', '.join(sorted(BOOK_KINDS))}, not '{kind}'"
        )
    kind_name = {"file": "a file book", "sql": "a SQL book", "http": "an HTTP book"}[kind]
    refuse_unknown_keys(entry, BOOK_COMMON_KEYS + BOOK_KIND_KEYS[kind], f"{where}.", kind_name, path)
    fields = entry.get("fields", {})
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in fields.items()
    ):
        raise ConfigError(path, f"{where}.fields", 'must be a table of field = "column name" strings')
    unknown = sorted(set(fields) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(
            path, f"{where}.fields.{unknown[0]}", f"is not a known field (known: {', '.join(FIELD_NAMES)})"
        )
    book_path: Path | None = None
    url: str | None = None
    if kind == "file":
        raw_path = _require_str(entry, "path", where, path)
        book_path = Path(raw_path).expanduser()
        if not book_path.is_absolute():
            book_path = base_dir / book_path
    else:
        url = _require_str(entry, "url", where, path)
    fmt = entry.get("format")
    if fmt is not None and fmt not in ("json", "csv"):
        raise ConfigError(path, f"{where}.format", "must be 'json' or 'csv'")
    options = {k: v for k, v in entry.items() if k not in {"id", "kind", "path", "url", "fields", "format"}}
    for key in ("timeout", "poll_interval", "probe_interval"):
        if key in options:  # only the keys of this kind got past ``refuse_unknown_keys``
            options[key] = seconds_value(options, key, where, path)
    if "list_key" in options and (not isinstance(options["list_key"], str) or not options["list_key"]):
        raise ConfigError(path, f"{where}.list_key", "must be the name of the positions list, a string")
    if kind == "http":
        assert url is not None
        if url_has_credentials(url):
            raise ConfigError(path, f"{where}.url", HTTP_CREDENTIALS_REFUSED)
        if "auth" in options and options["auth"] != "bearer":
            raise ConfigError(
                path, f"{where}.auth", f'must be "bearer" (a token from the keyring), not {options["auth"]!r}'
            )
    if kind == "sql":
        assert url is not None
        check_sql_book(url, options, where, path)
    return BookConfig(book_id, kind, book_path, url, dict(fields), fmt, options)


def check_sql_book(url: str, options: dict[str, Any], where: str, path: Path | None) -> None:
    """What a SQL book's settings must be before anything connects (the columns come later)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            path, f"{where}.url", "is not a SQLAlchemy URL such as sqlite:///positions.db"
        ) from None
    if parsed.password is not None:
        raise ConfigError(
            path,
            f"{where}.url",
            "must not hold a password; store it in the keyring or name a variable with 'password_env'",
        )
    for key in STATEMENT_KEYS:
        value = options.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(path, f"{where}.{key}", "must be a non-empty string")
        statement = single_statement(value)
        if statement is None:
            raise ConfigError(path, f"{where}.{key}", SINGLE_STATEMENT_REFUSED)
        options[key] = statement
    # ``writable = "no"`` is a non-empty string, true to Python: only a TOML boolean is accepted.
    if "writable" in options and not isinstance(options["writable"], bool):
        raise ConfigError(path, f"{where}.writable", f"must be true or false, not {options['writable']!r}")
    write = options.get("write")
    if write is not None:
        if not isinstance(write, dict):
            raise ConfigError(path, f"{where}.write", "must be a table ([books.write])")
        refuse_unknown_keys(write, WRITE_KEYS, f"{where}.write.", "[books.write]", path)
        for key, value in write.items():
            if key.endswith("_value"):
                # The value written into a status or source column may be a number (status = 0).
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                    raise ConfigError(path, f"{where}.write.{key}", "must be a string or a number")
            elif not isinstance(value, str) or not value.strip():
                raise ConfigError(path, f"{where}.write.{key}", "must name a column (a non-empty string)")


SINGLE_STATEMENT_REFUSED = (
    "must be one SQL statement: a ';' may only end it, since a second statement could end the "
    "read-only transaction and write to the book"
)


# Upper bounds of the tuning numbers. Beyond them a value is a typo or a test of the program,
# never a setting: ``interval = 1e30`` overflowed the event loop's timer and ``inf`` the decimal
# arithmetic; a bound turns each into one sentence at load time.
MAX_INTERVAL_SECONDS = 86_400  # a day between syncs (and between book polls or probes)
MAX_TIMEOUT_SECONDS = 3_600  # an hour for one read
MAX_SETTLE_SECONDS = 86_400
MAX_TOLERANCE_REL = 1  # 100 %: a wider relative tolerance accepts any price
MAX_TOLERANCE_ABS = 1_000_000_000
SECONDS_LIMITS: dict[str, tuple[float, float, bool]] = {
    # key: (lowest, highest, whether the lowest itself is allowed)
    "interval": (0, MAX_INTERVAL_SECONDS, False),
    "timeout": (0, MAX_TIMEOUT_SECONDS, False),
    "settle_seconds": (0, MAX_SETTLE_SECONDS, True),
    "poll_interval": (0, MAX_INTERVAL_SECONDS, False),
    "probe_interval": (0, MAX_INTERVAL_SECONDS, False),
}


def _number(
    entry: dict[str, Any],
    key: str,
    where: str,
    path: Path | None,
    *,
    minimum: float | None = 0,
    maximum: float | None = None,
) -> Any:
    """A finite decimal within ``[minimum, maximum]``; NaN, infinities and overflow are refused.

    A TOML float is checked as a float first: ``1e30`` cannot become an exact Decimal integer in
    the default context, and ``inf``/``nan`` are no numbers of seconds or prices.
    """
    value = entry[key]
    field_name = f"{where}.{key}"
    # Decimal too: broker defaults from the registry are Decimals (IB's price tolerance).
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ConfigError(path, field_name, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(path, field_name, f"must be a finite number, not {value}")
    if maximum is not None and isinstance(value, (int, float)) and value > maximum:
        raise ConfigError(path, field_name, f"must be at most {maximum:g}, not {value:g}")
    try:
        number = to_decimal(value)
    except (ValueError, ArithmeticError):
        raise ConfigError(path, field_name, f"must be a number, not {value!r}") from None
    if minimum is not None and number < Decimal(str(minimum)):
        raise ConfigError(path, field_name, f"must be at least {minimum:g}, not {value}")
    if maximum is not None and number > Decimal(str(maximum)):
        raise ConfigError(path, field_name, f"must be at most {maximum:g}, not {value}")
    return number


def seconds_value(entry: dict[str, Any], key: str, where: str, path: Path | None) -> float:
    """A number of seconds from ``entry[key]``, within ``SECONDS_LIMITS[key]``.

    The one check of every duration, accounts' (``interval``, ``timeout``, ``settle_seconds``)
    and books' (``timeout``, ``poll_interval``, ``probe_interval``) alike, so ``nan`` (which no
    ``<= 0`` test catches) and ``1e30`` are refused everywhere the same way.
    """
    lowest, highest, lowest_allowed = SECONDS_LIMITS[key]
    seconds = _number(entry, key, where, path, minimum=None, maximum=highest)
    if seconds < lowest or (seconds == lowest and not lowest_allowed):
        expected = f"{lowest:g} seconds or more" if lowest_allowed else f"greater than {lowest:g} seconds"
        raise ConfigError(path, f"{where}.{key}", f"must be {expected}, not {entry[key]}")
    return float(seconds)


def _parse_account(entry: dict[str, Any], index: int, path: Path | None, base_dir: Path) -> AccountConfig:
    where = f"accounts[{index}]"
    account_id = _require_id(entry, where, path)
    where = f"accounts.{account_id}"
    _check_no_secrets(entry, where, path)
    broker = _require_str(entry, "broker", where, path)
    book = _require_str(entry, "book", where, path)
    values: dict[str, Any] = {}
    try:
        defaults = broker_catalog().broker_defaults(broker)
    except KeyError as exc:
        raise ConfigError(path, f"{where}.broker", str(exc.args[0])) from None
    merged = {**defaults, **entry}
    for key in ("interval", "timeout", "settle_seconds"):
        if key in merged:
            # Each field is named on its own, and 0 is refused where it would mean "never wait".
            values[key] = seconds_value(merged, key, where, path)
    for key in ("confirm_syncs", "mass_change_min"):
        if key in merged:
            value = merged[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    path, f"{where}.{key}", f"must be a whole number of at least 1, not {value!r}"
                )
            values[key] = value
    highest = {
        "price_tolerance_rel": MAX_TOLERANCE_REL,
        "price_tolerance_abs": MAX_TOLERANCE_ABS,
        "mass_change_fraction": None,  # its own sentence below: between 0 and 1
    }
    for key, maximum in highest.items():
        if key in merged:
            values[key] = _number(merged, key, where, path, maximum=maximum)
    if "mass_change_fraction" in values and values["mass_change_fraction"] > 1:
        raise ConfigError(path, f"{where}.mass_change_fraction", "must be between 0 and 1")
    for key in ("exchange", "currency", "book_account"):
        if key in merged and merged[key] is not None:
            value = merged[key]
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(path, f"{where}.{key}", "must be a non-empty string")
            values[key] = value.strip().upper() if key == "exchange" else value.strip()
    if "market" in merged:
        if merged["market"] not in ("spot", "swap", "future"):
            raise ConfigError(path, f"{where}.market", "must be 'spot', 'swap' or 'future'")
        values["market"] = merged["market"]
    if "enabled" in merged:
        if not isinstance(merged["enabled"], bool):
            raise ConfigError(path, f"{where}.enabled", "must be true or false")
        values["enabled"] = merged["enabled"]
    aliases = entry.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in aliases.items()
    ):
        raise ConfigError(
            path, f"{where}.aliases", 'must be a table of "spelling" = "instrument key" strings'
        )
    options = {k: v for k, v in merged.items() if k not in ACCOUNT_KEYS}
    return AccountConfig(
        id=account_id,
        broker=broker,
        book=book,
        aliases=dict(aliases),
        options=options,
        base_dir=base_dir,
        config_path=path,
        **values,
    )

"""TOML settings: accounts, books and their tolerances.

Every mistake becomes one ``ConfigError`` sentence naming the file, the field and what was
expected, so the CLI can exit 3 without a traceback. Secrets are never read from this file:
a ``*_env`` field names the environment variable that holds one (see ``app.secrets``).
"""

from __future__ import annotations

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

from position_sync.app.broker import BrokerSpec, broker_catalog
from position_sync.app.config_values import (
    MAX_TOLERANCE_ABS,
    MAX_TOLERANCE_REL,
    SINGLE_STATEMENT_REFUSED,
    refuse_unknown_keys,
    single_statement,
)
from position_sync.app.errors import ConfigError
from position_sync.app.options import Option, check_options, option_keys
from position_sync.app.redact import url_has_credentials
from position_sync.app.team.settings import TEAM_KEYS, TeamSettings, parse_team

APP_NAME = "position-sync"
CONFIG_ENV = "POSITION_SYNC_CONFIG"
HOME_ENV = "POSITION_SYNC_HOME"

SECRET_FIELDS = frozenset(
    {"api_secret", "access_token", "password", "token", "secret", "api_key_secret", "request_token"}
)
FIELD_NAMES = ("symbol", "quantity", "average_price", "side", "account", "label")

# What the file may hold, table by table. A key outside these is a typo far more often than a
# setting from a newer version, and a silently ignored typo (``tabel``, ``[[account]]``) is a
# setting the user believes is in force: each is refused with the keys that are accepted.
TOP_LEVEL_KEYS = ("accounts", "books", "store", "ui")
STORE_KEYS = ("url", "url_env", *TEAM_KEYS)
BOOK_COMMON_KEYS = ("id", "kind", "fields")
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

# The keys every account has, whatever its broker; a broker adds its own (``BrokerSpec.options``).
# Each default here is the ``AccountConfig`` field's (a test holds them equal); brokers may set
# another through their ``BrokerSpec.defaults``.
ACCOUNT_OPTIONS: tuple[Option, ...] = (
    Option("id", str, "the account's name in the window, the CLI and the store", required=True),
    Option("broker", str, "which broker the account is at (see Brokers)", required=True),
    Option("book", str, "the `id` of the book holding this account's positions", required=True),
    Option(
        "exchange",
        str,
        "prefix for book symbols written without one (`NIFTY25O0725150CE` -> `NFO:NIFTY25O0725150CE`)",
        label="Default exchange",
    ),
    Option(
        "market",
        str,
        "for crypto accounts: native pairs (`BTCUSDT`) are read as ccxt's unified symbols",
        choices=("spot", "swap", "future"),
    ),
    Option(
        "aliases",
        dict,
        'table of `"spelling" = "instrument key"` for what no rule can guess',
        default={},
    ),
    Option("interval", float, "seconds between syncs", default=60.0, label="Sync interval"),
    Option("timeout", float, "seconds each read may take", default=15.0),
    Option(
        "confirm_syncs",
        int,
        "good syncs a new problem must hold before it is reported",
        default=2,
        minimum=1,
        label="Confirm after syncs",
    ),
    Option(
        "settle_seconds",
        float,
        "seconds the book must be unchanged before a problem is reported",
        default=5.0,
        label="Book settle time",
    ),
    Option(
        "price_tolerance_rel",
        Decimal,
        "relative average-price tolerance",
        default=Decimal("0.001"),
        maximum=MAX_TOLERANCE_REL,
        label="Price tolerance (relative)",
    ),
    Option(
        "price_tolerance_abs",
        Decimal,
        "absolute average-price tolerance; a price matches when within `abs + rel * broker price`",
        default=Decimal("0.01"),
        maximum=MAX_TOLERANCE_ABS,
        label="Price tolerance (absolute)",
    ),
    Option(
        "mass_change_fraction",
        Decimal,
        "share of positions (0 to 1) that, vanishing at once, is held (rule 3)",
        default=Decimal("0.5"),
    ),
    Option("mass_change_min", int, "and at least this many", default=3, minimum=1),
    Option("currency", str, "shown with the account's numbers"),
    Option(
        "book_account",
        str,
        "the value of the book's account column that belongs to this account (default: the account `id`)",
    ),
    Option("enabled", bool, "false keeps the account in the file but does not sync it", default=True),
)
ACCOUNT_KEYS = frozenset(option_keys(ACCOUNT_OPTIONS))
# Checked by ``_parse_account`` itself: the ids and names, and the aliases' table shape.
_ACCOUNT_OWN_CHECKS = frozenset({"id", "broker", "book", "aliases"})


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
    team: TeamSettings = field(default_factory=TeamSettings)

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
    backend = make_url(store_url).get_backend_name() if store_url is not None else None
    team = parse_team(raw.get("store", {}), backend, path)
    return Settings(path, tuple(accounts), books, store_url, options, team)


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
    """A book as its kind declares it (``app.books.kinds``): its keys checked by type, where
    it is resolved, and the kind's own checks run, all before anything is opened."""
    from position_sync.app.books.kinds import book_kind  # the book modules import this one

    where = f"books[{index}]"
    book_id = _require_id(entry, where, path)
    where = f"books.{book_id}"
    _check_no_secrets(entry, where, path)
    try:
        kind = book_kind(_require_str(entry, "kind", where, path))
    except KeyError as exc:
        raise ConfigError(path, f"{where}.kind", str(exc.args[0])) from None
    options = check_options(kind.options, entry, where, path, kind.what, also=BOOK_COMMON_KEYS)
    fields = _fields(entry, where, path)
    location = str(options.pop(kind.location)).strip()
    book_path: Path | None = None
    url: str | None = None
    if kind.location == "path":
        book_path = Path(location).expanduser()
        if not book_path.is_absolute():
            book_path = base_dir / book_path
    else:
        url = location
    fmt = options.pop("format", None)
    if kind.check is not None:
        kind.check(url, options, where, path)
    return BookConfig(book_id, kind.name, book_path, url, fields, fmt, options)


def _fields(entry: dict[str, Any], where: str, path: Path | None) -> dict[str, str]:
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
    return dict(fields)


def check_http_book(url: str | None, options: dict[str, Any], where: str, path: Path | None) -> None:
    """What an HTTP book's settings must be before anything connects."""
    if url is not None and url_has_credentials(url):
        raise ConfigError(path, f"{where}.url", HTTP_CREDENTIALS_REFUSED)
    if "auth" in options and options["auth"] != "bearer":
        raise ConfigError(
            path, f"{where}.auth", f'must be "bearer" (a token from the keyring), not {options["auth"]!r}'
        )


def check_sql_book(url: str | None, options: dict[str, Any], where: str, path: Path | None) -> None:
    """What a SQL book's settings must be before anything connects (the columns come later)."""
    try:
        parsed = make_url(url or "")
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


def _parse_account(entry: dict[str, Any], index: int, path: Path | None, base_dir: Path) -> AccountConfig:
    """An account in three steps: who it is, its common settings over the broker's defaults,
    and the rest as broker options, checked against the broker's declaration."""
    where = f"accounts[{index}]"
    account_id = _require_id(entry, where, path)
    where = f"accounts.{account_id}"
    declared = _declared_broker(entry.get("broker"))
    if declared is not None:
        # Before the general secret check: its advice (the keyring) is wrong for a key the
        # broker must never be given at all.
        refuse_declared_keys(declared, entry, where, path)
    _check_no_secrets(entry, where, path)
    broker = _require_str(entry, "broker", where, path)
    book = _require_str(entry, "book", where, path)
    try:
        spec = broker_catalog().broker_spec(broker)
    except KeyError as exc:
        raise ConfigError(path, f"{where}.broker", str(exc.args[0])) from None
    merged = {**spec.defaults, **entry}
    account = AccountConfig(
        id=account_id,
        broker=broker,
        book=book,
        aliases=_aliases(entry, where, path),
        options={k: v for k, v in merged.items() if k not in ACCOUNT_KEYS},
        base_dir=base_dir,
        config_path=path,
        **_account_settings(merged, where, path),
    )
    # A typo among the account's keys (``intervall``) or the broker's (``api_rot``) is refused
    # here, with a "did you mean", for every command alike, not only once an adapter is built.
    check_broker_options(spec, account)
    return account


def _declared_broker(name: Any) -> BrokerSpec | None:
    """The declaration of the broker an entry names, None when it names none the catalogue knows
    (the entry's other checks then say what is wrong with it)."""
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return broker_catalog().broker_spec(name.strip())
    except KeyError:
        return None


def refuse_declared_keys(spec: BrokerSpec, table: dict[str, Any], where: str, path: Path | None) -> None:
    """One sentence for the first key the broker refuses outright (``BrokerSpec.refused``)."""
    for key in sorted(table):
        reason = spec.refused.get(key)
        if reason is not None:
            raise ConfigError(path, f"{where}.{key}", reason)


def check_broker_options(spec: BrokerSpec, account: AccountConfig) -> None:
    """The account's broker keys against its broker's declaration: one sentence for the first
    key the broker refuses, the first unknown key (with a "did you mean", the common keys
    included), a missing required key or a value of the wrong type. Run by the parser, and again
    when an adapter is built."""
    refuse_declared_keys(spec, account.options, f"accounts.{account.id}", account.config_path)
    check_options(
        spec.options,
        account.options,
        f"accounts.{account.id}",
        account.config_path,
        spec.what,
        also=tuple(sorted(ACCOUNT_KEYS)),
    )


def _account_settings(merged: dict[str, Any], where: str, path: Path | None) -> dict[str, Any]:
    """The common settings present in the file (or the broker's defaults), each checked as
    ``ACCOUNT_OPTIONS`` declares it; absent ones keep ``AccountConfig``'s defaults."""
    values: dict[str, Any] = {}
    for option in ACCOUNT_OPTIONS:
        if option.key in _ACCOUNT_OWN_CHECKS or merged.get(option.key) is None:
            continue
        value = option.check(merged[option.key], where, path)
        values[option.key] = value.strip() if isinstance(value, str) else value
    if "exchange" in values:
        values["exchange"] = values["exchange"].upper()
    if values.get("mass_change_fraction", 0) > 1:
        raise ConfigError(path, f"{where}.mass_change_fraction", "must be between 0 and 1")
    return values


def _aliases(entry: dict[str, Any], where: str, path: Path | None) -> dict[str, str]:
    aliases = entry.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in aliases.items()
    ):
        raise ConfigError(
            path, f"{where}.aliases", 'must be a table of "spelling" = "instrument key" strings'
        )
    return dict(aliases)

"""Configuration: the minimal file works as written, every mistake is one sentence, secrets stay out."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import keyring
import pytest

from position_sync.app.config import (
    WRITE_KEYS,
    AccountConfig,
    BookConfig,
    Settings,
    default_config_path,
    default_data_dir,
    load_settings,
    require_enabled_accounts,
)
from position_sync.app.domain import AccountState, Status
from position_sync.app.errors import ConfigError, ReadErrorKind
from position_sync.app.exit_codes import ExitCode
from position_sync.app.fix import FixNotAllowed, WriteMapping
from position_sync.app.secrets import KEYRING_SERVICE, Secrets, SecretUnavailable, keyring_username
from position_sync.wiring import build_runtime
from tests.conftest import MemoryKeyring, write_book, write_scenario

MINIMAL = """\
[[books]]
id = "bot"
kind = "file"
path = "book.json"

[[accounts]]
id = "sim"
broker = "simulated"
scenario = "scenario.toml"
book = "bot"
exchange = "NFO"        # the exchange of symbols written without a prefix
"""


def write_minimal(root: Path, text: str = MINIMAL) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_book(root / "book.json", [{"symbol": "NIFTY26NOVFUT", "quantity": 75, "average_price": 24500}])
    write_scenario(
        root / "scenario.toml",
        [{"positions": [{"symbol": "NIFTY26NOVFUT", "quantity": "75", "average_price": "24500"}]}],
    )
    config = root / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


def mistake(tmp_path: Path, text: str) -> str:
    """The sentence a config mistake gives; it always names the file and is one line."""
    config = write_minimal(tmp_path / "conf", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert message.startswith(f"{config}: "), message
    assert "\n" not in message
    return message


# -- the minimal config ------------------------------------------------------------------


def test_the_minimal_config_loads_as_written(tmp_path: Path) -> None:
    config = write_minimal(tmp_path / "conf")
    settings = load_settings(config)
    assert settings.path == config
    [account] = settings.accounts
    assert account.id == "sim" and account.broker == "simulated" and account.book == "bot"
    assert account.exchange == "NFO"
    assert account.interval == 60.0 and account.timeout == 15.0 and account.confirm_syncs == 2
    assert account.price_tolerance_rel == Decimal("0.001")
    assert account.path_option("scenario") == (tmp_path / "conf" / "scenario.toml").resolve()
    assert settings.books["bot"].path == (tmp_path / "conf" / "book.json").resolve()
    assert settings.store_url is None


async def test_the_minimal_config_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths are relative to the config file, wherever the program is started from."""
    config = write_minimal(tmp_path / "conf")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = Path("..") / config.relative_to(tmp_path)
    runtime = build_runtime(load_settings(relative), tmp_path / "data")
    try:
        await runtime.worker.load()
        result = await runtime.worker.sync("sim")
    finally:
        await runtime.close()
    assert result.state is AccountState.OK, result.error
    assert {key: row.status for key, row in result.rows.items()} == {"NFO:NIFTY26NOVFUT": Status.MATCH}
    assert (tmp_path / "data" / "position-sync.db").exists()
    assert not list(elsewhere.iterdir())


def test_relative_paths_follow_the_config_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_minimal(tmp_path / "a" / "b")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path("a/b/config.toml"))
    assert settings.books["bot"].path == tmp_path / "a" / "b" / "book.json"
    assert settings.accounts[0].path_option("scenario") == tmp_path / "a" / "b" / "scenario.toml"
    absolute = MINIMAL.replace('path = "book.json"', f"path = {json.dumps(str(tmp_path / 'x.json'))}")
    config.write_text(absolute, encoding="utf-8")
    assert load_settings(config).books["bot"].path == tmp_path / "x.json"


def test_broker_defaults_apply_and_the_file_overrides_them(tmp_path: Path) -> None:
    text = MINIMAL.replace('broker = "simulated"', 'broker = "ibkr"').replace(
        'scenario = "scenario.toml"\n', ""
    )
    settings = load_settings(write_minimal(tmp_path / "conf", text))
    assert settings.accounts[0].interval == 30.0
    assert settings.accounts[0].price_tolerance_rel == Decimal("0.005")
    text += "interval = 5\nprice_tolerance_rel = 0.002\n"
    settings = load_settings(write_minimal(tmp_path / "conf", text))
    assert settings.accounts[0].interval == 5.0
    assert settings.accounts[0].price_tolerance_rel == Decimal("0.002")


def test_tuning_fields_and_broker_options(tmp_path: Path) -> None:
    text = MINIMAL.replace('broker = "simulated"', 'broker = "kite"').replace(
        'scenario = "scenario.toml"\n', ""
    ) + (
        'interval = 2.5\ntimeout = 0.2\nconfirm_syncs = 3\nsettle_seconds = 0\nprice_tolerance_abs = "0.05"\n'
        'mass_change_fraction = 0.25\nmass_change_min = 5\naliases = { "NIFTY FUT" = "NFO:NIFTY26NOVFUT" }\n'
        'api_key = "kitekey"\naccess_token_env = "KITE_TOKEN"\n'
    )
    account = load_settings(write_minimal(tmp_path / "conf", text)).accounts[0]
    assert (account.interval, account.timeout, account.confirm_syncs, account.settle_seconds) == (
        2.5,
        0.2,
        3,
        0.0,
    )
    assert account.price_tolerance_abs == Decimal("0.05")
    assert account.mass_change_fraction == Decimal("0.25") and account.mass_change_min == 5
    assert account.aliases == {"NIFTY FUT": "NFO:NIFTY26NOVFUT"}
    assert account.options["api_key"] == "kitekey"
    assert account.options["access_token_env"] == "KITE_TOKEN"


def test_default_locations_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_config_path() == tmp_path / "xdg-config" / "position-sync" / "config.toml"
    assert default_data_dir() == tmp_path / "xdg-data" / "position-sync"
    monkeypatch.setenv("POSITION_SYNC_CONFIG", str(tmp_path / "c.toml"))
    monkeypatch.setenv("POSITION_SYNC_HOME", str(tmp_path / "home"))
    assert default_config_path() == tmp_path / "c.toml"
    assert default_data_dir() == tmp_path / "home"


def test_settings_name_an_unknown_account(tmp_path: Path) -> None:
    settings: Settings = load_settings(write_minimal(tmp_path / "conf"))
    assert isinstance(settings.account("sim"), AccountConfig)
    with pytest.raises(ConfigError, match=r"'accounts' has no account 'nope' \(known: sim\)"):
        settings.account("nope")


# -- mistakes: one sentence naming the file and the field --------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "none.toml")
    assert str(caught.value).startswith(f"{tmp_path / 'none.toml'}: does not exist")


def test_bad_toml(tmp_path: Path) -> None:
    message = mistake(tmp_path, MINIMAL.replace('id = "sim"', 'id = "sim'))
    assert "is not valid TOML" in message
    assert "line 7" in message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (('id = "sim"', ""), "accounts[0].id", "is required"),
        (('id = "bot"', ""), "books[0].id", "is required"),
        (('id = "sim"', "id = 7"), "accounts[0].id", "non-empty string"),
        (('broker = "simulated"', ""), "accounts.sim.broker", "is required"),
        (('broker = "simulated"', 'broker = "etrade"'), "accounts.sim.broker", "must be one of"),
        (('book = "bot"', 'book = "robot"'), "accounts[0].book", "book 'robot'"),
        (('kind = "file"', 'kind = "excel"'), "books.bot.kind", "must be one of file"),
        (('path = "book.json"', ""), "books.bot.path", "is required"),
        (('exchange = "NFO"', 'exchange = ""'), "accounts.sim.exchange", "non-empty string"),
        (('exchange = "NFO"', 'exchange = "NFO"\ninterval = "fast"'), "accounts.sim.interval", "number"),
        (('exchange = "NFO"', 'exchange = "NFO"\ninterval = true'), "accounts.sim.interval", "number"),
        (('exchange = "NFO"', 'exchange = "NFO"\ninterval = -5'), "accounts.sim.interval", "greater than 0"),
        (('exchange = "NFO"', 'exchange = "NFO"\ninterval = 0'), "accounts.sim.interval", "greater than 0"),
        (('exchange = "NFO"', 'exchange = "NFO"\ntimeout = 0'), "accounts.sim.timeout", "greater than 0"),
        (
            ('exchange = "NFO"', 'exchange = "NFO"\nsettle_seconds = -1'),
            "accounts.sim.settle_seconds",
            "0 seconds or more",
        ),
        (
            ('exchange = "NFO"', 'exchange = "NFO"\nprice_tolerance_rel = "1%"'),
            "accounts.sim.price_tolerance_rel",
            "must be a number, not '1%'",
        ),
        (
            ('exchange = "NFO"', 'exchange = "NFO"\nprice_tolerance_abs = -0.5'),
            "accounts.sim.price_tolerance_abs",
            "at least 0, not -0.5",
        ),
        (
            ('exchange = "NFO"', 'exchange = "NFO"\nconfirm_syncs = 0'),
            "accounts.sim.confirm_syncs",
            "at least 1",
        ),
        (
            ('exchange = "NFO"', 'exchange = "NFO"\nconfirm_syncs = 1.5'),
            "accounts.sim.confirm_syncs",
            "whole number",
        ),
        (
            ('exchange = "NFO"', 'exchange = "NFO"\nmass_change_fraction = 2'),
            "accounts.sim.mass_change_fraction",
            "between 0 and 1",
        ),
        (('exchange = "NFO"', 'exchange = "NFO"\nmarket = "options"'), "accounts.sim.market", "'swap'"),
        (('exchange = "NFO"', 'exchange = "NFO"\nenabled = "yes"'), "accounts.sim.enabled", "true or false"),
        (
            ('exchange = "NFO"', 'exchange = "NFO"\naliases = { "NIFTY FUT" = 5 }'),
            "accounts.sim.aliases",
            "table of",
        ),
        (('exchange = "NFO"', 'exchange = "NFO"\naliases = ["x"]'), "accounts.sim.aliases", "table of"),
        (
            ('path = "book.json"', 'path = "book.json"\nfields = { qty = "q" }'),
            "books.bot.fields.qty",
            "known",
        ),
        (
            ('path = "book.json"', 'path = "book.json"\nfields = { quantity = 1 }'),
            "books.bot.fields",
            "column name",
        ),
        (('path = "book.json"', 'path = "book.json"\nformat = "xml"'), "books.bot.format", "'json' or 'csv'"),
        (("[[books]]", "books = 5\n[[nothing]]"), "books", "array of tables"),
        (("[[accounts]]", "[store]\nurl = 5\n[[accounts]]"), "store.url", "SQLAlchemy URL"),
    ],
)
def test_a_mistake_names_the_field(tmp_path: Path, change: tuple[str, str], field: str, words: str) -> None:
    old, new = change
    assert old in MINIMAL
    message = mistake(tmp_path, MINIMAL.replace(old, new, 1))
    assert f"'{field}'" in message
    assert words in message


@pytest.mark.parametrize("key", ["access_token", "api_secret", "password", "request_token"])
def test_a_secret_written_into_the_file_is_refused_without_repeating_it(tmp_path: Path, key: str) -> None:
    message = mistake(tmp_path, MINIMAL + f'{key} = "s3cr3t-value-9f8e"\n')
    assert f"'accounts.sim.{key}'" in message
    assert "must not hold a secret" in message
    assert f"'{key}_env'" in message
    assert "s3cr3t" not in message


def test_a_secret_in_a_book_is_refused(tmp_path: Path) -> None:
    message = mistake(tmp_path, MINIMAL.replace('kind = "file"', 'kind = "file"\npassword = "hunter2"'))
    assert "'books.bot.password'" in message and "hunter2" not in message


def test_duplicate_ids(tmp_path: Path) -> None:
    account = MINIMAL[MINIMAL.index("[[accounts]]") :]
    message = mistake(tmp_path, MINIMAL + "\n" + account)
    assert "'accounts[1].id'" in message and "'sim' is used twice" in message
    book = MINIMAL[: MINIMAL.index("[[accounts]]")]
    message = mistake(tmp_path, book + MINIMAL)
    assert "'books[1].id'" in message and "'bot' is used twice" in message


def test_a_missing_scenario_file_names_the_config_and_the_field(tmp_path: Path) -> None:
    config = write_minimal(tmp_path / "conf", MINIMAL.replace("scenario.toml", "missing.toml"))
    settings = load_settings(config)  # the file is checked when the adapter is built
    with pytest.raises(ConfigError) as caught:
        build_runtime(settings, tmp_path / "data")
    message = str(caught.value)
    assert message.startswith(f"{config}: 'accounts.sim.scenario'"), message
    assert str(tmp_path / "conf" / "missing.toml") in message
    assert "does not exist" in message


def test_a_mistake_inside_the_scenario_names_the_scenario_file(tmp_path: Path) -> None:
    config = write_minimal(tmp_path / "conf")
    scenario = tmp_path / "conf" / "scenario.toml"
    scenario.write_text('[[steps]]\npositions = [{ symbol = "A", quantity = "ten" }]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        build_runtime(load_settings(config), tmp_path / "data")
    assert str(caught.value).startswith(f"{scenario}: 'steps[0].positions[0]'")


# -- secrets -----------------------------------------------------------------------------


def test_secrets_from_the_environment() -> None:
    secrets = Secrets(environ={"KITE_TOKEN": "tok-123", "EMPTY": ""})
    options = {"access_token_env": "KITE_TOKEN", "api_secret_env": "EMPTY", "password_env": "UNSET"}
    assert secrets.get("sim", options, "access_token") == "tok-123"
    assert secrets.get("sim", options, "api_secret") is None
    assert secrets.get("sim", options, "password") is None
    assert secrets.source("sim", options, "access_token") == "environment variable KITE_TOKEN"
    assert "tok-123" not in secrets.source("sim", options, "access_token")


def test_an_environment_variable_wins_over_the_keyring(memory_keyring: MemoryKeyring) -> None:
    Secrets().store("sim", "access_token", "from-keyring")
    secrets = Secrets(environ={"KITE_TOKEN": "from-env"})
    assert secrets.get("sim", {"access_token_env": "KITE_TOKEN"}, "access_token") == "from-env"
    assert secrets.get("sim", {}, "access_token") == "from-keyring"


def test_secrets_from_the_keyring(memory_keyring: MemoryKeyring) -> None:
    secrets = Secrets(environ={})
    assert secrets.get("kite:AB1234", {}, "api_secret") is None
    secrets.store("kite:AB1234", "api_secret", "shh")
    assert memory_keyring.entries == {(KEYRING_SERVICE, "kite:AB1234:api_secret"): "shh"}
    assert keyring.get_password(KEYRING_SERVICE, keyring_username("kite:AB1234", "api_secret")) == "shh"
    assert secrets.get("kite:AB1234", {}, "api_secret") == "shh"
    assert secrets.get("other", {}, "api_secret") is None
    assert secrets.source("kite:AB1234", {}, "api_secret") == (
        "keyring entry 'position-sync' / 'kite:AB1234:api_secret'"
    )


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the keyring is locked")


def test_a_broken_keyring_is_a_failed_read_not_a_missing_secret(caplog: pytest.LogCaptureFixture) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    try:
        with pytest.raises(SecretUnavailable) as raised:
            Secrets(environ={}).get("sim", {}, "access_token")
        # an environment variable named by *_env never touches the keyring
        assert (
            Secrets(environ={"TOKEN": "t"}).get("sim", {"access_token_env": "TOKEN"}, "access_token") == "t"
        )
    finally:
        keyring.set_keyring(previous)
    assert raised.value.kind is ReadErrorKind.SOURCE
    assert str(raised.value) == (
        "the keyring could not be read for 'position-sync' / 'sim:access_token' (KeyringLocked); "
        "unlock it, or name an environment variable with access_token_env"
    )
    assert "keyring unavailable" in caplog.text


# -- typos are refused, not ignored ------------------------------------------------------

SQL_BOOK = """\
[[books]]
id = "bot"
kind = "sql"
url = "sqlite:///bot.db"
table = "positions"

[[accounts]]
id = "sim"
broker = "simulated"
scenario = "scenario.toml"
book = "bot"
"""


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        # ``writable = "no"`` is a non-empty string, which Python takes for true.
        (SQL_BOOK + '[books.write]\nkey = "id"\n', "", ""),
        (
            SQL_BOOK.replace('table = "positions"', 'table = "positions"\nwritable = "no"'),
            "books.bot.writable",
            "must be true or false, not 'no'",
        ),
        (
            SQL_BOOK.replace('table = "positions"', 'tabel = "positions"'),
            "books.bot.tabel",
            "(did you mean 'table'?)",
        ),
        (
            MINIMAL.replace('path = "book.json"', 'path = "book.json"\ntable = "x"'),
            "books.bot.table",
            "is not a key of a file book; it accepts fields, format, id, kind, list_key, path",
        ),
        (
            MINIMAL.replace('path = "book.json"', 'path = "book.json"\nwritable = true'),
            "books.bot.writable",
            "is not a key of a file book",
        ),
        (
            MINIMAL.replace('path = "book.json"', 'path = "book.json"\nlistkey = "rows"'),
            "books.bot.listkey",
            "(did you mean 'list_key'?)",
        ),
        (
            SQL_BOOK + '[books.write]\nkey = "id"\nclose_at = "closed_at"\n',
            "books.bot.write.close_at",
            "(did you mean 'closed_at'?)",
        ),
        (SQL_BOOK + "[books.write]\nkey = 7\n", "books.bot.write.key", "must name a column"),
        (
            SQL_BOOK + '[store]\nurll = "sqlite:///s.db"\n',
            "store.urll",
            "is not a key of [store] (did you mean 'url'?); it accepts lease_seconds, shared, url, url_env, user, viewer",
        ),
        (
            MINIMAL.replace("[[accounts]]", "[[account]]"),
            "account",
            "is not a key of the config file (did you mean 'accounts'?); it accepts accounts, books, store, ui",
        ),
        (
            MINIMAL + "\n[notifications]\nsound = true\n",
            "notifications",
            "it accepts accounts, books, store, ui",
        ),
    ],
)
def test_unknown_keys_and_non_booleans_are_refused(tmp_path: Path, text: str, field: str, words: str) -> None:
    if not field:
        load_settings(write_minimal(tmp_path / "conf", text))  # the valid file the others alter
        return
    message = mistake(tmp_path, text)
    assert f"'{field}' " in message, message
    assert words in message, message


def test_a_writable_that_is_not_a_boolean_never_opens_a_book_for_writing() -> None:
    """Even past the config check (a book built in code), only ``True`` makes a book writable."""
    book = BookConfig(
        "bot", "sql", url="sqlite:///bot.db", options={"table": "p", "writable": "no", "write": {"key": "id"}}
    )
    with pytest.raises(FixNotAllowed, match="book 'bot' is read-only"):
        WriteMapping.from_book(book)


def test_the_write_keys_of_the_config_are_those_of_the_fixes() -> None:
    assert set(WRITE_KEYS) == set(WriteMapping.__dataclass_fields__)


def test_a_file_without_accounts_loads_for_the_window(tmp_path: Path) -> None:
    """The window starts on it so that the user can add an account; the headless commands refuse."""
    config = write_minimal(tmp_path / "conf", MINIMAL[: MINIMAL.index("[[accounts]]")])
    settings = load_settings(config)
    assert settings.accounts == ()
    with pytest.raises(ConfigError, match=r"'accounts' has no \[\[accounts\]\] table"):
        require_enabled_accounts(settings)
    disabled = write_minimal(tmp_path / "conf2", MINIMAL + "enabled = false\n")
    with pytest.raises(ConfigError, match="'accounts' has no account with enabled = true"):
        require_enabled_accounts(load_settings(disabled))
    require_enabled_accounts(load_settings(write_minimal(tmp_path / "conf3")))


# -- the store URL -----------------------------------------------------------------------


def test_a_password_in_the_store_url_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = MINIMAL + '\n[store]\nurl = "postgresql+psycopg2://team:hunter2@db.local/positions"\n'
    message = mistake(tmp_path, text)
    assert "'store.url' must not hold a password" in message and "'url_env'" in message
    assert "hunter2" not in message
    monkeypatch.setenv(
        "POSITION_SYNC_TEST_STORE_URL", "postgresql+psycopg2://team:hunter2@db.local/positions"
    )
    config = write_minimal(
        tmp_path / "env", MINIMAL + '\n[store]\nurl_env = "POSITION_SYNC_TEST_STORE_URL"\n'
    )
    assert load_settings(config).store_url == "postgresql+psycopg2://team:hunter2@db.local/positions"


def test_a_relative_sqlite_store_follows_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_minimal(tmp_path / "conf", MINIMAL + '\n[store]\nurl = "sqlite:///state/store.db"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path("conf") / "config.toml")
    assert settings.store_url == f"sqlite:///{(tmp_path / 'conf' / 'state' / 'store.db').resolve()}"
    absolute = write_minimal(tmp_path / "abs", MINIMAL + f'\n[store]\nurl = "sqlite:///{tmp_path}/s.db"\n')
    assert load_settings(absolute).store_url == f"sqlite:///{tmp_path}/s.db"


# -- values that crashed instead of exiting 3 --------------------------------------------

HTTP_BOOK = MINIMAL.replace(
    'kind = "file"\npath = "book.json"', 'kind = "http"\nurl = "http://127.0.0.1:9/positions"'
)
SQL_PROBE_BOOK = MINIMAL.replace(
    'kind = "file"\npath = "book.json"',
    'kind = "sql"\nurl = "sqlite:///bot.db"\ntable = "positions"',
)


def _account_line(line: str) -> str:
    return MINIMAL.replace('exchange = "NFO"', f'exchange = "NFO"\n{line}', 1)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (_account_line("interval = 1e30"), "accounts.sim.interval", "at most 86400"),
        (_account_line("interval = inf"), "accounts.sim.interval", "finite"),
        (_account_line("interval = -inf"), "accounts.sim.interval", "finite"),
        (_account_line("interval = nan"), "accounts.sim.interval", "finite"),
        (_account_line('interval = "1e999999"'), "accounts.sim.interval", "must be a number"),
        (_account_line('interval = "NaN"'), "accounts.sim.interval", "must be a number"),
        (_account_line("timeout = 1e30"), "accounts.sim.timeout", "at most 3600"),
        (_account_line("timeout = nan"), "accounts.sim.timeout", "finite"),
        (_account_line("settle_seconds = inf"), "accounts.sim.settle_seconds", "finite"),
        (_account_line("price_tolerance_rel = 1e400"), "accounts.sim.price_tolerance_rel", "finite"),
        (_account_line("price_tolerance_rel = 1e300"), "accounts.sim.price_tolerance_rel", "at most 1"),
        (_account_line("price_tolerance_abs = 1e300"), "accounts.sim.price_tolerance_abs", "at most"),
        (_account_line("price_tolerance_abs = nan"), "accounts.sim.price_tolerance_abs", "finite"),
        (_account_line("mass_change_fraction = nan"), "accounts.sim.mass_change_fraction", "finite"),
        (HTTP_BOOK.replace('positions"', 'positions"\ntimeout = nan', 1), "books.bot.timeout", "finite"),
        (HTTP_BOOK.replace('positions"', 'positions"\ntimeout = 1e30', 1), "books.bot.timeout", "at most"),
        (
            HTTP_BOOK.replace('positions"', 'positions"\npoll_interval = inf', 1),
            "books.bot.poll_interval",
            "finite",
        ),
        (
            SQL_PROBE_BOOK.replace('table = "positions"', 'table = "positions"\nprobe_interval = nan'),
            "books.bot.probe_interval",
            "finite",
        ),
        (MINIMAL + '\n[store]\nurl = "mysql://u@localhost/db"\n', "store.url", "driver"),
        (MINIMAL + '\n[store]\nurl = "nosuchdb://u@localhost/db"\n', "store.url", "database kind"),
        (MINIMAL + '\n[store]\nurl = "sqlite:///st\\u0000ore.db"\n', "store.url", "NUL"),
        (MINIMAL.replace('id = "sim"', 'id = "si\\u0000m"'), "accounts[0].id", "NUL"),
        (MINIMAL.replace('id = "sim"', 'id = "si\\nm"'), "accounts[0].id", "letters, digits"),
        (MINIMAL.replace('id = "sim"', 'id = "../../x"'), "accounts[0].id", "letters, digits"),
        (MINIMAL.replace('id = "sim"', 'id = "-x"'), "accounts[0].id", "starting with"),
        (MINIMAL.replace('id = "sim"', 'id = "s\\u001b[2Jm"'), "accounts[0].id", "letters, digits"),
        (MINIMAL.replace('id = "sim"', f'id = "{"s" * 65}"'), "accounts[0].id", "at most 64"),
        (MINIMAL.replace('id = "bot"', 'id = "b/ot"'), "books[0].id", "letters, digits"),
        (MINIMAL.replace('path = "book.json"', 'path = "bo\\u0000ok.json"'), "books.bot.path", "NUL"),
    ],
)
def test_a_value_that_crashed_is_one_sentence_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str, words: str
) -> None:
    """Each value, through the real command: exit 3, one line naming the field, no traceback."""
    from position_sync.cli import main

    config = write_minimal(tmp_path / "conf", text)
    code = main(["--config", str(config), "--data-dir", str(tmp_path / "data"), "sync", "--once"])
    out, err = capsys.readouterr()
    assert code == ExitCode.CONFIG, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"'{field}'" in lines[0] and words in lines[0], lines[0]
    assert "\x00" not in err and "\x1b" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("account_id", ["kite:AB1234", "demo-us", "ops@desk", "U1234567", "a_b.c", "_x"])
def test_ids_in_the_safe_character_set_load(tmp_path: Path, account_id: str) -> None:
    config = write_minimal(tmp_path / "conf", MINIMAL.replace('id = "sim"', f'id = "{account_id}"'))
    assert load_settings(config).accounts[0].id == account_id


async def test_an_id_that_is_a_path_cannot_write_outside_the_data_directory(tmp_path: Path) -> None:
    """Past the config's check (an account built in code), the simulated step file stays inside."""
    from position_sync.app.broker import AdapterContext
    from position_sync.brokers.registry import create_adapter

    root = tmp_path / "deep" / "er"
    data_dir = root / "data"
    root.mkdir(parents=True)
    scenario = write_scenario(
        root / "scenario.toml",
        [{"positions": [{"symbol": "INFY", "quantity": "1", "average_price": "1"}]}] * 2,
    )
    before = {p for p in tmp_path.rglob("*")}
    # Each would land inside tmp_path but outside the data directory, were the id used as a path.
    for account_id in ("../../x", "../../../../escaped", f"{tmp_path}/absolute"):
        account = AccountConfig(
            id=account_id, broker="simulated", book="bot", options={"scenario": str(scenario)}, base_dir=root
        )
        adapter = create_adapter(account, AdapterContext(data_dir, Secrets()))
        await adapter.fetch()
        await adapter.close()
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    assert written, "the step files were written"
    for path in written:
        assert data_dir.resolve() in path.resolve().parents, path

"""Adopt into a book that tells open lines by a status column: refused up front without open_value.

Inserted without ``open_value`` the new line's status is empty, the book's ``where`` does not count
it, and the write would be rolled back (exit 5) after the user confirmed it. The refusal comes
before any plan or prompt instead, naming ``[books.write] open_value`` (exit 3, configuration).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from position_sync.app.config import load_settings
from position_sync.app.exit_codes import ExitCode
from position_sync.app.fix import write_refusal
from position_sync.cli import main
from tests.books.conftest import PG_PASSWORD_ENV, Database

SCENARIO = """
[[steps]]
positions = [{ symbol = "NSE:INFY", quantity = "100", average_price = "1500" }]
"""


def status_book(db: Database, tmp_path: Path, open_value: str | None) -> tuple[Path, str]:
    """A book whose open lines are those with status 'open'; returns the config and the table."""
    table = db.table("lines")
    key = "SERIAL PRIMARY KEY" if db.backend == "postgres" else "INTEGER PRIMARY KEY"
    db.run(
        f"CREATE TABLE {table} (id {key}, symbol VARCHAR(40), quantity NUMERIC(18,4), "
        "average_price NUMERIC(18,4), status VARCHAR(12))",
        f"INSERT INTO {table} (symbol, quantity, average_price, status) VALUES ('TCS', 5, 4100, 'open')",
    )
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    password = f'password_env = "{PG_PASSWORD_ENV}"\n' if db.backend == "postgres" else ""
    opened = f'open_value = "{open_value}"\n' if open_value is not None else ""
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[[accounts]]
id = "sim"
broker = "simulated"
scenario = "scenario.toml"
book = "bot"
exchange = "NSE"
confirm_syncs = 1
settle_seconds = 0

[[books]]
id = "bot"
kind = "sql"
url = "{db.url}"
table = "{table}"
where = "status = 'open'"
{password}writable = true

[books.write]
key = "id"
status = "status"
{opened}"""
    )
    return config, table


def cli(config: Path, tmp_path: Path, *args: str) -> int:
    return main(["--config", str(config), "--data-dir", str(tmp_path / "data"), *args])


ADOPT = ("fix", "--account", "sim", "--instrument", "NSE:INFY", "--action", "adopt", "--yes")


def test_adopt_without_open_value_is_refused_before_the_plan(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, table = status_book(database, tmp_path, None)
    book = load_settings(config).books["bot"]
    refusal = write_refusal(book, "adopt")
    assert refusal is not None and "[books.write] open_value" in refusal
    assert write_refusal(book, "close-phantom") is None  # closing sets closed_value: fine
    assert cli(config, tmp_path, "sync", "--once") == 1
    capsys.readouterr()
    assert cli(config, tmp_path, *ADOPT) == ExitCode.CONFIG
    captured = capsys.readouterr()
    assert "[books.write] open_value" in captured.err
    assert "INSERT" not in captured.out  # no plan was shown: nothing to confirm
    with database.admin.connect() as connection:
        assert connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 1


def test_with_open_value_the_adopted_line_counts_as_open(database: Database, tmp_path: Path) -> None:
    config, table = status_book(database, tmp_path, "open")
    assert write_refusal(load_settings(config).books["bot"], "adopt") is None
    assert cli(config, tmp_path, "sync", "--once") == 1
    assert cli(config, tmp_path, *ADOPT) == ExitCode.OK
    with database.admin.connect() as connection:
        status = connection.execute(text(f"SELECT status FROM {table} WHERE symbol = 'INFY'")).scalar_one()
    assert status == "open"

"""The seed bot's own set-up, end to end: Binance and Bybit accounts on the fake exchanges, and
its PostgreSQL table as the book, through ``position-sync sync --once``.

The bot keeps ``monitoring.positions`` with an ``exchange`` column, exchange-native symbols
(``HIGHUSDT``), a ``side`` column saying ``long``/``short`` and ``status = 'active'`` for open
lines. Nothing is aliased: the exchanges' market lists say what ``HIGHUSDT`` is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from position_sync.cli import main
from tests.books.conftest import Database, pg_database
from tests.conftest import PG_PASSWORD_ENV
from tests.exchange_helpers import SECRET_VARIABLE
from tests.fakes.binance_rows import hedge_rows
from tests.fakes.binance_rows import position_row as binance_row
from tests.fakes.binance_server import FakeBinanceServer
from tests.fakes.bybit_rows import closed_pnl_row, flat_row, linear_instrument, position_row
from tests.fakes.bybit_server import FakeBybitServer

pytestmark = pytest.mark.postgres
__all__ = ["pg_database"]


@pytest.fixture
def binance() -> Iterator[FakeBinanceServer]:
    with FakeBinanceServer(api_secret="same-secret") as server:
        yield server


@pytest.fixture
def bybit() -> Iterator[FakeBybitServer]:
    with FakeBybitServer(api_secret="same-secret") as server:
        yield server


def bot_table(db: Database, lines: list[tuple[str, str, str, str, str]]) -> str:
    """The bot's table, its open lines as (exchange, symbol, side, quantity, entry price)."""
    table = db.table("positions")
    db.run(
        f"CREATE TABLE {table} (id serial PRIMARY KEY, exchange text NOT NULL, symbol text NOT NULL, "
        "side text NOT NULL, quantity numeric NOT NULL, entry_price numeric, status text NOT NULL)",
        f"INSERT INTO {table} (exchange, symbol, side, quantity, entry_price, status) VALUES "
        "('bybit', 'OLDUSDT', 'long', 5, 1, 'closed')",  # a closed line of the past: ignored
    )
    for exchange, symbol, side, quantity, entry in lines:
        db.run(
            f"INSERT INTO {table} (exchange, symbol, side, quantity, entry_price, status) VALUES "
            f"('{exchange}', '{symbol}', '{side}', {quantity}, {entry}, 'active')"
        )
    return table


def write_config(
    path: Path, db: Database, table: str, binance: FakeBinanceServer | None, bybit: FakeBybitServer | None
) -> Path:
    text = (
        f'[[books]]\nid = "bot"\nkind = "sql"\nurl = "{db.url}"\ntable = "{table}"\n'
        f'password_env = "{PG_PASSWORD_ENV}"\nwhere = "status = \'active\'"\n'
        'fields = { symbol = "symbol", quantity = "quantity", side = "side", '
        'average_price = "entry_price", account = "exchange" }\n'
    )
    for broker, fake in (("binance", binance), ("bybit", bybit)):
        if fake is not None:
            text += (
                f'\n[[accounts]]\nid = "{broker}-main"\nbroker = "{broker}"\nbook = "bot"\n'
                f'book_account = "{broker}"\napi_key = "{fake.api_key}"\n'
                f'api_secret_env = "{SECRET_VARIABLE}"\napi_root = "{fake.url}"\n'
            )
    path.write_text(text)
    return path


def sync_once(config: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["--config", str(config), "--data-dir", str(data), "sync", "--once", "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def statuses(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(row["account"], row["instrument"]): row["status"] for row in report["rows"]}


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "same-secret")


def test_the_bots_book_matches_both_exchanges_with_no_alias(
    pg_database: Database,
    binance: FakeBinanceServer,
    bybit: FakeBybitServer,
    tmp_path: Path,
    secret: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    binance.set_positions(
        [
            binance_row("HIGHUSDT", "-120.0", "1.25", "1.2", quantity_decimals=1),
            *hedge_rows("BTCUSDT", "0.010", "-0.004", "67000", "67500"),
            binance_row("ETHUSDT", "0.000", "0.0", "3000"),  # flat: closed, not a position
        ]
    )
    bybit.set_positions(
        [
            position_row("HIGHUSDT", "300", "Buy", "0.81", "0.82"),
            position_row("1000PEPEUSDT", "50000", "Sell", "0.0102", "0.0101"),
            position_row("ETHUSDT", "0.2", "Buy", "3000", "3010"),  # a manual trade
        ]
    )
    table = bot_table(
        pg_database,
        [
            ("binance", "HIGHUSDT", "short", "120", "1.25"),
            ("binance", "BTCUSDT", "long", "0.006", "67000"),  # the net of the two hedge legs
            ("bybit", "HIGHUSDT", "long", "300", "0.81"),
            ("bybit", "1000PEPE-USDT", "short", "50000", "0.0102"),
        ],
    )
    config = write_config(tmp_path / "config.toml", pg_database, table, binance, bybit)
    code, report = sync_once(config, tmp_path / "data", capsys)
    assert statuses(report) == {
        ("binance-main", "HIGH/USDT:USDT"): "match",
        ("binance-main", "BTC/USDT:USDT"): "match",
        ("bybit-main", "HIGH/USDT:USDT"): "match",
        ("bybit-main", "1000PEPE/USDT:USDT"): "match",
        ("bybit-main", "ETH/USDT:USDT"): "untracked",
    }
    assert code == 1
    [btc] = [r for r in report["rows"] if r["instrument"] == "BTC/USDT:USDT"]
    assert [p["label"] for p in btc["broker_parts"]] == ["long leg", "short leg"]
    assert binance.writes() == [] and bybit.writes() == []


def test_a_book_line_the_exchange_closed_is_a_phantom_on_the_markets_key(
    pg_database: Database,
    bybit: FakeBybitServer,
    tmp_path: Path,
    secret: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The broker never held it this run, yet the book's ``HIGHUSDT`` lands on the market's key."""
    table = bot_table(pg_database, [("bybit", "HIGHUSDT", "long", "300", "0.81")])
    config = write_config(tmp_path / "config.toml", pg_database, table, None, bybit)
    code, report = sync_once(config, tmp_path / "data", capsys)
    assert statuses(report) == {("bybit-main", "HIGH/USDT:USDT"): "phantom"}
    assert code == 1


def test_thirty_eight_positions_gone_in_one_read_are_held_until_confirmed(
    pg_database: Database,
    bybit: FakeBybitServer,
    tmp_path: Path,
    secret: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    symbols = [f"Q{index:02d}USDT" for index in range(38)]
    bybit.set_instruments("linear", [linear_instrument(symbol, symbol[:-4], "USDT") for symbol in symbols])
    bybit.set_positions([position_row(symbol, "10", "Buy", "1.0", "1.1") for symbol in symbols])
    table = bot_table(pg_database, [("bybit", symbol, "long", "10", "1.0") for symbol in symbols])
    config = write_config(tmp_path / "config.toml", pg_database, table, None, bybit)
    data = tmp_path / "data"
    code, report = sync_once(config, data, capsys)
    assert code == 0 and set(statuses(report).values()) == {"match"}

    bybit.set_positions([])  # the seed bot's stale read: every position gone at once
    code, report = sync_once(config, data, capsys)
    kinds = [event["kind"] for event in report["events"]]
    assert "mass_change_held" in kinds and "phantom_detected" not in kinds and "closed" not in kinds
    [held] = [e for e in report["events"] if e["kind"] == "mass_change_held"]
    assert "38" in held["detail"]
    assert set(statuses(report).values()) == {"match"}, "held: the last good picture stays"

    code, report = sync_once(config, data, capsys)  # the next read says the same: it was real
    kinds = [event["kind"] for event in report["events"]]
    assert kinds.count("closed") == 38 and kinds.count("phantom_detected") == 38
    assert set(statuses(report).values()) == {"phantom"}
    assert code == 1


def test_a_close_between_two_cron_runs_carries_the_exchanges_realised_pnl(
    pg_database: Database,
    bybit: FakeBybitServer,
    tmp_path: Path,
    secret: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each ``sync --once`` is a new process: the legs seen open are kept in the data directory."""
    bybit.set_positions([position_row("HIGHUSDT", "300", "Buy", "0.81", "0.82")])
    table = bot_table(pg_database, [("bybit", "HIGHUSDT", "long", "300", "0.81")])
    config = write_config(tmp_path / "config.toml", pg_database, table, None, bybit)
    data = tmp_path / "data"
    code, report = sync_once(config, data, capsys)
    assert code == 0

    bybit.set_positions([flat_row("HIGHUSDT", "0.9")])  # the bot's stop-loss... or take-profit
    bybit.set_closed_pnl([closed_pnl_row("HIGHUSDT", "Sell", "300", "0.81", "0.90", "26.7")])
    pg_database.run(f"UPDATE {table} SET status = 'closed'")
    code, report = sync_once(config, data, capsys)
    [row] = report["rows"]
    assert row["status"] == "closed" and row["realised_pnl"] == "26.7" and row["realised_estimated"] is False
    [closed] = [e for e in report["events"] if e["kind"] == "closed"]
    assert "26.7" in closed["detail"] and "estimated" not in closed["detail"]

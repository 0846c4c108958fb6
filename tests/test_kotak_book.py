"""End to end: a Kotak account against its trading system's SQL book, through ``sync --once``.

The trading system keeps its positions in a table ``positions`` (``user_id``, ``symbol`` as it
ordered them at Kotak, ``IFBIND-EQ``; open while ``closed_at IS NULL``), the single source of
truth its authors settled on. The account reads user 2's open rows; the broker's ``NSE:IFBIND``
(a holding and today's trades in it) must match the book's ``IFBIND-EQ``, the carried future
must match without a price judgement, and a closed row or another user's row must not count.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.conftest import MemoryKeyring, age, toml_table
from tests.fakes.kotak_server import FakeKotakServer, holding_row, position_row
from tests.faults.harness import sync_once

ACCOUNT = "KT1"


def seed(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE positions (
                id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, symbol TEXT NOT NULL,
                qty INTEGER NOT NULL, entry_price NUMERIC, opened_at TEXT, closed_at TEXT
            );
            INSERT INTO positions (user_id, symbol, qty, entry_price, opened_at, closed_at) VALUES
                (2, 'IFBIND-EQ', 100, 1210, '2026-11-18T09:20:00', NULL),
                (2, 'IFBIND-EQ', -20, 1255, '2026-11-20T10:05:00', NULL),
                (2, 'NFO:NIFTY26NOVFUT', 150, 24410, '2026-11-19T09:30:00', NULL),
                (2, 'SBIN-EQ', 50, 800, '2026-11-19T09:31:00', '2026-11-19T15:10:00'),
                (3, 'IFBIND-EQ', 7, 1190, '2026-11-18T09:20:00', NULL);
            """
        )
    age(path, 3600)


def test_the_sql_book_matches_kotak(
    memory_keyring: MemoryKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(tmp_path / "bot.db")
    with FakeKotakServer(consumer_key=f"ck-{uuid.uuid4().hex[:12]}") as kotak:
        memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", kotak.issue_session())
        kotak.set_holdings([holding_row("IFBIND", quantity=100, average_price=1210, closing_price=1250)])
        kotak.set_positions(
            [
                position_row(
                    "IFBIND-EQ",
                    "nse_cm",
                    product="CNC",
                    cf_buy=100,
                    fl_sell=20,
                    settlement=1240,
                    sell_price=1255,
                    ltp=1252,
                ),
                # Carried 150 at yesterday's settlement 24500; the book's cost is 24410.
                position_row("NIFTY26NOVFUT", cf_buy=150, settlement=24500, ltp=24620, lot=75),
            ]
        )
        config = tmp_path / "config.toml"
        book = {
            "id": "bot",
            "kind": "sql",
            "url": "sqlite:///bot.db",
            "table": "positions",
            "where": "user_id = 2 AND closed_at IS NULL",
            "fields": {"symbol": "symbol", "quantity": "qty", "average_price": "entry_price"},
        }
        account = {
            "id": ACCOUNT,
            "broker": "kotak",
            "book": "bot",
            "consumer_key": kotak.consumer_key,
            "api_root": kotak.url,
            "confirm_syncs": 1,
            "settle_seconds": 0,
        }
        config.write_text(toml_table("[[books]]", book) + "\n" + toml_table("[[accounts]]", account))
        run = sync_once(config, tmp_path / "data", capsys)
    assert run.account(ACCOUNT)["state"] == "ok", run.account(ACCOUNT)
    rows = run.rows(ACCOUNT)
    assert set(rows) == {"NSE:IFBIND", "NFO:NIFTY26NOVFUT"}
    ifbind = rows["NSE:IFBIND"]
    assert ifbind["status"] == "match", ifbind
    assert (ifbind["broker_qty"], ifbind["local_qty"]) == ("80", "80")
    future = rows["NFO:NIFTY26NOVFUT"]
    assert future["status"] == "match", future  # not a price mismatch against the settlement
    assert future["broker_avg"] is None
    assert "previous settlement" in future["hint"]
    assert run.code == 0
